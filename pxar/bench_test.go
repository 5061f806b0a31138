package pxar

import (
	"fmt"
	"io"
	"os"
	"path/filepath"
	"testing"
)

func BenchmarkCreate(b *testing.B) {
	dir := b.TempDir()
	content := make([]byte, 16<<10)
	for i := range content {
		content[i] = byte(i)
	}
	var total int64
	for d := 0; d < 20; d++ {
		sub := filepath.Join(dir, fmt.Sprintf("d%02d", d))
		if err := os.Mkdir(sub, 0o755); err != nil {
			b.Fatal(err)
		}
		for f := 0; f < 100; f++ {
			n := (f * 163) % len(content)
			if err := os.WriteFile(filepath.Join(sub, fmt.Sprintf("f%03d", f)), content[:n], 0o644); err != nil {
				b.Fatal(err)
			}
			total += int64(n)
		}
	}
	b.SetBytes(total)
	b.ResetTimer()
	for b.Loop() {
		if err := Create(io.Discard, dir, CreateOptions{}); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkDecode(b *testing.B) {
	data, err := os.ReadFile(filepath.Join("testdata", "many.pxar"))
	if err != nil {
		b.Fatal(err)
	}
	b.SetBytes(int64(len(data)))
	for b.Loop() {
		if err := decodeAll(data); err != nil {
			b.Fatal(err)
		}
	}
}
