package datastore

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"strings"

	"github.com/minio/minio-go/v7"
)

// Streaming access to snapshot files, for cairn serve (issue 16 item 2): an
// index of a backup in progress is built in a local scratch file and moved
// into place (upstream's .tmp_didx/.tmp_fidx work the same way), and index
// files and chunks are served and scanned from disk, so the server never
// holds a whole index (up to hundreds of MiB) in memory.

// ScratchFile creates a new, empty, read-write temporary file for the
// writer's own state. On a directory store it lives in the snapshot
// directory under a dot name (no listing, no GC walk and no snapshot file
// name can match it), so Abort removes it with the snapshot; on an object
// store it lives in the local cache directory. The caller removes it, or
// hands it to WriteFileFrom.
func (w *backupWriter) ScratchFile(name string) (*os.File, error) {
	dir, err := w.scratchDir()
	if err != nil {
		return nil, err
	}
	if strings.ContainsAny(name, "/\x00") {
		name = "x"
	}
	p := filepath.Join(dir, fmt.Sprintf(".%s.tmp_%d_%d", name, os.Getpid(), tmpSeq.Add(1)))
	return os.OpenFile(p, os.O_RDWR|os.O_CREATE|os.O_EXCL, fileMode)
}

func (w *backupWriter) scratchDir() (string, error) {
	if b, ok := w.ds.backend.(*dirBackend); ok {
		return b.abs(w.dir)
	}
	dir := filepath.Join(w.ds.backend.StateDir(), "scratch")
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return "", err
	}
	return dir, nil
}

// WriteFileFrom stores the snapshot file name from the scratch file f
// (whose contents are complete), as WriteFile does from memory: an index
// is stored only once its chunks are. On a directory store the file is
// synced and renamed into place; on an object store it is uploaded from
// disk. f is closed and its scratch name removed either way.
func (w *backupWriter) WriteFileFrom(name string, f *os.File) error {
	defer func() {
		f.Close()
		os.Remove(f.Name())
	}()
	if err := w.beforeFile(name); err != nil {
		return err
	}
	switch b := w.ds.backend.(type) {
	case *dirBackend:
		final, err := b.abs(path.Join(w.dir, name))
		if err != nil {
			return err
		}
		if err := f.Sync(); err != nil {
			return err
		}
		return os.Rename(f.Name(), final)
	case *s3Backend:
		return b.writeFileFrom(path.Join(w.dir, name), f)
	}
	// Another backend: through memory.
	if _, err := f.Seek(0, io.SeekStart); err != nil {
		return err
	}
	data, err := io.ReadAll(f)
	if err != nil {
		return err
	}
	return w.ds.backend.WriteFile(path.Join(w.dir, name), data)
}

// writeFileFrom uploads a snapshot file from a local file (S3 PUT from
// disk) and keeps it in the metadata cache as WriteFile does.
func (b *s3Backend) writeFileFrom(p string, f *os.File) error {
	if err := b.Sync(); err != nil {
		return err
	}
	rel, err := b.fileRel(p)
	if err != nil {
		return err
	}
	st, err := f.Stat()
	if err != nil {
		return err
	}
	if _, err := f.Seek(0, io.SeekStart); err != nil {
		return err
	}
	ctx, cancel := b.ctx()
	defer cancel()
	info, err := b.client.PutObject(ctx, b.cfg.Bucket, b.key(rel), f, st.Size(), minio.PutObjectOptions{ContentType: "application/octet-stream"})
	if err != nil {
		return b.wrap(fmt.Errorf("upload %s: %w", rel, err))
	}
	b.setMeta(rel, objMeta{size: st.Size(), mtime: st.ModTime(), etag: info.ETag})
	if info.ETag != "" {
		cp := b.metaCachePath(rel, info.ETag)
		os.MkdirAll(filepath.Dir(cp), 0o700)
		if os.Link(f.Name(), cp) != nil {
			if _, err := f.Seek(0, io.SeekStart); err == nil {
				if data, err := io.ReadAll(f); err == nil {
					b.cacheMeta(rel, info.ETag, data)
				}
			}
		}
	}
	return nil
}

