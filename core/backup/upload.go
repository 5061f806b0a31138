package backup

import (
	"crypto/sha256"
	"fmt"
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
	// known: a chunk of the previous snapshot referred to again without its
	// data (metadata change detection); only its presence is checked.
	known *[32]byte
	size  uint64
}

// uploader hashes, encodes and stores chunks on a pool of goroutines. The
// job queue is short, so memory stays bounded by a few chunks per worker.
type uploader struct {
	w     core.ChunkUploader // one archive's chunks go here (core.BeginArchive)
	crypt *keys.CryptConfig  // nil: plain chunks
	// release: the store is done with an encoded chunk when UploadChunk
	// returns, so its buffer can be reused (core.ChunkDataReleaser).
	release bool
	stats *stats
	jobs  chan job
	wg    sync.WaitGroup

	errMu sync.Mutex
	err   error
}

func newUploader(w core.ChunkUploader, crypt *keys.CryptConfig, st *stats, workers int) *uploader {
	u := &uploader{w: w, crypt: crypt, stats: st, jobs: make(chan job, workers)}
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
		if u.failed() != nil {
			j.done([32]byte{})
			putBuf(j.data)
			continue
		}
		var digest [32]byte
		size := uint64(len(j.data))
		var encoded []byte
		encode := func() ([]byte, error) {
			b, err := blob.EncodeTo(getBuf(blob.EncodedCap(len(j.data))), j.data, true, cipherOf(u.crypt))
			encoded = b
			return b, err
		}
		if j.known != nil {
			digest, size = *j.known, j.size
			encode = func() ([]byte, error) {
				return nil, fmt.Errorf("chunk %x of the previous snapshot is missing from the datastore", digest)
			}
		} else {
			digest = chunkDigest(u.crypt, j.data)
		}
		reused, n, err := u.w.UploadChunk(digest, size, encode)
		if err != nil {
			u.fail(err)
		} else {
			u.stats.addChunk(reused, size, n)
		}
		if encoded != nil && u.release {
			putBuf(encoded)
		}
		j.done(digest)
		putBuf(j.data)
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

// submit queues a chunk; it blocks while the workers are busy.
func (u *uploader) submit(data []byte, done func([32]byte)) error {
	if err := u.failed(); err != nil {
		putBuf(data)
		return err
	}
	u.jobs <- job{data: data, done: done}
	return nil
}

// submitKnown queues a check that a previous snapshot's chunk is still
// stored, so an index may refer to it again.
func (u *uploader) submitKnown(digest [32]byte, size uint64) error {
	if err := u.failed(); err != nil {
		return err
	}
	u.jobs <- job{known: &digest, size: size, done: func([32]byte) {}}
	return nil
}

// close waits for every queued chunk and returns the first error.
func (u *uploader) close() error {
	close(u.jobs)
	u.wg.Wait()
	return u.failed()
}

// Chunk buffers are reused through a free list the garbage collector
// leaves alone: fresh memory costs a page fault per 4 KiB, which showed up
// as a fifth of a backup's CPU time, and a sync.Pool is emptied by every
// collection. Sizes are powers of two, so buffers fit many chunks; the
// list holds at most poolBudget bytes, so memory stays flat.
const poolBudget = 32 << 20

var bufPool struct {
	mu    sync.Mutex
	free  [][]byte
	bytes int
}

// getBuf returns an empty buffer with room for capacity bytes: the
// smallest free one that fits, or a new one.
func getBuf(capacity int) []byte {
	p := &bufPool
	p.mu.Lock()
	best := -1
	for i, b := range p.free {
		if cap(b) >= capacity && (best < 0 || cap(b) < cap(p.free[best])) {
			best = i
		}
	}
	if best >= 0 {
		b := p.free[best]
		p.free[best] = p.free[len(p.free)-1]
		p.free = p.free[:len(p.free)-1]
		p.bytes -= cap(b)
		p.mu.Unlock()
		return b[:0]
	}
	p.mu.Unlock()
	// Powers of two from 1 MiB: few distinct sizes, so free buffers fit.
	c := 1 << 20
	for c < capacity {
		c <<= 1
	}
	return make([]byte, 0, c)
}

// putBuf offers a buffer for reuse; beyond the budget the smallest ones go.
func putBuf(b []byte) {
	if cap(b) == 0 {
		return
	}
	p := &bufPool
	p.mu.Lock()
	defer p.mu.Unlock()
	for p.bytes+cap(b) > poolBudget && len(p.free) > 0 {
		small := 0
		for i := range p.free {
			if cap(p.free[i]) < cap(p.free[small]) {
				small = i
			}
		}
		if cap(p.free[small]) >= cap(b) {
			return // keep the larger ones
		}
		p.bytes -= cap(p.free[small])
		p.free[small] = p.free[len(p.free)-1]
		p.free = p.free[:len(p.free)-1]
	}
	if p.bytes+cap(b) <= poolBudget {
		p.free = append(p.free, b[:0])
		p.bytes += cap(b)
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
