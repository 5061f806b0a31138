package ratelimit

import (
	"context"

	"cairn/core"
)

// Repository limits what an in-process datastore (a local path or S3
// repository) reads and writes, so --rate means the same as for a server:
// chunks, indexes and blobs stored count against p.Out, those read
// (restores, the previous snapshot of a backup) against p.In. Operations
// that move no archive data (listing, prune, GC, verify) are not limited.
// Without a limit it returns repo itself.
func Repository(repo core.Repository, p Pair) core.Repository {
	if !p.Enabled() {
		return repo
	}
	return &repository{Repository: repo, p: p}
}

type repository struct {
	core.Repository
	p Pair
}

// Unwrap gives the limited repository.
func (r *repository) Unwrap() core.Repository { return r.Repository }

func (r *repository) StartBackup(ctx context.Context, opts core.BackupOptions) (core.BackupWriter, error) {
	w, err := r.Repository.StartBackup(ctx, opts)
	if err != nil {
		return nil, err
	}
	return &backupWriter{BackupWriter: w, ctx: ctx, p: r.p}, nil
}

func (r *repository) OpenSnapshot(ctx context.Context, ns core.Namespace, snap core.Snapshot) (core.SnapshotReader, error) {
	sr, err := r.Repository.OpenSnapshot(ctx, ns, snap)
	if err != nil {
		return nil, err
	}
	return &snapshotReader{SnapshotReader: sr, ctx: ctx, in: r.p.In}, nil
}

// snapshotReader waits for the bytes it has read, so reads average the rate.
type snapshotReader struct {
	core.SnapshotReader
	ctx context.Context
	in  *Limiter
}

func (s *snapshotReader) ReadFile(name string) ([]byte, error) {
	data, err := s.SnapshotReader.ReadFile(name)
	if err != nil {
		return nil, err
	}
	if err := s.in.WaitN(s.ctx, len(data)); err != nil {
		return nil, err
	}
	return data, nil
}

func (s *snapshotReader) ReadChunk(digest [32]byte) ([]byte, error) {
	data, err := s.SnapshotReader.ReadChunk(digest)
	if err != nil {
		return nil, err
	}
	if err := s.in.WaitN(s.ctx, len(data)); err != nil {
		return nil, err
	}
	return data, nil
}

// backupWriter waits before each write for the bytes about to be stored.
type backupWriter struct {
	core.BackupWriter
	ctx context.Context
	p   Pair
}

func (w *backupWriter) Previous() (core.SnapshotReader, error) {
	sr, err := w.BackupWriter.Previous()
	if err != nil || sr == nil {
		return sr, err
	}
	return &snapshotReader{SnapshotReader: sr, ctx: w.ctx, in: w.p.In}, nil
}

func (w *backupWriter) UploadChunk(digest [32]byte, size uint64, encode func() ([]byte, error)) (bool, int, error) {
	return limitUpload(w.ctx, w.p.Out, w.BackupWriter, digest, size, encode)
}

// limitUpload stores a chunk through u; the encoded blob, needed only when
// the chunk is new, is what gets written, so the wait is for its size.
func limitUpload(ctx context.Context, out *Limiter, u core.ChunkUploader, digest [32]byte, size uint64, encode func() ([]byte, error)) (bool, int, error) {
	return u.UploadChunk(digest, size, func() ([]byte, error) {
		data, err := encode()
		if err != nil {
			return nil, err
		}
		if err := out.WaitN(ctx, len(data)); err != nil {
			return nil, err
		}
		return data, nil
	})
}

func (w *backupWriter) WriteFile(name string, data []byte) error {
	if err := w.p.Out.WaitN(w.ctx, len(data)); err != nil {
		return err
	}
	return w.BackupWriter.WriteFile(name, data)
}

func (w *backupWriter) Finish(manifestBlob []byte) error {
	if err := w.p.Out.WaitN(w.ctx, len(manifestBlob)); err != nil {
		return err
	}
	return w.BackupWriter.Finish(manifestBlob)
}

// ReleasesChunkData forwards core.ChunkDataReleaser.
func (w *backupWriter) ReleasesChunkData() bool {
	r, ok := w.BackupWriter.(core.ChunkDataReleaser)
	return ok && r.ReleasesChunkData()
}

// BeginArchive forwards core.ArchiveWriter: the per-archive uploader of the
// store is limited too (or the writer itself, for a store without one).
func (w *backupWriter) BeginArchive(a core.Archive) (core.ChunkUploader, error) {
	if _, ok := w.BackupWriter.(core.ArchiveWriter); !ok {
		return w, nil
	}
	u, err := core.BeginArchive(w.BackupWriter, a)
	if err != nil {
		return nil, err
	}
	return &chunkUploader{u: u, ctx: w.ctx, out: w.p.Out}, nil
}

type chunkUploader struct {
	u   core.ChunkUploader
	ctx context.Context
	out *Limiter
}

func (c *chunkUploader) UploadChunk(digest [32]byte, size uint64, encode func() ([]byte, error)) (bool, int, error) {
	return limitUpload(c.ctx, c.out, c.u, digest, size, encode)
}

func (c *chunkUploader) ReleasesChunkData() bool {
	r, ok := c.u.(core.ChunkDataReleaser)
	return ok && r.ReleasesChunkData()
}
