package datastore

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"strings"
	"sync"

	"cairn/core"
	"cairn/core/blob"
	"cairn/core/manifest"
)

// A backup session is one backup in progress as the backup protocol drives
// it (protocol.md 3.3): index writers opened, appended to and closed by
// number, chunks and blobs uploaded, then the snapshot finished, or removed
// when the session ends without finishing. The session holds every rule of
// what a client may send: sizes, counts, digests and checksums (the bounds
// are issue 16's). The server only parses requests and maps the errors:
// a *RequestError is the client's fault (HTTP 400).
//
// The session's index writers are in sessionindex.go.

// Limits of the backup protocol (protocol.md 3.3).
const (
	// MaxChunkSize bounds a chunk's plain size.
	MaxChunkSize = 16 << 20
	// MaxEncodedSize bounds an uploaded chunk or blob.
	MaxEncodedSize = MaxChunkSize + blob.EncryptedHeaderSize
	// FixedChunkSize is the chunk size of fixed indexes (images).
	FixedChunkSize = 4 << 20
	// MaxWriters bounds the index writers one session opens.
	MaxWriters = 256
)

// maxManifestSize bounds a decoded manifest (index.json.blob): the upload
// limit of a blob (16 MiB, protocol.md 3.3) applies to its contents too.
const maxManifestSize = MaxChunkSize

// RequestError is a request a backup session refuses: the client's fault.
type RequestError struct{ msg string }

func (e *RequestError) Error() string { return e.msg }

func requestErr(format string, args ...any) error {
	return &RequestError{msg: fmt.Sprintf(format, args...)}
}

// Budget bounds the memory of the chunks being decoded, all sessions
// together: Acquire waits for n bytes of it (or for ctx), Release gives
// them back.
type Budget interface {
	Acquire(ctx context.Context, n int64) error
	Release(n int64)
}

// UploadStats are a session's chunk_upload_stats (recorded in the manifest).
type UploadStats struct {
	Count, Size, Compressed, Duplicates uint64
}

// uploadedFile is a file stored in this session, with what the manifest
// must say.
type uploadedFile struct {
	size uint64
	csum [32]byte
}

// BackupSession is one backup in progress (see above). Its methods are
// safe for concurrent use: a client sends requests in parallel.
type BackupSession struct {
	ds     *Datastore
	w      core.BackupWriter
	ns     core.Namespace
	snap   core.Snapshot
	budget Budget

	prev     core.SnapshotReader
	prevSnap *core.Snapshot

	createMu sync.Mutex // index writer creation (sessionindex.go)
	mu       sync.Mutex // the fields below
	known    map[[32]byte]uint64
	writers  map[int]*indexWriter
	nextWID  int
	files    map[string]uploadedFile
	manifest []byte
	finished bool
	ended    bool
	stats    UploadStats
}

// StartSession starts a backup (StartBackup) and returns its session.
// budget bounds chunk and manifest decoding (nil: no bound).
func (d *Datastore) StartSession(ctx context.Context, opts core.BackupOptions, budget Budget) (*BackupSession, error) {
	w, err := d.StartBackup(ctx, opts)
	if err != nil {
		return nil, err
	}
	return newSession(d, w, opts.Namespace, opts.Snapshot, budget), nil
}

func newSession(d *Datastore, w core.BackupWriter, ns core.Namespace, snap core.Snapshot, budget Budget) *BackupSession {
	return &BackupSession{ds: d, w: w, ns: ns, snap: snap, budget: budget,
		known: map[[32]byte]uint64{}, writers: map[int]*indexWriter{}, files: map[string]uploadedFile{}}
}

// LoadPrevious finds the incremental base: the group's last finished
// snapshot, unless its verification failed. An error leaves the session
// without a base.
func (s *BackupSession) LoadPrevious() error {
	prev, err := s.w.Previous()
	if err != nil || prev == nil {
		return err
	}
	ps := prev.Snapshot()
	if m, _, err := s.ds.ReadManifest(s.ns, ps); err == nil {
		if vs, ok := m.Unprotected["verify_state"].(map[string]any); ok && vs["state"] == "failed" {
			prev.Close()
			return nil
		}
	}
	s.prev, s.prevSnap = prev, &ps
	return nil
}

// PreviousSnapshot is the incremental base, or nil.
func (s *BackupSession) PreviousSnapshot() *core.Snapshot { return s.prevSnap }

// Finished reports whether Finish succeeded.
func (s *BackupSession) Finished() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.finished
}

// End ends the session: no writer can be created or appended to any more,
// the scratch files of writers never closed are removed and the base is
// closed. It reports whether the backup was finished; an unfinished one
// is then removed with Abort.
func (s *BackupSession) End() (finished bool) {
	s.mu.Lock()
	s.ended = true
	finished = s.finished
	ws := make([]*indexWriter, 0, len(s.writers))
	for _, wr := range s.writers {
		ws = append(ws, wr)
	}
	s.mu.Unlock()
	for _, wr := range ws {
		wr.drop()
	}
	if s.prev != nil {
		s.prev.Close()
	}
	return finished
}

