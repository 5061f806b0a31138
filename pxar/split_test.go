package pxar_test

import (
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	"golang.org/x/sys/unix"

	"cairn/core/catalog"
	"cairn/pxar"
	"cairn/pxar/pattern"
	"cairn/pxar/pxartest"
)

// splitVariants are the payload stream layouts every reader must cope with.
var splitVariants = map[string]pxartest.Options{
	"tight":   {},
	"gaps":    {Gap: func(n int) int { return []int{0, 1, 15, 16, 4096, 70000}[n%6] }},
	"reuse":   {Reuse: func(n int) bool { return n%2 == 0 }, Gap: func(n int) int { return n % 3 * 100 }},
	"prelude": {Prelude: []byte(`{"exclude-patterns":"*.tmp\n"}`)},
}

// sourceArchive builds the test tree with every entry kind and archives it
// unified; the fixture archives are used as well.
func sourceArchives(t *testing.T) map[string][]byte {
	t.Helper()
	src := filepath.Join(t.TempDir(), "src")
	if err := os.Mkdir(src, 0o755); err != nil {
		t.Fatal(err)
	}
	pxar.MakeTree(t, src)
	out := map[string][]byte{"tree": pxar.CreateBytes(t, src, pxar.CreateOptions{})}
	for _, name := range pxar.Fixtures {
		data, err := os.ReadFile(filepath.Join("testdata", name+".pxar"))
		if err != nil {
			t.Fatal(err)
		}
		out[name] = data
	}
	return out
}

func split(t testing.TB, unified []byte, o pxartest.Options) ([]byte, []byte) {
	t.Helper()
	meta, payload, err := pxartest.Split(unified, o)
	if err != nil {
		t.Fatal(err)
	}
	return meta, payload
}

