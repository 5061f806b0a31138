package testutil

import (
	"io/fs"
	"os"
	"path/filepath"
	"testing"
	"time"
)

func TestWriteTree(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "src")
	mt := time.Unix(1700000000, 0)
	WriteTree(t, dir, Tree{
		"a/b/file":  File("hi").Mode(0o640),
		"a/private": Dir().Mode(0o700),
		"a/link":    Symlink("b/file"),
		"hard":      HardLink("a/b/file"),
		"pipe":      Fifo(),
		"bytes":     File([]byte{0, 1, 2}).MTime(mt.Add(time.Hour)),
	}, mt)
	check := func(rel string, want fs.FileMode) os.FileInfo {
		t.Helper()
		fi, err := os.Lstat(filepath.Join(dir, rel))
		if err != nil {
			t.Fatal(err)
		}
		if fi.Mode() != want {
			t.Errorf("%s: mode %v, want %v", rel, fi.Mode(), want)
		}
		if fi.Mode()&fs.ModeSymlink == 0 && !fi.ModTime().Equal(mt) {
			t.Errorf("%s: mtime %v, want %v", rel, fi.ModTime(), mt)
		}
		return fi
	}
	if fi, _ := os.Stat(filepath.Join(dir, "bytes")); !fi.ModTime().Equal(mt.Add(time.Hour)) {
		t.Errorf("bytes: mtime %v, want its own", fi.ModTime())
	}
	check(".", fs.ModeDir|0o755)
	check("a/b/file", 0o640)
	check("a/private", fs.ModeDir|0o700)
	check("a/link", fs.ModeSymlink|0o777)
	check("pipe", fs.ModeNamedPipe|0o644)
	if a, b := check("hard", 0o640), check("a/b/file", 0o640); !os.SameFile(a, b) {
		t.Error("hard is not a hard link of a/b/file")
	}
	if l, _ := os.Readlink(filepath.Join(dir, "a/link")); l != "b/file" {
		t.Errorf("link target %q", l)
	}
	if d, _ := os.ReadFile(filepath.Join(dir, "bytes")); string(d) != "\x00\x01\x02" {
		t.Errorf("bytes: %q", d)
	}
	a, b, c := SeededBytes(3, 13), SeededBytes(3, 13), SeededBytes(4, 13)
	if string(a) != string(b) || string(a) == string(c) {
		t.Error("SeededBytes is not a function of its seed")
	}
}