// OpenFile opens a file of the snapshot for streaming reads; it returns
// the reader and the file's size. A missing file is an error wrapping
// core.ErrNotFound, as ReadFile's.
func (r *snapshotReader) OpenFile(name string) (io.ReadCloser, int64, error) {
	if err := validFileName(name); err != nil {
		return nil, 0, err
	}
	rc, size, err := openBackendFile(r.ds.backend, path.Join(r.dir, name))
	if errors.Is(err, fs.ErrNotExist) {
		return nil, 0, &notFound{fmt.Errorf("file %q not found in snapshot %s: %w", name, r.snap, fs.ErrNotExist)}
	}
	return rc, size, err
}

// OpenChunk opens a chunk's encoded blob for streaming reads; it returns
// the reader and the blob's size.
func (r *snapshotReader) OpenChunk(digest [32]byte) (io.ReadCloser, int64, error) {
	if b, ok := r.ds.backend.(*dirBackend); ok {
		f, err := os.Open(chunkPath(b.root, digest))
		if errors.Is(err, fs.ErrNotExist) {
			return nil, 0, fmt.Errorf("chunk %x is missing from the datastore: %w", digest, fs.ErrNotExist)
		}
		if err != nil {
			return nil, 0, fmt.Errorf("read chunk %x: %w", digest, err)
		}
		return statted(f)
	}
	data, err := r.ds.backend.ReadChunk(digest)
	if err != nil {
		return nil, 0, err
	}
	return io.NopCloser(strings.NewReader(string(data))), int64(len(data)), nil
}

func statted(f *os.File) (io.ReadCloser, int64, error) {
	st, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, 0, err
	}
	return f, st.Size(), nil
}

// openBackendFile opens a datastore file for streaming: from disk on a
// directory store, from the metadata cache or a GET on an object store.
func openBackendFile(be Backend, p string) (io.ReadCloser, int64, error) {
	switch b := be.(type) {
	case *dirBackend:
		a, err := b.abs(p)
		if err != nil {
			return nil, 0, err
		}
		f, err := os.Open(a)
		if err != nil {
			return nil, 0, err
		}
		return statted(f)
	case *s3Backend:
		return b.openFile(p)
	}
	data, err := be.ReadFile(p)
	if err != nil {
		return nil, 0, err
	}
	return io.NopCloser(strings.NewReader(string(data))), int64(len(data)), nil
}

func (b *s3Backend) openFile(p string) (io.ReadCloser, int64, error) {
	rel, err := relKey(p)
	if err != nil {
		return nil, 0, err
	}
	if err := b.ensureLoaded(); err != nil {
		return nil, 0, err
	}
	b.mu.Lock()
	m, ok := b.meta[rel]
	b.mu.Unlock()
	if !ok {
		return nil, 0, &fs.PathError{Op: "open", Path: p, Err: fs.ErrNotExist}
	}
	if f, err := os.Open(b.metaCachePath(rel, m.etag)); err == nil {
		if st, err := f.Stat(); err == nil && st.Size() == m.size {
			return f, m.size, nil
		}
		f.Close()
	}
	obj, err := b.client.GetObject(context.Background(), b.cfg.Bucket, b.key(rel), minio.GetObjectOptions{})
	if err != nil {
		return nil, 0, b.wrap(fmt.Errorf("download %s: %w", rel, err))
	}
	st, err := obj.Stat()
	if err != nil {
		obj.Close()
		if isNotFound(err) {
			return nil, 0, &fs.PathError{Op: "open", Path: p, Err: fs.ErrNotExist}
		}
		return nil, 0, b.wrap(fmt.Errorf("download %s: %w", rel, err))
	}
	return obj, st.Size, nil
}