// describeTree lists everything extraction restores: type and mode,
// owner, mtime, size and contents, symlink targets, device numbers,
// xattrs, and which paths are hardlinks of one another.
func describeTree(t *testing.T, dir string) string {
	t.Helper()
	var lines []string
	firstPath := map[uint64]string{}
	err := filepath.WalkDir(dir, func(p string, _ fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(dir, p)
		var st unix.Stat_t
		if err := unix.Lstat(p, &st); err != nil {
			return err
		}
		line := fmt.Sprintf("%s mode=%o owner=%d:%d", rel, st.Mode, st.Uid, st.Gid)
		if st.Mode&unix.S_IFMT != unix.S_IFDIR || rel != "." {
			line += fmt.Sprintf(" mtime=%d.%09d", st.Mtim.Sec, st.Mtim.Nsec)
		}
		switch st.Mode & unix.S_IFMT {
		case unix.S_IFREG:
			if st.Nlink > 1 {
				if first, ok := firstPath[st.Ino]; ok {
					line += " hardlink-of=" + first
				} else {
					firstPath[st.Ino] = rel
				}
			}
			data, err := os.ReadFile(p)
			if err != nil {
				return err
			}
			line += fmt.Sprintf(" size=%d sha=%x", len(data), sha256.Sum256(data))
		case unix.S_IFLNK:
			target, _ := os.Readlink(p)
			line += " -> " + target
		case unix.S_IFBLK, unix.S_IFCHR:
			line += fmt.Sprintf(" dev=%d,%d", unix.Major(st.Rdev), unix.Minor(st.Rdev))
		}
		if st.Mode&unix.S_IFMT != unix.S_IFLNK {
			line += " xattrs=" + xattrList(p)
		}
		lines = append(lines, line)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return strings.Join(lines, "\n")
}

func xattrList(p string) string {
	buf := make([]byte, 64<<10)
	n, err := unix.Llistxattr(p, buf)
	if err != nil || n == 0 {
		return "-"
	}
	names := strings.Split(strings.TrimRight(string(buf[:n]), "\x00"), "\x00")
	sort.Strings(names)
	var out []string
	for _, name := range names {
		v := make([]byte, 64<<10)
		m, _ := unix.Lgetxattr(p, name, v)
		out = append(out, fmt.Sprintf("%s=%x", name, v[:max(m, 0)]))
	}
	return strings.Join(out, ",")
}

func quiet() pxar.ExtractOptions { return pxar.ExtractOptions{OnWarning: func(string) {}} }

// Extracting a split archive, sequentially or through the accessor, gives
// the tree extracting the unified archive gives.
func TestSplitExtractMatchesUnified(t *testing.T) {
	for name, unified := range sourceArchives(t) {
		want := filepath.Join(t.TempDir(), "unified")
		if err := pxar.Extract(bytes.NewReader(unified), want, quiet()); err != nil {
			t.Skipf("%s: unified extract fails here: %v", name, err)
		}
		wantDesc := describeTree(t, want)
		for vname, o := range splitVariants {
			t.Run(name+"/"+vname, func(t *testing.T) {
				meta, payload := split(t, unified, o)
				seq := filepath.Join(t.TempDir(), "seq")
				if err := pxar.ExtractSplit(bytes.NewReader(meta), bytes.NewReader(payload), seq, quiet()); err != nil {
					t.Fatal(err)
				}
				if got := describeTree(t, seq); got != wantDesc {
					t.Fatalf("sequential split extract differs:\n%s\n--- want\n%s", got, wantDesc)
				}
				a, err := pxar.NewAccessor(bytes.NewReader(meta), uint64(len(meta)))
				if err != nil {
					t.Fatal(err)
				}
				a.SetPayload(bytes.NewReader(payload))
				ra := filepath.Join(t.TempDir(), "ra")
				if err := a.ExtractFrom(a.Root(), ra, quiet()); err != nil {
					t.Fatal(err)
				}
				if got := describeTree(t, ra); got != wantDesc {
					t.Fatalf("accessor split extract differs:\n%s\n--- want\n%s", got, wantDesc)
				}
				if os.Geteuid() == 0 && name == "tree" {
					// Archiving the extracted tree again gives the very bytes:
					// every piece of metadata made it through.
					if again := pxar.CreateBytes(t, seq, pxar.CreateOptions{}); !bytes.Equal(again, unified) {
						t.Fatal("archive of the extracted split tree differs from the original")
					}
				}
			})
		}
	}
}

// The accessor serves every file of a split archive with the unified
// archive's contents, hardlinks resolved, and the decoder agrees.
func TestSplitAccessorAndDecoder(t *testing.T) {
	unified := sourceArchives(t)["tree"]
	contents := fileContents(t, unified, nil)
	meta, payload := split(t, unified, splitVariants["reuse"])
	if got := fileContents(t, meta, bytes.NewReader(payload)); !equalMaps(got, contents) {
		t.Fatal("decoder contents differ from the unified archive's")
	}
	a, err := pxar.NewAccessor(bytes.NewReader(meta), uint64(len(meta)))
	if err != nil {
		t.Fatal(err)
	}
	if !a.Split() {
		t.Fatal("accessor does not know the archive is split")
	}
	if _, err := a.Open(mustLookup(t, a, "/small.txt")); err == nil || !strings.Contains(err.Error(), "separate payload stream") {
		t.Fatalf("open without payload: %v", err)
	}
	a.SetPayload(bytes.NewReader(payload))
	seen := 0
	err = a.Walk(a.Root(), func(n *pxar.Node) error {
		if n.Kind != pxar.KindFile && n.Kind != pxar.KindHardlink {
			return nil
		}
		sr, err := a.Open(n)
		if err != nil {
			return err
		}
		b, err := io.ReadAll(sr)
		if err != nil {
			return err
		}
		want := contents[n.Path]
		if n.Kind == pxar.KindHardlink {
			want = contents["/"+strings.TrimPrefix(n.LinkTarget, "/")]
		}
		if !bytes.Equal(b, want) {
			return fmt.Errorf("%s: contents differ", n.Path)
		}
		seen++
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if seen < 8 {
		t.Fatalf("only %d files seen", seen)
	}
}

func mustLookup(t *testing.T, a *pxar.Accessor, p string) *pxar.Node {
	t.Helper()
	n, err := a.Lookup(p)
	if err != nil {
		t.Fatal(err)
	}
	return n
}

func equalMaps(a, b map[string][]byte) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if w, ok := b[k]; !ok || !bytes.Equal(v, w) {
			return false
		}
	}
	return true
}

// fileContents reads every regular file's data sequentially.
func fileContents(t *testing.T, archive []byte, payload io.ReaderAt) map[string][]byte {
	t.Helper()
	d := pxar.NewDecoder(bytes.NewReader(archive))
	if payload != nil {
		d.SetPayload(payload)
	}
	out := map[string][]byte{}
	for {
		e, err := d.Next()
		if err == io.EOF {
			return out
		}
		if err != nil {
			t.Fatal(err)
		}
		if e.Kind == pxar.KindFile {
			b, err := io.ReadAll(e.Contents)
			if err != nil {
				t.Fatalf("%s: %v", e.Path, err)
			}
			out[e.Path] = b
		}
	}
}

// A catalog rebuilt from a split archive's metadata stream is byte for byte
// the catalog Create writes while archiving.
func TestFeedCatalogMatchesCreate(t *testing.T) {
	src := filepath.Join(t.TempDir(), "src")
	if err := os.Mkdir(src, 0o755); err != nil {
		t.Fatal(err)
	}
	pxar.MakeTree(t, src)
	var created bytes.Buffer
	cw, _ := catalog.NewWriter(&created)
	cw.StartDirectory([]byte("root.pxar.didx"))
	exclude, _ := pattern.Parse("*.nothing")
	unified := pxar.CreateBytes(t, src, pxar.CreateOptions{Catalog: cw, Excludes: []*pattern.Pattern{exclude}})
	cw.EndDirectory()
	if err := cw.Finish(); err != nil {
		t.Fatal(err)
	}
	meta, _ := split(t, unified, splitVariants["gaps"])
	for name, archive := range map[string][]byte{"unified": unified, "meta": meta} {
		var fed bytes.Buffer
		fw, _ := catalog.NewWriter(&fed)
		fw.StartDirectory([]byte("root.pxar.didx"))
		if err := pxar.FeedCatalog(bytes.NewReader(archive), fw); err != nil {
			t.Fatal(err)
		}
		fw.EndDirectory()
		if err := fw.Finish(); err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(fed.Bytes(), created.Bytes()) {
			t.Errorf("%s: fed catalog differs from Create's (%d vs %d bytes)", name, fed.Len(), created.Len())
		}
	}
}

// twoFiles is a split archive of a root holding a and b (and a hardlink to
// b); refs are the payload offsets of a and b, refPos where b's
// PAYLOAD_REF offset field sits in meta.
func twoFiles(t *testing.T, gapBefore int) (meta, payload []byte, refs [2]uint64, refPos uint64) {
	t.Helper()
	var unified bytes.Buffer
	enc, err := pxar.NewEncoder(&unified, &pxar.Metadata{Stat: pxar.Stat{Mode: pxar.ModeIFDIR | 0o755}})
	if err != nil {
		t.Fatal(err)
	}
	fm := &pxar.Metadata{Stat: pxar.Stat{Mode: pxar.ModeIFREG | 0o644, MtimeSec: 1700000000}}
	if _, err := enc.AddFile([]byte("a"), fm, 5, strings.NewReader("alpha")); err != nil {
		t.Fatal(err)
	}
	off, err := enc.AddFile([]byte("b"), fm, 4, strings.NewReader("beta"))
	if err != nil {
		t.Fatal(err)
	}
	if err := enc.AddHardlink([]byte("c"), "b", off); err != nil {
		t.Fatal(err)
	}
	if err := enc.Finish(); err != nil {
		t.Fatal(err)
	}
	meta, payload = split(t, unified.Bytes(), pxartest.Options{Gap: func(n int) int { return n * gapBefore }})
	d := pxar.NewDecoder(bytes.NewReader(meta))
	for i := 0; i < 2; {
		e, err := d.Next()
		if err != nil {
			t.Fatal(err)
		}
		if e.Kind == pxar.KindFile {
			refs[i] = e.PayloadOffset
			refPos = e.EndOffset - 16
			i++
		}
	}
	return meta, payload, refs, refPos
}

// readerAtOnly hides Size, so the checks that need no stream length run.
type readerAtOnly struct{ r io.ReaderAt }

func (r readerAtOnly) ReadAt(p []byte, off int64) (int, error) { return r.r.ReadAt(p, off) }

// Damaged payload streams and references fail with a corrupt-archive error
// naming the offset, through every reader, and never panic.
func TestSplitCorruptPayload(t *testing.T) {
	meta, payload, refs, refPos := twoFiles(t, 100)
	b := refs[1]
	cases := []struct {
		name, want string
		meta       func([]byte) []byte
		payload    func([]byte) []byte
	}{
		{"wrong item type", fmt.Sprintf("offset %d: item there is 0x2fec4fa642d5731d, not a PAYLOAD", b), nil,
			func(p []byte) []byte { binary.LittleEndian.PutUint64(p[b:], 0x2fec4fa642d5731d); return p }},
		{"size mismatch", fmt.Sprintf("offset %d: PAYLOAD item has full size 21", b), nil,
			func(p []byte) []byte { binary.LittleEndian.PutUint64(p[b+8:], 21); return p }},
		{"size below header", fmt.Sprintf("offset %d: PAYLOAD item has full size 3", b), nil,
			func(p []byte) []byte { binary.LittleEndian.PutUint64(p[b+8:], 3); return p }},
		{"truncated data", "beyond the payload stream end", nil,
			func(p []byte) []byte { return p[:b+16+2] }},
		{"truncated header", "beyond the payload stream end", nil,
			func(p []byte) []byte { return p[:b+5] }},
		{"offset beyond end", "offset 1000000 with size 4 extends beyond", func(m []byte) []byte {
			binary.LittleEndian.PutUint64(m[refPos:], 1000000)
			return m
		}, nil},
		{"offset overflow", "out of range", func(m []byte) []byte {
			binary.LittleEndian.PutUint64(m[refPos:], 1<<63)
			return m
		}, nil},
		{"size overflow", "out of range", func(m []byte) []byte {
			binary.LittleEndian.PutUint64(m[refPos+8:], 1<<64-1)
			return m
		}, nil},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			m, p := bytes.Clone(meta), bytes.Clone(payload)
			if c.meta != nil {
				m = c.meta(m)
			}
			if c.payload != nil {
				p = c.payload(p)
			}
			check := func(how string, err error) {
				t.Helper()
				if err == nil || !errors.Is(err, pxar.ErrCorrupt) {
					t.Fatalf("%s: error %v, want a corrupt-archive error", how, err)
				}
				if strings.Contains(err.Error(), "\n") {
					t.Errorf("%s: error is not one line: %q", how, err)
				}
				// Without the stream length the reader finds the damage by reading.
				if how == "sized" && !strings.Contains(err.Error(), c.want) {
					t.Errorf("%s: error %q does not say %q", how, err, c.want)
				}
			}
			for how, r := range map[string]io.ReaderAt{"sized": bytes.NewReader(p), "unsized": readerAtOnly{bytes.NewReader(p)}} {
				err := pxar.ExtractSplit(bytes.NewReader(m), r, filepath.Join(t.TempDir(), "x"), quiet())
				check(how, err)
				a, err := pxar.NewAccessor(bytes.NewReader(m), uint64(len(m)))
				if err != nil {
					t.Fatal(err)
				}
				a.SetPayload(r)
				sr, err := a.Open(mustLookup(t, a, "/c"))
				if err == nil {
					_, err = io.ReadAll(sr)
				}
				check(how, err)
			}
			// The untouched file a still reads fine.
			a, _ := pxar.NewAccessor(bytes.NewReader(m), uint64(len(m)))
			a.SetPayload(bytes.NewReader(p))
			if sr, err := a.Open(mustLookup(t, a, "/a")); err != nil {
				t.Fatalf("a: %v", err)
			} else if got, _ := io.ReadAll(sr); string(got) != "alpha" {
				t.Fatalf("a: %q", got)
			}
		})
	}
}

