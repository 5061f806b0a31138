package pxar

import (
	"bytes"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// The decoder refuses duplicate names, but the extractor must not depend
// on it: fed a large file and then a symlink of the same name directly,
// with the background writer holding the file open while the symlink
// replaces it, it still changes nothing outside the target (the writer
// finishes the file it created, through its fd).
func TestExtractorSurvivesSwappedName(t *testing.T) {
	dir := t.TempDir()
	victim := filepath.Join(dir, "victim")
	if err := os.WriteFile(victim, []byte("secret"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(victim, 0o600); err != nil {
		t.Fatal(err)
	}
	root := &Metadata{Stat: Stat{Mode: ModeIFDIR | 0o755}}
	// A split archive with the large file, a unified one with the symlink.
	var mb, pb, sb bytes.Buffer
	enc, err := NewSplitEncoder(&mb, &pb, root, nil)
	must(t, err)
	data := bytes.Repeat([]byte{'x'}, 2*bigFile)
	_, err = enc.AddFile([]byte("f"), &Metadata{Stat: Stat{Mode: ModeIFREG | 0o4777}}, uint64(len(data)), bytes.NewReader(data))
	must(t, err)
	must(t, enc.Finish())
	enc, err = NewEncoder(&sb, root)
	must(t, err)
	must(t, enc.AddSymlink([]byte("f"), &Metadata{Stat: Stat{Mode: ModeIFLNK | 0o777}}, []byte(victim)))
	must(t, enc.Finish())
	entries := func(meta []byte, payload io.ReaderAt) []Entry {
		d := NewDecoder(bytes.NewReader(meta))
		d.SetPayload(payload)
		var out []Entry
		for {
			e, err := d.Next()
			if err == io.EOF {
				return out
			}
			must(t, err)
			out = append(out, *e)
		}
	}
	file := entries(mb.Bytes(), bytes.NewReader(pb.Bytes()))
	link := entries(sb.Bytes(), nil)

	for i := range 20 {
		dest := filepath.Join(dir, "out", string(rune('a'+i)))
		x, err := openExtractor(dest, ExtractOptions{Overwrite: true})
		must(t, err)
		started, release := make(chan struct{}), make(chan struct{})
		x.bg = newBgWriter(x, holdReaderAt{r: bytes.NewReader(pb.Bytes()), once: &sync.Once{}, started: started, release: release})
		must(t, x.entry(&file[0])) // root
		must(t, x.entry(&file[1])) // f, to the background writer
		select {
		case <-started: // it has created f and reads its data
		case <-time.After(10 * time.Second):
			t.Fatal("the background writer did not start")
		}
		must(t, x.entry(&link[1])) // symlink f -> victim replaces it
		close(release)
		must(t, x.entry(&file[2])) // goodbye
		must(t, x.finish())
		x.close()
		var st unix.Stat_t
		must(t, unix.Stat(victim, &st))
		if st.Mode&0o7777 != 0o600 {
			t.Fatalf("run %d: the victim's mode is %o now", i, st.Mode&0o7777)
		}
		if l, err := os.Readlink(filepath.Join(dest, "f")); err != nil || l != victim {
			t.Fatalf("run %d: f is not the symlink: %q %v", i, l, err)
		}
	}
}

type holdReaderAt struct {
	r       io.ReaderAt
	once    *sync.Once
	started chan<- struct{}
	release <-chan struct{}
}

func (h holdReaderAt) ReadAt(p []byte, off int64) (int, error) {
	h.once.Do(func() {
		close(h.started)
		<-h.release
	})
	return h.r.ReadAt(p, off)
}

// Without openat2 (old kernels, seccomp), hardlink targets are resolved
// one O_NOFOLLOW component at a time, with the same refusals.
func TestOpenBeneathWalk(t *testing.T) {
	for _, missing := range []bool{false, true} {
		saved := openat2Missing.Load()
		openat2Missing.Store(missing)
		dir := t.TempDir()
		outside := t.TempDir()
		must(t, os.MkdirAll(filepath.Join(dir, "a", "b"), 0o755))
		must(t, os.Symlink(outside, filepath.Join(dir, "a", "s")))
		must(t, os.Symlink("b", filepath.Join(dir, "a", "rel")))
		must(t, os.WriteFile(filepath.Join(dir, "a", "f"), nil, 0o644))
		rootfd, err := unix.Open(dir, unix.O_RDONLY|unix.O_DIRECTORY, 0)
		must(t, err)
		for rel, want := range map[string]error{
			"a": nil, "a/b": nil,
			"a/s": unix.ELOOP, "a/s/x": unix.ELOOP, "a/rel": unix.ELOOP,
			"a/f": unix.ENOTDIR, "a/none": unix.ENOENT,
		} {
			fd, err := openBeneath(rootfd, rel)
			if err == nil {
				unix.Close(fd)
			}
			// The walk reports a symlink opened with O_DIRECTORY|O_NOFOLLOW as ENOTDIR.
			ok := errors.Is(err, want) || (want == unix.ELOOP && errors.Is(err, unix.ENOTDIR))
			if want == nil {
				ok = err == nil
			}
			if !ok {
				t.Errorf("openat2 missing=%v: %s: %v, want %v", missing, rel, err, want)
			}
		}
		unix.Close(rootfd)

		// The whole extraction of a hardlink through a symlink.
		var buf bytes.Buffer
		enc, err := NewEncoder(&buf, &Metadata{Stat: Stat{Mode: ModeIFDIR | 0o755}})
		must(t, err)
		off, err := enc.AddFile([]byte("a"), &Metadata{Stat: Stat{Mode: ModeIFREG | 0o644}}, 1, strings.NewReader("a"))
		must(t, err)
		must(t, enc.AddSymlink([]byte("s"), &Metadata{Stat: Stat{Mode: ModeIFLNK | 0o777}}, []byte(outside)))
		must(t, os.WriteFile(filepath.Join(outside, "secret"), nil, 0o600))
		must(t, enc.AddHardlink([]byte("h"), "s/secret", off))
		must(t, enc.Finish())
		err = Extract(bytes.NewReader(buf.Bytes()), filepath.Join(t.TempDir(), "out"), ExtractOptions{})
		if err == nil || !strings.Contains(err.Error(), "symlink") {
			t.Errorf("openat2 missing=%v: hardlink through a symlink: %v", missing, err)
		}
		var st unix.Stat_t
		if unix.Stat(filepath.Join(outside, "secret"), &st) != nil || st.Nlink != 1 {
			t.Errorf("openat2 missing=%v: the outside file has %d links", missing, st.Nlink)
		}
		openat2Missing.Store(saved)
	}
}

// A duplicate name is refused by the decoder whatever the order of the
// directory's entries (sorted archives are checked against the previous
// name, others through a set).
func TestDecoderDuplicateNames(t *testing.T) {
	for _, names := range [][]string{
		{"a", "b", "b"},
		{"a", "c", "b", "a"},
		{"b", "a", "c", "d", "a"},
		{"z", "y", "x", "y"},
	} {
		var buf bytes.Buffer
		enc, err := NewEncoder(&buf, &Metadata{Stat: Stat{Mode: ModeIFDIR | 0o755}})
		must(t, err)
		for _, n := range names {
			must(t, enc.AddFifo([]byte(n), &Metadata{Stat: Stat{Mode: ModeIFIFO | 0o644}}))
		}
		must(t, enc.Finish())
		err = decodeAll(buf.Bytes())
		dup := names[len(names)-1]
		if err == nil || !errors.Is(err, ErrCorrupt) || !strings.Contains(err.Error(), `duplicate name "`+dup+`" in directory "/"`) {
			t.Errorf("%v: %v", names, err)
		}
	}
	// Without duplicates, any order decodes; the same name in different
	// directories is fine.
	var buf bytes.Buffer
	enc, err := NewEncoder(&buf, &Metadata{Stat: Stat{Mode: ModeIFDIR | 0o755}})
	must(t, err)
	for _, n := range []string{"c", "a", "b"} {
		must(t, enc.CreateDirectory([]byte(n), &Metadata{Stat: Stat{Mode: ModeIFDIR | 0o755}}))
		must(t, enc.AddFifo([]byte("a"), &Metadata{Stat: Stat{Mode: ModeIFIFO | 0o644}}))
		must(t, enc.FinishDirectory())
	}
	must(t, enc.Finish())
	if err := decodeAll(buf.Bytes()); err != nil {
		t.Fatal(err)
	}
}
