package index

import (
	"bytes"
	"crypto/sha256"
	"errors"
	"testing"
)

func digest(i int) [32]byte { return sha256.Sum256([]byte{byte(i)}) }

func TestDynamicRoundTrip(t *testing.T) {
	d := &Dynamic{UUID: [16]byte{1, 2, 3}, Ctime: 1700000000, Ends: []uint64{10, 25, 100}, Digests: [][32]byte{digest(0), digest(1), digest(2)}}
	b := d.Encode()
	if len(b) != HeaderSize+3*40 {
		t.Fatalf("size %d", len(b))
	}
	idx, err := Open(b)
	if err != nil {
		t.Fatal(err)
	}
	if idx.Size() != 100 || idx.Count() != 3 || idx.Csum() != d.Csum() || idx.ChunkDigest(1) != digest(1) {
		t.Fatalf("decoded %+v", idx)
	}
	if s, e := idx.ChunkRange(1); s != 10 || e != 25 {
		t.Fatalf("range %d..%d", s, e)
	}
	for off, want := range map[uint64]int{0: 0, 9: 0, 10: 1, 99: 2} {
		if i, ok := idx.Find(off); !ok || i != want {
			t.Errorf("Find(%d) = %d %v", off, i, ok)
		}
	}
	if _, ok := idx.Find(100); ok {
		t.Error("Find past end succeeded")
	}
	if !bytes.Equal(idx.(*Dynamic).Encode(), b) {
		t.Error("re-encode differs")
	}
}

func TestFixedRoundTrip(t *testing.T) {
	f := &Fixed{Ctime: 5, ImageSize: 10<<20 + 3, ChunkSize: 4 << 20, Digests: [][32]byte{digest(0), digest(1), digest(2)}}
	b := f.Encode()
	idx, err := Open(b)
	if err != nil {
		t.Fatal(err)
	}
	if s, e := idx.ChunkRange(2); s != 8<<20 || e != 10<<20+3 {
		t.Fatalf("last range %d..%d", s, e)
	}
	f.Digests = f.Digests[:2]
	if _, err := Open(f.Encode()); !errors.Is(err, ErrCorrupt) {
		t.Fatalf("short digest list accepted: %v", err)
	}
}

func TestCorrupt(t *testing.T) {
	d := &Dynamic{Ends: []uint64{10, 20}, Digests: [][32]byte{digest(0), digest(1)}}
	b := d.Encode()
	for name, bad := range map[string][]byte{
		"truncated": b[:len(b)-1],
		"short":     b[:100],
		"bad csum":  append(append([]byte{}, b[:HeaderSize+3]...), append([]byte{b[HeaderSize+3] ^ 1}, b[HeaderSize+4:]...)...),
		"bad magic": append([]byte{0}, b[1:]...),
	} {
		if _, err := Open(bad); !errors.Is(err, ErrCorrupt) {
			t.Errorf("%s: %v", name, err)
		}
	}
}

func FuzzOpen(f *testing.F) {
	f.Add((&Dynamic{Ends: []uint64{10, 20}, Digests: [][32]byte{digest(0), digest(1)}}).Encode())
	f.Add((&Fixed{ImageSize: 5, ChunkSize: 4, Digests: [][32]byte{digest(0), digest(1)}}).Encode())
	f.Fuzz(func(t *testing.T, b []byte) {
		idx, err := Open(b)
		if err != nil {
			return
		}
		for i := 0; i < idx.Count(); i++ {
			s, e := idx.ChunkRange(i)
			if e < s || e > idx.Size() {
				t.Fatalf("chunk %d range %d..%d, size %d", i, s, e, idx.Size())
			}
		}
	})
}
