package blob

import (
	"bytes"
	"encoding/binary"
	"errors"
	"hash/crc32"
	"runtime"
	"testing"
)

// rleBomb is a zstd frame without a content size decoding to total zero
// bytes (RLE blocks of 128 KiB), wrapped as a compressed blob: about 4 KiB
// for 128 MiB.
func rleBomb(total int) []byte {
	const block = 128 << 10
	f := []byte{0x28, 0xb5, 0x2f, 0xfd, 0x00, 0x38}
	for left := total; left > 0; left -= block {
		sz := min(left, block)
		last := 0
		if left <= block {
			last = 1
		}
		h := uint32(last) | 1<<1 | uint32(sz)<<3
		f = append(f, byte(h), byte(h>>8), byte(h>>16), 0)
	}
	out := append(append([]byte(nil), MagicCompressed[:]...), 0, 0, 0, 0)
	out = append(out, f...)
	binary.LittleEndian.PutUint32(out[8:], crc32.ChecksumIEEE(out[HeaderSize:]))
	return out
}

func allocated(f func()) uint64 {
	var a, b runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&a)
	f()
	runtime.ReadMemStats(&b)
	return b.TotalAlloc - a.TotalAlloc
}

// TestDecodeLimitStopsBombs: a 4 KiB blob that decompresses to 128 MiB is
// refused after decoding at most the limit (plus a block), where Decode
// decompresses all of it before any size check can run.
func TestDecodeLimitStopsBombs(t *testing.T) {
	bomb := rleBomb(128 << 20)
	if len(bomb) > 5000 {
		t.Fatalf("bomb of %d bytes", len(bomb))
	}
	for _, limit := range []int{4096, 16 << 20} {
		var err error
		n := allocated(func() { _, err = DecodeLimit(bomb, nil, limit, nil) })
		if !errors.Is(err, ErrTooLarge) || !errors.Is(err, ErrCorrupt) {
			t.Fatalf("limit %d: err %v, want ErrTooLarge", limit, err)
		}
		// The destination of limit bytes, and once the output passes it one
		// reallocation (Go's append grows large slices by 1.25×).
		if max := uint64(limit)*3 + 1<<20; n > max {
			t.Errorf("limit %d: allocated %d bytes, want at most %d", limit, n, max)
		}
		t.Logf("limit %d: allocated %d KiB", limit, n>>10)
	}
	// The old path for comparison: all 128 MiB.
	if n := allocated(func() { Decode(bomb, nil) }); n < 128<<20 {
		t.Logf("Decode allocated only %d MiB", n>>20)
	}
}

func TestDecodeLimit(t *testing.T) {
	data := bytes.Repeat([]byte("cairn limit "), 5000) // 60000 bytes
	g := newGCM(t)
	for _, c := range []struct {
		compress bool
		cipher   Cipher
	}{{false, nil}, {true, nil}, {false, g}, {true, g}} {
		enc, err := Encode(data, c.compress, c.cipher)
		if err != nil {
			t.Fatal(err)
		}
		got, err := DecodeLimit(enc, c.cipher, len(data), nil)
		if err != nil || !bytes.Equal(got, data) {
			t.Fatalf("compress %v encrypted %v: exact limit: %v", c.compress, c.cipher != nil, err)
		}
		buf := make([]byte, 0, 1<<20)
		got, err = DecodeLimit(enc, c.cipher, 1<<20, buf)
		if err != nil || !bytes.Equal(got, data) {
			t.Fatalf("compress %v encrypted %v: larger limit: %v", c.compress, c.cipher != nil, err)
		}
		if _, err := DecodeLimit(enc, c.cipher, len(data)-1, nil); !errors.Is(err, ErrTooLarge) {
			t.Fatalf("compress %v encrypted %v: limit one short: %v", c.compress, c.cipher != nil, err)
		}
	}
	enc, _ := Encode(data, true, nil)
	enc[len(enc)-1] ^= 1
	if _, err := DecodeLimit(enc, nil, len(data), nil); !errors.Is(err, ErrCorrupt) || errors.Is(err, ErrTooLarge) {
		t.Fatalf("bad CRC: %v", err)
	}
}
