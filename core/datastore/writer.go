package datastore

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"strings"
	"sync"

	"cairn/core"
	"cairn/core/manifest"
)

// backupWriter writes one new snapshot into the local datastore.
type backupWriter struct {
	ds       *Datastore
	ns       core.Namespace
	snap     core.Snapshot
	dir      string // snapshot path relative to the root
	prev     *core.Snapshot
	unlock   []func()
	mu       sync.Mutex
	done     bool
	finished bool

	// New chunks of a directory store wait under temporary names, unsynced,
	// until the index that needs them is written: then one syncfs makes
	// them all durable and they are renamed into place (see commitChunks).
	pendMu  sync.Mutex
	pending map[[32]byte]string // digest -> temporary path, "" while being written
}

// StartBackup creates the group (recording its owner) if needed, locks it so
// two backups can't interleave, and creates the snapshot directory, which
// stays unfinished until Finish writes the manifest.
func (d *Datastore) StartBackup(ctx context.Context, opts core.BackupOptions) (core.BackupWriter, error) {
	ns, s := opts.Namespace, opts.Snapshot
	if err := CheckBackupTime(s.Time); err != nil {
		return nil, err
	}
	d.refresh()
	if err := d.requireNamespace(ns); err != nil {
		return nil, err
	}
	owner := opts.Owner
	if owner == "" {
		owner = d.owner
	}
	gp := groupPath(ns, s.Group)
	if err := d.backend.Mkdir(path.Join(nsPath(ns), string(s.Type)), false); err != nil {
		return nil, err
	}
	created := false
	if err := d.backend.Mkdir(gp, true); err == nil {
		created = true
	} else if !errors.Is(err, fs.ErrExist) {
		return nil, fmt.Errorf("create backup group %s: %w", s.Group, err)
	}
	if created {
		if err := d.writeOwner(gp, owner); err != nil {
			return nil, err
		}
	}
	w := &backupWriter{ds: d, ns: ns, snap: s, dir: snapshotPath(ns, s)}
	unlockGroup, err := d.backend.LockDir(gp, true)
	if err != nil {
		return nil, fmt.Errorf("backup group %s is locked by another backup or operation: %w", s.Group, core.ErrLocked)
	}
	w.unlock = append(w.unlock, unlockGroup)
	if cur := d.readOwner(ns, s.Group); cur != "" && cur != owner {
		w.release()
		return nil, fmt.Errorf("backup owner check failed (%s != %s): group %s belongs to another owner", owner, cur, s.Group)
	}
	unlockStore, err := d.backend.LockDir(".lock", false)
	if err != nil {
		w.release()
		return nil, fmt.Errorf("chunk store is locked (garbage collection running?): %w", err)
	}
	w.unlock = append(w.unlock, unlockStore)
	unregister, err := d.registerWriter(d.clock())
	if err != nil {
		w.release()
		return nil, fmt.Errorf("register backup writer: %w", err)
	}
	w.unlock = append(w.unlock, unregister)
	last, ok, err := d.LastFinished(ns, s.Group)
	if err != nil {
		w.release()
		return nil, err
	}
	if ok {
		if s.Time <= last.Time {
			w.release()
			return nil, fmt.Errorf("backup time %s is not newer than the last snapshot %s", s.TimeString(), last)
		}
		w.prev = &last
	}
	if err := d.backend.Mkdir(w.dir, true); err != nil {
		w.release()
		if errors.Is(err, fs.ErrExist) {
			return nil, fmt.Errorf("snapshot %s %w", s, core.ErrExists)
		}
		return nil, fmt.Errorf("create snapshot %s: %w", s, err)
	}
	unlockSnap, err := d.backend.LockDir(w.dir, true)
	if err == nil {
		w.unlock = append(w.unlock, unlockSnap)
	}
	return w, nil
}

// writeOwner records the group owner, create-exclusive (formats.md 9.1).
func (d *Datastore) writeOwner(gp, owner string) error {
	err := d.backend.CreateFile(path.Join(gp, OwnerName), []byte(owner+"\n"))
	if errors.Is(err, fs.ErrExist) {
		return nil
	}
	return err
}

func (w *backupWriter) release() {
	for i := len(w.unlock) - 1; i >= 0; i-- {
		w.unlock[i]()
	}
	w.unlock = nil
}

