package snapshottest

import (
	"bytes"
	"context"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"cairn/core"
	"cairn/core/datastore"
	"cairn/core/snapshot"
	"cairn/internal/testutil"
	"cairn/pxar/pxartest"
)

// SplitLayout has gaps and reused payload, as metadata change detection
// leaves a payload stream.
var SplitLayout = pxartest.Options{
	Gap:   func(n int) int { return []int{0, 7, 100, 70000}[n%4] },
	Reuse: func(n int) bool { return n%3 == 1 },
}

// Env is a local datastore with one snapshot holding the same tree, Src,
// as a unified archive (uni.pxar), a split archive with gaps and reused
// payload (spl.pxar) and a tight split archive (tight.pxar): what both
// the reader's and the restore's tests compare.
type Env struct {
	DS   *datastore.Datastore
	Src  string
	Snap core.Snapshot
}

// NewEnv writes the Env of a test.
func NewEnv(t testing.TB) *Env {
	t.Helper()
	dir := testutil.TempDir(t)
	e := &Env{Src: filepath.Join(dir, "src"), Snap: core.Snapshot{Group: core.Group{Type: core.TypeHost, ID: "split"}, Time: 1700000000}}
	MakeTree(t, e.Src)
	store := filepath.Join(dir, "store")
	if err := datastore.Create(store); err != nil {
		t.Fatal(err)
	}
	var err error
	if e.DS, err = datastore.Open(store, "root@pam"); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { e.DS.Close() })
	Write(t, e.DS, "", e.Snap, Options{ChunkSize: 256 << 10},
		Archive{Name: "uni", Dir: e.Src},
		Archive{Name: "spl", Dir: e.Src, Split: true, Layout: SplitLayout},
		Archive{Name: "tight", Dir: e.Src, Split: true})
	return e
}

// WriteFile writes a file of a test tree, creating its directories.
func WriteFile(t testing.TB, p string, data []byte, mode os.FileMode) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(p, data, mode); err != nil {
		t.Fatal(err)
	}
}

// MakeTree makes a tree with big files spanning many chunks, empty ones,
// hardlinks, symlinks, a fifo and xattrs under dir.
func MakeTree(t testing.TB, dir string) {
	t.Helper()
	big := make([]byte, 3<<20+17)
	for i := range big {
		big[i] = byte(i*31 + i>>11)
	}
	WriteFile(t, filepath.Join(dir, "etc/hostname"), []byte("elsa\n"), 0o644)
	WriteFile(t, filepath.Join(dir, "etc/secret"), []byte("s3cret\n"), 0o600)
	WriteFile(t, filepath.Join(dir, "var/big.bin"), big, 0o640)
	WriteFile(t, filepath.Join(dir, "var/empty"), nil, 0o644)
	for i := range 40 {
		WriteFile(t, filepath.Join(dir, fmt.Sprintf("many/f%02d", i)), bytes.Repeat([]byte{byte(i)}, i*997), 0o644)
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

// Open opens the Env's snapshot for the rest of the test.
func (e *Env) Open(t testing.TB) *snapshot.Snapshot {
	t.Helper()
	s, err := snapshot.Open(context.Background(), e.DS, "", e.Snap)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}
