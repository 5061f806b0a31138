package datastore

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"

	"cairn/internal/testutil"
)

// placeChunk keeps a usable chunk and replaces an empty one, whichever
// primitive the file system offers: renameat2(RENAME_NOREPLACE), link +
// unlink, or (neither) a check and a rename under the lock.
func TestPlaceChunkEveryPrimitive(t *testing.T) {
	defer func() { noRenameNoReplace.Store(false); noHardLinks.Store(false) }()
	for _, prim := range []string{"renameat2", "link", "check"} {
		t.Run(prim, func(t *testing.T) {
			noRenameNoReplace.Store(prim != "renameat2")
			noHardLinks.Store(prim == "check")
			dir := testutil.TempDir(t)
			var d [32]byte
			p := filepath.Join(dir, "chunk")
			tmp := func(data string) string {
				f, err := os.CreateTemp(dir, "tmp")
				if err != nil {
					t.Fatal(err)
				}
				f.WriteString(data)
				f.Close()
				return f.Name()
			}
			if existed, err := placeChunk(d, tmp("first"), p); err != nil || existed {
				t.Fatalf("into an empty place: %v %v", existed, err)
			}
			if existed, err := placeChunk(d, tmp("second"), p); err != nil || !existed {
				t.Fatalf("over a usable chunk: %v %v", existed, err)
			}
			if got, _ := os.ReadFile(p); string(got) != "first" {
				t.Fatalf("usable chunk replaced: %q", got)
			}
			os.Truncate(p, 0)
			if existed, err := placeChunk(d, tmp("third"), p); err != nil || existed {
				t.Fatalf("over an empty chunk: %v %v", existed, err)
			}
			if got, _ := os.ReadFile(p); !bytes.Equal(got, []byte("third")) {
				t.Fatalf("empty chunk not replaced: %q", got)
			}
			if ents, _ := os.ReadDir(dir); len(ents) != 1 {
				t.Fatalf("temporary files left: %v", ents)
			}
		})
	}
}

// Of many commits of one digest racing, exactly one lands and the others
// find it in place.
func TestPlaceChunkRace(t *testing.T) {
	dir := testutil.TempDir(t)
	p := filepath.Join(dir, "chunk")
	var d [32]byte
	const n = 32
	tmps := make([]string, n)
	for i := range tmps {
		tmps[i] = filepath.Join(dir, fmt.Sprintf("tmp%d", i))
		os.WriteFile(tmps[i], []byte(fmt.Sprintf("content %d", i)), 0o640)
	}
	var wg sync.WaitGroup
	var placed atomic.Int32
	for i := range tmps {
		wg.Add(1)
		go func() {
			defer wg.Done()
			existed, err := placeChunk(d, tmps[i], p)
			if err != nil {
				t.Error(err)
			}
			if !existed {
				placed.Add(1)
			}
		}()
	}
	wg.Wait()
	if placed.Load() != 1 {
		t.Fatalf("%d commits placed their chunk, want 1", placed.Load())
	}
	if ents, _ := os.ReadDir(dir); len(ents) != 1 {
		t.Fatalf("temporary files left: %d entries", len(ents))
	}
}
