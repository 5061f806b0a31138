package backup

import (
	"crypto/rand"
	"fmt"
	"sync"
	"time"

	"cairn/core/chunker"
	"cairn/core/index"
)

// dynamicStream is an io.Writer that cuts what it is given into chunks with
// the buzhash chunker and hands them to the uploader, building a .didx.
type dynamicStream struct {
	up      *uploader
	chunker *chunker.Chunker
	avg     int
	buf     []byte
	offset  uint64
	stats   *stats // counts stream bytes when set
	// suggest: cut at suggested file starts (the payload chunker, formats.md 5.5).
	suggest bool
	err     error // sticky failure of a cut made outside Write

	mu      sync.Mutex
	ends    []uint64
	digests [][32]byte
}

func newDynamicStream(up *uploader, avg int, st *stats) *dynamicStream {
	// One fill buffer as large as the largest chunk, reused: chunks leave it
	// as exact-size copies, so in-flight memory follows real chunk sizes.
	return &dynamicStream{up: up, chunker: chunker.New(avg), avg: avg, buf: make([]byte, 0, avg*4), stats: st}
}

func (s *dynamicStream) Write(p []byte) (int, error) {
	if s.err != nil {
		return 0, s.err
	}
	n := len(p)
	for len(p) > 0 {
		cut := s.chunker.Scan(p)
		if cut == 0 {
			s.buf = append(s.buf, p...)
			break
		}
		s.buf = append(s.buf, p[:cut]...)
		p = p[cut:]
		if err := s.emit(); err != nil {
			return n - len(p), err
		}
	}
	if s.stats != nil {
		s.stats.addRead(uint64(n))
	}
	return n, nil
}

func (s *dynamicStream) emit() error {
	if len(s.buf) == 0 {
		return nil
	}
	// Not make+copy: append to nil skips zeroing memory about to be overwritten.
	data := append([]byte(nil), s.buf...)
	s.buf = s.buf[:0]
	s.offset += uint64(len(data))
	s.mu.Lock()
	i := len(s.ends)
	s.ends = append(s.ends, s.offset)
	s.digests = append(s.digests, [32]byte{})
	s.mu.Unlock()
	return s.up.submit(data, func(d [32]byte) {
		s.mu.Lock()
		s.digests[i] = d
		s.mu.Unlock()
	})
}

// SuggestBoundary is told that a file starts at the current end of the
// stream: the payload chunker cuts there when the chunk so far has at least
// the minimum size (formats.md 5.5).
func (s *dynamicStream) SuggestBoundary(uint64) {
	if s.suggest && s.err == nil && len(s.buf) >= s.avg/4 {
		s.cut()
	}
}

// cut ends the current chunk here, whatever its size.
func (s *dynamicStream) cut() {
	if err := s.emit(); err != nil && s.err == nil {
		s.err = err
	}
	s.chunker.Reset()
}

// dropStartMarker forgets the payload start marker when it is all the
// stream holds, so a previous stream's first chunk (which starts with the
// same 16 bytes) can stand in for it.
func (s *dynamicStream) dropStartMarker() bool {
	if s.offset != 0 || len(s.buf) != 16 {
		return false
	}
	s.buf = s.buf[:0]
	s.chunker.Reset()
	return true
}

// dropPending forgets the last n bytes not yet cut into a chunk.
func (s *dynamicStream) dropPending(n int) {
	s.buf = s.buf[:len(s.buf)-n]
}

// position is the stream length so far, pending bytes included.
func (s *dynamicStream) position() uint64 { return s.offset + uint64(len(s.buf)) }

// inject cuts the current chunk and appends chunks of a previous index
// without their data: the stream grows by their sizes.
func (s *dynamicStream) inject(digests [][32]byte, sizes []uint64) error {
	s.cut()
	if s.err != nil {
		return s.err
	}
	for i, d := range digests {
		s.offset += sizes[i]
		s.mu.Lock()
		s.ends = append(s.ends, s.offset)
		s.digests = append(s.digests, d)
		s.mu.Unlock()
		if s.stats != nil {
			s.stats.addRead(sizes[i])
		}
		if err := s.up.submitKnown(d, sizes[i]); err != nil {
			return err
		}
	}
	return nil
}

// finish cuts the last chunk. The index is complete once the uploader has
// been closed.
func (s *dynamicStream) finish() error {
	if s.err != nil {
		return s.err
	}
	return s.emit()
}

// index returns the finished index; call after the uploader is drained.
func (s *dynamicStream) index() *index.Dynamic {
	s.mu.Lock()
	defer s.mu.Unlock()
	return &index.Dynamic{UUID: newUUID(), Ctime: time.Now().Unix(), Ends: s.ends, Digests: s.digests}
}

func newUUID() [16]byte {
	var u [16]byte
	if _, err := rand.Read(u[:]); err != nil {
		panic(fmt.Sprintf("random source failed: %v", err))
	}
	u[6] = u[6]&0x0f | 0x40 // version 4
	u[8] = u[8]&0x3f | 0x80 // RFC 4122 variant
	return u
}
