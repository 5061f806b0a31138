package restore_test

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"os"
	"path/filepath"
	"sync/atomic"
	"testing"

	"cairn/core"
	"cairn/core/backup"
	"cairn/core/datastore/datastoretest"
	"cairn/core/index"
	"cairn/core/restore"
	"cairn/core/snapshot"
	"cairn/core/snapshot/snapshottest"
	"cairn/internal/testutil"
)

// countingRepo counts the chunks read through it.
type countingRepo struct {
	core.Repository
	chunks atomic.Int64
}

func (r *countingRepo) OpenSnapshot(ctx context.Context, ns core.Namespace, s core.Snapshot) (core.SnapshotReader, error) {
	sr, err := r.Repository.OpenSnapshot(ctx, ns, s)
	if err != nil {
		return nil, err
	}
	return &countingReader{SnapshotReader: sr, n: &r.chunks}, nil
}

type countingReader struct {
	core.SnapshotReader
	n *atomic.Int64
}

func (r *countingReader) ReadChunk(d [32]byte) ([]byte, error) {
	r.n.Add(1)
	return r.SnapshotReader.ReadChunk(d)
}

// TestExtractPxarPathsReadsOnlyTheSelection pins issue 17 item 4 in the
// engine: a selection is restored through the archive's GOODBYE tables,
// fetching only the chunks it needs, so a damaged chunk elsewhere does not
// fail it; progress counts the selected files' bytes; a hardlink whose
// target is not selected becomes a copy.
func TestExtractPxarPathsReadsOnlyTheSelection(t *testing.T) {
	for _, mode := range []string{backup.ModeLegacy, backup.ModeData} {
		t.Run(mode, func(t *testing.T) {
			dir := testutil.TempDir(t)
			src := filepath.Join(dir, "src")
			write := func(name string, data []byte) {
				p := filepath.Join(src, name)
				if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
					t.Fatal(err)
				}
				if err := os.WriteFile(p, data, 0o644); err != nil {
					t.Fatal(err)
				}
			}
			write("a/small.txt", []byte("small\n"))
			write("a/orig.txt", []byte("linked twice\n"))
			if err := os.MkdirAll(filepath.Join(src, "m"), 0o755); err != nil {
				t.Fatal(err)
			}
			if err := os.Link(filepath.Join(src, "a/orig.txt"), filepath.Join(src, "m/link.txt")); err != nil {
				t.Fatal(err)
			}
			big := make([]byte, 32<<20)
			rand.Read(big)
			write("z/big.bin", big)

			ds := datastoretest.Dir(t)
			store := ds.Root()
			snap := core.Snapshot{Group: core.Group{Type: core.TypeHost, ID: "sel"}, Time: 1700000000}
			sp, _ := backup.ParseSpec("root.pxar:" + src)
			if _, err := backup.Run(context.Background(), backup.Options{Repo: ds, Snapshot: snap, Specs: []backup.Spec{sp}, ChangeDetection: mode}); err != nil {
				t.Fatal(err)
			}
			// Damage the chunk in the middle of big.bin's data.
			stream := "root.pxar.didx"
			if mode != backup.ModeLegacy {
				stream = "root.ppxar.didx"
			}
			raw, err := os.ReadFile(filepath.Join(store, "host/sel", snap.TimeString(), stream))
			if err != nil {
				t.Fatal(err)
			}
			idx, err := index.Open(raw)
			if err != nil {
				t.Fatal(err)
			}
			d := idx.ChunkDigest(idx.Count() / 2)
			h := hex.EncodeToString(d[:])
			if err := os.WriteFile(filepath.Join(store, ".chunks", h[:4], h), []byte("damaged"), 0o644); err != nil {
				t.Fatal(err)
			}

			repo := &countingRepo{Repository: ds}
			ctx := context.Background()
			s, err := snapshot.Open(ctx, repo, "", snap)
			if err != nil {
				t.Fatal(err)
			}
			defer s.Close()
			a, err := s.FindPxar("root.pxar")
			if err != nil {
				t.Fatal(err)
			}
			out := filepath.Join(dir, "out")
			var last core.Progress
			err = restore.ExtractPxarPaths(ctx, s, a, []string{"a/small.txt", "/m"}, out, restore.PathsOptions{
				Progress: func(p core.Progress) { last = p },
			})
			if err != nil {
				t.Fatalf("selection restore: %v", err)
			}
			for name, want := range map[string]string{"a/small.txt": "small\n", "m/link.txt": "linked twice\n"} {
				if got, err := os.ReadFile(filepath.Join(out, name)); err != nil || string(got) != want {
					t.Errorf("%s: %q, %v", name, got, err)
				}
			}
			for _, name := range []string{"a/orig.txt", "z"} {
				if _, err := os.Lstat(filepath.Join(out, name)); !errors.Is(err, os.ErrNotExist) {
					t.Errorf("%s restored though not selected: %v", name, err)
				}
			}
			if want := uint64(len("small\n") + len("linked twice\n")); last.BytesTotal != want || last.BytesRead != want {
				t.Errorf("progress %d of %d, want %d of %d", last.BytesRead, last.BytesTotal, want, want)
			}
			total := int64(idx.Count())
			// The damaged middle chunk already proves the data between was
			// skipped; 32 random MiB make 2 to 30 chunks, so the half-the-
			// archive bound only means something on a larger archive.
			if n := repo.chunks.Load(); n > 4 || (total > 8 && n >= total/2) {
				t.Errorf("%d chunks fetched for two small files (the archive has %d)", n, total)
			}

			// A path that is not in the archive is an error that says so.
			err = restore.ExtractPxarPaths(ctx, s, a, []string{"a/nothere"}, filepath.Join(dir, "out2"), restore.PathsOptions{})
			if !errors.Is(err, os.ErrNotExist) {
				t.Errorf("missing path: %v", err)
			}
			// The whole archive needs the damaged chunk.
			err = restore.ExtractPxarPaths(ctx, s, a, nil, filepath.Join(dir, "whole"), restore.PathsOptions{})
			if !errors.Is(err, core.ErrCorrupt) {
				t.Errorf("whole archive over a damaged chunk: %v", err)
			}
		})
	}
}

