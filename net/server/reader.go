package server

import (
	"bytes"
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net/http"
	"sync"

	"cairn/core"
	"cairn/core/datastore"
	"cairn/core/manifest"
	"cairn/net/server/config"
)

// snapshotTarget reads the store, namespace and snapshot both session
// upgrades (backup and reader) name in their query.
func snapshotTarget(c *reqCtx) (p params, store string, ns core.Namespace, snap core.Snapshot, err error) {
	if p, err = parseParams(c.r); err != nil {
		return
	}
	if store, err = p.store(); err != nil {
		return
	}
	if ns, err = p.namespace(); err != nil {
		return
	}
	snap, err = p.snapshot()
	return
}

// handleReaderUpgrade is GET /api2/json/reader (protocol.md 4.1).
func (s *Server) handleReaderUpgrade(c *reqCtx) {
	p, store, ns, snap, err := snapshotTarget(c)
	if err != nil {
		c.reply(nil, err)
		return
	}
	debug, _ := p.boolean("debug", false)
	aclPath := config.DatastoreACLPath(store, string(ns))
	privs := c.privs(store, string(ns))
	if !privs.Any(config.PrivDatastoreRead, config.PrivDatastoreBackup) {
		c.reply(nil, errorf(http.StatusForbidden, "no permissions on %s", aclPath))
		return
	}
	slot, ds, err := s.openSession(c, store)
	if err != nil {
		c.reply(nil, err)
		return
	}
	defer slot.releaseUnlessServing()
	if err := checkUpgrade(c.r, ReaderProtocol); err != nil {
		ds.Close()
		c.reply(nil, err)
		return
	}
	if !nsExists(ds, ns) {
		ds.Close()
		c.reply(nil, errorf(http.StatusNotFound, "namespace not found"))
		return
	}
	if !privs.Has(config.PrivDatastoreRead) {
		// Fail closed: an existing group without a readable owner is no
		// one's (admin.go, ownership).
		if o := ownershipOf(ds, ns, snap.Group); o.exists && !o.ownedBy(c.id.authID) {
			ds.Close()
			c.reply(nil, errorf(http.StatusForbidden, "backup owner check failed!"))
			return
		}
	}
	rd, err := ds.OpenSnapshot(context.Background(), ns, snap)
	if err != nil {
		ds.Close()
		if errors.Is(err, core.ErrNotFound) {
			err = errorf(http.StatusNotFound, "snapshot %s does not exist.", snapshotLabel(ns, snap))
		}
		c.reply(nil, err)
		return
	}
	t := s.tasks.start("reader", fmt.Sprintf("%s:%s/%08X", store, snap.Group, snap.Time), c.id.authID)
	t.logf("starting new backup reader datastore '%s': \"%s\"", store, snapshotLabel(ns, snap))
	sess := &readerSession{task: t, ds: ds, rd: rd, debug: debug, allowed: map[[32]byte]bool{}}
	conn, err := c.upgrade(ReaderProtocol)
	if err != nil {
		rd.Close()
		ds.Close()
		t.finish(err)
		return
	}
	s.serveSession(conn, sess, t, slot, sess.end)
}

type readerSession struct {
	task    *task
	ds      *datastore.Datastore
	rd      core.SnapshotReader
	debug   bool
	mu      sync.Mutex
	allowed map[[32]byte]bool
}

// end runs when the HTTP/2 connection is gone.
func (rs *readerSession) end() {
	rs.rd.Close()
	rs.ds.Close()
	if rs.task.abortRequested() {
		// Upstream selects the session against the abort future.
		rs.task.finish(errTaskAborted)
		return
	}
	rs.task.logf("reader finished successfully")
	rs.task.finish(nil)
}