// Abort removes the unfinished backup.
func (s *BackupSession) Abort() error { return s.w.Abort() }

// Forget removes the finished snapshot again (a benchmark's).
func (s *BackupSession) Forget() error { return s.ds.ForgetSnapshot(s.ns, s.snap) }

// ReadBody reads a request body that announced n bytes: all of it and at
// most one byte more (to tell "larger than announced"). Memory grows with
// the bytes that really arrive, never with the announcement: a client that
// announces 16 MiB and sends nothing costs nothing.
func ReadBody(r io.Reader, n int64) ([]byte, error) {
	buf := make([]byte, 0, min(n+1, 64<<10))
	for {
		if len(buf) == cap(buf) {
			if int64(len(buf)) > n {
				return buf, nil
			}
			nb := make([]byte, len(buf), min(max(2*int64(cap(buf)), 64<<10), n+1))
			copy(nb, buf)
			buf = nb
		}
		k, err := r.Read(buf[len(buf):cap(buf)])
		buf = buf[:len(buf)+k]
		if errors.Is(err, io.EOF) {
			return buf, nil
		}
		if err != nil {
			return buf, err
		}
	}
}

// ParseDigest parses a SHA-256 digest of 64 hex digits.
func ParseDigest(s string) ([32]byte, error) {
	var d [32]byte
	if len(s) != 64 {
		return d, fmt.Errorf("expected 64 hex digits, got %d characters", len(s))
	}
	if _, err := hex.Decode(d[:], []byte(s)); err != nil {
		return d, fmt.Errorf("invalid hex digest")
	}
	return d, nil
}

// withBudget runs fn holding n bytes of the decode budget.
func (s *BackupSession) withBudget(ctx context.Context, n int64, fn func() error) error {
	if s.budget != nil {
		if err := s.budget.Acquire(ctx, n); err != nil {
			return err
		}
		defer s.budget.Release(n)
	}
	return fn()
}

// UploadChunk stores a chunk for writer wid from body, which must hold
// encSize bytes: the chunk's blob, whose plain data is size bytes with
// SHA-256 digest (checked unless encrypted).
func (s *BackupSession) UploadChunk(ctx context.Context, wid int, digest [32]byte, size, encSize int64, body io.Reader) error {
	wr := s.writer(wid)
	if wr == nil || wr.closed.Load() {
		return requestErr("no such open writer %d", wid)
	}
	data, err := ReadBody(body, encSize)
	if err != nil {
		return requestErr("reading chunk failed - %v", err)
	}
	if int64(len(data)) > encSize {
		return requestErr("uploaded chunk is larger than announced.")
	}
	if int64(len(data)) != encSize {
		return requestErr("uploaded chunk has unexpected size.")
	}
	kind, err := blob.KindOf(data)
	if err != nil {
		return requestErr("invalid chunk - %v", err)
	}
	if kind.Encrypted {
		if err := blob.VerifyCRC(data); err != nil {
			return requestErr("invalid chunk - %v", err)
		}
		if len(data) < blob.EncryptedHeaderSize {
			return requestErr("invalid chunk - encrypted chunk too short")
		}
	} else if err := s.verifyPlainChunk(ctx, data, size, digest); err != nil {
		return err
	}
	reused, _, err := s.w.UploadChunk(digest, uint64(size), func() ([]byte, error) { return data, nil })
	if err != nil {
		return fmt.Errorf("inserting chunk failed - %w", err)
	}
	s.mu.Lock()
	s.known[digest] = uint64(size)
	s.stats.Count++
	s.stats.Size += uint64(size)
	s.stats.Compressed += uint64(len(data))
	if reused {
		s.stats.Duplicates++
	}
	s.mu.Unlock()
	wr.upload.Add(uint64(size))
	return nil
}

// verifyPlainChunk checks that an unencrypted chunk decodes to exactly size
// bytes whose SHA-256 is digest. The decompressed bytes count against the
// decode budget, and decompression stops at size: a small upload cannot
// make the server hold more than it announced, nor more than the budget
// all together.
func (s *BackupSession) verifyPlainChunk(ctx context.Context, data []byte, size int64, digest [32]byte) error {
	// Twice the size: a payload that decodes to more than size makes the
	// decoder grow its output once before it stops (blob.DecodeLimit).
	return s.withBudget(ctx, 2*size, func() error {
		plain, err := blob.DecodeLimit(data, nil, int(size), nil)
		if errors.Is(err, blob.ErrTooLarge) {
			return requestErr("detected chunk with wrong length (more than %d bytes)", size)
		}
		if err != nil {
			return requestErr("invalid chunk - %v", err)
		}
		if int64(len(plain)) != size {
			return requestErr("detected chunk with wrong length (%d != %d)", size, len(plain))
		}
		if sha256.Sum256(plain) != digest {
			return requestErr("detected chunk with wrong digest.")
		}
		return nil
	})
}

// decodeManifest decodes a manifest blob, no further than maxManifestSize,
// within the decode budget.
func (s *BackupSession) decodeManifest(ctx context.Context, data []byte) (plain []byte, err error) {
	err = s.withBudget(ctx, 2*maxManifestSize, func() error {
		plain, err = blob.DecodeLimit(data, nil, maxManifestSize, nil)
		return err
	})
	return plain, err
}

