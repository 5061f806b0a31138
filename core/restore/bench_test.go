package restore_test

import (
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"testing"

	"cairn/core"
	"cairn/core/datastore"
	"cairn/core/restore"
	"cairn/core/snapshot/snapshottest"
	"cairn/internal/testutil"
)

// benchSource is $CAIRN_BENCH_DATA, or 256 MiB of incompressible data in
// many small and a few large files.
func benchSource(b *testing.B) (string, int64) {
	if dir := os.Getenv("CAIRN_BENCH_DATA"); dir != "" {
		var total int64
		filepath.Walk(dir, func(_ string, info os.FileInfo, err error) error {
			if err == nil && info.Mode().IsRegular() {
				total += info.Size()
			}
			return nil
		})
		return dir, total
	}
	dir := filepath.Join(testutil.TempDir(b), "src")
	rng := rand.New(rand.NewPCG(7, 7))
	fill := func(n int) []byte {
		p := make([]byte, n)
		for i := 0; i+8 <= n; i += 8 {
			v := rng.Uint64()
			for k := range 8 {
				p[i+k] = byte(v >> (8 * k))
			}
		}
		return p
	}
	var total int64
	for i := range 2048 {
		data := fill(64 << 10)
		p := filepath.Join(dir, fmt.Sprintf("small/%02d/f%04d", i%32, i))
		os.MkdirAll(filepath.Dir(p), 0o755)
		if err := os.WriteFile(p, data, 0o644); err != nil {
			b.Fatal(err)
		}
		total += int64(len(data))
	}
	for i := range 16 {
		data := fill(8 << 20)
		p := filepath.Join(dir, fmt.Sprintf("large/f%02d", i))
		os.MkdirAll(filepath.Dir(p), 0o755)
		if err := os.WriteFile(p, data, 0o644); err != nil {
			b.Fatal(err)
		}
		total += int64(len(data))
	}
	return dir, total
}

// BenchmarkRestorePxar restores the same tree from a unified and from a
// split archive.
func BenchmarkRestorePxar(b *testing.B) {
	src, total := benchSource(b)
	store := filepath.Join(testutil.TempDir(b), "store")
	if err := datastore.Create(store); err != nil {
		b.Fatal(err)
	}
	ds, err := datastore.Open(store, "root@pam")
	if err != nil {
		b.Fatal(err)
	}
	defer ds.Close()
	snap := core.Snapshot{Group: core.Group{Type: core.TypeHost, ID: "bench"}, Time: 1700000000}
	snapshottest.Write(b, ds, "", snap, snapshottest.Options{ChunkSize: 4 << 20},
		snapshottest.Archive{Name: "uni", Dir: src},
		snapshottest.Archive{Name: "spl", Dir: src, Split: true})
	for _, name := range []string{"uni.pxar", "spl.pxar"} {
		b.Run(name, func(b *testing.B) {
			b.SetBytes(total)
			for b.Loop() {
				b.StopTimer()
				dst := filepath.Join(testutil.TempDir(b), "dst")
				b.StartTimer()
				if err := restore.Run(context.Background(), restore.Options{Repo: ds, Snapshot: snap.String(), Archive: name, Target: dst}); err != nil {
					b.Fatal(err)
				}
				b.StopTimer()
				os.RemoveAll(dst)
				b.StartTimer()
			}
		})
	}
}
