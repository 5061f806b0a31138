package pxar_test

import (
	"bytes"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"testing"

	"cairn/internal/testutil"
	"cairn/pxar"
	"cairn/pxar/pxartest"
)

// benchTree is 40 directories of 100 small files (0..16 KiB), each with a
// symlink and a hardlink, plus 8 files of 2 MiB (which a split archive's
// extraction writes in the background); total is the bytes of file data.
func benchTree(b *testing.B) (unified []byte, total int64) {
	b.Helper()
	dir := filepath.Join(testutil.TempDir(b), "src")
	rng := rand.New(rand.NewPCG(1, 2))
	data := make([]byte, 2<<20)
	for i := range data {
		data[i] = byte(rng.Uint32())
	}
	for d := range 40 {
		sub := filepath.Join(dir, fmt.Sprintf("d%02d", d))
		if err := os.MkdirAll(sub, 0o755); err != nil {
			b.Fatal(err)
		}
		for f := range 100 {
			n := (f * 163) % (16 << 10)
			if err := os.WriteFile(filepath.Join(sub, fmt.Sprintf("f%03d", f)), data[:n], 0o644); err != nil {
				b.Fatal(err)
			}
			total += int64(n)
		}
		if err := os.Symlink("f000", filepath.Join(sub, "link")); err != nil {
			b.Fatal(err)
		}
		if err := os.Link(filepath.Join(sub, "f001"), filepath.Join(sub, "hard")); err != nil {
			b.Fatal(err)
		}
	}
	big := filepath.Join(dir, "big")
	if err := os.Mkdir(big, 0o755); err != nil {
		b.Fatal(err)
	}
	for i := range 8 {
		if err := os.WriteFile(filepath.Join(big, fmt.Sprintf("b%d", i)), data, 0o644); err != nil {
			b.Fatal(err)
		}
		total += int64(len(data))
	}
	return pxar.CreateBytes(b, dir, pxar.CreateOptions{}), total
}

// BenchmarkExtract extracts the bench tree from a unified and from a split
// archive (large files written in the background) into a fresh directory.
func BenchmarkExtract(b *testing.B) {
	unified, total := benchTree(b)
	meta, payload, err := pxartest.Split(unified, pxartest.Options{})
	if err != nil {
		b.Fatal(err)
	}
	base := testutil.TempDir(b)
	run := func(b *testing.B, extract func(dst string) error) {
		b.SetBytes(total)
		i := 0
		for b.Loop() {
			b.StopTimer()
			dst := filepath.Join(base, fmt.Sprintf("dst%d", i))
			i++
			b.StartTimer()
			if err := extract(dst); err != nil {
				b.Fatal(err)
			}
			b.StopTimer()
			os.RemoveAll(dst)
			b.StartTimer()
		}
	}
	b.Run("unified", func(b *testing.B) {
		run(b, func(dst string) error {
			return pxar.Extract(bytes.NewReader(unified), dst, pxar.ExtractOptions{})
		})
	})
	b.Run("split", func(b *testing.B) {
		run(b, func(dst string) error {
			return pxar.ExtractSplit(bytes.NewReader(meta), bytes.NewReader(payload), dst,
				pxar.ExtractOptions{BackgroundPayload: bytes.NewReader(payload)})
		})
	})
	b.Run("accessor", func(b *testing.B) {
		a, err := pxar.NewAccessor(bytes.NewReader(unified), uint64(len(unified)))
		if err != nil {
			b.Fatal(err)
		}
		run(b, func(dst string) error { return a.ExtractFrom(a.Root(), dst, pxar.ExtractOptions{}) })
	})
}
