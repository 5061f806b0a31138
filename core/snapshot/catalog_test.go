package snapshot_test

import (
	"bytes"
	"context"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"cairn/core"
	"cairn/core/catalog"
	"cairn/core/snapshot"
	"cairn/core/snapshot/snapshottest"
)

func dump(t *testing.T, r *catalog.Reader) string {
	t.Helper()
	var b bytes.Buffer
	if err := r.Dump(&b); err != nil {
		t.Fatal(err)
	}
	return b.String()
}

// The catalog of a snapshot with split archives lists them beside the
// stored catalog's unified archives, each under its metadata stream's name,
// with the same entries.
func TestCatalogOfSplitArchives(t *testing.T) {
	e := snapshottest.NewEnv(t)
	s := e.Open(t)
	cat, err := s.Catalog(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	root, _ := cat.Root()
	tops, err := cat.ReadDir(root)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, e := range tops {
		names = append(names, string(e.Name))
	}
	if got := strings.Join(names, " "); got != "uni.pxar.didx spl.mpxar.didx tight.mpxar.didx" {
		t.Fatalf("top-level catalog entries %q", got)
	}
	full := dump(t, cat)
	part := func(name string) string {
		var lines []string
		for _, l := range strings.Split(full, "\n") {
			if rest, ok := strings.CutPrefix(l[min(2, len(l)):], `"./`+name); ok {
				lines = append(lines, l[:2]+rest)
			}
		}
		return strings.Join(lines, "\n")
	}
	uni := part("uni.pxar.didx")
	if !strings.Contains(uni, `f /var/big.bin" 3145745`) || !strings.Contains(uni, `h /var/secret.link"`) || !strings.Contains(uni, `p /var/pipe"`) {
		t.Fatalf("unified part of the catalog:\n%s", uni)
	}
	for _, name := range []string{"spl.mpxar.didx", "tight.mpxar.didx"} {
		if got := part(name); got != uni {
			t.Errorf("%s lists differently:\n%s\n--- unified:\n%s", name, got, uni)
		}
	}
	// Each top-level name leads back to its archive.
	for _, top := range names {
		a, err := s.FindPxar(top)
		if err != nil || a.Meta != top {
			t.Errorf("FindPxar(%s) = %+v, %v", top, a, err)
		}
	}
}

// A snapshot of only split archives gets the catalog a unified backup of
// the same tree stores.
func TestCatalogSplitOnlyEqualsStored(t *testing.T) {
	e := snapshottest.NewEnv(t)
	only := core.Snapshot{Group: e.Snap.Group, Time: e.Snap.Time + 10}
	snapshottest.Write(t, e.DS, "", only, snapshottest.Options{}, snapshottest.Archive{Name: "root", Dir: e.Src, Split: true, Layout: snapshottest.SplitLayout})
	uni := core.Snapshot{Group: e.Snap.Group, Time: e.Snap.Time + 20}
	snapshottest.Write(t, e.DS, "", uni, snapshottest.Options{}, snapshottest.Archive{Name: "root", Dir: e.Src})
	dumpOf := func(snap core.Snapshot) string {
		s, err := snapshot.Open(context.Background(), e.DS, "", snap)
		if err != nil {
			t.Fatal(err)
		}
		defer s.Close()
		cat, err := s.Catalog(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		return dump(t, cat)
	}
	split, stored := dumpOf(only), dumpOf(uni)
	if strings.ReplaceAll(split, "root.mpxar.didx", "root.pxar.didx") != stored {
		t.Fatalf("rebuilt catalog:\n%s\n--- stored:\n%s", split, stored)
	}
}

// Without a stored catalog the catalog is rebuilt from the unified
// archive itself.
func TestCatalogWithoutStoredCatalog(t *testing.T) {
	e := snapshottest.NewEnv(t)
	bare := core.Snapshot{Group: e.Snap.Group, Time: e.Snap.Time + 30}
	snapshottest.Write(t, e.DS, "", bare, snapshottest.Options{NoCatalog: true}, snapshottest.Archive{Name: "uni", Dir: e.Src})
	s := e.Open(t)
	want := dump(t, catalogOf(t, s))
	b, err := snapshot.Open(context.Background(), e.DS, "", bare)
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	got := dump(t, catalogOf(t, b))
	if !strings.HasPrefix(want, got) || !strings.Contains(got, "big.bin") {
		t.Fatalf("rebuilt catalog:\n%s\n--- stored:\n%s", got, want)
	}
	a, _ := b.FindPxar("uni.pxar")
	if ent, err := b.CatalogEntry(context.Background(), a, "etc/hostname"); err != nil || ent.Size != 5 {
		t.Fatalf("entry: %+v %v", ent, err)
	}
}

func catalogOf(t *testing.T, s *snapshot.Snapshot) *catalog.Reader {
	t.Helper()
	cat, err := s.Catalog(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	return cat
}

func TestCatalogEntry(t *testing.T) {
	e := snapshottest.NewEnv(t)
	s := e.Open(t)
	ctx := context.Background()
	for _, name := range []string{"uni.pxar", "spl.pxar"} {
		a, err := s.FindPxar(name)
		if err != nil {
			t.Fatal(err)
		}
		ent, err := s.CatalogEntry(ctx, a, "var/big.bin")
		if err != nil || ent.Type != catalog.TypeFile || ent.Size != 3<<20+17 || ent.Mtime != 1600000000 || string(ent.Name) != "big.bin" {
			t.Errorf("%s: var/big.bin: %+v %v", name, ent, err)
		}
		if ent, err := s.CatalogEntry(ctx, a, "/var/secret.link"); err != nil || ent.Type != catalog.TypeHardlink {
			t.Errorf("%s: hardlink: %+v %v", name, ent, err)
		}
		for _, missing := range []string{"var/nothing", "var/big.bin/below", "nothing/at/all"} {
			if _, err := s.CatalogEntry(ctx, a, missing); !errors.Is(err, catalog.ErrNotFound) {
				t.Errorf("%s: missing path %s: %v", name, missing, err)
			}
		}
	}
}

// The accessor of a split archive reads file data from the payload stream.
func TestPxarAccessorSplit(t *testing.T) {
	e := snapshottest.NewEnv(t)
	s := e.Open(t)
	a, err := s.FindPxar("spl.pxar")
	if err != nil {
		t.Fatal(err)
	}
	acc, closeAcc, err := s.PxarAccessor(context.Background(), a)
	if err != nil {
		t.Fatal(err)
	}
	defer closeAcc()
	for _, p := range []string{"var/big.bin", "var/secret.link", "many/f17"} {
		n, err := acc.Lookup(p)
		if err != nil {
			t.Fatal(err)
		}
		sr, err := acc.Open(n)
		if err != nil {
			t.Fatal(err)
		}
		got, err := io.ReadAll(sr)
		if err != nil {
			t.Fatal(err)
		}
		src := filepath.Join(e.Src, p)
		if want, _ := os.ReadFile(src); !bytes.Equal(got, want) {
			t.Fatalf("%s differs", p)
		}
	}
}

// A forward reader fetches each chunk once, even across gaps, and keeps
// only its read-ahead window.
func TestForwardReaderAt(t *testing.T) {
	e := snapshottest.NewEnv(t)
	s := e.Open(t)
	ctx := context.Background()
	ra, err := s.ReaderAtWith(ctx, "spl.ppxar.didx", snapshot.ReaderAtOptions{Forward: true, ReadAhead: 3, CacheBytes: 1 << 40})
	if err != nil {
		t.Fatal(err)
	}
	defer ra.Close()
	plain, err := s.ReadAll(ctx, "spl.ppxar.didx")
	if err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 100<<10)
	for off := int64(0); off < ra.Size(); off += int64(len(buf)) + 50<<10 {
		n, err := ra.ReadAt(buf, off)
		if err != nil && err != io.EOF {
			t.Fatal(err)
		}
		if !bytes.Equal(buf[:n], plain[off:off+int64(n)]) {
			t.Fatalf("data at %d differs", off)
		}
	}
	time.Sleep(50 * time.Millisecond) // let read-ahead of the tail settle
	if f, n := ra.Fetched(), int64(ra.Index().Count()); f > n {
		t.Fatalf("fetched %d chunks of %d", f, n)
	}
	if used := ra.CachedBytes(); used > 5*256<<10 {
		t.Fatalf("forward reader keeps %d bytes cached", used)
	}
}
