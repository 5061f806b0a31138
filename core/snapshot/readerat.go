package snapshot

import (
	"container/list"
	"context"
	"fmt"
	"io"
	"sync"
	"sync/atomic"

	"cairn/core"
	"cairn/core/index"
	"cairn/keys"
)

// DefaultCacheBytes bounds the decoded chunks an IndexReaderAt keeps.
const DefaultCacheBytes = 64 << 20

// ReaderAtOptions tune an IndexReaderAt; zero values pick defaults.
type ReaderAtOptions struct {
	// CacheBytes bounds the decoded chunks kept in memory (at least two
	// chunks are always kept so a read spanning a boundary works).
	CacheBytes int64
	// ReadAhead is how many chunks are prefetched when reads move forward
	// sequentially; negative disables read-ahead. 0 means 2.
	ReadAhead int
	// Forward suits readers that move forward through the stream, as a
	// restore following a split archive's payload references does: the
	// first read and forward jumps of up to ReadAhead chunks start
	// read-ahead too, and chunks behind the one read are dropped at once,
	// so memory stays at the read-ahead window.
	Forward bool
}

// IndexReaderAt is an io.ReaderAt over the stream an index describes. Chunks
// are fetched on demand, verified like ChunkReader's, and kept in a bounded
// LRU cache; sequential reads trigger read-ahead. It is safe for concurrent use.
type IndexReaderAt struct {
	ctx    context.Context
	cancel context.CancelFunc
	r      core.SnapshotReader
	idx    index.Index
	crypt  *keys.CryptConfig
	opts   ReaderAtOptions

	mu       sync.Mutex
	lru      *list.List // of *cacheEntry, front = most recent
	cache    map[int]*list.Element
	used     int64
	inflight map[int]*fetchCall
	last     int // last chunk a read touched, -1 at first
	fetched  atomic.Int64
}

type cacheEntry struct {
	i    int
	data []byte
}

type fetchCall struct {
	done chan struct{}
	data []byte
	err  error
}

// NewIndexReaderAt returns a random-access reader over idx, reading chunks
// from r; a nil crypt means plain chunks.
func NewIndexReaderAt(ctx context.Context, r core.SnapshotReader, idx index.Index, crypt *keys.CryptConfig, o ReaderAtOptions) *IndexReaderAt {
	if o.CacheBytes <= 0 {
		o.CacheBytes = DefaultCacheBytes
	}
	if o.ReadAhead == 0 {
		o.ReadAhead = 2
	}
	ctx, cancel := context.WithCancel(ctx)
	return &IndexReaderAt{
		ctx: ctx, cancel: cancel, r: r, idx: idx, crypt: crypt, opts: o,
		lru: list.New(), cache: map[int]*list.Element{}, inflight: map[int]*fetchCall{}, last: -1,
	}
}

// ReaderAt opens random access to an index file of the snapshot.
func (s *Snapshot) ReaderAt(ctx context.Context, name string) (*IndexReaderAt, error) {
	return s.ReaderAtWith(ctx, name, ReaderAtOptions{})
}

// ReaderAtWith is ReaderAt with explicit options.
func (s *Snapshot) ReaderAtWith(ctx context.Context, name string, o ReaderAtOptions) (*IndexReaderAt, error) {
	idx, f, err := s.Index(name)
	if err != nil {
		return nil, err
	}
	c, err := s.cryptFor(f)
	if err != nil {
		return nil, err
	}
	return NewIndexReaderAt(ctx, s.Reader, idx, c, o), nil
}

// Size is the length of the stream.
func (ra *IndexReaderAt) Size() int64 { return int64(ra.idx.Size()) }

// Index is the underlying index.
func (ra *IndexReaderAt) Index() index.Index { return ra.idx }

// Fetched is the number of chunks read from the store so far (for tests
// and statistics).
func (ra *IndexReaderAt) Fetched() int64 { return ra.fetched.Load() }

// CachedBytes is the size of the decoded chunks held now.
func (ra *IndexReaderAt) CachedBytes() int64 {
	ra.mu.Lock()
	defer ra.mu.Unlock()
	return ra.used
}

// Close stops read-ahead and drops the cache.
func (ra *IndexReaderAt) Close() error {
	ra.cancel()
	ra.mu.Lock()
	ra.lru.Init()
	clear(ra.cache)
	ra.used = 0
	ra.mu.Unlock()
	return nil
}

