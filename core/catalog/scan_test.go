package catalog

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"runtime"
	"testing"
)

// scanAll lists a directory through ScanDir (names copied).
func scanAll(r *Reader, dir Entry) ([]Entry, error) {
	var out []Entry
	err := r.ScanDir(dir, func(e Entry) error {
		e.Name = bytes.Clone(e.Name)
		out = append(out, e)
		return nil
	})
	return out, err
}

// sameAsReadDir: ScanDir gives ReadDir's entries, or fails where it fails,
// for every directory reachable from the root (through ReadDir).
func sameAsReadDir(t *testing.T, data []byte) {
	r, err := NewReader(bytes.NewReader(data), int64(len(data)))
	if err != nil {
		return
	}
	root, _ := r.Root()
	todo := []Entry{root}
	for seen := 0; len(todo) > 0 && seen < 100; seen++ {
		d := todo[0]
		todo = todo[1:]
		want, werr := r.ReadDir(d)
		got, gerr := scanAll(r, d)
		if (werr == nil) != (gerr == nil) {
			t.Fatalf("dir at %d: ReadDir err %v, ScanDir err %v", d.Offset, werr, gerr)
		}
		if werr != nil {
			continue
		}
		if fmt.Sprint(want) != fmt.Sprint(got) {
			t.Fatalf("dir at %d: ReadDir %v, ScanDir %v", d.Offset, want, got)
		}
		for _, e := range want {
			if e.IsDir() {
				todo = append(todo, e)
			}
		}
	}
}

func TestScanDirMatchesReadDir(t *testing.T) {
	data := buildSample(t)
	sameAsReadDir(t, data)
	sameAsReadDir(t, mustHex(t, specVector))
	for i := range data {
		for _, x := range []byte{0x00, 0xff, 0x80, 0x01, 0x7f} {
			c := bytes.Clone(data)
			c[i] = x
			sameAsReadDir(t, c)
		}
	}
	r, _ := NewReader(bytes.NewReader(data), int64(len(data)))
	for _, p := range []string{"/", "/root.pxar.didx/etc/hostname", "/root.pxar.didx/dev/hl", "/disk1.pxar.didx", "/root.pxar.didx/nope", "/root.pxar.didx/neg/x"} {
		a, aerr := r.Lookup(p)
		b, berr := r.LookupScan(p)
		if fmt.Sprint(a, aerr) != fmt.Sprint(b, berr) {
			t.Errorf("%s: Lookup %v %v, LookupScan %v %v", p, a, aerr, b, berr)
		}
	}
}

// zeros is a virtual file of size bytes: the catalog magic, a root block
// at 8 whose table length claims nearly the whole file, zeros, and the
// root offset in the last 8 bytes (what a catalog of one repeated chunk
// can look like).
type zeros struct{ size int64 }

func (z zeros) ReadAt(p []byte, off int64) (int, error) {
	var head [24]byte
	copy(head[:], Magic[:])
	n := binary.PutUvarint(head[8:], uint64(z.size-8-16))
	_ = n
	var tail [8]byte
	binary.LittleEndian.PutUint64(tail[:], 8)
	for i := range p {
		o := off + int64(i)
		switch {
		case o < int64(len(head)):
			p[i] = head[o]
		case o >= z.size-8 && o < z.size:
			p[i] = tail[o-(z.size-8)]
		default:
			p[i] = 0
		}
	}
	return len(p), nil
}

// TestScanDirHugeBlock: a block that claims 1 GiB is refused (or read)
// through a small buffer, never allocated whole as ReadDir allocates it.
func TestScanDirHugeBlock(t *testing.T) {
	z := zeros{size: 1 << 30}
	r, err := NewReader(z, z.size)
	if err != nil {
		t.Fatal(err)
	}
	root, _ := r.Root()
	var a, b runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&a)
	err = r.ScanDir(root, nil)
	_, lerr := r.LookupScan("/x")
	runtime.ReadMemStats(&b)
	if err == nil || lerr == nil {
		t.Fatalf("a zero-filled 1 GiB block scanned: %v / %v", err, lerr)
	}
	if n := b.TotalAlloc - a.TotalAlloc; n > 1<<20 {
		t.Errorf("scanning allocated %d bytes", n)
	}
}
