package server

import (
	"bufio"
	"bytes"
	"crypto/rand"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"hash"
	"io"
	"math"
	"net/http"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"cairn/core"
	"cairn/core/index"
)

// Index writers keep their state on disk (issue 16 item 2): a scratch file
// in the final .didx/.fidx format (a 4096-byte header, then the entries),
// as upstream's FixedIndexWriter/DynamicIndexWriter keep .tmp_fidx and
// .tmp_didx files. A writer's memory does not grow with its image size or
// its entry count; at close the header gets its checksum and the file is
// moved into the snapshot (datastore ScratchFile/WriteFileFrom). The scratch
// file is opened per request, so writers hold no file descriptor between
// requests.
//
// Sizes are bounded as upstream bounds them, or tighter where upstream has
// no bound of its own:
//   - an image is at most maxIndexEntries chunks of 4 MiB (64 TiB), the
//     largest whose index (512 MiB) the datastore's readers accept;
//   - a dynamic index has at most maxIndexEntries entries;
//   - an append body is at most maxAppendBody bytes (upstream's REST server
//     takes 64 KiB; cairn's own client sends up to 4096 entries, ~330 KB);
//   - chunks are at most 16 MiB (maxChunkSize) and decode no further.
const (
	maxAppendBody  = 512 << 10
	entrySizeDyn   = 40
	entrySizeFixed = 32
)

// maxIndexEntries bounds the chunks of one index (a variable for tests).
var maxIndexEntries uint64 = 1 << 24

// indexWriter builds one .didx or .fidx from append calls.
type indexWriter struct {
	name  string
	fixed bool
	uuid  [16]byte

	mu      sync.Mutex // the scratch file and the fields below
	path    string     // scratch file
	offset  uint64     // dynamic: running offset (the stream size so far)
	count   uint64     // appended chunks
	csum    hash.Hash  // dynamic: SHA-256 over the entries so far
	image   uint64     // fixed: the image size
	slots   uint64     // fixed: number of chunks of the image
	filled  uint64     // fixed: slots that hold a digest
	hasTail bool       // fixed: the one short chunk was appended
	reuse   bool
	closed  atomic.Bool   // closed (or broken): no more appends
	upload  atomic.Uint64 // bytes of chunks uploaded for this writer
}

// scratchStore is the datastore's backup writer with on-disk scratch files.
type scratchStore interface {
	ScratchFile(name string) (*os.File, error)
	WriteFileFrom(name string, f *os.File) error
}

// scratchFile creates a scratch file for an index writer: in the
// datastore when it supports it, else in the temp directory.
func (b *backupSession) scratchFile(name string) (*os.File, error) {
	if ss, ok := b.w.(scratchStore); ok {
		return ss.ScratchFile(name)
	}
	return os.CreateTemp("", ".cairn-"+name+".tmp_*")
}

// storeScratch moves a finished scratch file into the snapshot.
func (b *backupSession) storeScratch(name string, f *os.File) error {
	if ss, ok := b.w.(scratchStore); ok {
		return ss.WriteFileFrom(name, f)
	}
	defer func() {
		f.Close()
		os.Remove(f.Name())
	}()
	if _, err := f.Seek(0, io.SeekStart); err != nil {
		return err
	}
	data, err := io.ReadAll(f)
	if err != nil {
		return err
	}
	return b.w.WriteFile(name, data)
}

// dropScratch removes the scratch files of writers never closed.
func (b *backupSession) dropScratch() {
	b.mu.Lock()
	ws := make([]*indexWriter, 0, len(b.writers))
	for _, wr := range b.writers {
		ws = append(ws, wr)
	}
	b.mu.Unlock()
	for _, wr := range ws {
		wr.mu.Lock()
		if wr.path != "" {
			os.Remove(wr.path)
			wr.path = ""
		}
		wr.closed.Store(true)
		wr.mu.Unlock()
	}
}

