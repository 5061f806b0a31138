package restore_test

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"cairn/core"
	"cairn/core/datastore"
	"cairn/core/restore"
	"cairn/core/snapshot/snapshottest"
	"cairn/internal/testutil"
)

// optEnv is a snapshot with one tree as a unified (uni.pxar) and a split
// archive (spl.pxar): a 2 MiB file (written in the background by a split
// restore) and a setuid file, with owners, xattrs; a symlink, a hardlink
// pair, and as root a device node.
type optEnv struct {
	ds    *datastore.Datastore
	snap  core.Snapshot
	big   []byte
	root  bool
	xattr bool
}

func newOptEnv(t *testing.T) *optEnv {
	t.Helper()
	dir := testutil.TempDir(t)
	src := filepath.Join(dir, "src")
	e := &optEnv{snap: core.Snapshot{Group: core.Group{Type: core.TypeHost, ID: "opts"}, Time: 1700000000}, root: os.Geteuid() == 0}
	e.big = bytes.Repeat([]byte("0123456789abcdef"), 1<<17)
	snapshottest.WriteFile(t, filepath.Join(src, "big.bin"), e.big, 0o644)
	snapshottest.WriteFile(t, filepath.Join(src, "plain"), []byte("plain\n"), 0o644)
	snapshottest.WriteFile(t, filepath.Join(src, "hl/one"), []byte("one\n"), 0o644)
	for _, err := range []error{
		os.Link(filepath.Join(src, "hl/one"), filepath.Join(src, "hl/two")),
		os.Symlink("plain", filepath.Join(src, "link")),
		syscall.Chmod(filepath.Join(src, "big.bin"), 0o604),
		syscall.Chmod(filepath.Join(src, "plain"), 0o4751),
	} {
		if err != nil {
			t.Fatal(err)
		}
	}
	if e.root {
		for _, p := range []string{"big.bin", "plain"} {
			if err := os.Lchown(filepath.Join(src, p), 1234, 5678); err != nil {
				t.Fatal(err)
			}
		}
		syscall.Chmod(filepath.Join(src, "plain"), 0o4751) // chown cleared setuid
		if err := syscall.Mknod(filepath.Join(src, "null"), syscall.S_IFCHR|0o666, 1<<8|3); err != nil {
			t.Fatal(err)
		}
	}
	e.xattr = syscall.Setxattr(filepath.Join(src, "big.bin"), "user.x", []byte("big"), 0) == nil
	if e.xattr {
		syscall.Setxattr(filepath.Join(src, "plain"), "user.x", []byte("plain"), 0)
	}
	store := filepath.Join(dir, "store")
	if err := datastore.Create(store); err != nil {
		t.Fatal(err)
	}
	var err error
	if e.ds, err = datastore.Open(store, "root@pam"); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { e.ds.Close() })
	snapshottest.Write(t, e.ds, "", e.snap, snapshottest.Options{ChunkSize: 256 << 10},
		snapshottest.Archive{Name: "uni", Dir: src},
		snapshottest.Archive{Name: "spl", Dir: src, Split: true, Layout: snapshottest.SplitLayout})
	return e
}

func (e *optEnv) restore(archive, target string, o restore.Options) error {
	o.Repo, o.Snapshot, o.Archive, o.Target = e.ds, e.snap.String(), archive, target
	return restore.Run(context.Background(), o)
}

func lstat(t *testing.T, p string) syscall.Stat_t {
	t.Helper()
	var st syscall.Stat_t
	if err := syscall.Lstat(p, &st); err != nil {
		t.Fatal(err)
	}
	return st
}

func hasUserX(p string) bool {
	_, err := syscall.Getxattr(p, "user.x", make([]byte, 64))
	return err == nil
}

// --ignore-ownership, --ignore-permissions and --ignore-xattrs reach both
// extraction paths: the metadata is on disk without them and absent with.
func TestRestoreIgnoreMetadata(t *testing.T) {
	e := newOptEnv(t)
	old := syscall.Umask(0)
	syscall.Umask(old)
	created := uint32(0o600 &^ old)
	for _, archive := range []string{"uni.pxar", "spl.pxar"} {
		t.Run(archive, func(t *testing.T) {
			out := testutil.TempDir(t)
			full := filepath.Join(out, "full")
			if err := e.restore(archive, full, restore.Options{}); err != nil {
				t.Fatal(err)
			}
			bare := filepath.Join(out, "bare")
			if err := e.restore(archive, bare, restore.Options{IgnoreOwnership: true, IgnorePermissions: true,
				IgnoreXattrs: true, IgnoreACLs: true}); err != nil {
				t.Fatal(err)
			}
			for _, name := range []string{"big.bin", "plain"} {
				want := map[string]uint32{"big.bin": 0o604, "plain": 0o4751}[name]
				f, b := lstat(t, filepath.Join(full, name)), lstat(t, filepath.Join(bare, name))
				if f.Mode&0o7777 != want || b.Mode&0o7777 != created {
					t.Errorf("%s: permissions %04o restored, %04o ignored; want %04o, %04o", name, f.Mode&0o7777, b.Mode&0o7777, want, created)
				}
				if e.root && (f.Uid != 1234 || f.Gid != 5678 || b.Uid != 0 || b.Gid != 0) {
					t.Errorf("%s: owner %d:%d restored, %d:%d ignored", name, f.Uid, f.Gid, b.Uid, b.Gid)
				}
				if e.xattr && (!hasUserX(filepath.Join(full, name)) || hasUserX(filepath.Join(bare, name))) {
					t.Errorf("%s: xattr restored %v, ignored %v", name, hasUserX(filepath.Join(full, name)), hasUserX(filepath.Join(bare, name)))
				}
			}
			if got, _ := os.ReadFile(filepath.Join(bare, "big.bin")); !bytes.Equal(got, e.big) {
				t.Error("big.bin contents differ")
			}
		})
	}
}

