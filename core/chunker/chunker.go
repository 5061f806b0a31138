// Package chunker cuts a byte stream into content-defined chunks with the
// upstream buzhash chunker (formats.md 5.1), so that equal data yields equal
// chunks whatever surrounds it.
package chunker

import "math/bits"

const window = 64

// Chunker finds chunk boundaries. It keeps state between Scan calls, so a
// stream may be fed in buffers of any size.
type Chunker struct {
	min, max  int
	mask, brk uint32

	n    int    // bytes in the current chunk so far
	h    uint32 // rolling hash
	ring [window]byte
}

// New returns a chunker for average chunk size avg (a power of two).
func New(avg int) *Chunker {
	if avg < 4*window || avg&(avg-1) != 0 {
		panic("chunker: average size must be a power of two >= 256")
	}
	mask := uint32(2*avg - 1)
	return &Chunker{min: avg / 4, max: avg * 4, mask: mask, brk: mask - 2}
}

// Scan consumes data up to the next boundary. It returns the number of bytes
// that end the current chunk (including the cut byte), or 0 when all of data
// belongs to a chunk that has not ended yet. After a cut the state is reset.
func (c *Chunker) Scan(data []byte) int {
	i := 0
	// The hash only depends on the last 64 bytes, and no boundary may fall
	// before min: so bytes before min-64 need not be hashed at all.
	fill := c.min - window
	if c.n < fill {
		skip := min(fill-c.n, len(data))
		c.n += skip
		i = skip
	}
	for i < len(data) && c.n < c.min {
		b := data[i]
		c.h = bits.RotateLeft32(c.h, 1) ^ table[b]
		c.ring[c.n&(window-1)] = b
		c.n++
		i++
	}
	if i == len(data) {
		return 0
	}
	h, n := c.h, c.n
	first := i
	// The outgoing byte comes from the ring until data itself holds 64
	// bytes of this chunk.
	for ; i < len(data) && i-first < window; i++ {
		b := data[i]
		out := c.ring[n&(window-1)]
		c.ring[n&(window-1)] = b
		h = bits.RotateLeft32(h, 1) ^ table[out] ^ table[b]
		n++
		if n >= c.max || h&c.mask >= c.brk {
			c.reset()
			return i + 1
		}
	}
	// Hot loop: the max-size cut becomes the loop bound, so each byte costs
	// one rotate, two lookups and one compare.
	mask, brk := c.mask, c.brk
	stop := min(len(data), i+(c.max-n))
	start := i
	for ; i < stop; i++ {
		h = bits.RotateLeft32(h, 1) ^ table[data[i-window]] ^ table[data[i]]
		if h&mask >= brk {
			c.reset()
			return i + 1
		}
	}
	n += i - start
	if n >= c.max {
		c.reset()
		return i
	}
	if len(data)-first > window {
		// Keep the last 64 bytes for the next call.
		for k := len(data) - window; k < len(data); k++ {
			pos := n - (len(data) - k)
			c.ring[pos&(window-1)] = data[k]
		}
	}
	c.h, c.n = h, n
	return 0
}

func (c *Chunker) reset() { c.n, c.h = 0, 0 }

// Reset forgets a partial chunk, e.g. when a stream is restarted.
func (c *Chunker) Reset() { c.reset() }
