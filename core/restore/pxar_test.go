package restore_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"cairn/core"
	"cairn/core/backup"
	"cairn/core/catalog"
	"cairn/core/datastore"
	"cairn/core/restore"
	"cairn/core/restore/restoretest"
	"cairn/internal/testutil"
	"cairn/keys"
	"cairn/pxar/pxartest"
)

// splitLayout has gaps and reused payload, as metadata change detection
// leaves a payload stream.
var splitLayout = pxartest.Options{
	Gap:   func(n int) int { return []int{0, 7, 100, 70000}[n%4] },
	Reuse: func(n int) bool { return n%3 == 1 },
}

func writeFile(t *testing.T, p string, data []byte, mode os.FileMode) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(p, data, mode); err != nil {
		t.Fatal(err)
	}
}

// makeSource is a tree with big files spanning many chunks, empty ones,
// hardlinks, symlinks, a fifo and xattrs.
func makeSource(t *testing.T, dir string) {
	t.Helper()
	big := make([]byte, 3<<20+17)
	for i := range big {
		big[i] = byte(i*31 + i>>11)
	}
	writeFile(t, filepath.Join(dir, "etc/hostname"), []byte("elsa\n"), 0o644)
	writeFile(t, filepath.Join(dir, "etc/secret"), []byte("s3cret\n"), 0o600)
	writeFile(t, filepath.Join(dir, "var/big.bin"), big, 0o640)
	writeFile(t, filepath.Join(dir, "var/empty"), nil, 0o644)
	for i := range 40 {
		writeFile(t, filepath.Join(dir, fmt.Sprintf("many/f%02d", i)), bytes.Repeat([]byte{byte(i)}, i*997), 0o644)
	}
	if err := os.Link(filepath.Join(dir, "etc/secret"), filepath.Join(dir, "var/secret.link")); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink("../etc/hostname", filepath.Join(dir, "var/host")); err != nil {
		t.Fatal(err)
	}
	if err := syscall.Mkfifo(filepath.Join(dir, "var/pipe"), 0o600); err != nil {
		t.Fatal(err)
	}
	syscall.Setxattr(filepath.Join(dir, "etc/hostname"), "user.origin", []byte("test"), 0)
	mt := time.Unix(1600000000, 123456789)
	filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if d.Type()&fs.ModeSymlink == 0 {
			os.Chtimes(p, mt, mt)
		}
		return err
	})
}

type env struct {
	ds   *datastore.Datastore
	src  string
	snap core.Snapshot
}

// newEnv stores one snapshot with the same tree as a unified archive
// (uni.pxar), a split archive with gaps and reused payload (spl.pxar) and
// a tight split archive (tight.pxar).
func newEnv(t *testing.T) *env {
	t.Helper()
	dir := testutil.TempDir(t)
	e := &env{src: filepath.Join(dir, "src"), snap: core.Snapshot{Group: core.Group{Type: core.TypeHost, ID: "split"}, Time: 1700000000}}
	makeSource(t, e.src)
	store := filepath.Join(dir, "store")
	if err := datastore.Create(store); err != nil {
		t.Fatal(err)
	}
	var err error
	if e.ds, err = datastore.Open(store, "root@pam"); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { e.ds.Close() })
	restoretest.Write(t, e.ds, "", e.snap, restoretest.Options{ChunkSize: 256 << 10},
		restoretest.Archive{Name: "uni", Dir: e.src},
		restoretest.Archive{Name: "spl", Dir: e.src, Split: true, Layout: splitLayout},
		restoretest.Archive{Name: "tight", Dir: e.src, Split: true})
	return e
}

func (e *env) restore(t *testing.T, archive, target string, o restore.Options) error {
	t.Helper()
	o.Repo, o.Snapshot, o.Archive, o.Target = e.ds, e.snap.String(), archive, target
	return restore.Run(context.Background(), o)
}

// describe lists what a restore must bring back: type, mode, mtime,
// contents, link targets, hardlink groups, xattrs.
func describe(t *testing.T, dir string) string {
	t.Helper()
	var b strings.Builder
	inodes := map[uint64]string{}
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(dir, p)
		var st syscall.Stat_t
		if err := syscall.Lstat(p, &st); err != nil {
			return err
		}
		fmt.Fprintf(&b, "%s %o %d:%d", rel, st.Mode, st.Uid, st.Gid)
		if rel != "." {
			fmt.Fprintf(&b, " %d.%09d", st.Mtim.Sec, st.Mtim.Nsec)
		}
		switch {
		case d.Type().IsRegular():
			if first, ok := inodes[st.Ino]; ok {
				fmt.Fprintf(&b, " =%s", first)
			}
			inodes[st.Ino] = rel
			data, _ := os.ReadFile(p)
			fmt.Fprintf(&b, " %x", sha256.Sum256(data))
			v := make([]byte, 64)
			if n, err := syscall.Getxattr(p, "user.origin", v); err == nil {
				fmt.Fprintf(&b, " origin=%s", v[:n])
			}
		case d.Type()&fs.ModeSymlink != 0:
			l, _ := os.Readlink(p)
			fmt.Fprintf(&b, " -> %s", l)
		}
		b.WriteByte('\n')
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return b.String()
}