func (w *backupWriter) Snapshot() core.Snapshot { return w.snap }

func (w *backupWriter) Previous() (core.SnapshotReader, error) {
	if w.prev == nil {
		return nil, nil
	}
	return &snapshotReader{ds: w.ds, ns: w.ns, snap: *w.prev, dir: snapshotPath(w.ns, *w.prev)}, nil
}

// ReleasesChunkData: a directory store has written an encoded chunk when
// UploadChunk returns; an object store may still be uploading it.
func (w *backupWriter) ReleasesChunkData() bool {
	_, ok := w.ds.backend.(*dirBackend)
	return ok
}

func (w *backupWriter) UploadChunk(digest [32]byte, size uint64, encode func() ([]byte, error)) (bool, int, error) {
	if b, ok := w.ds.backend.(*dirBackend); ok {
		return w.uploadDeferred(b, digest, encode)
	}
	if ok, err := w.ds.backend.TouchChunk(digest); err != nil {
		return false, 0, err
	} else if ok {
		return true, 0, nil
	}
	data, err := encode()
	if err != nil {
		return false, 0, err
	}
	if a, ok := w.ds.backend.(interface {
		insertChunkAsync([32]byte, []byte) error
	}); ok {
		// Uploaded in the background; WriteFile and Finish wait for it, so
		// no index is stored before its chunks.
		return false, len(data), a.insertChunkAsync(digest, data)
	}
	existed, err := w.ds.backend.InsertChunk(digest, data)
	return existed, len(data), err
}

// uploadDeferred stores a new chunk under a temporary name without fsync
// (an empty or unreadable chunk file counts as missing, see inspectChunk):
// a per-chunk fsync cost more than the rest of a backup on a real disk.
// Upstream's default sync level does the same (one syncfs per backup); the
// temporary name adds that a crash never leaves a torn chunk under its real
// name for a later backup to reuse.
func (w *backupWriter) uploadDeferred(b *dirBackend, digest [32]byte, encode func() ([]byte, error)) (bool, int, error) {
	w.pendMu.Lock()
	if w.pending == nil {
		w.pending = map[[32]byte]string{}
	}
	if _, ok := w.pending[digest]; ok {
		w.pendMu.Unlock()
		return true, 0, nil
	}
	w.pending[digest] = ""
	w.pendMu.Unlock()
	forget := func() {
		w.pendMu.Lock()
		delete(w.pending, digest)
		w.pendMu.Unlock()
	}
	if ok, err := b.TouchChunk(digest); err != nil || ok {
		forget()
		return ok, 0, err
	}
	data, err := encode()
	if err != nil {
		forget()
		return false, 0, err
	}
	tmp, err := b.writeChunkTemp(digest, data)
	if err != nil {
		forget()
		return false, 0, fmt.Errorf("store chunk %x: %w", digest, err)
	}
	w.pendMu.Lock()
	w.pending[digest] = tmp
	w.pendMu.Unlock()
	return false, len(data), nil
}

// commitChunks makes the pending chunks durable with one syncfs and moves
// them into place, never over a usable chunk (placeChunk); the renames are
// made durable by the next sync (before the manifest). A prefix directory made for a pending chunk (they are
// made on demand) was made before its chunk was written, so the same
// syncfs makes its entry in .chunks durable before any index or manifest
// names the chunk. Called before an index is written and at Finish. The lock
// is not held across the sync, so uploads of other archives go on.
func (w *backupWriter) commitChunks() error {
	b, ok := w.ds.backend.(*dirBackend)
	if !ok {
		return nil
	}
	w.pendMu.Lock()
	written := map[[32]byte]string{}
	for d, tmp := range w.pending {
		if tmp != "" { // "": still being written by an upload that has not returned
			written[d] = tmp
		}
	}
	w.pendMu.Unlock()
	if len(written) == 0 {
		return nil
	}
	if err := b.Sync(); err != nil {
		return fmt.Errorf("sync datastore: %w", err)
	}
	for d, tmp := range written {
		// Never over a usable chunk: one stored (and perhaps verified) by
		// another backup since this upload began stays (see placeChunk).
		if _, err := placeChunk(d, tmp, chunkPath(b.root, d)); err != nil {
			return fmt.Errorf("store chunk %x: %w", d, err)
		}
		w.pendMu.Lock()
		delete(w.pending, d)
		w.pendMu.Unlock()
	}
	return nil
}

