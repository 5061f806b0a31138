package mount_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"io"
	"io/fs"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"cairn/core"
	"cairn/core/backup"
	"cairn/core/datastore"
	"cairn/core/snapshot"
	"cairn/internal/testutil"
	"cairn/mount"
)

func needFuse(t testing.TB) {
	t.Helper()
	if _, err := os.Stat("/dev/fuse"); err != nil {
		t.Skip("no /dev/fuse")
	}
	if os.Geteuid() != 0 {
		t.Skip("FUSE tests need root")
	}
}

const bigSize = 100 << 20

type fixture struct {
	src  string
	snap *snapshot.Snapshot
	big  []byte
}

func randBytes(n int, seed uint64) []byte {
	b := make([]byte, n)
	r := rand.New(rand.NewPCG(seed, seed+1))
	for i := 0; i+8 <= n; i += 8 {
		v := r.Uint64()
		for k := range 8 {
			b[i+k] = byte(v >> (8 * k))
		}
	}
	return b
}

// makeFixture backs up a tree as root.pxar, unified (legacy mode) or
// split (data mode), and an image of its big file.
func makeFixture(t testing.TB, bigBytes int, mode string) *fixture {
	t.Helper()
	dir := testutil.TempDir(t)
	src := filepath.Join(dir, "src")
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	big := randBytes(bigBytes, 42)
	testutil.WriteTree(t, src, testutil.Tree{
		"etc/conf.d":         testutil.Dir(),
		"home/user/empty":    testutil.Dir().Mode(0o700),
		"etc/hostname":       testutil.File("host\n"),
		"etc/conf.d/a.conf":  testutil.File("a=1\n").Mode(0o600),
		"etc/empty":          testutil.File("").Mode(0o640),
		"home/user/text.txt": testutil.File(strings.Repeat("all work and no play\n", 50000)),
		"home/user/big.bin":  testutil.File(big),
		"home/link":          testutil.Symlink("../etc/hostname"),
		"etc/hostname.hard":  testutil.HardLink("etc/hostname"),
		"etc/fifo":           testutil.Fifo(),
	}, time.Time{})
	os.Chown(filepath.Join(src, "etc/conf.d/a.conf"), 1234, 5678)
	unix.Setxattr(filepath.Join(src, "etc/hostname"), "user.comment", []byte("the host name"), 0)
	mt := time.Date(2024, 5, 1, 12, 0, 0, 123456789, time.UTC)
	filepath.WalkDir(src, func(p string, d fs.DirEntry, err error) error {
		if d.Type()&fs.ModeSymlink == 0 {
			os.Chtimes(p, mt, mt.Add(time.Duration(len(p))*time.Second))
		}
		return nil
	})
	store := filepath.Join(dir, "store")
	must(datastore.Create(store))
	ds, err := datastore.Open(store, "root@pam")
	must(err)
	t.Cleanup(func() { ds.Close() })
	snapID := core.Snapshot{Group: core.Group{Type: core.TypeHost, ID: "m"}, Time: 1700000000}
	specs := []backup.Spec{}
	for _, s := range []string{"root.pxar:" + src, "disk.img:" + filepath.Join(src, "home/user/big.bin")} {
		sp, err := backup.ParseSpec(s)
		must(err)
		specs = append(specs, sp)
	}
	ctx := context.Background()
	_, err = backup.Run(ctx, backup.Options{Repo: ds, Snapshot: snapID, Specs: specs, ChangeDetection: mode})
	must(err)
	s, err := snapshot.Open(ctx, ds, "", snapID)
	must(err)
	t.Cleanup(func() { s.Close() })
	return &fixture{src: src, snap: s, big: big}
}

func mountPxar(t testing.TB, f *fixture) string {
	t.Helper()
	arch, err := f.snap.FindPxar("root.pxar")
	if err != nil {
		t.Fatal(err)
	}
	a, closeAcc, err := f.snap.PxarAccessor(context.Background(), arch)
	if err != nil {
		t.Fatal(err)
	}
	mnt := t.TempDir()
	srv, err := mount.Serve(mnt, mount.NewPxarRoot(a), mount.Options{FsName: "cairn-test"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := srv.Unmount(); err != nil {
			t.Errorf("unmount: %v", err)
		}
		srv.Wait()
		closeAcc()
	})
	if err := srv.WaitMount(); err != nil {
		t.Fatal(err)
	}
	return mnt
}

func TestMountTree(t *testing.T) {
	needFuse(t)
	for _, mode := range []string{backup.ModeLegacy, backup.ModeData} {
		t.Run(mode, func(t *testing.T) { testMountTree(t, mode) })
	}
}