// RunPaths is the TUI's restore: a selection of a split or unified pxar
// archive into an existing directory, the whole archive without paths,
// and anything else through Run.
func TestRunPaths(t *testing.T) {
	e := snapshottest.NewEnv(t)
	ctx := context.Background()
	opts := func(archive, target string) restore.Options {
		return restore.Options{Repo: e.DS, Snapshot: e.Snap.String(), Archive: archive, Target: target, AllowExistingDirs: true}
	}
	for _, archive := range []string{"spl.pxar", "uni.pxar.didx"} {
		t.Run(archive, func(t *testing.T) {
			out := testutil.TempDir(t)
			var last core.Progress
			err := restore.RunPaths(ctx, opts(archive, out), []string{"etc", "var/big.bin"}, func(p core.Progress) { last = p })
			if err != nil {
				t.Fatal(err)
			}
			for _, p := range []string{"etc/hostname", "etc/secret", "var/big.bin"} {
				if got, want := readOrNil(filepath.Join(out, p)), readOrNil(filepath.Join(e.Src, p)); got == nil || string(got) != string(want) {
					t.Errorf("%s not restored as the source", p)
				}
			}
			if _, err := os.Lstat(filepath.Join(out, "many")); !errors.Is(err, os.ErrNotExist) {
				t.Errorf("many/ restored though not selected: %v", err)
			}
			if total := uint64(5 + 7 + 3<<20 + 17); last.BytesRead != total || last.BytesTotal != total {
				t.Errorf("last progress %d/%d, want %d/%d", last.BytesRead, last.BytesTotal, total, total)
			}
			whole := filepath.Join(out, "whole")
			if err := restore.RunPaths(ctx, opts(archive, whole), nil, nil); err != nil {
				t.Fatal(err)
			}
			if b := readOrNil(filepath.Join(whole, "many/f39")); len(b) != 39*997 {
				t.Errorf("whole archive: many/f39 has %d bytes", len(b))
			}
		})
	}
	err := restore.RunPaths(ctx, opts("nope.img", filepath.Join(testutil.TempDir(t), "x")), []string{"etc"}, nil)
	if !errors.Is(err, core.ErrNotFound) || err.Error() != "manifest does not contain file 'nope.img.fidx'" {
		t.Fatalf("an image goes through Run: %v", err)
	}
}

func readOrNil(p string) []byte {
	b, _ := os.ReadFile(p)
	return b
}
