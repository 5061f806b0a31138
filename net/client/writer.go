package client

import (
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"

	"cairn/core"
	"cairn/core/blob"
	"cairn/core/index"
	"cairn/core/manifest"
)

// appendBatch is how many index entries one PUT *_index carries. The real
// server (PBS 3.2.4, proxmox-rest-server) refuses a body of 64 KiB or more
// ("Request body too large"); an entry takes at most 88 bytes of JSON (a
// 64-digit hex digest and a 20-digit offset, quoted and separated), so 512
// stay under 46 KiB. Upstream's client sends 128.
const appendBatch = 512

// maxInFlight bounds the encoded chunk bytes sent but not yet acknowledged,
// so memory stays bounded while uploads run behind the engine's workers. It
// is a little above the server's 32 MiB HTTP/2 connection window, enough to
// keep the connection busy while the server verifies and stores chunks.
const maxInFlight = 48 << 20

// fixedChunkSize is the chunk size of every fixed index writer of the
// server, whatever the client chose (protocol.md 3.3).
const fixedChunkSize = 4 << 20

// backupWriter is core.BackupWriter over the backup protocol (protocol.md 3).
// It implements core.ArchiveWriter: every index archive is announced before
// its chunks are uploaded, which opens the archive's index writer on the
// server; chunk uploads carry that writer's wid.
type backupWriter struct {
	repo *Repository
	s    *Session
	ctx  context.Context
	ns   core.Namespace
	snap core.Snapshot

	mu       sync.Mutex
	cond     *sync.Cond                 // signals inFlight going down
	known    map[[32]byte]bool          // the server knows it in this session
	pending  map[[32]byte]chan struct{} // upload in flight; closed when done
	archives map[string]*archiveWriter  // begun, not yet written
	inFlight int                        // encoded bytes being uploaded
	err      error                      // first failed upload
	closed   bool
	uploads  sync.WaitGroup
}

// archiveWriter is one announced archive: an open index writer on the
// server, and the chunk uploads registered with it.
type archiveWriter struct {
	w     *backupWriter
	a     core.Archive
	wid   int
	chunk string // dynamic_chunk or fixed_chunk
}

var (
	_ core.BackupWriter  = (*backupWriter)(nil)
	_ core.ArchiveWriter = (*backupWriter)(nil)
)

// StartBackup opens a backup session and learns the chunks of the previous
// snapshot (protocol.md 3.4 step 2 and 3).
func (r *Repository) StartBackup(ctx context.Context, opts core.BackupOptions) (core.BackupWriter, error) {
	q := snapshotQuery(r.store, opts.Namespace, opts.Snapshot)
	q.Set("benchmark", "false")
	s, err := r.c.Upgrade(ctx, "backup", BackupProtocol, q)
	if err != nil {
		return nil, err
	}
	w := &backupWriter{repo: r, s: s, ctx: ctx, ns: opts.Namespace, snap: opts.Snapshot,
		known: map[[32]byte]bool{}, pending: map[[32]byte]chan struct{}{}, archives: map[string]*archiveWriter{}}
	w.cond = sync.NewCond(&w.mu)
	w.loadPrevious()
	return w, nil
}

func snapshotQuery(store string, ns core.Namespace, s core.Snapshot) url.Values {
	q := url.Values{}
	q.Set("backup-type", string(s.Type))
	q.Set("backup-id", s.ID)
	q.Set("backup-time", strconv.FormatInt(s.Time, 10))
	q.Set("store", store)
	if !ns.IsRoot() {
		q.Set("ns", string(ns))
	}
	return q
}