func testMountTree(t *testing.T, mode string) {
	f := makeFixture(t, bigSize, mode)
	mnt := mountPxar(t, f)

	seen := 0
	err := filepath.WalkDir(f.src, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(f.src, p)
		m := filepath.Join(mnt, rel)
		var a, b unix.Stat_t
		if err := unix.Lstat(p, &a); err != nil {
			return err
		}
		if err := unix.Lstat(m, &b); err != nil {
			t.Errorf("%s: %v", rel, err)
			return nil
		}
		seen++
		if a.Mode != b.Mode || a.Uid != b.Uid || a.Gid != b.Gid {
			t.Errorf("%s: mode/owner %o %d:%d, mounted %o %d:%d", rel, a.Mode, a.Uid, a.Gid, b.Mode, b.Uid, b.Gid)
		}
		if a.Mtim != b.Mtim {
			t.Errorf("%s: mtime %v, mounted %v", rel, a.Mtim, b.Mtim)
		}
		switch a.Mode & unix.S_IFMT {
		case unix.S_IFREG:
			if a.Size != b.Size {
				t.Errorf("%s: size %d, mounted %d", rel, a.Size, b.Size)
			}
			if a.Size < 10<<20 {
				x, _ := os.ReadFile(p)
				y, err := os.ReadFile(m)
				if err != nil || !bytes.Equal(x, y) {
					t.Errorf("%s: contents differ (%v)", rel, err)
				}
			}
		case unix.S_IFLNK:
			x, _ := os.Readlink(p)
			y, err := os.Readlink(m)
			if err != nil || x != y {
				t.Errorf("%s: link %q, mounted %q (%v)", rel, x, y, err)
			}
		case unix.S_IFDIR:
			x, _ := os.ReadDir(p)
			y, err := os.ReadDir(m)
			if err != nil || len(x) != len(y) {
				t.Errorf("%s: %d entries, mounted %d (%v)", rel, len(x), len(y), err)
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if seen < 12 {
		t.Fatalf("compared only %d entries", seen)
	}

	// Hardlinks share an inode.
	var h1, h2 unix.Stat_t
	unix.Stat(filepath.Join(mnt, "etc/hostname"), &h1)
	unix.Stat(filepath.Join(mnt, "etc/hostname.hard"), &h2)
	if h1.Ino != h2.Ino {
		t.Errorf("hardlinks have inodes %d and %d", h1.Ino, h2.Ino)
	}

	// Xattrs.
	if v := make([]byte, 64); true {
		if n, err := unix.Getxattr(filepath.Join(f.src, "etc/hostname"), "user.comment", v); err == nil {
			want := string(v[:n])
			n, err := unix.Getxattr(filepath.Join(mnt, "etc/hostname"), "user.comment", v)
			if err != nil || string(v[:n]) != want {
				t.Errorf("xattr: %q %v", v[:max(n, 0)], err)
			}
			lb := make([]byte, 256)
			n, err = unix.Listxattr(filepath.Join(mnt, "etc/hostname"), lb)
			if err != nil || !bytes.Contains(lb[:n], []byte("user.comment\x00")) {
				t.Errorf("listxattr: %q %v", lb[:max(n, 0)], err)
			}
		}
	}

	// Read-only.
	if err := os.WriteFile(filepath.Join(mnt, "etc/new"), nil, 0o644); err == nil {
		t.Error("could create a file in the mount")
	}

	// 1000 random-offset reads of the 100 MiB file.
	fh, err := os.Open(filepath.Join(mnt, "home/user/big.bin"))
	if err != nil {
		t.Fatal(err)
	}
	defer fh.Close()
	rng := rand.New(rand.NewPCG(3, 4))
	buf := make([]byte, 256<<10)
	for i := range 1000 {
		off := rng.Int64N(bigSize)
		n := 1 + rng.IntN(len(buf))
		got, err := fh.ReadAt(buf[:n], off)
		want := f.big[off:min(off+int64(n), bigSize)]
		if got != len(want) || !bytes.Equal(buf[:got], want) {
			t.Fatalf("read %d: %d bytes at %d: got %d (%v), differs", i, n, off, got, err)
		}
	}
	// And the whole file, sequentially.
	h := sha256.New()
	fh.Seek(0, io.SeekStart)
	if _, err := io.Copy(h, fh); err != nil {
		t.Fatal(err)
	}
	if want := sha256.Sum256(f.big); !bytes.Equal(h.Sum(nil), want[:]) {
		t.Fatal("sequential read of the big file differs")
	}
}

func TestMapImage(t *testing.T) {
	needFuse(t)
	f := makeFixture(t, 9<<20+17, backup.ModeLegacy)
	ra, err := f.snap.ReaderAt(context.Background(), "disk.img.fidx")
	if err != nil {
		t.Fatal(err)
	}
	defer ra.Close()
	mnt := t.TempDir()
	srv, err := mount.Serve(mnt, mount.NewImageRoot("disk.img", ra, time.Unix(1700000000, 0)), mount.Options{})
	if err != nil {
		t.Fatal(err)
	}
	srv.WaitMount()
	defer func() {
		if err := mount.Unmount(mnt); err != nil {
			t.Error(err)
		}
		srv.Wait()
	}()
	got, err := os.ReadFile(filepath.Join(mnt, "disk.img"))
	if err != nil || !bytes.Equal(got, f.big) {
		t.Fatalf("image differs: %v", err)
	}
	ents, _ := os.ReadDir(mnt)
	if len(ents) != 1 || ents[0].Name() != "disk.img" {
		t.Fatalf("entries %v", ents)
	}
}

func BenchmarkMountSequentialRead(b *testing.B) {
	needFuse(b)
	for _, mode := range []string{backup.ModeLegacy, backup.ModeData} {
		b.Run(mode, func(b *testing.B) { benchMountSequentialRead(b, mode) })
	}
}

func benchMountSequentialRead(b *testing.B, mode string) {
	f := makeFixture(b, 64<<20, mode)
	mnt := mountPxar(b, f)
	buf := make([]byte, 1<<20)
	b.SetBytes(int64(len(f.big)))
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		fh, err := os.Open(filepath.Join(mnt, "home/user/big.bin"))
		if err != nil {
			b.Fatal(err)
		}
		// Drop the page cache of this file so each round reads through FUSE.
		unix.Fadvise(int(fh.Fd()), 0, 0, unix.FADV_DONTNEED)
		if _, err := io.CopyBuffer(io.Discard, fh, buf); err != nil {
			b.Fatal(err)
		}
		fh.Close()
	}
}
