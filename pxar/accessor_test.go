package pxar

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"cairn/pxar/pattern"
)

// countingReaderAt counts the bytes read through it.
type countingReaderAt struct {
	r *bytes.Reader
	n int64
}

func (c *countingReaderAt) ReadAt(p []byte, off int64) (int, error) {
	n, err := c.r.ReadAt(p, off)
	c.n += int64(n)
	return n, err
}

func seqEntries(t *testing.T, data []byte) (map[string]*Entry, map[string][]byte, []string) {
	t.Helper()
	d := NewDecoder(bytes.NewReader(data))
	ents := map[string]*Entry{}
	contents := map[string][]byte{}
	var order []string
	for {
		e, err := d.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		if e.Kind == KindGoodbye {
			continue
		}
		if e.Kind == KindFile {
			b, err := io.ReadAll(e.Contents)
			if err != nil {
				t.Fatal(err)
			}
			contents[e.Path] = b
		}
		e.Contents = nil
		ents[e.Path] = e
		order = append(order, e.Path)
	}
	return ents, contents, order
}

func TestAccessorFixtures(t *testing.T) {
	for _, name := range fixtures {
		t.Run(name, func(t *testing.T) {
			data, err := os.ReadFile(filepath.Join("testdata", name+".pxar"))
			if err != nil {
				t.Fatal(err)
			}
			want, contents, order := seqEntries(t, data)
			a, err := NewAccessor(bytes.NewReader(data), uint64(len(data)))
			if err != nil {
				t.Fatal(err)
			}
			var got []string
			err = a.Walk(a.Root(), func(n *Node) error {
				got = append(got, n.Path)
				w := want[n.Path]
				if w == nil {
					return fmt.Errorf("unexpected %s", n.Path)
				}
				if n.Kind != w.Kind || !reflect.DeepEqual(n.Metadata, w.Metadata) || n.LinkTarget != w.LinkTarget ||
					n.Size != w.Size || n.Device != w.Device || n.EntryOffset != w.EntryOffset {
					return fmt.Errorf("%s differs:\n%+v\n%+v", n.Path, n.Entry, *w)
				}
				switch n.Kind {
				case KindFile:
					sr, err := a.Open(n)
					if err != nil {
						return err
					}
					b, _ := io.ReadAll(sr)
					if !bytes.Equal(b, contents[n.Path]) {
						return fmt.Errorf("%s: contents differ", n.Path)
					}
				case KindHardlink:
					tn, err := a.HardlinkTarget(n)
					if err != nil {
						return err
					}
					if "/"+strings.TrimPrefix(n.LinkTarget, "/") != tn.Path || tn.Kind != KindFile {
						return fmt.Errorf("hardlink %s -> %s resolved to %s", n.Path, n.LinkTarget, tn.Path)
					}
				}
				l, err := a.Lookup(n.Path)
				if err != nil {
					return err
				}
				if l.Path != n.Path || l.Start != n.Start {
					return fmt.Errorf("lookup %s gave %s", n.Path, l.Path)
				}
				return nil
			})
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, order) {
				t.Fatalf("walk order differs:\n%v\n%v", got, order)
			}
			if _, err := a.Lookup("/does/not/exist"); !errors.Is(err, fs.ErrNotExist) {
				t.Fatalf("lookup of a missing path: %v", err)
			}
		})
	}
}

func TestAccessorReadsLittle(t *testing.T) {
	// A file looked up in a big archive costs the goodbye tables on its
	// path and its own bytes, not the whole archive.
	src := t.TempDir()
	big := bytes.Repeat([]byte("0123456789abcdef"), 1<<16) // 1 MiB
	for i := range 8 {
		dir := filepath.Join(src, fmt.Sprintf("d%d", i))
		os.MkdirAll(dir, 0o755)
		os.WriteFile(filepath.Join(dir, "big"), big, 0o644)
		os.WriteFile(filepath.Join(dir, "small.conf"), []byte(fmt.Sprintf("conf %d\n", i)), 0o644)
	}
	var buf bytes.Buffer
	if err := Create(&buf, src, CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	c := &countingReaderAt{r: bytes.NewReader(buf.Bytes())}
	a, err := NewAccessor(c, uint64(buf.Len()))
	if err != nil {
		t.Fatal(err)
	}
	n, err := a.Lookup("d5/small.conf")
	if err != nil {
		t.Fatal(err)
	}
	sr, _ := a.Open(n)
	b, _ := io.ReadAll(sr)
	if string(b) != "conf 5\n" {
		t.Fatalf("got %q", b)
	}
	if c.n > 64<<10 {
		t.Fatalf("read %d bytes of a %d byte archive for one small file", c.n, buf.Len())
	}

	// Extract with a pattern: the big files are never read.
	c.n = 0
	dst := filepath.Join(t.TempDir(), "out")
	p, _ := pattern.Parse("**/*.conf")
	if err := a.ExtractFrom(a.Root(), dst, ExtractOptions{Patterns: pattern.List{p}}); err != nil {
		t.Fatal(err)
	}
	if c.n > 256<<10 {
		t.Fatalf("pattern extract read %d bytes", c.n)
	}
	for i := range 8 {
		b, err := os.ReadFile(filepath.Join(dst, fmt.Sprintf("d%d/small.conf", i)))
		if err != nil || string(b) != fmt.Sprintf("conf %d\n", i) {
			t.Fatalf("d%d: %q %v", i, b, err)
		}
		if _, err := os.Stat(filepath.Join(dst, fmt.Sprintf("d%d/big", i))); err == nil {
			t.Fatal("big file extracted")
		}
	}

	// Subdirectory extraction puts the directory's contents into dest.
	dst2 := filepath.Join(t.TempDir(), "sub")
	d3, _ := a.Lookup("/d3")
	if err := a.ExtractFrom(d3, dst2, ExtractOptions{}); err != nil {
		t.Fatal(err)
	}
	if b, _ := os.ReadFile(filepath.Join(dst2, "big")); !bytes.Equal(b, big) {
		t.Fatal("sub extract: big differs")
	}
}

func TestAccessorExtractMatchesSequential(t *testing.T) {
	for _, name := range fixtures {
		t.Run(name, func(t *testing.T) {
			data, err := os.ReadFile(filepath.Join("testdata", name+".pxar"))
			if err != nil {
				t.Fatal(err)
			}
			a, err := NewAccessor(bytes.NewReader(data), uint64(len(data)))
			if err != nil {
				t.Fatal(err)
			}
			d1 := filepath.Join(t.TempDir(), "seq")
			d2 := filepath.Join(t.TempDir(), "ra")
			o := ExtractOptions{OnWarning: func(string) {}}
			if err := Extract(bytes.NewReader(data), d1, o); err != nil {
				t.Skipf("sequential extract fails here: %v", err)
			}
			if err := a.ExtractFrom(a.Root(), d2, o); err != nil {
				t.Fatal(err)
			}
			if x, y := treeDesc(t, d1), treeDesc(t, d2); x != y {
				t.Fatalf("trees differ:\n%s\n---\n%s", x, y)
			}
		})
	}
}

func treeDesc(t *testing.T, dir string) string {
	var b strings.Builder
	filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(dir, p)
		st, _ := os.Lstat(p)
		fmt.Fprintf(&b, "%s %v %d", rel, st.Mode(), st.ModTime().UnixNano())
		if st.Mode().IsRegular() {
			data, _ := os.ReadFile(p)
			fmt.Fprintf(&b, " %x", data)
		}
		b.WriteString("\n")
		return nil
	})
	return b.String()
}