// loadPrevious downloads the previous manifest and every index it lists;
// the server registers those chunks for this session, and so do we.
func (w *backupWriter) loadPrevious() {
	var prev *int64
	if err := w.s.call(w.ctx, http.MethodGet, "previous_backup_time", nil, &prev); err != nil || prev == nil {
		return
	}
	raw, err := w.s.download(w.ctx, "previous", url.Values{"archive-name": {"index.json.blob"}})
	if err != nil {
		return
	}
	plain, err := blob.Decode(raw, nil)
	if err != nil {
		return
	}
	m, err := manifest.Parse(plain)
	if err != nil {
		return
	}
	for _, f := range m.Files {
		if !manifest.IsIndexFile(f.Filename) {
			continue
		}
		data, err := w.s.download(w.ctx, "previous", url.Values{"archive-name": {f.Filename}})
		if err != nil {
			continue
		}
		idx, err := index.Open(data)
		if err != nil {
			continue
		}
		if cs := idx.Csum(); f.Csum != "" && hex.EncodeToString(cs[:]) != f.Csum {
			continue
		}
		w.mu.Lock()
		for i := 0; i < idx.Count(); i++ {
			w.known[idx.ChunkDigest(i)] = true
		}
		w.mu.Unlock()
	}
}

func (w *backupWriter) Snapshot() core.Snapshot { return w.snap }

// Previous is not needed: chunk reuse works through the session's known set.
func (w *backupWriter) Previous() (core.SnapshotReader, error) { return nil, nil }

// BeginArchive opens the archive's dynamic or fixed index writer on the
// server and returns the uploader its chunks must go through.
func (w *backupWriter) BeginArchive(a core.Archive) (core.ChunkUploader, error) {
	path, chunk, q := "dynamic_index", "dynamic_chunk", url.Values{"archive-name": {a.Name}}
	switch {
	case a.Fixed && !strings.HasSuffix(a.Name, ".fidx"), !a.Fixed && !strings.HasSuffix(a.Name, ".didx"):
		return nil, fmt.Errorf("archive %q: name does not match the index kind", a.Name)
	case a.Fixed:
		if a.ChunkSize != fixedChunkSize && a.Size > a.ChunkSize {
			// The server cuts every image into 4 MiB slots.
			return nil, fmt.Errorf("archive %s: a server stores images in %d KiB chunks, not %d KiB",
				a.Name, fixedChunkSize>>10, a.ChunkSize>>10)
		}
		path, chunk = "fixed_index", "fixed_chunk"
		q.Set("size", strconv.FormatUint(a.Size, 10))
	}
	w.mu.Lock()
	_, dup := w.archives[a.Name]
	closed := w.closed
	w.mu.Unlock()
	if closed {
		return nil, errClosed
	}
	if dup {
		return nil, fmt.Errorf("archive %s was already begun", a.Name)
	}
	var wid int
	if err := w.s.call(w.ctx, http.MethodPost, path, q, &wid); err != nil {
		return nil, fmt.Errorf("create %s: %w", a.Name, err)
	}
	aw := &archiveWriter{w: w, a: a, wid: wid, chunk: chunk}
	w.mu.Lock()
	w.archives[a.Name] = aw
	w.mu.Unlock()
	return aw, nil
}

var errClosed = errors.New("backup session already closed")

// UploadChunk of the writer itself cannot say which archive the chunk is
// for; the protocol needs that, so chunks go through BeginArchive's uploader.
func (w *backupWriter) UploadChunk(digest [32]byte, size uint64, encode func() ([]byte, error)) (bool, int, error) {
	return false, 0, fmt.Errorf("chunk %x uploaded outside an archive: a server needs core.BeginArchive first", digest[:4])
}

