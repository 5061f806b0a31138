package client

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"

	"cairn/core"
	"cairn/core/blob"
	"cairn/core/catalog"
	"cairn/core/index"
	"cairn/core/manifest"
)

// appendBatch is how many index entries one PUT *_index carries.
const appendBatch = 256

// stagingName is the dynamic writer chunk uploads are registered with. The
// protocol wants every chunk upload to name an open writer (wid), but the
// engine uploads chunks before it knows which index they belong to; the
// catalog is the last index a pxar backup writes, so its writer is opened
// first and carries the uploads.
const stagingName = "catalog.pcat1.didx"

// backupWriter is core.BackupWriter over the backup protocol (protocol.md 3).
type backupWriter struct {
	repo *Repository
	s    *Session
	ctx  context.Context
	ns   core.Namespace
	snap core.Snapshot

	mu      sync.Mutex
	known   map[[32]byte]bool
	pending map[[32]byte]chan struct{}

	widMu      sync.Mutex
	stagingWid int  // 0: not opened yet
	stagingUse bool // the engine wrote the catalog through it
	closed     bool
}

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
		known: map[[32]byte]bool{}, pending: map[[32]byte]chan struct{}{}}
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
		if !strings.HasSuffix(f.Filename, ".didx") && !strings.HasSuffix(f.Filename, ".fidx") {
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

// staging returns the wid chunk uploads are registered with, opening it once.
func (w *backupWriter) staging() (int, error) {
	w.widMu.Lock()
	defer w.widMu.Unlock()
	if w.closed {
		return 0, fmt.Errorf("backup session already closed")
	}
	if w.stagingWid != 0 {
		return w.stagingWid, nil
	}
	var wid int
	if err := w.s.call(w.ctx, http.MethodPost, "dynamic_index", url.Values{"archive-name": {stagingName}}, &wid); err != nil {
		return 0, err
	}
	w.stagingWid = wid
	return wid, nil
}

// UploadChunk uploads a chunk unless this session already knows it. Calls
// run concurrently, each as its own HTTP/2 stream.
func (w *backupWriter) UploadChunk(digest [32]byte, size uint64, encode func() ([]byte, error)) (bool, int, error) {
	for {
		w.mu.Lock()
		if w.known[digest] {
			w.mu.Unlock()
			return true, 0, nil
		}
		ch, busy := w.pending[digest]
		if !busy {
			ch = make(chan struct{})
			w.pending[digest] = ch
			w.mu.Unlock()
			break
		}
		w.mu.Unlock()
		<-ch // another goroutine uploads it; check again
	}
	ok := false
	defer func() {
		w.mu.Lock()
		if ok {
			w.known[digest] = true
		}
		close(w.pending[digest])
		delete(w.pending, digest)
		w.mu.Unlock()
	}()
	wid, err := w.staging()
	if err != nil {
		return false, 0, err
	}
	data, err := encode()
	if err != nil {
		return false, 0, err
	}
	q := url.Values{}
	q.Set("wid", strconv.Itoa(wid))
	q.Set("digest", hex.EncodeToString(digest[:]))
	q.Set("size", strconv.FormatUint(size, 10))
	q.Set("encoded-size", strconv.Itoa(len(data)))
	if err := w.s.upload(w.ctx, "dynamic_chunk", q, data, nil); err != nil {
		return false, 0, fmt.Errorf("upload chunk %x: %w", digest[:4], err)
	}
	ok = true
	return false, len(data), nil
}

// WriteFile replays an index through create/append/close, or uploads a blob.
func (w *backupWriter) WriteFile(name string, data []byte) error {
	switch {
	case strings.HasSuffix(name, ".didx"):
		idx, err := index.ReadDynamic(data)
		if err != nil {
			return fmt.Errorf("%s: %w", name, err)
		}
		wid, err := w.openIndex(name, "dynamic_index", nil)
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
		wid, err := w.openIndex(name, "fixed_index", url.Values{"size": {strconv.FormatUint(idx.ImageSize, 10)}})
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

// openIndex creates a writer, reusing the staging writer for the catalog.
func (w *backupWriter) openIndex(name, path string, extra url.Values) (int, error) {
	if name == stagingName {
		w.widMu.Lock()
		if w.stagingWid != 0 && !w.stagingUse {
			w.stagingUse = true
			wid := w.stagingWid
			w.widMu.Unlock()
			return wid, nil
		}
		if w.stagingWid == 0 {
			// Nothing was uploaded: open it now so no later upload does.
			w.stagingUse = true
			w.widMu.Unlock()
			wid, err := w.staging()
			return wid, err
		}
		w.widMu.Unlock()
	}
	q := url.Values{"archive-name": {name}}
	for k, v := range extra {
		q[k] = v
	}
	var wid int
	if err := w.s.call(w.ctx, http.MethodPost, path, q, &wid); err != nil {
		return 0, fmt.Errorf("create %s: %w", name, err)
	}
	return wid, nil
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

// closeStaging closes a staging writer the engine never used (a backup
// without pxar archives has no catalog) as an empty catalog, so the server
// lets the session finish, and lists it in the manifest, which the server
// requires. Returns the manifest blob to upload.
func (w *backupWriter) closeStaging(manifestBlob []byte) ([]byte, error) {
	w.widMu.Lock()
	wid, used := w.stagingWid, w.stagingUse
	w.stagingUse = true
	w.widMu.Unlock()
	if wid == 0 || used {
		return manifestBlob, nil
	}
	plainManifest, err := blob.Decode(manifestBlob, nil)
	if err != nil {
		return nil, fmt.Errorf("read manifest: %w", err)
	}
	m, err := manifest.Parse(plainManifest)
	if err != nil {
		return nil, fmt.Errorf("read manifest: %w", err)
	}
	if m.Signature != "" {
		return nil, fmt.Errorf("a signed backup without a pxar archive cannot be uploaded to a server yet (the protocol needs an index writer open for chunk uploads)")
	}
	var buf bytes.Buffer
	cw, err := catalog.NewWriter(&buf)
	if err != nil {
		return nil, err
	}
	if err := cw.Finish(); err != nil {
		return nil, err
	}
	plain := buf.Bytes()
	digest := sha256.Sum256(plain)
	if _, _, err := w.UploadChunk(digest, uint64(len(plain)), func() ([]byte, error) { return blob.Encode(plain, true, nil) }); err != nil {
		return nil, err
	}
	if err := w.appendIndex("dynamic_index", wid, [][32]byte{digest}, []uint64{0}); err != nil {
		return nil, err
	}
	d := &index.Dynamic{Ends: []uint64{uint64(len(plain))}, Digests: [][32]byte{digest}}
	csum := d.Csum()
	if err := w.closeIndex("dynamic_close", wid, 1, uint64(len(plain)), csum); err != nil {
		return nil, err
	}
	m.Files = append(m.Files, manifest.File{Filename: stagingName, CryptMode: "none", Size: uint64(len(plain)), Csum: hex.EncodeToString(csum[:])})
	js, err := m.Encode()
	if err != nil {
		return nil, err
	}
	return blob.Encode(js, true, nil)
}

// Finish uploads the manifest and marks the snapshot finished.
func (w *backupWriter) Finish(manifestBlob []byte) error {
	defer w.close()
	manifestBlob, err := w.closeStaging(manifestBlob)
	if err != nil {
		return err
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

func (w *backupWriter) close() {
	w.widMu.Lock()
	w.closed = true
	w.widMu.Unlock()
	w.s.Close()
}