// ReadAt implements io.ReaderAt.
func (ra *IndexReaderAt) ReadAt(p []byte, off int64) (int, error) {
	if off < 0 {
		return 0, fmt.Errorf("restore: negative offset %d", off)
	}
	size := ra.Size()
	if off >= size {
		if len(p) == 0 {
			return 0, nil
		}
		return 0, io.EOF
	}
	n := 0
	for n < len(p) && off < size {
		i, ok := ra.idx.Find(uint64(off))
		if !ok {
			return n, io.ErrUnexpectedEOF
		}
		data, err := ra.chunk(i, true)
		if err != nil {
			return n, err
		}
		start, _ := ra.idx.ChunkRange(i)
		c := copy(p[n:], data[uint64(off)-start:])
		n += c
		off += int64(c)
	}
	if n < len(p) {
		return n, io.EOF
	}
	return n, nil
}

// chunk returns chunk i, from the cache or the store; user reads update
// the sequential-access detection and may start read-ahead.
func (ra *IndexReaderAt) chunk(i int, user bool) ([]byte, error) {
	ra.mu.Lock()
	if user {
		if ra.movedOn(i) {
			ra.prefetchLocked(i)
		}
		if ra.opts.Forward && i > ra.last {
			ra.dropBeforeLocked(i)
		}
		ra.last = i
	}
	if el, ok := ra.cache[i]; ok {
		ra.lru.MoveToFront(el)
		data := el.Value.(*cacheEntry).data
		ra.mu.Unlock()
		return data, nil
	}
	call, ok := ra.inflight[i]
	if !ok {
		call = &fetchCall{done: make(chan struct{})}
		ra.inflight[i] = call
		ra.mu.Unlock()
		ra.fetch(i, call)
	} else {
		ra.mu.Unlock()
	}
	select {
	case <-call.done:
	case <-ra.ctx.Done():
		return nil, ra.ctx.Err()
	}
	return call.data, call.err
}

// movedOn tells whether a read of chunk i continues sequential access and
// so should read ahead.
func (ra *IndexReaderAt) movedOn(i int) bool {
	if ra.opts.Forward {
		return ra.last < 0 || (i > ra.last && i-ra.last <= max(ra.opts.ReadAhead, 1))
	}
	return ra.last >= 0 && i == ra.last+1
}

// dropBeforeLocked forgets the cached chunks before i (forward readers
// never come back for them).
func (ra *IndexReaderAt) dropBeforeLocked(i int) {
	for el := ra.lru.Front(); el != nil; {
		next := el.Next()
		if ce := el.Value.(*cacheEntry); ce.i < i {
			ra.lru.Remove(el)
			delete(ra.cache, ce.i)
			ra.used -= int64(len(ce.data))
		}
		el = next
	}
}

// prefetchLocked starts fetching the chunks after i that are neither
// cached nor in flight.
func (ra *IndexReaderAt) prefetchLocked(i int) {
	for j := i + 1; j <= i+ra.opts.ReadAhead && j < ra.idx.Count(); j++ {
		if _, ok := ra.cache[j]; ok {
			continue
		}
		if _, ok := ra.inflight[j]; ok {
			continue
		}
		call := &fetchCall{done: make(chan struct{})}
		ra.inflight[j] = call
		go ra.fetch(j, call)
	}
}

func (ra *IndexReaderAt) fetch(i int, call *fetchCall) {
	if err := ra.ctx.Err(); err != nil {
		call.err = err
	} else {
		start, end := ra.idx.ChunkRange(i)
		res := fetchChunk(ra.r, ra.idx.ChunkDigest(i), end-start, ra.crypt)
		ra.fetched.Add(1)
		call.data, call.err = res.data, res.err
	}
	ra.mu.Lock()
	delete(ra.inflight, i)
	if call.err == nil && !(ra.opts.Forward && i < ra.last) {
		ra.insertLocked(i, call.data)
	}
	ra.mu.Unlock()
	close(call.done)
}

func (ra *IndexReaderAt) insertLocked(i int, data []byte) {
	if el, ok := ra.cache[i]; ok {
		ra.lru.MoveToFront(el)
		return
	}
	ra.cache[i] = ra.lru.PushFront(&cacheEntry{i: i, data: data})
	ra.used += int64(len(data))
	for ra.used > ra.opts.CacheBytes && ra.lru.Len() > 2 {
		el := ra.lru.Back()
		ce := el.Value.(*cacheEntry)
		ra.lru.Remove(el)
		delete(ra.cache, ce.i)
		ra.used -= int64(len(ce.data))
	}
}
