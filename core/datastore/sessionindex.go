package datastore

import (
	"bufio"
	"crypto/rand"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"hash"
	"io"
	"math"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"cairn/core"
	"cairn/core/index"
	"cairn/core/manifest"
)

// A session's index writers keep their state on disk (issue 16 item 2): a
// scratch file in the final .didx/.fidx format (a 4096-byte header, then
// the entries), as upstream's FixedIndexWriter/DynamicIndexWriter keep
// .tmp_fidx and .tmp_didx files. A writer's memory does not grow with its
// image size or its entry count; at close the header gets its checksum and
// the file is moved into the snapshot (ScratchFile/WriteFileFrom). The
// scratch file is opened per request, so writers hold no file descriptor
// between requests.
//
// Sizes are bounded as upstream bounds them, or tighter where upstream has
// no bound of its own:
//   - an image is at most maxIndexEntries chunks of 4 MiB (64 TiB), the
//     largest whose index (512 MiB) the datastore's readers accept;
//   - a dynamic index has at most maxIndexEntries entries;
//   - chunks are at most 16 MiB (MaxChunkSize) and decode no further.
const (
	entrySizeDyn   = 40
	entrySizeFixed = 32
)

// maxIndexEntries bounds the chunks of one index (a variable for tests).
var maxIndexEntries uint64 = 1 << 24

// IndexEntry is one appended chunk: its digest and its offset in the
// stream (dynamic) or image (fixed).
type IndexEntry struct {
	Digest [32]byte
	Offset uint64
}

// sizedEntry is an IndexEntry with the size of its chunk.
type sizedEntry struct {
	IndexEntry
	size uint64
}

// WriterStats describe a closed index writer (the server logs them).
type WriterStats struct {
	Name   string
	UUID   [16]byte
	Csum   [32]byte
	Size   uint64 // the stream or image size
	Count  uint64 // appended chunks
	Upload uint64 // bytes of chunks uploaded for this writer
}

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

func kindName(fixed bool) string {
	if fixed {
		return "fixed"
	}
	return "dynamic"
}

// drop removes the scratch file of a writer never closed.
func (wr *indexWriter) drop() {
	wr.mu.Lock()
	defer wr.mu.Unlock()
	if wr.path != "" {
		os.Remove(wr.path)
		wr.path = ""
	}
	wr.closed.Store(true)
}

// scratchStore is the datastore's backup writer with on-disk scratch files.
type scratchStore interface {
	ScratchFile(name string) (*os.File, error)
	WriteFileFrom(name string, f *os.File) error
}

// scratchFile creates a scratch file for an index writer: in the
// datastore when it supports it, else in the temp directory.
func (s *BackupSession) scratchFile(name string) (*os.File, error) {
	if ss, ok := s.w.(scratchStore); ok {
		return ss.ScratchFile(name)
	}
	return os.CreateTemp("", ".cairn-"+name+".tmp_*")
}

// storeScratch moves a finished scratch file into the snapshot.
func (s *BackupSession) storeScratch(name string, f *os.File) error {
	if ss, ok := s.w.(scratchStore); ok {
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
	return s.w.WriteFile(name, data)
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
		binary.LittleEndian.PutUint64(h[72:], FixedChunkSize)
	}
	return h
}

// writer returns the open writer wid, or nil.
func (s *BackupSession) writer(wid int) *indexWriter {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.writers[wid]
}

// CreateDynamic opens a writer of the dynamic index name (already checked
// to be a safe .didx file name) and returns its number.
func (s *BackupSession) CreateDynamic(name string) (int, error) {
	wr := &indexWriter{name: name, csum: sha256.New()}
	rand.Read(wr.uuid[:])
	return s.create(wr, "")
}