func TestRestoreSplitMatchesUnified(t *testing.T) {
	e := newEnv(t)
	out := testutil.TempDir(t)
	if err := e.restore(t, "uni.pxar", filepath.Join(out, "uni"), restore.Options{}); err != nil {
		t.Fatal(err)
	}
	want := describe(t, filepath.Join(out, "uni"))
	if !strings.Contains(want, "many/f39") || !strings.Contains(want, "=etc/secret") {
		t.Fatalf("unified restore lacks entries:\n%s", want)
	}
	// The split pair is found under NAME.pxar (the fallback), under either
	// stream's name, and under the stored names the catalog uses.
	for _, name := range []string{"spl.pxar", "spl.mpxar", "spl.ppxar", "spl.mpxar.didx", "tight.pxar", "tight.ppxar.didx"} {
		dst := filepath.Join(out, strings.ReplaceAll(name, ".", "-"))
		if err := e.restore(t, name, dst, restore.Options{}); err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if got := describe(t, dst); got != want {
			t.Fatalf("%s restores differently:\n%s\n--- unified:\n%s", name, got, want)
		}
	}
}

func TestRestoreSplitPatternAndStdout(t *testing.T) {
	e := newEnv(t)
	out := testutil.TempDir(t)
	dst := filepath.Join(out, "sel")
	if err := e.restore(t, "spl.pxar", dst, restore.Options{Patterns: []string{"/etc/**", "/many/f3*"}}); err != nil {
		t.Fatal(err)
	}
	var got []string
	filepath.WalkDir(dst, func(p string, d fs.DirEntry, err error) error {
		if !d.IsDir() {
			rel, _ := filepath.Rel(dst, p)
			got = append(got, rel)
		}
		return err
	})
	want := "etc/hostname etc/secret many/f30 many/f31 many/f32 many/f33 many/f34 many/f35 many/f36 many/f37 many/f38 many/f39"
	if strings.Join(got, " ") != want {
		t.Fatalf("pattern restore gave %v", got)
	}
	if b, _ := os.ReadFile(filepath.Join(dst, "many/f33")); !bytes.Equal(b, bytes.Repeat([]byte{33}, 33*997)) {
		t.Fatal("many/f33 differs")
	}

	var stdout bytes.Buffer
	err := e.restore(t, "spl.pxar", "-", restore.Options{Stdout: &stdout})
	if err == nil || err.Error() != "unable to pipe split archive" || stdout.Len() != 0 {
		t.Fatalf("split archive to stdout: %v (%d bytes written)", err, stdout.Len())
	}
	if err := e.restore(t, "uni.pxar", "-", restore.Options{Stdout: &stdout}); err != nil || stdout.Len() == 0 {
		t.Fatalf("unified archive to stdout: %v", err)
	}
}

func TestRestoreIncompleteSplitArchive(t *testing.T) {
	e := newEnv(t)
	snap := core.Snapshot{Group: e.snap.Group, Time: e.snap.Time + 1}
	restoretest.Write(t, e.ds, "", snap, restoretest.Options{}, restoretest.Archive{Name: "root", Dir: e.src, Split: true, DropPayload: true})
	err := restore.Run(context.Background(), restore.Options{Repo: e.ds, Snapshot: snap.String(), Archive: "root.pxar", Target: filepath.Join(testutil.TempDir(t), "x")})
	if err == nil || !strings.Contains(err.Error(), "only one of root.mpxar.didx and root.ppxar.didx") {
		t.Fatalf("restore of a split archive without payload: %v", err)
	}
	err = restore.Run(context.Background(), restore.Options{Repo: e.ds, Snapshot: snap.String(), Archive: "other.pxar", Target: "x"})
	if !errors.Is(err, core.ErrNotFound) || err.Error() != "manifest does not contain file 'other.pxar.didx'" {
		t.Fatalf("missing archive: %v", err)
	}
}