// dropPending removes the temporary files of chunks never committed.
func (w *backupWriter) dropPending() {
	w.pendMu.Lock()
	defer w.pendMu.Unlock()
	for d, tmp := range w.pending {
		if tmp != "" {
			os.Remove(tmp)
		}
		delete(w.pending, d)
	}
}

func validFileName(name string) error {
	if name == "" || strings.ContainsAny(name, "/\x00") || name == "." || name == ".." || strings.HasPrefix(name, ".") {
		return fmt.Errorf("invalid snapshot file name %q", name)
	}
	return nil
}

// beforeFile checks the name of a snapshot file about to be written and,
// for an index, makes its chunks durable first: an index never names a
// chunk that is not in place.
func (w *backupWriter) beforeFile(name string) error {
	if err := validFileName(name); err != nil {
		return err
	}
	if name == ManifestName {
		return fmt.Errorf("the manifest is written by Finish")
	}
	if manifest.IsIndexFile(name) {
		return w.commitChunks()
	}
	return nil
}

func (w *backupWriter) WriteFile(name string, data []byte) error {
	if err := w.beforeFile(name); err != nil {
		return err
	}
	return w.ds.backend.WriteFile(path.Join(w.dir, name), data)
}

// Finish makes all chunks durable first, then writes the manifest: only then
// does the snapshot count as finished.
func (w *backupWriter) Finish(manifestBlob []byte) error {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.done {
		return fmt.Errorf("backup already closed")
	}
	if err := w.commitChunks(); err != nil {
		return err
	}
	if err := w.ds.backend.Sync(); err != nil {
		return fmt.Errorf("sync datastore: %w", err)
	}
	if err := w.ds.backend.WriteFile(path.Join(w.dir, ManifestName), manifestBlob); err != nil {
		return fmt.Errorf("write manifest: %w", err)
	}
	if b, ok := w.ds.backend.(*dirBackend); ok {
		if err := syncDir(filepath.Join(b.root, w.dir)); err != nil {
			return err
		}
	}
	w.done, w.finished = true, true
	w.release()
	return nil
}

func (w *backupWriter) Abort() error {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.done {
		return nil
	}
	w.done = true
	w.dropPending()
	if _, ok := w.ds.backend.(*dirBackend); !ok {
		w.ds.backend.Sync() // let pending uploads end; their errors no longer matter
	}
	err := w.ds.backend.RemoveAll(w.dir)
	w.release()
	return err
}

// snapshotReader reads a snapshot of the local datastore.
type snapshotReader struct {
	ds     *Datastore
	ns     core.Namespace
	snap   core.Snapshot
	dir    string
	unlock func()
}

// OpenSnapshot opens a finished snapshot for reading.
func (d *Datastore) OpenSnapshot(ctx context.Context, ns core.Namespace, s core.Snapshot) (core.SnapshotReader, error) {
	d.refresh()
	if err := d.requireSnapshot(ns, s); err != nil {
		return nil, err
	}
	if !d.isFinished(ns, s) {
		return nil, fmt.Errorf("snapshot %s is not finished (backup running or aborted)", s)
	}
	r := &snapshotReader{ds: d, ns: ns, snap: s, dir: snapshotPath(ns, s)}
	if u, err := d.backend.LockDir(r.dir, false); err == nil {
		r.unlock = u
	}
	return r, nil
}

func (r *snapshotReader) Snapshot() core.Snapshot { return r.snap }

func (r *snapshotReader) ReadFile(name string) ([]byte, error) {
	if err := validFileName(name); err != nil {
		return nil, err
	}
	b, err := r.ds.backend.ReadFile(path.Join(r.dir, name))
	if errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("file %q not found in snapshot %s: %w", name, r.snap, core.ErrNotFound)
	}
	return b, err
}

func (r *snapshotReader) ReadChunk(digest [32]byte) ([]byte, error) {
	return r.ds.backend.ReadChunk(digest)
}

func (r *snapshotReader) Close() error {
	if r.unlock != nil {
		r.unlock()
		r.unlock = nil
	}
	return nil
}

var _ core.Repository = (*Datastore)(nil)