// CreateFixed opens a writer of the fixed index name for an image of size
// bytes and returns its number. With reuseCsum (the hex checksum of the
// previous snapshot's index of that name) the writer starts from that
// index, and only changed chunks need to be appended.
func (s *BackupSession) CreateFixed(name string, size uint64, reuseCsum string) (int, error) {
	wr := &indexWriter{name: name, fixed: true, image: size}
	rand.Read(wr.uuid[:])
	wr.slots = (wr.image + FixedChunkSize - 1) / FixedChunkSize
	if wr.slots > maxIndexEntries {
		return 0, requestErr("image size %d is too large (at most %d bytes)", size, uint64(maxIndexEntries)*FixedChunkSize)
	}
	return s.create(wr, reuseCsum)
}

func (s *BackupSession) create(wr *indexWriter, reuseCsum string) (int, error) {
	// One creation at a time: the checks below and the scratch file go
	// together.
	s.createMu.Lock()
	defer s.createMu.Unlock()
	if err := s.canCreate(wr.name); err != nil {
		return 0, err
	}
	f, err := s.scratchFile(wr.name)
	if err != nil {
		return 0, fmt.Errorf("cannot create index writer - %w", err)
	}
	wr.path = f.Name()
	if err := s.initScratch(wr, f, reuseCsum); err != nil {
		os.Remove(wr.path)
		var re *RequestError
		if errors.As(err, &re) {
			return 0, err
		}
		return 0, fmt.Errorf("cannot create index writer - %w", err)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := s.canCreateLocked(wr.name); err != nil {
		os.Remove(wr.path)
		return 0, err
	}
	s.nextWID++
	s.writers[s.nextWID] = wr
	return s.nextWID, nil
}

// initScratch writes the header of a new writer's scratch file f (and
// closes it): a fixed index gets all its slots, as a sparse file whose
// unwritten slots read as zero digests, or the previous index's digests.
func (s *BackupSession) initScratch(wr *indexWriter, f *os.File, reuseCsum string) error {
	defer f.Close()
	if _, err := f.Write(indexHeader(wr.fixed, wr.uuid, time.Now().Unix(), wr.image)); err != nil {
		return err
	}
	if !wr.fixed {
		return nil
	}
	if err := f.Truncate(index.HeaderSize + int64(wr.slots)*entrySizeFixed); err != nil {
		return err
	}
	if reuseCsum != "" {
		return s.reuseFixed(wr, f, reuseCsum)
	}
	return nil
}

func (s *BackupSession) canCreate(name string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.canCreateLocked(name)
}

func (s *BackupSession) canCreateLocked(name string) error {
	if s.ended {
		return requestErr("backup session ended")
	}
	if _, ok := s.files[name]; ok {
		return requestErr("archive '%s' was already uploaded", name)
	}
	for _, o := range s.writers {
		if o.name == name {
			return requestErr("archive '%s' is already being written", name)
		}
	}
	if s.nextWID >= MaxWriters {
		return requestErr("too many index writers")
	}
	return nil
}

// reuseFixed starts an incremental fixed writer from the previous
// snapshot's index of the same name, streamed from disk into the scratch
// file f.
func (s *BackupSession) reuseFixed(wr *indexWriter, f *os.File, csumHex string) error {
	want, err := ParseDigest(csumHex)
	if err != nil {
		return requestErr("parameter verification failed - 'reuse-csum': %v", err)
	}
	if s.prev == nil {
		return requestErr("cannot reuse index - no valid previous backup exists")
	}
	// First pass: the old index is sound, its checksum the one expected,
	// and it fits the new image.
	info, err := s.scanPrevious(wr.name, nil)
	if errors.Is(err, core.ErrNotFound) {
		return requestErr("cannot reuse index - no previous backup exists for archive")
	}
	if err != nil {
		return fmt.Errorf("cannot reuse index - %w", err)
	}
	if !info.Fixed {
		return fmt.Errorf("cannot reuse index - %w: not a fixed index", index.ErrCorrupt)
	}
	if info.Csum != want {
		return requestErr("expected csum (%s) doesn't match last backup's (%s)", csumHex, hex.EncodeToString(info.Csum[:]))
	}
	if info.ChunkSize != FixedChunkSize || info.Image > wr.image {
		return requestErr("cannot reuse index - image size or chunk size changed")
	}
	// Second pass: copy the digests and register the chunks.
	bw := bufio.NewWriterSize(io.NewOffsetWriter(f, index.HeaderSize), 64<<10)
	known := make(map[[32]byte]uint64, 1024)
	_, err = s.scanPrevious(wr.name, func(d [32]byte, start, end uint64) error {
		if _, err := bw.Write(d[:]); err != nil {
			return err
		}
		known[d] = end - start
		if len(known) >= 1024 {
			s.registerKnown(known)
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("cannot reuse index - %w", err)
	}
	if err := bw.Flush(); err != nil {
		return err
	}
	s.registerKnown(known)
	wr.filled = info.Count
	wr.reuse = true
	return nil
}

// registerKnown adds chunks to the session's known chunks and empties m.
func (s *BackupSession) registerKnown(m map[[32]byte]uint64) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for d, n := range m {
		s.known[d] = n
	}
	clear(m)
}

// sized looks up writer wid and the sizes of the entries' chunks, which
// the session must know (uploaded, or registered from the previous
// snapshot). A nil writer means there is none.
func (s *BackupSession) sized(wid int, entries []IndexEntry) (*indexWriter, []sizedEntry, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	wr := s.writers[wid]
	if wr == nil {
		return nil, nil, nil
	}
	out := make([]sizedEntry, len(entries))
	for i, e := range entries {
		size, ok := s.known[e.Digest]
		if !ok {
			return nil, nil, requestErr("no such chunk %s", hex.EncodeToString(e.Digest[:]))
		}
		out[i] = sizedEntry{IndexEntry: e, size: size}
	}
	return wr, out, nil
}

// Append adds entries to the open writer wid, of the kind fixed says.
func (s *BackupSession) Append(wid int, fixed bool, entries []IndexEntry) error {
	wr, sized, err := s.sized(wid, entries)
	if err != nil {
		return err
	}
	if wr == nil {
		return requestErr("no such open writer %d", wid)
	}
	if wr.fixed != fixed {
		return requestErr("writer %d is not a %s index writer", wid, kindName(fixed))
	}
	wr.mu.Lock()
	defer wr.mu.Unlock()
	if wr.closed.Load() {
		return requestErr("no such open writer %d", wid)
	}
	if fixed {
		return wr.appendFixed(sized)
	}
	return wr.appendDynamic(sized)
}

// appendDynamic checks the entries against the running offset and appends
// them to the scratch file; wr.mu held.
func (wr *indexWriter) appendDynamic(entries []sizedEntry) error {
	if uint64(len(entries)) > maxIndexEntries-wr.count {
		return requestErr("dynamic writer '%s' append chunk failed - too many chunks (at most %d)", wr.name, maxIndexEntries)
	}
	buf := make([]byte, 0, len(entries)*entrySizeDyn)
	off := wr.offset
	for _, e := range entries {
		if e.Offset != off {
			return requestErr("dynamic writer '%s' append chunk failed - got strange chunk offset (%d != %d)", wr.name, off, e.Offset)
		}
		if e.size > math.MaxUint64-off {
			return requestErr("dynamic writer '%s' append chunk failed - stream size overflows", wr.name)
		}
		off += e.size
		buf = binary.LittleEndian.AppendUint64(buf, off)
		buf = append(buf, e.Digest[:]...)
	}
	if err := appendFile(wr.path, buf); err != nil {
		// The file may hold part of the batch: the writer is unusable.
		wr.closed.Store(true)
		return fmt.Errorf("dynamic writer '%s' append chunk failed - %w", wr.name, err)
	}
	wr.csum.Write(buf)
	wr.offset = off
	wr.count += uint64(len(entries))
	return nil
}

func appendFile(path string, b []byte) error {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND, 0)
	if err != nil {
		return err
	}
	_, err = f.Write(b)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	return err
}

// appendFixed checks the entries against the image and writes their
// digests into their slots; wr.mu held. A slot can be written again (the
// last digest counts); wr.filled counts the slots written at least once.
func (wr *indexWriter) appendFixed(entries []sizedEntry) error {
	for _, e := range entries {
		size, offset := e.size, e.Offset
		if size > FixedChunkSize {
			return requestErr("fixed writer '%s' append chunk failed - chunk too large (%d > %d)", wr.name, size, FixedChunkSize)
		}
		// offset+size is computed only once it cannot wrap (issue 16 item
		// 9: an offset of 2^64 - 4 MiB made the end 0).
		if offset > wr.image || size > wr.image-offset {
			return requestErr("fixed writer '%s' append chunk failed - chunk ends after the image (offset %d, size %d, image size %d)", wr.name, offset, size, wr.image)
		}
		end := offset + size
		if offset%FixedChunkSize != 0 || (end%FixedChunkSize != 0 && end != wr.image) {
			return requestErr("fixed writer '%s' append chunk failed - got unaligned chunk (offset %d, size %d)", wr.name, offset, size)
		}
	}
	f, err := os.OpenFile(wr.path, os.O_RDWR, 0)
	if err != nil {
		return fmt.Errorf("fixed writer '%s' append chunk failed - %w", wr.name, err)
	}
	defer f.Close()
	var old [entrySizeFixed]byte
	for _, e := range entries {
		if e.size < FixedChunkSize {
			if wr.hasTail {
				return requestErr("fixed writer '%s' append chunk failed - got more than one short chunk", wr.name)
			}
			wr.hasTail = true
		}
		at := index.HeaderSize + int64(e.Offset/FixedChunkSize)*entrySizeFixed
		if _, err := f.ReadAt(old[:], at); err != nil {
			return fmt.Errorf("fixed writer '%s' append chunk failed - %w", wr.name, err)
		}
		if _, err := f.WriteAt(e.Digest[:], at); err != nil {
			wr.closed.Store(true)
			return fmt.Errorf("fixed writer '%s' append chunk failed - %w", wr.name, err)
		}
		// A zero digest marks an empty slot (no chunk has it: it would be
		// a SHA-256 preimage of zero).
		if old == [entrySizeFixed]byte{} && e.Digest != [32]byte{} {
			wr.filled++
		}
		wr.count++
	}
	return nil
}

// CloseWriter closes the open writer wid, of the kind fixed says: the
// client's chunk count, size and checksum must be the writer's (a reused
// image's count and size are not checked, but every slot must hold a
// digest). The index is stored in the snapshot.
func (s *BackupSession) CloseWriter(wid int, fixed bool, count, size uint64, csum [32]byte) (WriterStats, error) {
	wr := s.writer(wid)
	if wr == nil {
		return WriterStats{}, requestErr("no such open writer %d", wid)
	}
	if wr.fixed != fixed {
		return WriterStats{}, requestErr("writer %d is of the other index kind", wid)
	}
	st, err := wr.close(s, wid, count, size, csum)
	if err != nil {
		return WriterStats{}, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.files[wr.name] = uploadedFile{size: st.Size, csum: st.Csum}
	delete(s.writers, wid)
	return st, nil
}

// checkClose compares the client's count and size with the writer's;
// wr.mu held.
func (wr *indexWriter) checkClose(count, size uint64) error {
	if !wr.fixed {
		if count != wr.count {
			return requestErr("dynamic writer '%s' close failed - received wrong number of chunks (%d != %d)", wr.name, wr.count, count)
		}
		if size != wr.offset {
			return requestErr("dynamic writer '%s' close failed - close index with wrong size (%d != %d)", wr.name, wr.offset, size)
		}
		return nil
	}
	if !wr.reuse {
		if count != wr.count || count != wr.slots {
			return requestErr("fixed writer '%s' close failed - received wrong number of chunks (%d != %d)", wr.name, wr.count, count)
		}
		if size != wr.image {
			return requestErr("fixed writer '%s' close failed - size does not match (%d != %d)", wr.name, wr.image, size)
		}
	}
	if wr.filled < wr.slots {
		return requestErr("fixed writer '%s' close failed - missing %d of %d chunks", wr.name, wr.slots-wr.filled, wr.slots)
	}
	return nil
}

// close checks the writer against the client's word, writes the checksum
// into the scratch file's header and stores it in the snapshot.
func (wr *indexWriter) close(s *BackupSession, wid int, count, size uint64, csum [32]byte) (WriterStats, error) {
	wr.mu.Lock()
	defer wr.mu.Unlock()
	if wr.closed.Load() {
		return WriterStats{}, requestErr("no such open writer %d", wid)
	}
	if err := wr.checkClose(count, size); err != nil {
		return WriterStats{}, err
	}
	kind := kindName(wr.fixed)
	f, err := os.OpenFile(wr.path, os.O_RDWR, 0)
	if err != nil {
		return WriterStats{}, fmt.Errorf("%s writer '%s' close failed - %w", kind, wr.name, err)
	}
	got, err := wr.checksum(f)
	if err == nil && got != csum {
		err = requestErr("%s writer '%s' close failed - got unexpected checksum", kind, wr.name)
	}
	if err == nil {
		if _, werr := f.WriteAt(got[:], 32); werr != nil {
			err = fmt.Errorf("%s writer '%s' close failed - %w", kind, wr.name, werr)
		}
	}
	if err != nil {
		f.Close()
		return WriterStats{}, err
	}
	wr.closed.Store(true)
	if err := s.storeScratch(wr.name, f); err != nil {
		return WriterStats{}, fmt.Errorf("writing index '%s' failed - %w", wr.name, err)
	}
	wr.path = ""
	total := wr.offset
	if wr.fixed {
		total = wr.image
	}
	return WriterStats{Name: wr.name, UUID: wr.uuid, Csum: got, Size: total, Count: wr.count, Upload: wr.upload.Load()}, nil
}

// checksum is the index's checksum: for an image, over all its digests,
// read back from the scratch file f (only once every slot was written);
// for a stream, the running one. wr.mu held.
func (wr *indexWriter) checksum(f *os.File) ([32]byte, error) {
	var got [32]byte
	if !wr.fixed {
		wr.csum.Sum(got[:0])
		return got, nil
	}
	h := sha256.New()
	if _, err := io.Copy(h, io.NewSectionReader(f, index.HeaderSize, int64(wr.slots)*entrySizeFixed)); err != nil {
		return got, fmt.Errorf("fixed writer '%s' close failed - %w", wr.name, err)
	}
	h.Sum(got[:0])
	return got, nil
}

// scanPrevious scans an index of the previous snapshot.
func (s *BackupSession) scanPrevious(name string, fn func(d [32]byte, start, end uint64) error) (IndexInfo, error) {
	rc, size, err := OpenSnapshotFile(s.prev, name)
	if err != nil {
		return IndexInfo{}, err
	}
	defer rc.Close()
	return ScanIndex(rc, size, fn)
}

// PreviousFile opens the file name (already checked to be a safe file
// name) of the previous snapshot for streaming. An index is checked first,
// then its chunks are registered as known to the session (protocol.md
// 3.3): with the open, three reads of the file, never all of it in
// memory. A missing file is core.ErrNotFound.
func (s *BackupSession) PreviousFile(name string) (io.ReadCloser, int64, error) {
	if s.prev == nil {
		return nil, 0, requestErr("no valid previous backup")
	}
	if manifest.IsIndexFile(name) {
		if _, err := s.scanPrevious(name, nil); err != nil {
			if errors.Is(err, index.ErrCorrupt) {
				return nil, 0, fmt.Errorf("previous index '%s' is corrupt: %w", name, err)
			}
			return nil, 0, err
		}
		known := make(map[[32]byte]uint64, 4096)
		_, err := s.scanPrevious(name, func(d [32]byte, start, end uint64) error {
			known[d] = end - start
			if len(known) >= 4096 {
				s.registerKnown(known)
			}
			return nil
		})
		s.registerKnown(known)
		if err != nil {
			return nil, 0, err
		}
	}
	return OpenSnapshotFile(s.prev, name)
}
