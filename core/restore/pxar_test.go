package restore_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"cairn/core"
	"cairn/core/backup"
	"cairn/core/datastore/datastoretest"
	"cairn/core/restore"
	"cairn/core/snapshot"
	"cairn/core/snapshot/snapshottest"
	"cairn/internal/testutil"
	"cairn/keys"
)

func restoreArchive(t *testing.T, e *snapshottest.Env, archive, target string, o restore.Options) error {
	t.Helper()
	o.Repo, o.Snapshot, o.Archive, o.Target = e.DS, e.Snap.String(), archive, target
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
	e := snapshottest.NewEnv(t)
	out := testutil.TempDir(t)
	if err := restoreArchive(t, e, "uni.pxar", filepath.Join(out, "uni"), restore.Options{}); err != nil {
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
		if err := restoreArchive(t, e, name, dst, restore.Options{}); err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if got := describe(t, dst); got != want {
			t.Fatalf("%s restores differently:\n%s\n--- unified:\n%s", name, got, want)
		}
	}
}

func TestRestoreSplitPatternAndStdout(t *testing.T) {
	e := snapshottest.NewEnv(t)
	out := testutil.TempDir(t)
	dst := filepath.Join(out, "sel")
	if err := restoreArchive(t, e, "spl.pxar", dst, restore.Options{Patterns: []string{"/etc/**", "/many/f3*"}}); err != nil {
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
	err := restoreArchive(t, e, "spl.pxar", "-", restore.Options{Stdout: &stdout})
	if err == nil || err.Error() != "unable to pipe split archive" || stdout.Len() != 0 {
		t.Fatalf("split archive to stdout: %v (%d bytes written)", err, stdout.Len())
	}
	if err := restoreArchive(t, e, "uni.pxar", "-", restore.Options{Stdout: &stdout}); err != nil || stdout.Len() == 0 {
		t.Fatalf("unified archive to stdout: %v", err)
	}
}

func TestRestoreIncompleteSplitArchive(t *testing.T) {
	e := snapshottest.NewEnv(t)
	snap := core.Snapshot{Group: e.Snap.Group, Time: e.Snap.Time + 1}
	snapshottest.Write(t, e.DS, "", snap, snapshottest.Options{}, snapshottest.Archive{Name: "root", Dir: e.Src, Split: true, DropPayload: true})
	err := restore.Run(context.Background(), restore.Options{Repo: e.DS, Snapshot: snap.String(), Archive: "root.pxar", Target: filepath.Join(testutil.TempDir(t), "x")})
	if err == nil || !strings.Contains(err.Error(), "only one of root.mpxar.didx and root.ppxar.didx") {
		t.Fatalf("restore of a split archive without payload: %v", err)
	}
	err = restore.Run(context.Background(), restore.Options{Repo: e.DS, Snapshot: snap.String(), Archive: "other.pxar", Target: "x"})
	if !errors.Is(err, core.ErrNotFound) || err.Error() != "manifest does not contain file 'other.pxar.didx'" {
		t.Fatalf("missing archive: %v", err)
	}
}

// A damaged payload chunk fails the restore naming the chunk.
func TestRestoreSplitCorruptPayloadChunk(t *testing.T) {
	e := snapshottest.NewEnv(t)
	s := e.Open(t)
	ra, err := s.ReaderAt(context.Background(), "spl.ppxar.didx")
	if err != nil {
		t.Fatal(err)
	}
	d := ra.Index().ChunkDigest(ra.Index().Count() / 2)
	ra.Close()
	var found string
	filepath.Walk(e.DS.Root(), func(p string, info os.FileInfo, err error) error {
		if err == nil && info.Mode().IsRegular() && filepath.Base(p) == fmt.Sprintf("%x", d) {
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
	err = restoreArchive(t, e, "spl.pxar", filepath.Join(testutil.TempDir(t), "x"), restore.Options{})
	if err == nil || !strings.Contains(err.Error(), fmt.Sprintf("%x", d)) {
		t.Fatalf("corrupt payload chunk: %v", err)
	}
}

// End to end: a metadata-mode backup that reuses the previous snapshot's
// payload chunks (padding included) restores to the source tree, and its
// rebuilt catalog lists it.
func TestRestoreMetadataModeBackup(t *testing.T) {
	dir := testutil.TempDir(t)
	src := filepath.Join(dir, "src")
	snapshottest.MakeTree(t, src)
	ds := datastoretest.Dir(t)
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
	snapshottest.WriteFile(t, filepath.Join(src, "many/f10"), []byte("changed"), 0o644)
	snapshottest.WriteFile(t, filepath.Join(src, "many/f25"), bytes.Repeat([]byte("x"), 30000), 0o644)
	os.Remove(filepath.Join(src, "many/f20"))
	snapshottest.WriteFile(t, filepath.Join(src, "many/new"), []byte("new file"), 0o600)
	if sum := run(1700000100); sum == nil || sum.InjectedChunks == 0 || sum.PaddingBytes == 0 {
		t.Fatalf("the second backup reused nothing: %+v", sum)
	}
	out := filepath.Join(testutil.TempDir(t), "out")
	err := restore.Run(context.Background(), restore.Options{Repo: ds, Snapshot: "host/meta", Archive: "root.pxar", Target: out})
	if err != nil {
		t.Fatal(err)
	}
	if got, want := describe(t, out), describe(t, src); got != want {
		t.Fatalf("restored tree differs:\n%s\n--- source:\n%s", got, want)
	}
	s, err := snapshot.Open(context.Background(), ds, "", core.Snapshot{Group: g, Time: 1700000100})
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
	e := snapshottest.NewEnv(t)
	sp, _ := backup.ParseSpec("root.pxar:" + e.Src)
	snap := core.Snapshot{Group: e.Snap.Group, Time: e.Snap.Time + 40}
	if _, err := backup.Run(context.Background(), backup.Options{Repo: e.DS, Snapshot: snap, Specs: []backup.Spec{sp},
		ChangeDetection: backup.ModeData, Excludes: []string{"*.tmp", "!keep.tmp"}}); err != nil {
		t.Fatal(err)
	}
	out := testutil.TempDir(t)
	prelude := filepath.Join(out, "prelude.json")
	err := restore.Run(context.Background(), restore.Options{Repo: e.DS, Snapshot: snap.String(), Archive: "root.pxar",
		Target: filepath.Join(out, "tree"), PreludeTarget: prelude})
	if err != nil {
		t.Fatal(err)
	}
	if got, _ := os.ReadFile(prelude); string(got) != `{"exclude-patterns":"*.tmp\n!keep.tmp\n"}` {
		t.Fatalf("prelude %q", got)
	}
	// The file is not overwritten without --overwrite.
	err = restore.Run(context.Background(), restore.Options{Repo: e.DS, Snapshot: snap.String(), Archive: "root.pxar",
		Target: filepath.Join(out, "tree2"), PreludeTarget: prelude})
	if !errors.Is(err, fs.ErrExist) {
		t.Fatalf("existing prelude target: %v", err)
	}
	none := filepath.Join(out, "none.json")
	if err := restoreArchive(t, e, "spl.pxar", filepath.Join(out, "tree3"), restore.Options{PreludeTarget: none}); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(none); !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("an archive without prelude made %s: %v", none, err)
	}
}

// An encrypted split archive restores with its key and names what is
// missing without it.
func TestRestoreEncryptedSplit(t *testing.T) {
	e := snapshottest.NewEnv(t)
	key, _ := keys.NewKey()
	cc, err := keys.NewCryptConfig(key)
	if err != nil {
		t.Fatal(err)
	}
	snap := core.Snapshot{Group: e.Snap.Group, Time: e.Snap.Time + 50}
	snapshottest.Write(t, e.DS, "", snap, snapshottest.Options{Crypt: cc}, snapshottest.Archive{Name: "root", Dir: e.Src, Split: true, Layout: snapshottest.SplitLayout})
	out := testutil.TempDir(t)
	o := restore.Options{Repo: e.DS, Snapshot: snap.String(), Archive: "root.pxar", Target: filepath.Join(out, "x")}
	if err := restore.Run(context.Background(), o); err == nil || !strings.Contains(err.Error(), "missing key") {
		t.Fatalf("restore without key: %v", err)
	}
	o.Target = filepath.Join(out, "y")
	o.Key = func() (*keys.CryptConfig, error) { return cc, nil }
	if err := restore.Run(context.Background(), o); err != nil {
		t.Fatal(err)
	}
	if got, want := describe(t, o.Target), describe(t, e.Src); got != want {
		t.Fatalf("encrypted split restore differs:\n%s\n--- source:\n%s", got, want)
	}
}
