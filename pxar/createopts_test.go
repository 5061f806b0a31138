package pxar

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"cairn/internal/testutil"

	"golang.org/x/sys/unix"
)

// bigXattrFile makes a file whose xattr name list is over the kernel's 64
// KiB listxattr limit, so listing it fails with E2BIG. tmpfs takes that
// many user.* names; other file systems may not (the test then skips).
func bigXattrFile(t *testing.T, dir string) string {
	t.Helper()
	p := filepath.Join(dir, "big")
	must(t, os.WriteFile(p, []byte("data"), 0o644))
	for i := 0; i < 300; i++ {
		name := fmt.Sprintf("user.%s%05d", strings.Repeat("x", 240), i)
		if err := unix.Setxattr(p, name, []byte("v"), 0); err != nil {
			t.Skipf("cannot set %d user xattrs here (%v): E2BIG is not reachable", i, err)
		}
	}
	if _, err := unix.Listxattr(p, make([]byte, 64<<10)); !errors.Is(err, unix.E2BIG) {
		t.Skipf("listxattr did not fail with E2BIG (%v)", err)
	}
	return p
}

func TestCreateE2BigXattr(t *testing.T) {
	dir := filepath.Join("/dev/shm", t.Name())
	if _, err := os.Stat("/dev/shm"); err != nil {
		dir = t.TempDir()
	} else {
		must(t, os.MkdirAll(dir, 0o755))
		t.Cleanup(func() { os.RemoveAll(dir) })
	}
	bigXattrFile(t, dir)
	must(t, os.WriteFile(filepath.Join(dir, "small"), []byte("x"), 0o644))
	must(t, unix.Setxattr(filepath.Join(dir, "small"), "user.keep", []byte("kept"), 0))

	// Without the option the archive fails, naming the way out.
	err := Create(&bytes.Buffer{}, dir, CreateOptions{})
	if err == nil || !strings.Contains(err.Error(), "try --skip-e2big-xattr") {
		t.Fatalf("Create without SkipE2BigXattr: %v, want an E2BIG error with the hint", err)
	}

	// With it, the file is archived without its xattrs; others keep theirs.
	a := createBytes(t, dir, CreateOptions{SkipE2BigXattr: true})
	if got := archivePaths(t, a); !slices.Equal(got, []string{"/", "/big", "/small"}) {
		t.Fatalf("archived %q", got)
	}
	d := NewDecoder(bytes.NewReader(a))
	for {
		e, err := d.Next()
		must(t, err)
		if e.Path == "/big" && len(e.Metadata.Xattrs) != 0 {
			t.Fatalf("/big kept %d xattrs", len(e.Metadata.Xattrs))
		}
		if e.Path == "/small" {
			if len(e.Metadata.Xattrs) != 1 || string(e.Metadata.Xattrs[0].Value) != "kept" {
				t.Fatalf("/small xattrs %+v", e.Metadata.Xattrs)
			}
			break
		}
	}
}

func TestCreateEntriesMax(t *testing.T) {
	dir := t.TempDir()
	// 3 entries at the top, 4 in a/: at most 7 names are held at once.
	testutil.WriteTree(t, dir, testutil.Files(map[string]string{"a/1": "", "a/2": "", "a/3": "", "a/4": "", "b": "", "c": ""}), time.Time{})
	if err := Create(&bytes.Buffer{}, dir, CreateOptions{EntriesMax: 7}); err != nil {
		t.Fatalf("EntriesMax 7: %v", err)
	}
	err := Create(&bytes.Buffer{}, dir, CreateOptions{EntriesMax: 6})
	if err == nil || !strings.Contains(err.Error(), "exceeded allowed number of file entries (> 6)") {
		t.Fatalf("EntriesMax 6: %v", err)
	}
	// Sibling directories do not add up: each is given back when done.
	must(t, os.MkdirAll(filepath.Join(dir, "d"), 0o755))
	for i := 0; i < 4; i++ {
		must(t, os.WriteFile(filepath.Join(dir, "d", fmt.Sprint(i)), nil, 0o644))
	}
	if err := Create(&bytes.Buffer{}, dir, CreateOptions{EntriesMax: 8}); err != nil {
		t.Fatalf("EntriesMax 8 with two sibling directories of 4: %v", err)
	}
}