func indexHeader(fixed bool, uuid [16]byte, ctime int64, image uint64) []byte {
	h := make([]byte, index.HeaderSize)
	m := index.MagicDynamic
	if fixed {
		m = index.MagicFixed
	}
	copy(h, m[:])
	copy(h[8:], uuid[:])
	binary.LittleEndian.PutUint64(h[24:], uint64(ctime))
	if fixed {
		binary.LittleEndian.PutUint64(h[64:], image)
		binary.LittleEndian.PutUint64(h[72:], fixedChunkSize)
	}
	return h
}

func (b *backupSession) createWriter(r *http.Request, fixed bool) (any, error) {
	p, err := parseParams(r)
	if err != nil {
		return nil, err
	}
	suffix := ".didx"
	if fixed {
		suffix = ".fidx"
	}
	name, err := p.safeName("archive-name", suffix)
	if err != nil {
		return nil, err
	}
	wr := &indexWriter{name: name, fixed: fixed}
	rand.Read(wr.uuid[:])
	var reuseCsum string
	if fixed {
		size, err := p.requiredInt("size", 1, 1<<62)
		if err != nil {
			return nil, err
		}
		wr.image = uint64(size)
		wr.slots = (wr.image + fixedChunkSize - 1) / fixedChunkSize
		if wr.slots > maxIndexEntries {
			return nil, badRequest("image size %d is too large (at most %d bytes)", size, uint64(maxIndexEntries)*fixedChunkSize)
		}
		reuseCsum = p.str("reuse-csum")
	} else {
		wr.csum = sha256.New()
	}
	// One creation at a time: the checks below and the scratch file go
	// together.
	b.createMu.Lock()
	defer b.createMu.Unlock()
	b.mu.Lock()
	err = b.canCreateLocked(name)
	b.mu.Unlock()
	if err != nil {
		return nil, err
	}
	f, err := b.scratchFile(name)
	if err != nil {
		return nil, fmt.Errorf("cannot create index writer - %w", err)
	}
	wr.path = f.Name()
	err = func() error {
		defer f.Close()
		if _, err := f.Write(indexHeader(fixed, wr.uuid, time.Now().Unix(), wr.image)); err != nil {
			return err
		}
		if fixed {
			// A sparse file: unwritten slots read as zero digests.
			if err := f.Truncate(index.HeaderSize + int64(wr.slots)*entrySizeFixed); err != nil {
				return err
			}
			if reuseCsum != "" {
				return b.reuseFixed(wr, f, reuseCsum)
			}
		}
		return nil
	}()
	if err != nil {
		os.Remove(wr.path)
		var ae *apiError
		if errors.As(err, &ae) {
			return nil, err
		}
		return nil, fmt.Errorf("cannot create index writer - %w", err)
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	if err := b.canCreateLocked(name); err != nil {
		os.Remove(wr.path)
		return nil, err
	}
	b.nextWID++
	b.writers[b.nextWID] = wr
	return b.nextWID, nil
}

func (b *backupSession) canCreateLocked(name string) error {
	if b.ended {
		return badRequest("backup session ended")
	}
	if _, ok := b.files[name]; ok {
		return badRequest("archive '%s' was already uploaded", name)
	}
	for _, o := range b.writers {
		if o.name == name {
			return badRequest("archive '%s' is already being written", name)
		}
	}
	if b.nextWID >= maxWriters {
		return badRequest("too many index writers")
	}
	return nil
}

// reuseFixed starts an incremental fixed writer from the previous
// snapshot's index of the same name, streamed from disk into the scratch
// file f.
func (b *backupSession) reuseFixed(wr *indexWriter, f *os.File, csumHex string) error {
	want, err := parseDigest(csumHex)
	if err != nil {
		return badRequest("parameter verification failed - 'reuse-csum': %v", err)
	}
	if b.prev == nil {
		return badRequest("cannot reuse index - no valid previous backup exists")
	}
	// First pass: the old index is sound, its checksum the one expected,
	// and it fits the new image.
	info, err := b.scanPrevious(wr.name, nil)
	if errors.Is(err, core.ErrNotFound) {
		return badRequest("cannot reuse index - no previous backup exists for archive")
	}
	if err != nil {
		return fmt.Errorf("cannot reuse index - %w", err)
	}
	if !info.fixed {
		return fmt.Errorf("cannot reuse index - %w: not a fixed index", index.ErrCorrupt)
	}
	if info.csum != want {
		return badRequest("expected csum (%s) doesn't match last backup's (%s)", csumHex, hex.EncodeToString(info.csum[:]))
	}
	if info.chunkSize != fixedChunkSize || info.image > wr.image {
		return badRequest("cannot reuse index - image size or chunk size changed")
	}
	// Second pass: copy the digests and register the chunks.
	bw := bufio.NewWriterSize(io.NewOffsetWriter(f, index.HeaderSize), 64<<10)
	known := make(map[[32]byte]uint64, 1024)
	_, err = b.scanPrevious(wr.name, func(d [32]byte, start, end uint64) error {
		if _, err := bw.Write(d[:]); err != nil {
			return err
		}
		known[d] = end - start
		if len(known) >= 1024 {
			b.registerKnown(known)
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("cannot reuse index - %w", err)
	}
	if err := bw.Flush(); err != nil {
		return err
	}
	b.registerKnown(known)
	wr.filled = info.count
	wr.reuse = true
	return nil
}

// registerKnown adds chunks to the session's known chunks and empties m.
func (b *backupSession) registerKnown(m map[[32]byte]uint64) {
	b.mu.Lock()
	for d, n := range m {
		b.known[d] = n
	}
	b.mu.Unlock()
	clear(m)
}

type appendRequest struct {
	WID     *int      `json:"wid"`
	Digests []string  `json:"digest-list"`
	Offsets []float64 `json:"offset-list"`
}

type appendEntry struct {
	digest [32]byte
	offset uint64
	size   uint64
}

func (b *backupSession) appendIndex(r *http.Request, fixed bool) error {
	body, err := readBody(r.Body, maxAppendBody)
	if err != nil {
		return badRequest("reading request failed - %v", err)
	}
	if len(body) > maxAppendBody {
		return badRequest("request body too large (more than %d bytes)", maxAppendBody)
	}
	var req appendRequest
	if len(body) == 0 {
		// Parameters may also come as a query string.
		p, _ := parseParams(r)
		if p.v.Get("wid") == "" {
			return badRequest("parameter verification failed - 'wid': parameter is missing and it is not optional.")
		}
		w, err := p.requiredInt("wid", 1, maxWriters)
		if err != nil {
			return err
		}
		wi := int(w)
		req.WID = &wi
		req.Digests = p.v["digest-list"]
		for _, o := range p.v["offset-list"] {
			var f float64
			if _, err := fmt.Sscan(o, &f); err != nil {
				return badRequest("parameter verification failed - 'offset-list': bad number %q", o)
			}
			req.Offsets = append(req.Offsets, f)
		}
	} else if err := json.Unmarshal(body, &req); err != nil {
		return badRequest("invalid JSON body - %v", err)
	}
	body = nil
	if req.WID == nil {
		return badRequest("parameter verification failed - 'wid': parameter is missing and it is not optional.")
	}
	if len(req.Offsets) != len(req.Digests) {
		return badRequest("offset list has wrong length (%d != %d)", len(req.Offsets), len(req.Digests))
	}
	entries := make([]appendEntry, len(req.Digests))
	for i, dh := range req.Digests {
		dg, err := parseDigest(dh)
		if err != nil {
			return badRequest("parameter verification failed - 'digest-list': %v", err)
		}
		off := req.Offsets[i]
		// Offsets are u64: a float outside [0, 2^64) or with a fraction
		// is not one (upstream's schema: integer, minimum 0).
		if off < 0 || off >= math.Ldexp(1, 64) || off != math.Trunc(off) {
			return badRequest("parameter verification failed - 'offset-list': bad offset %v", off)
		}
		entries[i] = appendEntry{digest: dg, offset: uint64(off)}
	}
	wid := *req.WID
	req = appendRequest{}
	b.mu.Lock()
	wr := b.writers[wid]
	if wr != nil {
		// The chunk sizes the session knows: uploaded or registered.
		for i := range entries {
			size, ok := b.known[entries[i].digest]
			if !ok {
				b.mu.Unlock()
				return badRequest("no such chunk %s", hex.EncodeToString(entries[i].digest[:]))
			}
			entries[i].size = size
		}
	}
	b.mu.Unlock()
	if wr == nil {
		return badRequest("no such open writer %d", wid)
	}
	if wr.fixed != fixed {
		return badRequest("writer %d is not a %s index writer", wid, map[bool]string{true: "fixed", false: "dynamic"}[fixed])
	}
	wr.mu.Lock()
	defer wr.mu.Unlock()
	if wr.closed.Load() {
		return badRequest("no such open writer %d", wid)
	}
	if fixed {
		return wr.appendFixed(entries)
	}
	return wr.appendDynamic(entries)
}

// appendDynamic checks the entries against the running offset and appends
// them to the scratch file; wr.mu held.
func (wr *indexWriter) appendDynamic(entries []appendEntry) error {
	if uint64(len(entries)) > maxIndexEntries-wr.count {
		return badRequest("dynamic writer '%s' append chunk failed - too many chunks (at most %d)", wr.name, maxIndexEntries)
	}
	buf := make([]byte, 0, len(entries)*entrySizeDyn)
	off := wr.offset
	for _, e := range entries {
		if e.offset != off {
			return badRequest("dynamic writer '%s' append chunk failed - got strange chunk offset (%d != %d)", wr.name, off, e.offset)
		}
		if e.size > math.MaxUint64-off {
			return badRequest("dynamic writer '%s' append chunk failed - stream size overflows", wr.name)
		}
		off += e.size
		buf = binary.LittleEndian.AppendUint64(buf, off)
		buf = append(buf, e.digest[:]...)
	}
	f, err := os.OpenFile(wr.path, os.O_WRONLY|os.O_APPEND, 0)
	if err != nil {
		return fmt.Errorf("dynamic writer '%s' append chunk failed - %w", wr.name, err)
	}
	_, err = f.Write(buf)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		// The file may hold part of the batch: the writer is unusable.
		wr.closed.Store(true)
		return fmt.Errorf("dynamic writer '%s' append chunk failed - %w", wr.name, err)
	}
	wr.csum.Write(buf)
	wr.offset = off
	wr.count += uint64(len(entries))
	return nil
}

// appendFixed checks the entries against the image and writes their
// digests into their slots; wr.mu held. A slot can be written again (the
// last digest counts); wr.filled counts the slots written at least once.
func (wr *indexWriter) appendFixed(entries []appendEntry) error {
	for _, e := range entries {
		size, offset := e.size, e.offset
		if size > fixedChunkSize {
			return badRequest("fixed writer '%s' append chunk failed - chunk too large (%d > %d)", wr.name, size, fixedChunkSize)
		}
		// offset+size is computed only once it cannot wrap (issue 16 item
		// 9: an offset of 2^64 - 4 MiB made the end 0).
		if offset > wr.image || size > wr.image-offset {
			return badRequest("fixed writer '%s' append chunk failed - chunk ends after the image (offset %d, size %d, image size %d)", wr.name, offset, size, wr.image)
		}
		end := offset + size
		if offset%fixedChunkSize != 0 || (end%fixedChunkSize != 0 && end != wr.image) {
			return badRequest("fixed writer '%s' append chunk failed - got unaligned chunk (offset %d, size %d)", wr.name, offset, size)
		}
	}
	f, err := os.OpenFile(wr.path, os.O_RDWR, 0)
	if err != nil {
		return fmt.Errorf("fixed writer '%s' append chunk failed - %w", wr.name, err)
	}
	defer f.Close()
	var old [entrySizeFixed]byte
	for _, e := range entries {
		if e.size < fixedChunkSize {
			if wr.hasTail {
				return badRequest("fixed writer '%s' append chunk failed - got more than one short chunk", wr.name)
			}
			wr.hasTail = true
		}
		at := index.HeaderSize + int64(e.offset/fixedChunkSize)*entrySizeFixed
		if _, err := f.ReadAt(old[:], at); err != nil {
			return fmt.Errorf("fixed writer '%s' append chunk failed - %w", wr.name, err)
		}
		if _, err := f.WriteAt(e.digest[:], at); err != nil {
			wr.closed.Store(true)
			return fmt.Errorf("fixed writer '%s' append chunk failed - %w", wr.name, err)
		}
		// A zero digest marks an empty slot (no chunk has it: it would be
		// a SHA-256 preimage of zero).
		if old == [entrySizeFixed]byte{} && e.digest != [32]byte{} {
			wr.filled++
		}
		wr.count++
	}
	return nil
}

func (b *backupSession) closeWriter(r *http.Request, fixed bool) error {
	p, err := parseParams(r)
	if err != nil {
		return err
	}
	wid, err := p.requiredInt("wid", 1, maxWriters)
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
	csum, err := parseDigest(cs)
	if err != nil {
		return badRequest("parameter verification failed - 'csum': %v", err)
	}
	b.mu.Lock()
	wr := b.writers[int(wid)]
	b.mu.Unlock()
	if wr == nil {
		return badRequest("no such open writer %d", wid)
	}
	if wr.fixed != fixed {
		return badRequest("writer %d is of the other index kind", wid)
	}
	wr.mu.Lock()
	defer wr.mu.Unlock()
	if wr.closed.Load() {
		return badRequest("no such open writer %d", wid)
	}
	kind := map[bool]string{true: "fixed", false: "dynamic"}[fixed]
	var total uint64
	if !fixed {
		if uint64(count) != wr.count {
			return badRequest("dynamic writer '%s' close failed - received wrong number of chunks (%d != %d)", wr.name, wr.count, count)
		}
		if uint64(size) != wr.offset {
			return badRequest("dynamic writer '%s' close failed - close index with wrong size (%d != %d)", wr.name, wr.offset, size)
		}
		total = wr.offset
	} else {
		if !wr.reuse {
			if uint64(count) != wr.count || uint64(count) != wr.slots {
				return badRequest("fixed writer '%s' close failed - received wrong number of chunks (%d != %d)", wr.name, wr.count, count)
			}
			if uint64(size) != wr.image {
				return badRequest("fixed writer '%s' close failed - size does not match (%d != %d)", wr.name, wr.image, size)
			}
		}
		if wr.filled < wr.slots {
			return badRequest("fixed writer '%s' close failed - missing %d of %d chunks", wr.name, wr.slots-wr.filled, wr.slots)
		}
		total = wr.image
	}
	f, err := os.OpenFile(wr.path, os.O_RDWR, 0)
	if err != nil {
		return fmt.Errorf("%s writer '%s' close failed - %w", kind, wr.name, err)
	}
	var got [32]byte
	if fixed {
		// The checksum of an image's index is over all its digests: read
		// back from the scratch file (only once every slot was written).
		h := sha256.New()
		if _, err := io.Copy(h, io.NewSectionReader(f, index.HeaderSize, int64(wr.slots)*entrySizeFixed)); err != nil {
			f.Close()
			return fmt.Errorf("fixed writer '%s' close failed - %w", wr.name, err)
		}
		h.Sum(got[:0])
	} else {
		wr.csum.Sum(got[:0])
	}
	if got != csum {
		f.Close()
		return badRequest("%s writer '%s' close failed - got unexpected checksum", kind, wr.name)
	}
	if _, err := f.WriteAt(got[:], 32); err != nil {
		f.Close()
		return fmt.Errorf("%s writer '%s' close failed - %w", kind, wr.name, err)
	}
	wr.closed.Store(true)
	if err := b.storeScratch(wr.name, f); err != nil {
		return fmt.Errorf("writing index '%s' failed - %w", wr.name, err)
	}
	wr.path = ""
	b.mu.Lock()
	b.files[wr.name] = uploadedFile{size: total, csum: got}
	delete(b.writers, int(wid))
	b.mu.Unlock()
	pct := 0.0
	if total > 0 {
		pct = float64(wr.upload.Load()) * 100 / float64(total)
	}
	b.task.logf("Upload statistics for '%s'\nUUID: %s\nChecksum: %s\nSize: %d\nChunk count: %d\nUpload size: %d (%.0f%%)",
		wr.name, hex.EncodeToString(wr.uuid[:]), hex.EncodeToString(got[:]), total, wr.count, wr.upload.Load(), pct)
	return nil
}

// indexInfo is what a scan of an index file found.
type indexInfo struct {
	fixed     bool
	count     uint64
	size      uint64 // the stream (dynamic) or image (fixed) size
	image     uint64 // fixed
	chunkSize uint64 // fixed
	csum      [32]byte
}

// scanIndex reads an index file of size bytes from r, checking it as
// index.Open does (magic, structure, strictly growing ends, the stored
// checksum), and calls fn (when not nil) for every entry in order; fn
// errors end the scan. It holds one buffer, whatever the index's size.
func scanIndex(r io.Reader, size int64, fn func(digest [32]byte, start, end uint64) error) (indexInfo, error) {
	var info indexInfo
	corrupt := func(format string, args ...any) (indexInfo, error) {
		return info, fmt.Errorf("%w: "+format, append([]any{index.ErrCorrupt}, args...)...)
	}
	if size < index.HeaderSize {
		return corrupt("%d bytes is shorter than an index header", size)
	}
	br := bufio.NewReaderSize(r, 64<<10)
	hdr := make([]byte, index.HeaderSize)
	if _, err := io.ReadFull(br, hdr); err != nil {
		return info, err
	}
	body := uint64(size - index.HeaderSize)
	switch [8]byte(hdr[:8]) {
	case index.MagicDynamic:
		if body%entrySizeDyn != 0 {
			return corrupt("dynamic index body of %d bytes is not a multiple of 40", body)
		}
		info.count = body / entrySizeDyn
	case index.MagicFixed:
		info.fixed = true
		info.image = binary.LittleEndian.Uint64(hdr[64:])
		info.chunkSize = binary.LittleEndian.Uint64(hdr[72:])
		cs := info.chunkSize
		if cs == 0 || cs&(cs-1) != 0 {
			return corrupt("chunk size %d is not a power of two", cs)
		}
		want := info.image/cs + min(info.image%cs, 1)
		if body%entrySizeFixed != 0 || body/entrySizeFixed != want {
			return corrupt("fixed index has %d bytes of digests, %d chunks expected", body, want)
		}
		info.count = want
		info.size = info.image
	default:
		return corrupt("unknown magic %x", hdr[:8])
	}
	h := sha256.New()
	var e [entrySizeDyn]byte
	var prev uint64
	for i := uint64(0); i < info.count; i++ {
		var d [32]byte
		var start, end uint64
		if info.fixed {
			if _, err := io.ReadFull(br, e[:entrySizeFixed]); err != nil {
				return info, err
			}
			h.Write(e[:entrySizeFixed])
			d = [32]byte(e[:32])
			start = i * info.chunkSize
			end = min(start+info.chunkSize, info.image)
		} else {
			if _, err := io.ReadFull(br, e[:]); err != nil {
				return info, err
			}
			h.Write(e[:])
			end = binary.LittleEndian.Uint64(e[:8])
			if end <= prev {
				return corrupt("chunk %d ends at %d, not after %d", i, end, prev)
			}
			start, prev = prev, end
			d = [32]byte(e[8:])
			info.size = end
		}
		if fn != nil {
			if err := fn(d, start, end); err != nil {
				return info, err
			}
		}
	}
	h.Sum(info.csum[:0])
	if info.csum != [32]byte(hdr[32:64]) {
		return corrupt("%s index checksum mismatch", map[bool]string{true: "fixed", false: "dynamic"}[info.fixed])
	}
	return info, nil
}

// fileOpener is the datastore's snapshot reader with streaming reads.
type fileOpener interface {
	OpenFile(name string) (io.ReadCloser, int64, error)
}

// openSnapshotFile opens a file of a snapshot for streaming (or, with
// another reader, from memory).
func openSnapshotFile(rd core.SnapshotReader, name string) (io.ReadCloser, int64, error) {
	if fo, ok := rd.(fileOpener); ok {
		return fo.OpenFile(name)
	}
	data, err := rd.ReadFile(name)
	if err != nil {
		return nil, 0, err
	}
	return io.NopCloser(bytes.NewReader(data)), int64(len(data)), nil
}

// scanPrevious scans an index of the previous snapshot.
func (b *backupSession) scanPrevious(name string, fn func(d [32]byte, start, end uint64) error) (indexInfo, error) {
	rc, size, err := openSnapshotFile(b.prev, name)
	if err != nil {
		return indexInfo{}, err
	}
	defer rc.Close()
	return scanIndex(rc, size, fn)
}

func isIndexName(name string) bool {
	return strings.HasSuffix(name, ".didx") || strings.HasSuffix(name, ".fidx")
}

// servePrevious is GET previous: a file of the previous snapshot, streamed
// from disk. An index is checked, then its chunks are registered as known
// to the session (protocol.md 3.3), then it is sent: three reads of the
// file, never all of it in memory.
func (b *backupSession) servePrevious(w http.ResponseWriter, r *http.Request) error {
	p, err := parseParams(r)
	if err != nil {
		return err
	}
	name, err := p.safeName("archive-name", "")
	if err != nil {
		return err
	}
	if b.prev == nil {
		return badRequest("no valid previous backup")
	}
	notFound := func(err error) error {
		if errors.Is(err, core.ErrNotFound) {
			return errorf(http.StatusNotFound, "open file '%s' failed - not found", name)
		}
		return err
	}
	if isIndexName(name) {
		if _, err := b.scanPrevious(name, nil); err != nil {
			if errors.Is(err, index.ErrCorrupt) {
				return fmt.Errorf("previous index '%s' is corrupt: %w", name, err)
			}
			return notFound(err)
		}
		known := make(map[[32]byte]uint64, 4096)
		_, err := b.scanPrevious(name, func(d [32]byte, start, end uint64) error {
			known[d] = end - start
			if len(known) >= 4096 {
				b.registerKnown(known)
			}
			return nil
		})
		b.registerKnown(known)
		if err != nil {
			return notFound(err)
		}
		b.task.debugf("register chunks in '%s' from previous backup '%s'.", name, b.prevSnap)
	}
	rc, size, err := openSnapshotFile(b.prev, name)
	if err != nil {
		return notFound(err)
	}
	defer rc.Close()
	return streamRaw(w, rc, size)
}

// Errors of a streamed answer: errSent means it was written; errStreamCut
// that it broke after the header went out, so the stream must be reset
// (the handler panics with http.ErrAbortHandler).
var (
	errSent      = errors.New("response sent")
	errStreamCut = errors.New("response stream cut")
)

// streamRaw sends size bytes of rc as an octet-stream, with a 64 KiB
// buffer whatever the size. It returns errSent, or errStreamCut when the
// copy failed after the header was sent.
func streamRaw(w http.ResponseWriter, rc io.Reader, size int64) error {
	w.Header().Set("Content-Type", "application/octet-stream")
	w.Header().Set("Content-Length", fmt.Sprint(size))
	w.WriteHeader(http.StatusOK)
	buf := make([]byte, 64<<10)
	if n, err := io.CopyBuffer(w, io.LimitReader(rc, size), buf); err != nil || n != size {
		return errStreamCut
	}
	return errSent
}

// finishStreamed ends a handler whose answer may have been streamed: it
// reports whether err says so (and resets a cut stream).
func finishStreamed(err error) bool {
	switch {
	case errors.Is(err, errSent):
		return true
	case errors.Is(err, errStreamCut):
		panic(http.ErrAbortHandler)
	}
	return false
}
