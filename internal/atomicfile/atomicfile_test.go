package atomicfile

import (
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"

	"golang.org/x/sys/unix"

	"cairn/internal/atomicfile/atomicfiletest"
)

// entries lists dir's names, so a test sees any temporary file left over.
func entries(t *testing.T, dir string) []string {
	t.Helper()
	ents, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, e := range ents {
		names = append(names, e.Name())
	}
	return names
}

func wantEntries(t *testing.T, dir string, want ...string) {
	t.Helper()
	if got := entries(t, dir); strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("%s holds %q, want %q", dir, got, want)
	}
}

func wantFile(t *testing.T, p string, data string, mode fs.FileMode) {
	t.Helper()
	got, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	if string(got) != data {
		t.Errorf("%s: %q, want %q", p, got, data)
	}
	st, err := os.Lstat(p)
	if err != nil {
		t.Fatal(err)
	}
	if st.Mode() != mode {
		t.Errorf("%s: mode %v, want %v", p, st.Mode(), mode)
	}
}

// withUmask runs f under umask m, so modes are checked against a umask
// that would narrow them.
func withUmask(m int, f func()) {
	old := syscall.Umask(m)
	defer syscall.Umask(old)
	f()
}

func TestWriteFile(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "f")
	withUmask(0o077, func() {
		if err := WriteFile(p, []byte("new file"), 0o644); err != nil {
			t.Fatal(err)
		}
	})
	wantFile(t, p, "new file", 0o644)
	// Over an existing file (of another mode): replaced, mode as asked.
	if err := os.Chmod(p, 0o666); err != nil {
		t.Fatal(err)
	}
	if err := WriteFile(p, []byte("second"), 0o600); err != nil {
		t.Fatal(err)
	}
	wantFile(t, p, "second", 0o600)
	// Empty data is a file of 0 bytes.
	if err := WriteFile(p, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	wantFile(t, p, "", 0o600)
	wantEntries(t, dir, "f")
}

func TestWriteFileRelative(t *testing.T) {
	t.Chdir(t.TempDir())
	if err := WriteFile("rel", []byte("x"), 0o600); err != nil {
		t.Fatal(err)
	}
	wantFile(t, "rel", "x", 0o600)
	wantEntries(t, ".", "rel")
}

func TestWriteFileReplacesSymlinkNotItsTarget(t *testing.T) {
	dir := t.TempDir()
	target, link := filepath.Join(dir, "target"), filepath.Join(dir, "link")
	if err := os.WriteFile(target, []byte("target"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink("target", link); err != nil {
		t.Fatal(err)
	}
	if err := WriteFile(link, []byte("new"), 0o600); err != nil {
		t.Fatal(err)
	}
	wantFile(t, link, "new", 0o600)
	wantFile(t, target, "target", 0o600)
}

func TestExclusive(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "key")
	withUmask(0o022, func() {
		if err := WriteFileExclusive(p, []byte("first"), 0o600); err != nil {
			t.Fatal(err)
		}
	})
	wantFile(t, p, "first", 0o600)
	err := WriteFileExclusive(p, []byte("second"), 0o600)
	if !errors.Is(err, fs.ErrExist) {
		t.Fatalf("exclusive write over an existing file: %v, want fs.ErrExist", err)
	}
	wantFile(t, p, "first", 0o600)
	// A dangling symlink is a name that exists: refused, not followed.
	dangling := filepath.Join(dir, "dangling")
	if err := os.Symlink("nowhere", dangling); err != nil {
		t.Fatal(err)
	}
	if err := WriteFileExclusive(dangling, []byte("x"), 0o600); !errors.Is(err, fs.ErrExist) {
		t.Fatalf("exclusive write over a dangling symlink: %v, want fs.ErrExist", err)
	}
	if _, err := os.Lstat(filepath.Join(dir, "nowhere")); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("the symlink was followed: %v", err)
	}
	wantEntries(t, dir, "dangling", "key")
}