// The --overwrite-* flags reach both paths: an entry in the way is refused
// without its flag, and replaced with it.
func TestRestoreOverwriteKinds(t *testing.T) {
	e := newOptEnv(t)
	for _, archive := range []string{"uni.pxar", "spl.pxar"} {
		t.Run(archive, func(t *testing.T) {
			target := filepath.Join(testutil.TempDir(t), "t")
			if err := e.restore(archive, target, restore.Options{}); err != nil {
				t.Fatal(err)
			}
			spoil := func() {
				for _, p := range []string{"big.bin", "link", "hl/two"} {
					os.Remove(filepath.Join(target, p))
					snapshottest.WriteFile(t, filepath.Join(target, p), []byte("old"), 0o644)
				}
			}
			spoil()
			for _, o := range []restore.Options{
				{AllowExistingDirs: true},
				{AllowExistingDirs: true, OverwriteSymlinks: true, OverwriteHardlinks: true}, // big.bin is a file
				{AllowExistingDirs: true, OverwriteFiles: true, OverwriteHardlinks: true},    // link is a symlink
				{AllowExistingDirs: true, OverwriteFiles: true, OverwriteSymlinks: true},     // hl/two is a hardlink
			} {
				if err := e.restore(archive, target, o); !errors.Is(err, os.ErrExist) {
					t.Fatalf("%+v: err %v, want exists", o, err)
				}
				spoil()
			}
			check := func() {
				t.Helper()
				if got, _ := os.ReadFile(filepath.Join(target, "big.bin")); !bytes.Equal(got, e.big) {
					t.Error("big.bin not replaced")
				}
				if l, _ := os.Readlink(filepath.Join(target, "link")); l != "plain" {
					t.Error("link not replaced")
				}
				if lstat(t, filepath.Join(target, "hl/one")).Ino != lstat(t, filepath.Join(target, "hl/two")).Ino {
					t.Error("hl/two not replaced by a hardlink")
				}
			}
			if err := e.restore(archive, target, restore.Options{AllowExistingDirs: true, OverwriteFiles: true, OverwriteSymlinks: true, OverwriteHardlinks: true}); err != nil {
				t.Fatal(err)
			}
			check()
			spoil()
			if err := e.restore(archive, target, restore.Options{AllowExistingDirs: true, Overwrite: true}); err != nil {
				t.Fatal(err)
			}
			check()
		})
	}
	// A file target (here the manifest) is a file: --overwrite-files
	// replaces it.
	f := filepath.Join(testutil.TempDir(t), "index.json")
	snapshottest.WriteFile(t, f, []byte("old"), 0o644)
	if err := e.restore("index.json", f, restore.Options{}); err == nil {
		t.Fatal("an existing file target was replaced without --overwrite")
	}
	if err := e.restore("index.json", f, restore.Options{OverwriteFiles: true}); err != nil {
		t.Fatal(err)
	}
	if got, _ := os.ReadFile(f); !bytes.Contains(got, []byte("uni.pxar.didx")) {
		t.Fatalf("index.json: %q", got)
	}
}

// --ignore-extract-device-errors: a device node that cannot be made is a
// warning event and the restore goes on, in both paths.
func TestRestoreIgnoreDeviceErrors(t *testing.T) {
	e := newOptEnv(t)
	if !e.root {
		t.Skip("the archive's device node needs root")
	}
	for _, archive := range []string{"uni.pxar", "spl.pxar"} {
		t.Run(archive, func(t *testing.T) {
			for _, ignore := range []bool{false, true} {
				target := filepath.Join(testutil.TempDir(t), "t")
				if err := os.MkdirAll(target, 0o755); err != nil {
					t.Fatal(err)
				}
				if err := os.Symlink("in-the-way", filepath.Join(target, "null")); err != nil {
					t.Fatal(err)
				}
				var warnings []string
				err := e.restore(archive, target, restore.Options{AllowExistingDirs: true, IgnoreExtractDeviceErrors: ignore,
					Events: func(ev core.Event) {
						if ev.Kind == core.EventWarning {
							warnings = append(warnings, ev.Message)
						}
					}})
				if !ignore {
					if err == nil {
						t.Fatal("a device node that could not be made did not fail the restore")
					}
					continue
				}
				if err != nil {
					t.Fatal(err)
				}
				if len(warnings) != 1 || !strings.Contains(warnings[0], "null") {
					t.Fatalf("warnings %q", warnings)
				}
				if _, err := os.Stat(filepath.Join(target, "plain")); err != nil {
					t.Fatal("the restore stopped at the device node")
				}
			}
		})
	}
}
