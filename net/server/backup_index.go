package server

import (
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"net/http"

	"cairn/core"
	"cairn/core/datastore"
	"cairn/core/manifest"
)

// The index writer endpoints of a backup session (protocol.md 3.3): they
// parse the request and call the datastore's session writer, which holds
// the rules (core/datastore/sessionindex.go).

// maxAppendBody bounds the body of an append (upstream's REST server takes
// 64 KiB; cairn's own client sends up to 4096 entries, ~330 KB).
const maxAppendBody = 512 << 10

func (b *backupSession) createWriter(r *http.Request, fixed bool) (any, error) {
	p, err := parseParams(r)
	if err != nil {
		return nil, err
	}
	if !fixed {
		name, err := p.safeName("archive-name", ".didx")
		if err != nil {
			return nil, err
		}
		return b.sess.CreateDynamic(name)
	}
	name, err := p.safeName("archive-name", ".fidx")
	if err != nil {
		return nil, err
	}
	size, err := p.requiredInt("size", 1, 1<<62)
	if err != nil {
		return nil, err
	}
	return b.sess.CreateFixed(name, uint64(size), p.str("reuse-csum"))
}

type appendRequest struct {
	WID     *int      `json:"wid"`
	Digests []string  `json:"digest-list"`
	Offsets []float64 `json:"offset-list"`
}

// parseAppend reads an append's parameters: a JSON body, or else a query
// string.
func parseAppend(r *http.Request) (appendRequest, error) {
	var req appendRequest
	body, err := datastore.ReadBody(r.Body, maxAppendBody)
	if err != nil {
		return req, badRequest("reading request failed - %v", err)
	}
	if len(body) > maxAppendBody {
		return req, badRequest("request body too large (more than %d bytes)", maxAppendBody)
	}
	if len(body) > 0 {
		if err := json.Unmarshal(body, &req); err != nil {
			return req, badRequest("invalid JSON body - %v", err)
		}
		return req, nil
	}
	p, _ := parseParams(r)
	if p.v.Get("wid") == "" {
		return req, badRequest("parameter verification failed - 'wid': parameter is missing and it is not optional.")
	}
	w, err := p.requiredInt("wid", 1, datastore.MaxWriters)
	if err != nil {
		return req, err
	}
	wi := int(w)
	req.WID = &wi
	req.Digests = p.v["digest-list"]
	for _, o := range p.v["offset-list"] {
		var f float64
		if _, err := fmt.Sscan(o, &f); err != nil {
			return req, badRequest("parameter verification failed - 'offset-list': bad number %q", o)
		}
		req.Offsets = append(req.Offsets, f)
	}
	return req, nil
}

func (b *backupSession) appendIndex(r *http.Request, fixed bool) error {
	req, err := parseAppend(r)
	if err != nil {
		return err
	}
	if req.WID == nil {
		return badRequest("parameter verification failed - 'wid': parameter is missing and it is not optional.")
	}
	if len(req.Offsets) != len(req.Digests) {
		return badRequest("offset list has wrong length (%d != %d)", len(req.Offsets), len(req.Digests))
	}
	entries := make([]datastore.IndexEntry, len(req.Digests))
	for i, dh := range req.Digests {
		dg, err := datastore.ParseDigest(dh)
		if err != nil {
			return badRequest("parameter verification failed - 'digest-list': %v", err)
		}
		off := req.Offsets[i]
		// Offsets are u64: a float outside [0, 2^64) or with a fraction
		// is not one (upstream's schema: integer, minimum 0).
		if off < 0 || off >= math.Ldexp(1, 64) || off != math.Trunc(off) {
			return badRequest("parameter verification failed - 'offset-list': bad offset %v", off)
		}
		entries[i] = datastore.IndexEntry{Digest: dg, Offset: uint64(off)}
	}
	wid := *req.WID
	req = appendRequest{}
	return b.sess.Append(wid, fixed, entries)
}

func (b *backupSession) closeWriter(r *http.Request, fixed bool) error {
	p, err := parseParams(r)
	if err != nil {
		return err
	}
	wid, err := p.requiredInt("wid", 1, datastore.MaxWriters)
	if err != nil {
		return err
	}
	var minCount int64 = 1
	if fixed {
		minCount = 0
	}
	count, err := p.requiredInt("chunk-count", minCount, 1<<53)
	if err != nil {
		return err
	}
	size, err := p.requiredInt("size", minCount, 1<<62)
	if err != nil {
		return err
	}
	cs, err := p.required("csum")
	if err != nil {
		return err
	}
	csum, err := datastore.ParseDigest(cs)
	if err != nil {
		return badRequest("parameter verification failed - 'csum': %v", err)
	}
	st, err := b.sess.CloseWriter(int(wid), fixed, uint64(count), uint64(size), csum)
	if err != nil {
		return err
	}
	pct := 0.0
	if st.Size > 0 {
		pct = float64(st.Upload) * 100 / float64(st.Size)
	}
	b.task.logf("Upload statistics for '%s'\nUUID: %s\nChecksum: %s\nSize: %d\nChunk count: %d\nUpload size: %d (%.0f%%)",
		st.Name, hex.EncodeToString(st.UUID[:]), hex.EncodeToString(st.Csum[:]), st.Size, st.Count, st.Upload, pct)
	return nil
}

// servePrevious is GET previous: a file of the previous snapshot, streamed
// from disk (an index's chunks become known to the session first).
func (b *backupSession) servePrevious(w http.ResponseWriter, r *http.Request) error {
	p, err := parseParams(r)
	if err != nil {
		return err
	}
	name, err := p.safeName("archive-name", "")
	if err != nil {
		return err
	}
	rc, size, err := b.sess.PreviousFile(name)
	if err != nil {
		if errors.Is(err, core.ErrNotFound) {
			return errorf(http.StatusNotFound, "open file '%s' failed - not found", name)
		}
		return err
	}
	defer rc.Close()
	if manifest.IsIndexFile(name) {
		b.task.debugf("register chunks in '%s' from previous backup '%s'.", name, b.sess.PreviousSnapshot())
	}
	return streamRaw(w, rc, size)
}