// UploadChunk encodes and sends a chunk unless this session already knows
// it (or is sending it). It returns once the upload is under way: the
// server's answer is awaited before an index refers to the chunk (WriteFile),
// and a failed upload fails every later call. Calls run concurrently, each
// upload as its own HTTP/2 stream.
func (a *archiveWriter) UploadChunk(digest [32]byte, size uint64, encode func() ([]byte, error)) (bool, int, error) {
	w := a.w
	w.mu.Lock()
	if err := w.failure(); err != nil {
		w.mu.Unlock()
		return false, 0, err
	}
	if w.known[digest] || w.pending[digest] != nil {
		// Known, or another goroutine is sending it: only referenced.
		w.mu.Unlock()
		return true, 0, nil
	}
	done := make(chan struct{})
	w.pending[digest] = done
	w.mu.Unlock()

	data, err := encode()
	if err != nil {
		w.mu.Lock()
		delete(w.pending, digest)
		close(done)
		w.mu.Unlock()
		return false, 0, err
	}
	w.mu.Lock()
	// Wait for room; one chunk always fits.
	for w.inFlight > 0 && w.inFlight+len(data) > maxInFlight && w.failure() == nil {
		w.cond.Wait()
	}
	if err := w.failure(); err != nil {
		delete(w.pending, digest)
		close(done)
		w.mu.Unlock()
		return false, 0, err
	}
	w.inFlight += len(data)
	w.uploads.Add(1)
	w.mu.Unlock()

	go func() {
		defer w.uploads.Done()
		q := make(url.Values, 4)
		q.Set("wid", strconv.Itoa(a.wid))
		q.Set("digest", hex.EncodeToString(digest[:]))
		q.Set("size", strconv.FormatUint(size, 10))
		q.Set("encoded-size", strconv.Itoa(len(data)))
		err := w.s.upload(w.ctx, a.chunk, q, data, nil)
		w.mu.Lock()
		if err == nil {
			w.known[digest] = true
		} else if w.err == nil {
			w.err = fmt.Errorf("upload chunk %x of %s: %w", digest[:4], a.a.Name, err)
		}
		delete(w.pending, digest)
		close(done)
		w.inFlight -= len(data)
		w.cond.Broadcast()
		w.mu.Unlock()
	}()
	return false, len(data), nil
}

// failure is the first upload error, or errClosed; call with mu held.
func (w *backupWriter) failure() error {
	if w.err != nil {
		return w.err
	}
	if w.closed {
		return errClosed
	}
	return nil
}