// A damaged payload chunk fails the restore naming the chunk.
func TestRestoreSplitCorruptPayloadChunk(t *testing.T) {
	e := newEnv(t)
	s := openSnap(t, e)
	ra, err := s.ReaderAt(context.Background(), "spl.ppxar.didx")
	if err != nil {
		t.Fatal(err)
	}
	d := ra.Index().ChunkDigest(ra.Index().Count() / 2)
	ra.Close()
	var found string
	filepath.Walk(e.ds.Root(), func(p string, info os.FileInfo, err error) error {
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
	err = e.restore(t, "spl.pxar", filepath.Join(testutil.TempDir(t), "x"), restore.Options{})
	if err == nil || !strings.Contains(err.Error(), hexs(d)) {
		t.Fatalf("corrupt payload chunk: %v", err)
	}
}

func openSnap(t *testing.T, e *env) *restore.Snapshot {
	t.Helper()
	s, err := restore.Open(context.Background(), e.ds, "", e.snap)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

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
	e := newEnv(t)
	s := openSnap(t, e)
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
	e := newEnv(t)
	only := core.Snapshot{Group: e.snap.Group, Time: e.snap.Time + 10}
	restoretest.Write(t, e.ds, "", only, restoretest.Options{}, restoretest.Archive{Name: "root", Dir: e.src, Split: true, Layout: splitLayout})
	uni := core.Snapshot{Group: e.snap.Group, Time: e.snap.Time + 20}
	restoretest.Write(t, e.ds, "", uni, restoretest.Options{}, restoretest.Archive{Name: "root", Dir: e.src})
	dumpOf := func(snap core.Snapshot) string {
		s, err := restore.Open(context.Background(), e.ds, "", snap)
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
	e := newEnv(t)
	bare := core.Snapshot{Group: e.snap.Group, Time: e.snap.Time + 30}
	restoretest.Write(t, e.ds, "", bare, restoretest.Options{NoCatalog: true}, restoretest.Archive{Name: "uni", Dir: e.src})
	s := openSnap(t, e)
	want := dump(t, catalogOf(t, s))
	b, err := restore.Open(context.Background(), e.ds, "", bare)
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

func catalogOf(t *testing.T, s *restore.Snapshot) *catalog.Reader {
	t.Helper()
	cat, err := s.Catalog(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	return cat
}

func TestCatalogEntry(t *testing.T) {
	e := newEnv(t)
	s := openSnap(t, e)
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
	e := newEnv(t)
	s := openSnap(t, e)
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
		src := filepath.Join(e.src, p)
		if want, _ := os.ReadFile(src); !bytes.Equal(got, want) {
			t.Fatalf("%s differs", p)
		}
	}
}

// A forward reader fetches each chunk once, even across gaps, and keeps
// only its read-ahead window.
func TestForwardReaderAt(t *testing.T) {
	e := newEnv(t)
	s := openSnap(t, e)
	ctx := context.Background()
	ra, err := s.ReaderAtWith(ctx, "spl.ppxar.didx", restore.ReaderAtOptions{Forward: true, ReadAhead: 3, CacheBytes: 1 << 40})
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

// End to end: a metadata-mode backup that reuses the previous snapshot's
// payload chunks (padding included) restores to the source tree, and its
// rebuilt catalog lists it.
func TestRestoreMetadataModeBackup(t *testing.T) {
	dir := testutil.TempDir(t)
	src := filepath.Join(dir, "src")
	makeSource(t, src)
	store := filepath.Join(dir, "store")
	if err := datastore.Create(store); err != nil {
		t.Fatal(err)
	}
	ds, err := datastore.Open(store, "root@pam")
	if err != nil {
		t.Fatal(err)
	}
	defer ds.Close()
	g := core.Group{Type: core.TypeHost, ID: "meta"}
	run := func(when int64) *core.ReuseSummary {
		sp, _ := backup.ParseSpec("root.pxar:" + src)
		var sum *core.ReuseSummary
		_, err := backup.Run(context.Background(), backup.Options{Repo: ds, Snapshot: core.Snapshot{Group: g, Time: when},
			Specs: []backup.Spec{sp}, ChunkSize: 64 << 10, ChangeDetection: backup.ModeMetadata,
			Events: func(ev core.Event) {
				if ev.Reuse != nil {
					sum = ev.Reuse
				}
			}})
		if err != nil {
			t.Fatal(err)
		}
		return sum
	}
	run(1700000000)
	// Change some files, drop one, add one: the second snapshot reuses
	// the rest with padding where the old chunks held changed data.
	writeFile(t, filepath.Join(src, "many/f10"), []byte("changed"), 0o644)
	writeFile(t, filepath.Join(src, "many/f25"), bytes.Repeat([]byte("x"), 30000), 0o644)
	os.Remove(filepath.Join(src, "many/f20"))
	writeFile(t, filepath.Join(src, "many/new"), []byte("new file"), 0o600)
	if sum := run(1700000100); sum == nil || sum.InjectedChunks == 0 || sum.PaddingBytes == 0 {
		t.Fatalf("the second backup reused nothing: %+v", sum)
	}
	out := filepath.Join(testutil.TempDir(t), "out")
	err = restore.Run(context.Background(), restore.Options{Repo: ds, Snapshot: "host/meta", Archive: "root.pxar", Target: out})
	if err != nil {
		t.Fatal(err)
	}
	if got, want := describe(t, out), describe(t, src); got != want {
		t.Fatalf("restored tree differs:\n%s\n--- source:\n%s", got, want)
	}
	s, err := restore.Open(context.Background(), ds, "", core.Snapshot{Group: g, Time: 1700000100})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	cat, err := s.Catalog(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if e, err := cat.Lookup("/root.mpxar.didx/many/new"); err != nil || e.Size != 8 {
		t.Fatalf("catalog entry of many/new: %+v %v", e, err)
	}
}

// --prelude-target gets a split archive's prelude, the exclude patterns a
// metadata-mode backup records; archives without one leave no file.
func TestRestorePreludeTarget(t *testing.T) {
	e := newEnv(t)
	sp, _ := backup.ParseSpec("root.pxar:" + e.src)
	snap := core.Snapshot{Group: e.snap.Group, Time: e.snap.Time + 40}
	if _, err := backup.Run(context.Background(), backup.Options{Repo: e.ds, Snapshot: snap, Specs: []backup.Spec{sp},
		ChangeDetection: backup.ModeData, Excludes: []string{"*.tmp", "!keep.tmp"}}); err != nil {
		t.Fatal(err)
	}
	out := testutil.TempDir(t)
	prelude := filepath.Join(out, "prelude.json")
	err := restore.Run(context.Background(), restore.Options{Repo: e.ds, Snapshot: snap.String(), Archive: "root.pxar",
		Target: filepath.Join(out, "tree"), PreludeTarget: prelude})
	if err != nil {
		t.Fatal(err)
	}
	if got, _ := os.ReadFile(prelude); string(got) != `{"exclude-patterns":"*.tmp\n!keep.tmp\n"}` {
		t.Fatalf("prelude %q", got)
	}
	// The file is not overwritten without --overwrite.
	err = restore.Run(context.Background(), restore.Options{Repo: e.ds, Snapshot: snap.String(), Archive: "root.pxar",
		Target: filepath.Join(out, "tree2"), PreludeTarget: prelude})
	if !errors.Is(err, fs.ErrExist) {
		t.Fatalf("existing prelude target: %v", err)
	}
	none := filepath.Join(out, "none.json")
	if err := e.restore(t, "spl.pxar", filepath.Join(out, "tree3"), restore.Options{PreludeTarget: none}); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(none); !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("an archive without prelude made %s: %v", none, err)
	}
}

// An encrypted split archive restores with its key and names what is
// missing without it.
func TestRestoreEncryptedSplit(t *testing.T) {
	e := newEnv(t)
	key, _ := keys.NewKey()
	cc, err := keys.NewCryptConfig(key)
	if err != nil {
		t.Fatal(err)
	}
	snap := core.Snapshot{Group: e.snap.Group, Time: e.snap.Time + 50}
	restoretest.Write(t, e.ds, "", snap, restoretest.Options{Crypt: cc}, restoretest.Archive{Name: "root", Dir: e.src, Split: true, Layout: splitLayout})
	out := testutil.TempDir(t)
	o := restore.Options{Repo: e.ds, Snapshot: snap.String(), Archive: "root.pxar", Target: filepath.Join(out, "x")}
	if err := restore.Run(context.Background(), o); err == nil || !strings.Contains(err.Error(), "missing key") {
		t.Fatalf("restore without key: %v", err)
	}
	o.Target = filepath.Join(out, "y")
	o.Key = func() (*keys.CryptConfig, error) { return cc, nil }
	if err := restore.Run(context.Background(), o); err != nil {
		t.Fatal(err)
	}
	if got, want := describe(t, o.Target), describe(t, e.src); got != want {
		t.Fatalf("encrypted split restore differs:\n%s\n--- source:\n%s", got, want)
	}
}