// TestExclusiveLinkFallback: on a file system without RENAME_NOREPLACE the
// exclusive commit links the file into place, with the same refusal.
func TestExclusiveLinkFallback(t *testing.T) {
	saved := renameNoReplace
	renameNoReplace = func(string, string) error { return unix.EINVAL }
	defer func() { renameNoReplace = saved }()
	dir := t.TempDir()
	p := filepath.Join(dir, "key")
	if err := WriteFileExclusive(p, []byte("first"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := WriteFileExclusive(p, []byte("second"), 0o600); !errors.Is(err, fs.ErrExist) {
		t.Fatalf("exclusive write over an existing file: %v, want fs.ErrExist", err)
	}
	wantFile(t, p, "first", 0o600)
	wantEntries(t, dir, "key")
}

// TestModeFromTheStart: the temporary file has its final mode before a
// byte is written, whatever the umask.
func TestModeFromTheStart(t *testing.T) {
	dir := t.TempDir()
	for _, mode := range []fs.FileMode{0o600, 0o644, 0o640, 0o400} {
		var f *File
		var err error
		withUmask(0o077, func() { f, err = Create(filepath.Join(dir, "f"), mode) })
		if err != nil {
			t.Fatal(err)
		}
		st, err := os.Stat(f.Name())
		if err != nil {
			t.Fatal(err)
		}
		if st.Mode() != mode {
			t.Errorf("temporary file mode %v, want %v", st.Mode(), mode)
		}
		if filepath.Dir(f.Name()) != dir || !strings.HasPrefix(filepath.Base(f.Name()), ".f.tmp-") {
			t.Errorf("temporary name %q: want .f.tmp-* in %s", f.Name(), dir)
		}
		f.Abort()
	}
	wantEntries(t, dir)
}

func TestAbort(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "f")
	if err := os.WriteFile(p, []byte("old"), 0o600); err != nil {
		t.Fatal(err)
	}
	f, err := Create(p, 0o600)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.Write([]byte("half")); err != nil {
		t.Fatal(err)
	}
	f.Abort()
	f.Abort()
	if err := f.Commit(); err == nil {
		t.Error("Commit after Abort succeeded")
	}
	wantFile(t, p, "old", 0o600)
	wantEntries(t, dir, "f")
	// Abort after Commit keeps the file.
	f, err = Create(p, 0o600)
	if err != nil {
		t.Fatal(err)
	}
	f.Write([]byte("new"))
	if err := f.Commit(); err != nil {
		t.Fatal(err)
	}
	f.Abort()
	wantFile(t, p, "new", 0o600)
	wantEntries(t, dir, "f")
}

// TestFailedRenameCleansUp: the rename fails (the target is a non-empty
// directory); the temporary file goes, the directory stays.
func TestFailedRenameCleansUp(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "d")
	if err := os.MkdirAll(filepath.Join(p, "inside"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := WriteFile(p, []byte("x"), 0o600); err == nil {
		t.Fatal("rename over a non-empty directory succeeded")
	}
	wantEntries(t, dir, "d")
	wantEntries(t, p, "inside")
}

func TestNoDirectory(t *testing.T) {
	dir := t.TempDir()
	if err := WriteFile(filepath.Join(dir, "missing", "f"), []byte("x"), 0o600); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("write into a missing directory: %v, want fs.ErrNotExist", err)
	}
	for _, bad := range []string{"", dir + "/", filepath.Join(dir, "..")} {
		if err := WriteFile(bad, []byte("x"), 0o600); err == nil {
			t.Errorf("WriteFile(%q) succeeded", bad)
		}
	}
	wantEntries(t, dir)
}

// TestLongName: a target name at NAME_MAX still gets a temporary name.
func TestLongName(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, strings.Repeat("n", 255))
	if err := WriteFile(p, []byte("x"), 0o600); err != nil {
		t.Fatal(err)
	}
	wantFile(t, p, "x", 0o600)
	wantEntries(t, dir, filepath.Base(p))
}

// TestConcurrent: writers racing on one target leave one complete version.
func TestConcurrent(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "f")
	var wg sync.WaitGroup
	for i := range 16 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := WriteFile(p, bytes.Repeat([]byte{byte('a' + i)}, 10000), 0o600); err != nil {
				t.Error(err)
			}
		}()
	}
	wg.Wait()
	got, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 10000 || !bytes.Equal(got, bytes.Repeat(got[:1], 10000)) {
		t.Errorf("mixed or short content: %d bytes", len(got))
	}
	wantEntries(t, dir, "f")
}

// TestFullFileSystem: on a full tmpfs every variant fails, the old file is
// intact and no temporary file is left, including when the caller ignores
// the Write error and commits anyway.
func TestFullFileSystem(t *testing.T) {
	m := atomicfiletest.Mount(t, 64<<10)
	p := filepath.Join(m.Dir, "k.json")
	old := []byte(`{"kdf":null,"data":"old"}`)
	if err := os.WriteFile(p, old, 0o600); err != nil {
		t.Fatal(err)
	}
	m.Fill()
	data := bytes.Repeat([]byte("new key "), 64)
	for name, write := range map[string]func() error{
		"WriteFile": func() error { return WriteFile(p, data, 0o600) },
		"WriteFileExclusive new": func() error {
			return WriteFileExclusive(filepath.Join(m.Dir, "new.json"), data, 0o600)
		},
		"Commit after an ignored Write error": func() error {
			f, err := Create(p, 0o600)
			if err != nil {
				return err
			}
			defer f.Abort()
			f.Write(data)
			return f.Commit()
		},
		"CommitExclusive after an ignored Write error": func() error {
			f, err := Create(filepath.Join(m.Dir, "new.json"), 0o600)
			if err != nil {
				return err
			}
			defer f.Abort()
			f.Write(data)
			return f.CommitExclusive()
		},
	} {
		err := write()
		if !errors.Is(err, unix.ENOSPC) {
			t.Errorf("%s on a full file system: %v, want ENOSPC", name, err)
		} else if strings.Contains(err.Error(), ".tmp-") || !strings.Contains(err.Error(), m.Dir) {
			t.Errorf("%s: the error %q should name the target, not the temporary file", name, err)
		}
	}
	m.Unchanged()
}

func ExampleWriteFile() {
	dir, _ := os.MkdirTemp("", "atomicfile")
	defer os.RemoveAll(dir)
	p := filepath.Join(dir, "config.json")
	fmt.Println(WriteFile(p, []byte("{}\n"), 0o600))
	fmt.Println(errors.Is(WriteFileExclusive(p, []byte("{}\n"), 0o600), fs.ErrExist))
	// Output:
	// <nil>
	// true
}