// Without its payload stream a split archive still lists, but extracting a
// file says what is missing.
func TestSplitWithoutPayload(t *testing.T) {
	meta, _, _, _ := twoFiles(t, 0)
	var out bytes.Buffer
	if err := pxar.List(bytes.NewReader(meta), &out, true); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out.String(), `       5 "/a"`) {
		t.Fatalf("listing: %s", out.String())
	}
	err := pxar.Extract(bytes.NewReader(meta), filepath.Join(t.TempDir(), "x"), quiet())
	if err == nil || !strings.Contains(err.Error(), "/a: file contents are in a separate payload stream") {
		t.Fatalf("extract without payload: %v", err)
	}
}

// Files a pattern leaves out cost no payload reads.
func TestSplitPatternReadsOnlySelected(t *testing.T) {
	meta, payload, refs, _ := twoFiles(t, 1<<20)
	c := &countingReaderAt{r: bytes.NewReader(payload)}
	p, _ := pattern.Parse("/a")
	dst := filepath.Join(t.TempDir(), "x")
	o := quiet()
	o.Patterns = pattern.List{p}
	if err := pxar.ExtractSplit(bytes.NewReader(meta), c, dst, o); err != nil {
		t.Fatal(err)
	}
	if got, _ := os.ReadFile(filepath.Join(dst, "a")); string(got) != "alpha" {
		t.Fatalf("a: %q", got)
	}
	if c.maxOff >= int64(refs[1]) {
		t.Fatalf("read payload up to %d, b's payload at %d was not selected", c.maxOff, refs[1])
	}
}