// UploadBlob stores the blob file name (already checked to be a safe
// file name) from body, which must hold encSize bytes. The manifest is
// kept for Finish. It returns the blob's size.
func (s *BackupSession) UploadBlob(ctx context.Context, name string, encSize int64, body io.Reader) (int, error) {
	data, err := ReadBody(body, encSize)
	if err != nil {
		return 0, requestErr("reading blob failed - %v", err)
	}
	if int64(len(data)) != encSize {
		return 0, requestErr("uploaded blob has unexpected size (%d != %d)", len(data), encSize)
	}
	if err := blob.VerifyCRC(data); err != nil {
		return 0, requestErr("invalid blob '%s' - %v", name, err)
	}
	if name == ManifestName {
		if _, err := s.decodeManifest(ctx, data); err != nil {
			return 0, requestErr("invalid manifest blob - %v", err)
		}
		s.mu.Lock()
		defer s.mu.Unlock()
		s.manifest = data
		s.stats.Size += uint64(len(data))
		return len(data), nil
	}
	if s.writing(name) {
		return 0, requestErr("file '%s' is being written as an index", name)
	}
	if err := s.w.WriteFile(name, data); err != nil {
		return 0, fmt.Errorf("writing blob '%s' failed - %w", name, err)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.files[name] = uploadedFile{size: uint64(len(data)), csum: sha256.Sum256(data)}
	// Upstream counts every uploaded blob's encoded length, the manifest's
	// too, in chunk_upload_stats.size (not in count or compressed_size):
	// measured against PBS 3.2.4, size = raw chunk bytes + blob bytes.
	s.stats.Size += uint64(len(data))
	return len(data), nil
}

// writing reports whether an open index writer writes name.
func (s *BackupSession) writing(name string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, o := range s.writers {
		if o.name == name {
			return true
		}
	}
	return false
}

// Finish checks the uploaded manifest against the files of the session,
// records the upload statistics in it and finishes the snapshot.
func (s *BackupSession) Finish() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.writers) > 0 {
		return requestErr("found open index writer - unable to finish backup")
	}
	if len(s.files) == 0 && s.manifest == nil {
		return requestErr("backup does not contain valid files (file count == 0)")
	}
	if s.manifest == nil {
		return requestErr("unable to finish backup - no manifest (index.json.blob) uploaded")
	}
	if s.prevSnap != nil {
		s.ds.Refresh()
		if !s.ds.SnapshotExists(s.ns, *s.prevSnap) {
			return requestErr("base snapshot %s was removed during the backup", s.prevSnap)
		}
	}
	m, err := s.checkManifest()
	if err != nil {
		return err
	}
	if m.Unprotected == nil {
		m.Unprotected = map[string]any{}
	}
	m.Unprotected["chunk_upload_stats"] = map[string]any{"count": s.stats.Count, "size": s.stats.Size,
		"compressed_size": s.stats.Compressed, "duplicates": s.stats.Duplicates}
	enc, err := m.Encode()
	if err != nil {
		return fmt.Errorf("unable to update manifest - %w", err)
	}
	mb, err := blob.Encode(enc, true, nil)
	if err != nil {
		return err
	}
	if err := s.w.Finish(mb); err != nil {
		return fmt.Errorf("unable to finish backup - %w", err)
	}
	s.finished = true
	return nil
}

// checkManifest parses the uploaded manifest and checks that it names this
// snapshot and lists exactly the files uploaded, with their sizes and
// checksums; s.mu held.
func (s *BackupSession) checkManifest() (*manifest.Manifest, error) {
	plain, err := s.decodeManifest(context.Background(), s.manifest)
	if err != nil {
		return nil, requestErr("unable to load manifest - %v", err)
	}
	m, err := manifest.Parse(plain)
	if err != nil {
		return nil, requestErr("unable to load manifest - %v", err)
	}
	if m.BackupType != string(s.snap.Type) || m.BackupID != s.snap.ID || m.BackupTime != s.snap.Time {
		return nil, requestErr("manifest does not match the backup (%s/%s/%d != %s)", m.BackupType, m.BackupID, m.BackupTime, s.snap)
	}
	listed := map[string]bool{}
	for _, f := range m.Files {
		listed[f.Filename] = true
		up, ok := s.files[f.Filename]
		if !ok {
			return nil, requestErr("manifest lists '%s', which was not uploaded in this backup", f.Filename)
		}
		if up.size != f.Size {
			return nil, requestErr("manifest entry '%s' has wrong size (%d != %d)", f.Filename, f.Size, up.size)
		}
		if hex.EncodeToString(up.csum[:]) != strings.ToLower(f.Csum) {
			return nil, requestErr("manifest entry '%s' has wrong checksum", f.Filename)
		}
	}
	for name := range s.files {
		if !listed[name] {
			return nil, requestErr("uploaded file '%s' is not listed in the manifest", name)
		}
	}
	return m, nil
}
