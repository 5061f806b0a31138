package pxar

import (
	"bytes"
	"os"
	"path/filepath"
	"testing"
)

func TestCreateMatchesFixtures(t *testing.T) {
	trees := fixtureTrees(t)
	for _, name := range fixtures {
		t.Run(name, func(t *testing.T) {
			want, err := os.ReadFile(filepath.Join("testdata", name+".pxar"))
			if err != nil {
				t.Fatal(err)
			}
			var buf bytes.Buffer
			if err := Create(&buf, filepath.Join(trees, name), CreateOptions{}); err != nil {
				t.Fatal(err)
			}
			got := buf.Bytes()
			if !bytes.Equal(got, want) {
				i := 0
				for i < len(got) && i < len(want) && got[i] == want[i] {
					i++
				}
				t.Fatalf("archive differs from fixture: %d vs %d bytes, first difference at offset %d", len(got), len(want), i)
			}
		})
	}
}