type countingReaderAt struct {
	r      io.ReaderAt
	maxOff int64
}

func (c *countingReaderAt) ReadAt(p []byte, off int64) (int, error) {
	n, err := c.r.ReadAt(p, off)
	c.maxOff = max(c.maxOff, off+int64(n))
	return n, err
}

// FuzzSplitDecoder feeds damaged metadata and payload streams to the
// sequential decoder and the accessor: errors are fine, panics are not.
func FuzzSplitDecoder(f *testing.F) {
	for _, name := range pxar.Fixtures {
		data, err := os.ReadFile(filepath.Join("testdata", name+".pxar"))
		if err != nil {
			f.Fatal(err)
		}
		meta, payload := split(f, data, splitVariants["reuse"])
		// Small inputs keep the fuzzer fast; truncation is interesting anyway.
		f.Add(meta[:min(len(meta), 4<<10)], payload[:min(len(payload), 4<<10)])
	}
	f.Fuzz(func(t *testing.T, meta, payload []byte) {
		d := pxar.NewDecoder(bytes.NewReader(meta))
		d.SetPayload(bytes.NewReader(payload))
		for {
			e, err := d.Next()
			if err != nil {
				break
			}
			if e.Contents != nil {
				io.Copy(io.Discard, e.Contents)
			}
		}
		a, err := pxar.NewAccessor(bytes.NewReader(meta), uint64(len(meta)))
		if err != nil {
			return
		}
		a.SetPayload(readerAtOnly{bytes.NewReader(payload)})
		n := 0
		a.Walk(a.Root(), func(nd *pxar.Node) error {
			if n++; n > 1000 {
				return errors.New("enough")
			}
			if sr, err := a.Open(nd); err == nil {
				io.Copy(io.Discard, io.LimitReader(sr, 1<<20))
			}
			return nil
		})
	})
}

// The prelude of a split archive reaches the prelude writer; a truncated
// one is a corrupt archive.
func TestSplitPrelude(t *testing.T) {
	unified := sourceArchives(t)["simple"]
	o := splitVariants["prelude"]
	meta, payload := split(t, unified, o)
	var got bytes.Buffer
	xo := quiet()
	xo.Prelude = &got
	if err := pxar.ExtractSplit(bytes.NewReader(meta), bytes.NewReader(payload), filepath.Join(t.TempDir(), "x"), xo); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got.Bytes(), o.Prelude) {
		t.Fatalf("prelude %q, want %q", got.Bytes(), o.Prelude)
	}
	for _, n := range []int{30, 24 + 16 + 5} {
		d := pxar.NewDecoder(bytes.NewReader(meta[:n]))
		d.SetPreludeWriter(io.Discard)
		if _, err := d.Next(); !errors.Is(err, pxar.ErrCorrupt) {
			t.Errorf("prelude truncated at %d: %v", n, err)
		}
	}
}
