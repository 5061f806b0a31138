package pxar

import (
	"bytes"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"cairn/internal/testutil"
	"cairn/pxar/pattern"
)

func archivePaths(t testing.TB, a []byte) []string {
	t.Helper()
	d := NewDecoder(bytes.NewReader(a))
	var out []string
	for {
		e, err := d.Next()
		if err == io.EOF {
			return out
		}
		if err != nil {
			t.Fatal(err)
		}
		if e.Kind != KindGoodbye {
			out = append(out, e.Path)
		}
	}
}

// The documentation example of spec 10.4 plus --exclude and lost+found.
func TestCreateExcludes(t *testing.T) {
	dir := t.TempDir()
	files := map[string]string{
		".pxarexclude":            "/subfolder0/file1\n/subfolder1/*\n!/subfolder1/file2\n",
		"subfolder0/.pxarexclude": "file3\n",
		"subfolder0/file0":        "", "subfolder0/file1": "", "subfolder0/file2": "", "subfolder0/file3": "",
		"subfolder1/file0": "", "subfolder1/file1": "", "subfolder1/file2": "",
		"lost+found/x": "", "keep/lost+found/y": "",
		"junk.tmp": "", "keep/a.tmp": "", "keep/b.txt": "",
		".pxarexclude-cli": "real file, replaced",
	}
	testutil.WriteTree(t, dir, testutil.Files(files), time.Time{})
	p, err := pattern.Parse("*.tmp")
	must(t, err)
	rec := &recorder{}
	a := createBytes(t, dir, CreateOptions{Excludes: []*pattern.Pattern{p}, SkipLostAndFound: true, Catalog: rec})
	got := archivePaths(t, a)
	want := []string{"/", "/.pxarexclude", "/keep", "/keep/b.txt",
		"/subfolder0", "/subfolder0/.pxarexclude", "/subfolder0/file0", "/subfolder0/file2",
		"/subfolder1", "/subfolder1/file2", "/.pxarexclude-cli"}
	if !slices.Equal(got, want) {
		t.Fatalf("archived %q\nwant %q", got, want)
	}
	// The synthetic .pxarexclude-cli records the command-line patterns.
	d := NewDecoder(bytes.NewReader(a))
	for {
		e, err := d.Next()
		must(t, err)
		if e.Path == "/.pxarexclude-cli" {
			b, _ := io.ReadAll(e.Contents)
			if string(b) != "*.tmp\nlost+found\n" || e.Stat.Mode != ModeIFREG|0o600 || e.Stat.MtimeSec != 0 {
				t.Fatalf("cli file %q mode %o mtime %d", b, e.Stat.Mode, e.Stat.MtimeSec)
			}
			break
		}
	}
	if strings.Join(rec.ops, " ") != "file:.pxarexclude dir:keep file:b.txt end dir:subfolder0 file:.pxarexclude file:file0 file:file2 end dir:subfolder1 file:file2 end file:.pxarexclude-cli" {
		t.Fatalf("catalog calls: %q", rec.ops)
	}
}

type recorder struct{ ops []string }

func (r *recorder) add(s string) error                        { r.ops = append(r.ops, s); return nil }
func (r *recorder) StartDirectory(n []byte) error             { return r.add("dir:" + string(n)) }
func (r *recorder) EndDirectory() error                       { return r.add("end") }
func (r *recorder) AddFile(n []byte, _ uint64, _ int64) error { return r.add("file:" + string(n)) }
func (r *recorder) AddSymlink(n []byte) error                 { return r.add("symlink:" + string(n)) }
func (r *recorder) AddHardlink(n []byte) error                { return r.add("hardlink:" + string(n)) }
func (r *recorder) AddBlockDevice(n []byte) error             { return r.add("blk:" + string(n)) }
func (r *recorder) AddCharDevice(n []byte) error              { return r.add("chr:" + string(n)) }
func (r *recorder) AddFifo(n []byte) error                    { return r.add("fifo:" + string(n)) }
func (r *recorder) AddSocket(n []byte) error                  { return r.add("socket:" + string(n)) }

func TestExtractPatterns(t *testing.T) {
	f, err := os.ReadFile(filepath.Join("testdata", "special.pxar"))
	must(t, err)
	inc, err := pattern.Parse("/sub")
	must(t, err)
	exc, err := pattern.Parse("!first-of-pair")
	must(t, err)
	dest := t.TempDir()
	var warns []string
	err = Extract(bytes.NewReader(f), dest, ExtractOptions{
		AllowExistingDirs: true,
		Patterns:          pattern.List{inc, exc},
		OnWarning:         func(s string) { warns = append(warns, s) },
	})
	must(t, err)
	var got []string
	filepath.Walk(dest, func(p string, _ os.FileInfo, err error) error {
		rel, _ := filepath.Rel(dest, p)
		got = append(got, rel)
		return err
	})
	// sub/deeper/hardlink-c points at hardlink-a, which was not selected: skipped with a warning.
	want := []string{".", "sub", "sub/deeper"}
	if !slices.Equal(got, want) || len(warns) != 1 {
		t.Fatalf("extracted %q, want %q (warnings %q)", got, want, warns)
	}
}
