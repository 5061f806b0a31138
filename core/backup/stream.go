package backup

import (
	"crypto/rand"
	"fmt"
	"io"
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
	arena   *arena // fill buffers, of the largest chunk's size
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
	// The fill buffer holds the largest chunk, where the chunker always
	// cuts; when a chunk ends it leaves as that very buffer (see arena).
	a := arenaFor(avg * 4)
	return &dynamicStream{up: up, chunker: chunker.New(avg), avg: avg, arena: a, buf: a.get(), stats: st}
}

func (s *dynamicStream) Write(p []byte) (int, error) {
	if s.err != nil {
		return 0, s.err
	}
	if err := s.up.ctx.Err(); err != nil {
		return 0, err
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

// readSize is how much ReadFrom asks for at once: large enough for few
// syscalls, small enough that the bytes after a cut (moved to the front of
// the fill buffer) stay a small fraction of a chunk.
const readSize = 256 << 10

// ReadFrom reads file data straight into the fill buffer: no intermediate
// copy between the file and the chunk (io.Copy in the pxar encoder uses it).
func (s *dynamicStream) ReadFrom(r io.Reader) (int64, error) {
	var total int64
	for {
		if s.err != nil {
			return total, s.err
		}
		if err := s.up.ctx.Err(); err != nil {
			return total, err
		}
		start := len(s.buf)
		free := s.buf[start:min(cap(s.buf), start+readSize)]
		n, err := r.Read(free)
		if n > 0 {
			total += int64(n)
			s.buf = s.buf[:start+n]
			if serr := s.scan(start); serr != nil {
				return total, serr
			}
			if s.stats != nil {
				s.stats.addRead(uint64(n))
			}
		}
		if err == io.EOF {
			return total, nil
		}
		if err != nil {
			return total, err
		}
	}
}

// scan runs the chunker over s.buf[from:], the bytes just added, cutting
// chunks off the front of the buffer as boundaries turn up.
func (s *dynamicStream) scan(from int) error {
	for from < len(s.buf) {
		cut := s.chunker.Scan(s.buf[from:])
		if cut == 0 {
			return nil
		}
		// The fill buffer becomes the chunk; what was read past the cut
		// moves to a fresh one.
		end := from + cut
		full := s.buf
		s.buf = append(s.arena.get(), full[end:]...)
		if err := s.handOver(full[:end]); err != nil {
			return err
		}
		from = 0
	}
	return nil
}

func (s *dynamicStream) emit() error {
	if len(s.buf) == 0 {
		return nil
	}
	data := s.buf
	s.buf = s.arena.get()
	return s.handOver(data)
}

// handOver queues data as the next chunk; the uploader owns it from now on.
func (s *dynamicStream) handOver(data []byte) error {
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
// without their data: the stream grows by their sizes. The caller has
// checked that the store still has them (injector.stored).
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
			s.stats.addChunk(true, sizes[i], 0)
		}
	}
	return nil
}

// finish cuts the last chunk. The index is complete once the uploader has
// been closed.
func (s *dynamicStream) finish() error {
	err := s.err
	if err == nil {
		err = s.emit()
	}
	s.arena.put(s.buf, cap(s.buf))
	s.buf = nil
	return err
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
