package chunker

import (
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"math/rand"
	"slices"
	"testing"
)

func cuts(c *Chunker, data []byte, step int) []int {
	var ends []int
	pos := 0
	for off := 0; off < len(data); {
		end := min(off+step, len(data))
		p := data[off:end]
		for len(p) > 0 {
			n := c.Scan(p)
			if n == 0 {
				pos += len(p)
				break
			}
			pos += n
			ends = append(ends, pos)
			p = p[n:]
		}
		off = end
	}
	if len(ends) == 0 || ends[len(ends)-1] != len(data) {
		ends = append(ends, len(data))
	}
	return ends
}

func TestTableChecksum(t *testing.T) {
	var b []byte
	for _, v := range table {
		b = binary.LittleEndian.AppendUint32(b, v)
	}
	sum := sha256.Sum256(b)
	if got := hex.EncodeToString(sum[:]); got != "5b52080d38287da9d2e278466e3e0db7ec98e5e8b226f50612a56fa012b1f660" {
		t.Fatalf("table checksum %s", got)
	}
}

func counterInput() []byte {
	data := make([]byte, 1<<20)
	for i := 0; i < len(data)/4; i++ {
		binary.LittleEndian.PutUint32(data[4*i:], uint32(i))
	}
	return data
}

// Vectors from formats.md 5.3, for many buffer sizes: results must not
// depend on how the stream is split.
func TestVectors(t *testing.T) {
	want := []int{143377, 405521, 667665, 929809, 1048576}
	for _, step := range []int{1 << 20, 1, 7, 63, 64, 65, 4096, 100000} {
		if got := cuts(New(64<<10), counterInput(), step); !slices.Equal(got, want) {
			t.Errorf("step %d: cuts %v, want %v", step, got, want)
		}
	}
	zeros := make([]byte, 1<<20)
	if got := cuts(New(64<<10), zeros, 1<<20); !slices.Equal(got, []int{262144, 524288, 786432, 1048576}) {
		t.Errorf("zeros: %v", got)
	}
}

// reference is a direct transcription of formats.md 5.1, without shortcuts.
func reference(data []byte, avg int) []int {
	minS, maxS := avg/4, avg*4
	mask := uint32(2*avg - 1)
	var ends []int
	start := 0
	for start < len(data) {
		var h uint32
		n := 0
		cut := len(data)
		for i := start; i < len(data); i++ {
			b := data[i]
			if n < 64 {
				h = h<<1 | h>>31
				h ^= table[b]
				n++
				continue
			}
			h = (h<<1 | h>>31) ^ table[data[i-64]] ^ table[b]
			n++
			if n >= maxS || (n >= minS && h&mask >= mask-2) {
				cut = i + 1
				break
			}
		}
		ends = append(ends, cut)
		start = cut
	}
	return ends
}

func TestMatchesReference(t *testing.T) {
	r := rand.New(rand.NewSource(1))
	data := make([]byte, 3<<20)
	r.Read(data)
	// Repeated runs make low-entropy regions too.
	copy(data[1<<20:], data[:1<<19])
	for _, avg := range []int{4 << 10, 64 << 10} {
		want := reference(data, avg)
		for _, step := range []int{len(data), 1000, 4093} {
			if got := cuts(New(avg), data, step); !slices.Equal(got, want) {
				t.Fatalf("avg %d step %d: %d cuts, reference %d", avg, step, len(got), len(want))
			}
		}
	}
}

func BenchmarkScan(b *testing.B) {
	data := make([]byte, 16<<20)
	rand.New(rand.NewSource(2)).Read(data)
	c := New(4 << 20)
	b.SetBytes(int64(len(data)))
	for b.Loop() {
		p := data
		for len(p) > 0 {
			n := c.Scan(p)
			if n == 0 {
				break
			}
			p = p[n:]
		}
	}
}
