package testutil

import (
	crand "crypto/rand"
	"io/fs"
	"math/rand/v2"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"syscall"
	"testing"
	"time"
)

// Entry is one entry of a test source tree: a file, directory, symlink,
// hard link or fifo. Build one with File, Dir, Symlink, HardLink or Fifo.
type Entry struct {
	kind   byte // 'f', 'd', 'l' (symlink), 'h' (hard link), 'p' (fifo)
	data   []byte
	mode   fs.FileMode // permission bits; 0: 0644 (files), 0755 (dirs)
	target string      // symlink target, or the entry a hard link links to
	mtime  time.Time   // when set, overrides WriteTree's
}

// File is a regular file with the given contents (a string or []byte),
// mode 0644 unless Mode says otherwise.
func File[T string | []byte](data T) Entry { return Entry{kind: 'f', data: []byte(data)} }

// Dir is an explicit directory (parents of other entries are made 0755
// without one).
func Dir() Entry { return Entry{kind: 'd'} }

// Symlink is a symbolic link to target.
func Symlink(target string) Entry { return Entry{kind: 'l', target: target} }

// HardLink is a second name for the entry at path (relative to the tree),
// made after every file.
func HardLink(path string) Entry { return Entry{kind: 'h', target: path} }

// Fifo is a named pipe.
func Fifo() Entry { return Entry{kind: 'p'} }

// Mode sets the entry's permission bits (setuid, setgid and sticky
// included).
func (e Entry) Mode(m fs.FileMode) Entry { e.mode = m; return e }

// MTime sets the entry's own mtime (not a symlink's), which WriteTree sets
// after the tree-wide one.
func (e Entry) MTime(t time.Time) Entry { e.mtime = t; return e }

// Tree is a test source tree: slash paths relative to its root.
type Tree map[string]Entry

// Files is a tree of regular files (path → contents).
func Files(m map[string]string) Tree {
	t := Tree{}
	for p, d := range m {
		t[p] = File(d)
	}
	return t
}

// WriteTree creates tree under dir, which is made if missing: parents as
// needed (0755), entries in path order, hard links last. A non-zero mtime
// is then set on every entry but symlinks, dir included (see Stamp), and
// last each entry's own (Entry.MTime).
func WriteTree(tb testing.TB, dir string, tree Tree, mtime time.Time) {
	tb.Helper()
	must := func(err error) {
		tb.Helper()
		if err != nil {
			tb.Fatal(err)
		}
	}
	must(os.MkdirAll(dir, 0o755))
	names := make([]string, 0, len(tree))
	for n := range tree {
		names = append(names, n)
	}
	sort.Strings(names)
	var links []string
	for _, n := range names {
		e := tree[n]
		p := filepath.Join(dir, filepath.FromSlash(strings.TrimSuffix(n, "/")))
		must(os.MkdirAll(filepath.Dir(p), 0o755))
		switch e.kind {
		case 'f':
			must(os.WriteFile(p, e.data, 0o600))
			must(os.Chmod(p, chmodBits(e.mode, 0o644)))
		case 'd':
			must(os.MkdirAll(p, 0o755))
			must(os.Chmod(p, chmodBits(e.mode, 0o755)))
		case 'l':
			must(os.Symlink(e.target, p))
		case 'p':
			must(syscall.Mkfifo(p, 0o600))
			must(os.Chmod(p, chmodBits(e.mode, 0o644)))
		case 'h':
			links = append(links, n)
		default:
			tb.Fatalf("testutil.WriteTree: %s: a zero Entry", n)
		}
	}
	for _, n := range links {
		must(os.Link(filepath.Join(dir, filepath.FromSlash(tree[n].target)), filepath.Join(dir, filepath.FromSlash(n))))
	}
	if !mtime.IsZero() {
		Stamp(tb, dir, mtime)
	}
	for _, n := range names {
		if e := tree[n]; !e.mtime.IsZero() && e.kind != 'l' {
			must(os.Chtimes(filepath.Join(dir, filepath.FromSlash(n)), e.mtime, e.mtime))
		}
	}
}

// chmodBits turns an fs.FileMode's permission and special bits into what
// os.Chmod takes, def when none are set.
func chmodBits(m, def fs.FileMode) fs.FileMode {
	if m == 0 {
		return def
	}
	return m & (fs.ModePerm | fs.ModeSetuid | fs.ModeSetgid | fs.ModeSticky)
}

// Stamp sets the atime and mtime of every entry below dir, and of dir, to
// when; symlinks are left alone.
func Stamp(tb testing.TB, dir string, when time.Time) {
	tb.Helper()
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.Type()&fs.ModeSymlink == 0 {
			return os.Chtimes(p, when, when)
		}
		return nil
	})
	if err != nil {
		tb.Fatal(err)
	}
}

// RandomBytes is n bytes from crypto/rand: contents no other test run
// shares.
func RandomBytes(n int) []byte {
	b := make([]byte, n)
	crand.Read(b)
	return b
}

// SeededBytes is n pseudo-random bytes; the same seed gives the same bytes.
func SeededBytes(seed uint64, n int) []byte {
	r := rand.New(rand.NewPCG(seed, 1))
	b := make([]byte, n)
	for i := 0; i+8 <= n; i += 8 {
		v := r.Uint64()
		for k := 0; k < 8; k++ {
			b[i+k] = byte(v >> (8 * k))
		}
	}
	for i := n &^ 7; i < n; i++ {
		b[i] = byte(r.Uint32())
	}
	return b
}

// SampleMTime is the mtime SampleTree's users stamp it with.
var SampleMTime = time.Date(2024, 5, 1, 12, 0, 0, 0, time.UTC)

// SampleTree is a small system-like tree for backup round trips: a tiny
// and an empty file, a random 3 MiB file (several chunks, new on every
// call), a compressible text, a symlink and an empty directory.
func SampleTree() Tree {
	return Tree{
		"etc/hostname":       File("hello\n"),
		"etc/empty":          File(""),
		"home/user/big.bin":  File(RandomBytes(3<<20 + 17)),
		"home/user/text.txt": File(strings.Repeat("all work and no play\n", 30000)),
		"home/link":          Symlink("../etc/hostname"),
		"empty":              Dir(),
	}
}
