package backup

import (
	"context"
	"crypto/sha256"
	"sync"
	"sync/atomic"

	"cairn/core"
	"cairn/core/blob"
	"cairn/keys"
)

// stats are the pipeline's counters, updated from the worker goroutines.
type stats struct {
	bytesRead    atomic.Uint64
	bytesNew     atomic.Uint64
	bytesWritten atomic.Uint64
	bytesReused  atomic.Uint64
	chunksNew    atomic.Uint64
	chunksReused atomic.Uint64
	files        atomic.Uint64
	path         atomic.Pointer[string]
	parent       *stats // totals of the whole backup, nil for the totals themselves
	// estimated is set once the sources are measured (Options.Estimate).
	estimated atomic.Pointer[core.Estimate]
}

// child counts one archive; everything it counts reaches s as well.
func (s *stats) child() *stats { return &stats{parent: s} }

func (s *stats) addRead(n uint64) {
	for ; s != nil; s = s.parent {
		s.bytesRead.Add(n)
	}
}

// addChunk counts a chunk of size plain bytes; encoded is what was written
// for a new one.
func (s *stats) addChunk(reused bool, size uint64, encoded int) {
	for ; s != nil; s = s.parent {
		if reused {
			s.chunksReused.Add(1)
			s.bytesReused.Add(size)
		} else {
			s.chunksNew.Add(1)
			s.bytesNew.Add(size)
			s.bytesWritten.Add(uint64(encoded))
		}
	}
}

func (s *stats) addFile(path string) {
	for ; s != nil; s = s.parent {
		s.files.Add(1)
		s.path.Store(&path)
	}
}

func (s *stats) snapshot() core.Progress {
	p := core.Progress{
		BytesRead:    s.bytesRead.Load(),
		BytesNew:     s.bytesNew.Load(),
		BytesWritten: s.bytesWritten.Load(),
		BytesReused:  s.bytesReused.Load(),
		ChunksNew:    s.chunksNew.Load(),
		ChunksReused: s.chunksReused.Load(),
		Files:        s.files.Load(),
	}
	if cur := s.path.Load(); cur != nil {
		p.Path = *cur
	}
	return p
}

// job is one chunk on its way to the store; done receives its digest.
type job struct {
	data []byte
	done func(digest [32]byte)
}

// uploader hashes, encodes and stores chunks on a pool of goroutines. The
// job queue is short, so memory stays bounded by a few chunks per worker.
type uploader struct {
	// ctx stops the pipeline: the stream refuses further data, queued
	// chunks are dropped, and close returns ctx's error.
	ctx   context.Context
	w     core.ChunkUploader // one archive's chunks go here (core.BeginArchive)
	crypt *keys.CryptConfig  // nil: plain chunks
	// release: the store is done with an encoded chunk when UploadChunk
	// returns, so its buffer can be reused (core.ChunkDataReleaser).
	release bool
	stats   *stats
	jobs    chan job
	wg      sync.WaitGroup

	errMu sync.Mutex
	err   error
}

func newUploader(ctx context.Context, w core.ChunkUploader, crypt *keys.CryptConfig, st *stats, workers int) *uploader {
	u := &uploader{ctx: ctx, w: w, crypt: crypt, stats: st, jobs: make(chan job, workers)}
	if r, ok := w.(core.ChunkDataReleaser); ok && r.ReleasesChunkData() {
		u.release = true
	}
	for i := 0; i < workers; i++ {
		u.wg.Add(1)
		go u.work()
	}
	return u
}

func (u *uploader) work() {
	defer u.wg.Done()
	for j := range u.jobs {
		if err := u.ctx.Err(); err != nil {
			u.fail(err)
		}
		if u.failed() != nil {
			j.done([32]byte{})
			releaseChunk(j.data)
			continue
		}
		digest := chunkDigest(u.crypt, j.data)
		size := uint64(len(j.data))
		var encBuf []byte // from encArena: goes back whether encoding worked or not
		var encArena *arena
		encTouched := 0
		encode := func() ([]byte, error) {
			if u.release {
				// The store is done with it when UploadChunk returns.
				encArena = arenaFor(blob.EncodedCap(cap(j.data)))
				encBuf = encArena.get()
			}
			b, err := blob.EncodeTo(encBuf, j.data, true, cipherOf(u.crypt))
			encTouched = len(b) + 16 // the GCM tag is written past the end
			if err != nil {
				encTouched = cap(encBuf)
			}
			return b, err
		}
		reused, n, err := u.w.UploadChunk(digest, size, encode)
		if err != nil {
			u.fail(err)
		} else {
			u.stats.addChunk(reused, size, n)
		}
		if encArena != nil {
			encArena.put(encBuf, encTouched)
		}
		j.done(digest)
		releaseChunk(j.data)
	}
}

func (u *uploader) fail(err error) {
	u.errMu.Lock()
	if u.err == nil {
		u.err = err
	}
	u.errMu.Unlock()
}

func (u *uploader) failed() error {
	u.errMu.Lock()
	defer u.errMu.Unlock()
	return u.err
}

// submit queues a chunk; it blocks while the workers are busy, and gives
// up when the backup is cancelled.
func (u *uploader) submit(data []byte, done func([32]byte)) error {
	if err := u.failed(); err != nil {
		releaseChunk(data)
		return err
	}
	select {
	case u.jobs <- job{data: data, done: done}:
		return nil
	case <-u.ctx.Done():
		u.fail(u.ctx.Err())
		releaseChunk(data)
		return u.ctx.Err()
	}
}

// close waits for every queued chunk and returns the first error.
func (u *uploader) close() error {
	close(u.jobs)
	u.wg.Wait()
	return u.failed()
}

// releaseChunk returns a chunk buffer to its arena (if it came from one);
// bytes up to readSize past its end may have been touched by the read that
// filled it.
func releaseChunk(b []byte) {
	if cap(b) > 0 {
		arenaFor(cap(b)).put(b, min(cap(b), len(b)+readSize))
	}
}

func sha256Sum(b []byte) [32]byte { return sha256.Sum256(b) }

// chunkDigest names a chunk: SHA-256 of the plaintext, keyed when encrypted
// (formats.md 3.1).
func chunkDigest(c *keys.CryptConfig, data []byte) [32]byte {
	if c != nil {
		return c.Digest(data)
	}
	return sha256.Sum256(data)
}

// cipherOf avoids handing a typed nil to blob.Encode.
func cipherOf(c *keys.CryptConfig) blob.Cipher {
	if c == nil {
		return nil
	}
	return c
}