func (rs *readerSession) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	defer recoverRequest(rs.task, w, r)
	name := requestName(rs.task, rs.debug, r)
	if r.Method != http.MethodGet {
		writeError(w, errorf(http.StatusMethodNotAllowed, "method not allowed"))
		return
	}
	p, err := parseParams(r)
	if err != nil {
		writeError(w, err)
		return
	}
	switch name {
	case "":
		writeData(w, []map[string]string{{"subdir": "chunk"}, {"subdir": "download"}, {"subdir": "speedtest"}}, nil)
	case "download":
		fn, err := p.safeName("file-name", "")
		if err != nil {
			writeError(w, err)
			return
		}
		// Any index or blob of the snapshot, listed in the manifest or not
		// (client.log.blob is not), as upstream's archive_type allows.
		if !datastore.IsSnapshotFile(fn) {
			writeError(w, badRequest("unknown archive type: %s", fn))
			return
		}
		if err := rs.download(w, fn); !finishStreamed(err) {
			writeError(w, err)
		}
	case "chunk":
		dh, err := p.required("digest")
		if err != nil {
			writeError(w, err)
			return
		}
		dg, err := datastore.ParseDigest(dh)
		if err != nil {
			writeError(w, badRequest("parameter verification failed - 'digest': %v", err))
			return
		}
		rs.mu.Lock()
		ok := rs.allowed[dg]
		rs.mu.Unlock()
		if !ok {
			writeError(w, errorf(http.StatusUnauthorized, "download chunk %s not allowed", hex.EncodeToString(dg[:])))
			return
		}
		rc, size, err := openChunk(rs.rd, dg)
		if err != nil {
			rs.task.debugf("reading chunk %s failed: %v", dh, err)
			writeError(w, errorf(http.StatusNotFound, "reading chunk %s failed - %v", dh, err))
			return
		}
		err = streamRaw(w, rc, size)
		rc.Close()
		finishStreamed(err)
	case "speedtest":
		writeRaw(w, bytes.Repeat([]byte{'A'}, 1<<20))
	default:
		writeError(w, errorf(http.StatusNotFound, "Path '/%s' not found.", name))
	}
}

// download sends a file of the snapshot, streamed from disk. An index is
// checked first, then its chunks are registered as downloadable, then it
// is sent (three reads of the file, never all of it in memory).
func (rs *readerSession) download(w http.ResponseWriter, fn string) error {
	notFound := func(err error) error {
		if errors.Is(err, core.ErrNotFound) {
			return errorf(http.StatusNotFound, "open file '%s' failed - not found", fn)
		}
		return err
	}
	scan := func(reg func(d [32]byte, start, end uint64) error) error {
		rc, size, err := datastore.OpenSnapshotFile(rs.rd, fn)
		if err != nil {
			return notFound(err)
		}
		defer rc.Close()
		if _, err := datastore.ScanIndex(rc, size, reg); err != nil {
			return fmt.Errorf("index '%s' is corrupt - %w", fn, err)
		}
		return nil
	}
	if manifest.IsIndexFile(fn) {
		if err := scan(nil); err != nil {
			return err
		}
		batch := make([][32]byte, 0, 4096)
		flush := func() {
			rs.mu.Lock()
			for _, d := range batch {
				rs.allowed[d] = true
			}
			rs.mu.Unlock()
			batch = batch[:0]
		}
		err := scan(func(d [32]byte, _, _ uint64) error {
			if batch = append(batch, d); len(batch) == cap(batch) {
				flush()
			}
			return nil
		})
		flush()
		if err != nil {
			return err
		}
		if rs.debug {
			rs.task.debugf("register chunks in '%s' as downloadable.", fn)
		}
	}
	rc, size, err := datastore.OpenSnapshotFile(rs.rd, fn)
	if err != nil {
		return notFound(err)
	}
	defer rc.Close()
	return streamRaw(w, rc, size)
}

// chunkOpener is the datastore's snapshot reader with streamed chunks.
type chunkOpener interface {
	OpenChunk(digest [32]byte) (io.ReadCloser, int64, error)
}

// openChunk opens a chunk's blob for streaming (or from memory with
// another reader).
func openChunk(rd core.SnapshotReader, d [32]byte) (io.ReadCloser, int64, error) {
	if co, ok := rd.(chunkOpener); ok {
		return co.OpenChunk(d)
	}
	data, err := rd.ReadChunk(d)
	if err != nil {
		return nil, 0, err
	}
	return io.NopCloser(bytes.NewReader(data)), int64(len(data)), nil
}
