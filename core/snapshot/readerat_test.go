package snapshot_test

import (
	"bytes"
	"context"
	"io"
	"math/rand/v2"
	"os"
	"path/filepath"
	"sync"
	"testing"

	"cairn/core"
	"cairn/core/backup"
	"cairn/core/datastore"
	"cairn/core/datastore/datastoretest"
	"cairn/core/snapshot"
	"cairn/internal/testutil"
)

func backupImage(t *testing.T, img []byte) (*datastore.Datastore, core.Snapshot) {
	t.Helper()
	dir := testutil.TempDir(t)
	p := filepath.Join(dir, "disk.raw")
	if err := os.WriteFile(p, img, 0o644); err != nil {
		t.Fatal(err)
	}
	ds := datastoretest.Dir(t)
	sp, _ := backup.ParseSpec("disk.img:" + p)
	snap := core.Snapshot{Group: core.Group{Type: core.TypeHost, ID: "ra"}, Time: 1700000000}
	if _, err := backup.Run(context.Background(), backup.Options{Repo: ds, Snapshot: snap, Specs: []backup.Spec{sp}}); err != nil {
		t.Fatal(err)
	}
	return ds, snap
}

func TestIndexReaderAt(t *testing.T) {
	img := make([]byte, 17<<20+4321)
	rng := rand.New(rand.NewPCG(1, 2))
	for i := range img {
		img[i] = byte(rng.Uint32())
	}
	ds, snap := backupImage(t, img)
	ctx := context.Background()
	s, err := snapshot.Open(ctx, ds, "", snap)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	ra, err := s.ReaderAtWith(ctx, "disk.img.fidx", snapshot.ReaderAtOptions{CacheBytes: 8 << 20})
	if err != nil {
		t.Fatal(err)
	}
	defer ra.Close()
	if ra.Size() != int64(len(img)) {
		t.Fatalf("size %d", ra.Size())
	}
	// One small read fetches one chunk.
	buf := make([]byte, 100)
	if n, err := ra.ReadAt(buf, 5<<20); n != 100 || err != nil || !bytes.Equal(buf, img[5<<20:5<<20+100]) {
		t.Fatalf("read: %d %v", n, err)
	}
	if f := ra.Fetched(); f != 1 {
		t.Fatalf("fetched %d chunks for one small read", f)
	}
	// Reads across chunk boundaries and at the end.
	for _, c := range []struct{ off, n int }{{4<<20 - 10, 20}, {len(img) - 5, 5}, {len(img) - 5, 10}, {0, 9 << 20}} {
		b := make([]byte, c.n)
		n, err := ra.ReadAt(b, int64(c.off))
		want := img[c.off:min(c.off+c.n, len(img))]
		if n != len(want) || !bytes.Equal(b[:n], want) {
			t.Fatalf("read %d@%d: n=%d err=%v", c.n, c.off, n, err)
		}
		if n < c.n && err != io.EOF {
			t.Fatalf("short read without EOF: %v", err)
		}
	}
	if _, err := ra.ReadAt(buf, int64(len(img))); err != io.EOF {
		t.Fatalf("read at end: %v", err)
	}
	// Concurrent random reads.
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			rng := rand.New(rand.NewPCG(uint64(g), 7))
			b := make([]byte, 64<<10)
			for range 200 {
				off := rng.IntN(len(img))
				n, _ := ra.ReadAt(b, int64(off))
				if !bytes.Equal(b[:n], img[off:off+n]) {
					t.Errorf("concurrent read at %d differs", off)
					return
				}
			}
		}()
	}
	wg.Wait()
	// Sequential reading with io.SectionReader gives the whole image.
	got, err := io.ReadAll(io.NewSectionReader(ra, 0, ra.Size()))
	if err != nil || !bytes.Equal(got, img) {
		t.Fatalf("sequential read differs: %v", err)
	}
}

func TestIndexReaderAtCorruptChunk(t *testing.T) {
	img := bytes.Repeat([]byte("abcdefgh"), 1<<20)
	ds, snap := backupImage(t, img)
	ctx := context.Background()
	s, err := snapshot.Open(ctx, ds, "", snap)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	ra, err := s.ReaderAt(ctx, "disk.img.fidx")
	if err != nil {
		t.Fatal(err)
	}
	defer ra.Close()
	// Corrupt the chunk file holding offset 0.
	d := ra.Index().ChunkDigest(0)
	var found string
	filepath.Walk(ds.Root(), func(p string, info os.FileInfo, err error) error {
		if err == nil && info.Mode().IsRegular() && filepath.Base(p) == hexs(d) {
			found = p
		}
		return nil
	})
	if found == "" {
		t.Skip("chunk file not found")
	}
	raw, _ := os.ReadFile(found)
	raw[len(raw)-1] ^= 0xff
	os.WriteFile(found, raw, 0o644)
	if _, err := ra.ReadAt(make([]byte, 10), 0); err == nil {
		t.Fatal("corrupt chunk not detected")
	}
}

func hexs(d [32]byte) string {
	const digits = "0123456789abcdef"
	b := make([]byte, 64)
	for i, c := range d {
		b[2*i], b[2*i+1] = digits[c>>4], digits[c&15]
	}
	return string(b)
}