// settle waits until the uploads of the given chunks are answered and
// returns the first upload error of the session.
func (w *backupWriter) settle(digests [][32]byte) error {
	for _, d := range digests {
		w.mu.Lock()
		ch := w.pending[d]
		w.mu.Unlock()
		if ch != nil {
			<-ch
		}
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.failure()
}

// WriteFile completes an index archive (append its entries to its writer,
// then close it), or uploads a blob. An index that was not announced with
// BeginArchive gets a writer now; all its chunks must be known already.
func (w *backupWriter) WriteFile(name string, data []byte) error {
	switch {
	case strings.HasSuffix(name, ".didx"):
		idx, err := index.ReadDynamic(data)
		if err != nil {
			return fmt.Errorf("%s: %w", name, err)
		}
		if err := w.settle(idx.Digests); err != nil {
			return err
		}
		wid, err := w.writerFor(core.Archive{Name: name})
		if err != nil {
			return err
		}
		offsets := make([]uint64, len(idx.Ends))
		for i := range idx.Ends {
			if i > 0 {
				offsets[i] = idx.Ends[i-1]
			}
		}
		if err := w.appendIndex("dynamic_index", wid, idx.Digests, offsets); err != nil {
			return fmt.Errorf("%s: %w", name, err)
		}
		return w.closeIndex("dynamic_close", wid, len(idx.Ends), idx.Size(), idx.Csum())
	case strings.HasSuffix(name, ".fidx"):
		idx, err := index.ReadFixed(data)
		if err != nil {
			return fmt.Errorf("%s: %w", name, err)
		}
		if err := w.settle(idx.Digests); err != nil {
			return err
		}
		wid, err := w.writerFor(core.Archive{Name: name, Fixed: true, Size: idx.ImageSize, ChunkSize: idx.ChunkSize})
		if err != nil {
			return err
		}
		offsets := make([]uint64, len(idx.Digests))
		for i := range offsets {
			offsets[i] = uint64(i) * idx.ChunkSize
		}
		if err := w.appendIndex("fixed_index", wid, idx.Digests, offsets); err != nil {
			return fmt.Errorf("%s: %w", name, err)
		}
		return w.closeIndex("fixed_close", wid, len(idx.Digests), idx.ImageSize, idx.Csum())
	case strings.HasSuffix(name, ".blob"):
		q := url.Values{"file-name": {name}, "encoded-size": {strconv.Itoa(len(data))}}
		if err := w.s.upload(w.ctx, "blob", q, data, nil); err != nil {
			return fmt.Errorf("upload %s: %w", name, err)
		}
		return nil
	}
	return fmt.Errorf("cannot store %q: not an index or blob file name", name)
}

// writerFor returns the wid of an announced archive and forgets it, or
// opens a writer for an archive that was not announced.
func (w *backupWriter) writerFor(a core.Archive) (int, error) {
	w.mu.Lock()
	aw := w.archives[a.Name]
	delete(w.archives, a.Name)
	w.mu.Unlock()
	if aw != nil {
		if aw.a.Fixed != a.Fixed || (a.Fixed && aw.a.Size != a.Size) {
			return 0, fmt.Errorf("%s: index does not match the archive as begun", a.Name)
		}
		return aw.wid, nil
	}
	aw2, err := w.BeginArchive(a)
	if err != nil {
		return 0, err
	}
	w.mu.Lock()
	delete(w.archives, a.Name)
	w.mu.Unlock()
	return aw2.(*archiveWriter).wid, nil
}

func (w *backupWriter) appendIndex(path string, wid int, digests [][32]byte, offsets []uint64) error {
	for start := 0; start < len(digests); start += appendBatch {
		end := min(start+appendBatch, len(digests))
		list := make([]string, 0, end-start)
		for _, d := range digests[start:end] {
			list = append(list, hex.EncodeToString(d[:]))
		}
		body := map[string]any{"wid": wid, "digest-list": list, "offset-list": offsets[start:end]}
		if err := w.s.callJSON(w.ctx, http.MethodPut, path, body, nil); err != nil {
			return err
		}
	}
	return nil
}

func (w *backupWriter) closeIndex(path string, wid, count int, size uint64, csum [32]byte) error {
	q := url.Values{}
	q.Set("wid", strconv.Itoa(wid))
	q.Set("chunk-count", strconv.Itoa(count))
	q.Set("size", strconv.FormatUint(size, 10))
	q.Set("csum", hex.EncodeToString(csum[:]))
	if err := w.s.call(w.ctx, http.MethodPost, path, q, nil); err != nil {
		return fmt.Errorf("%s: %w", path, err)
	}
	return nil
}

// Finish uploads the manifest and marks the snapshot finished.
func (w *backupWriter) Finish(manifestBlob []byte) error {
	defer w.close()
	w.mu.Lock()
	var open []string
	for name := range w.archives {
		open = append(open, name)
	}
	w.mu.Unlock()
	if len(open) > 0 {
		return fmt.Errorf("archives begun but not written: %s", strings.Join(open, ", "))
	}
	if err := w.WriteFile("index.json.blob", manifestBlob); err != nil {
		return err
	}
	if err := w.s.call(w.ctx, http.MethodPost, "finish", nil, nil); err != nil {
		return fmt.Errorf("finish backup: %w", err)
	}
	return nil
}

// Abort drops the connection without finish; the server removes the snapshot.
func (w *backupWriter) Abort() error {
	w.close()
	return nil
}

// close ends the session and waits for uploads still in flight (they fail
// once the connection is gone).
func (w *backupWriter) close() {
	w.mu.Lock()
	w.closed = true
	w.cond.Broadcast()
	w.mu.Unlock()
	w.s.Close()
	w.uploads.Wait()
}
