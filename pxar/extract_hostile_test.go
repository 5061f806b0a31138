package pxar_test

import (
	"bytes"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"cairn/pxar"
	"cairn/pxar/pattern"
	"cairn/pxar/pxartest"
)

// Hostile archives (issue 16 item 1) through every extraction path: the
// restore must refuse them or extract them harmlessly, and never write or
// change anything outside its target.

// outsideWorld is a pxartest.World for a test.
type outsideWorld struct{ *pxartest.World }

func newOutside(t testing.TB) outsideWorld {
	t.Helper()
	w, err := pxartest.NewWorld(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	return outsideWorld{w}
}

func (w outsideWorld) snapshot(t testing.TB) string {
	t.Helper()
	s, err := w.Snapshot()
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// hostilePath is one way of extracting a hostile case.
type hostilePath struct {
	name string
	run  func(c pxartest.Case, dest string, o pxar.ExtractOptions) error
}

var hostilePaths = []hostilePath{
	{"unified", func(c pxartest.Case, dest string, o pxar.ExtractOptions) error {
		return pxar.Extract(bytes.NewReader(c.Unified), dest, o)
	}},
	{"split", func(c pxartest.Case, dest string, o pxar.ExtractOptions) error {
		return pxar.ExtractSplit(bytes.NewReader(c.Meta), bytes.NewReader(c.Payload), dest, o)
	}},
	{"split-background", func(c pxartest.Case, dest string, o pxar.ExtractOptions) error {
		o.BackgroundPayload = bytes.NewReader(c.Payload)
		return pxar.ExtractSplit(bytes.NewReader(c.Meta), bytes.NewReader(c.Payload), dest, o)
	}},
	{"accessor", func(c pxartest.Case, dest string, o pxar.ExtractOptions) error {
		a, err := pxar.NewAccessor(bytes.NewReader(c.Unified), uint64(len(c.Unified)))
		if err != nil {
			return err
		}
		return a.ExtractFrom(a.Root(), dest, o)
	}},
	{"accessor-split", func(c pxartest.Case, dest string, o pxar.ExtractOptions) error {
		a, err := pxar.NewAccessor(bytes.NewReader(c.Meta), uint64(len(c.Meta)))
		if err != nil {
			return err
		}
		a.SetPayload(bytes.NewReader(c.Payload))
		return a.ExtractFrom(a.Root(), dest, o)
	}},
}

func hostileCases(t testing.TB, outside string) []pxartest.Case {
	t.Helper()
	cases, err := pxartest.HostileCases(outside)
	if err != nil {
		t.Fatal(err)
	}
	return cases
}

// mustRefuse: the cases every path must fail on (the others may extract,
// harmlessly).
func mustRefuse(c pxartest.Case) bool {
	return c.Dup || strings.Contains(c.Name, "hardlink") || strings.Contains(c.Name, "..") || strings.Contains(c.Name, "slashes")
}

// Every hostile case, every extraction path, with and without overwriting:
// nothing outside the target changes, and the attacks are refused.
func TestExtractHostileArchives(t *testing.T) {
	w := newOutside(t)
	for _, c := range hostileCases(t, w.Outside) {
		for _, p := range hostilePaths {
			for _, ow := range []bool{false, true} {
				t.Run(fmt.Sprintf("%s/%s/overwrite=%v", c.Name, p.name, ow), func(t *testing.T) {
					defer os.RemoveAll(w.Target)
					before := w.snapshot(t)
					err := runBounded(t, func() error {
						return p.run(c, w.Target, pxar.ExtractOptions{Overwrite: ow, AllowExistingDirs: ow, OnWarning: func(string) {}})
					})
					if after := w.snapshot(t); after != before {
						t.Fatalf("outside the target changed (extract error: %v):\n%s", err, pxartest.Diff(before, after))
					}
					if mustRefuse(c) && err == nil {
						t.Fatalf("%s: extracted without an error", c.What)
					}
					if c.Dup && err != nil && !strings.Contains(err.Error(), "duplicate") && !strings.Contains(err.Error(), "two entries named") {
						t.Errorf("duplicate names: error %q does not say so", err)
					}
				})
			}
		}
	}
}

func mustPatterns(t *testing.T, pats ...string) pattern.List {
	t.Helper()
	var l pattern.List
	for _, s := range pats {
		p, err := pattern.Parse(s)
		if err != nil {
			t.Fatal(err)
		}
		l = append(l, p)
	}
	return l
}

// runBounded runs f, failing the test if it hangs (an extractor that
// opened a fifo in the archive would).
func runBounded(t *testing.T, f func() error) error {
	t.Helper()
	done := make(chan error, 1)
	go func() { done <- f() }()
	select {
	case err := <-done:
		return err
	case <-time.After(30 * time.Second):
		t.Fatal("extraction hangs")
		return nil
	}
}

// raceMeta hands out the metadata stream up to at, then waits until the
// background writer has started on the large file before going on.
type raceMeta struct {
	r       *bytes.Reader
	at      int64
	started <-chan struct{}
}

func (m *raceMeta) Read(p []byte) (int, error) {
	pos := m.r.Size() - int64(m.r.Len())
	if pos < m.at && pos+int64(len(p)) > m.at {
		p = p[:m.at-pos]
	}
	if pos >= m.at {
		select {
		case <-m.started:
		case <-time.After(5 * time.Second):
		}
	}
	return m.r.Read(p)
}

// raceBg is the background writer's payload reader: its first read says
// the large file is open and then holds until the extractor has replaced
// the entry (it reads the small file after it), or a while has passed.
type raceBg struct {
	r       io.ReaderAt
	once    *sync.Once
	started chan<- struct{}
	release <-chan struct{}
}

func (b raceBg) ReadAt(p []byte, off int64) (int, error) {
	b.once.Do(func() {
		close(b.started)
		select {
		case <-b.release:
		case <-time.After(300 * time.Millisecond):
		}
	})
	return b.r.ReadAt(p, off)
}

// raceMain releases the background writer once the extractor reads at or
// after off of the payload stream.
type raceMain struct {
	r       *bytes.Reader
	off     int64
	once    *sync.Once
	release chan<- struct{}
}

func (m raceMain) ReadAt(p []byte, off int64) (int, error) {
	if off >= m.off {
		m.once.Do(func() { close(m.release) })
	}
	return m.r.ReadAt(p, off)
}

func (m raceMain) Size() int64 { return m.r.Size() }

// The finding of issue 16: a split archive, --overwrite, a large file
// written in the background, then a symlink of the same name to a victim
// outside the target. The background writer used to chmod the path after
// writing, through the symlink: the victim went from 0600 to 4777. The
// test forces that interleaving (the writer has the file open when the
// symlink entry comes and finishes after it), then lets the two race
// freely; the victim keeps its mode, owner and contents every time, and
// the extraction fails naming the duplicate.
func TestExtractDuplicateRace(t *testing.T) {
	n := 10
	if testing.Short() {
		n = 3
	}
	run := func(t *testing.T, forced bool) {
		w := newOutside(t)
		var race pxartest.Case
		for _, c := range hostileCases(t, w.Outside) {
			if strings.HasPrefix(c.Name, "race:") {
				race = c
			}
		}
		before := w.snapshot(t)
		o := pxar.ExtractOptions{Overwrite: true, AllowExistingDirs: true, OnWarning: func(string) {}}
		var meta io.Reader = bytes.NewReader(race.Meta)
		var payload io.ReaderAt = bytes.NewReader(race.Payload)
		o.BackgroundPayload = bytes.NewReader(race.Payload)
		if forced {
			started, release := make(chan struct{}), make(chan struct{})
			meta = &raceMeta{r: bytes.NewReader(race.Meta), at: int64(race.RaceMetaAt), started: started}
			payload = raceMain{r: bytes.NewReader(race.Payload), off: int64(race.RacePayloadAt), once: &sync.Once{}, release: release}
			o.BackgroundPayload = raceBg{r: bytes.NewReader(race.Payload), once: &sync.Once{}, started: started, release: release}
		}
		err := pxar.ExtractSplit(meta, payload, w.Target, o)
		if after := w.snapshot(t); after != before {
			t.Fatalf("outside the target changed (extract error: %v):\n%s", err, pxartest.Diff(before, after))
		}
		if err == nil || !strings.Contains(err.Error(), `duplicate name "f"`) {
			t.Fatalf("error %v, want one naming the duplicate f", err)
		}
	}
	for i := range n {
		t.Run(fmt.Sprintf("forced-%d", i), func(t *testing.T) { run(t, true) })
	}
	for i := range 5 * n {
		t.Run(fmt.Sprintf("free-%d", i), func(t *testing.T) { run(t, false) })
	}
}

// A hardlink whose target path runs through a symlink the archive made
// (s -> outside, h -> s/secret) is refused: the restored h used to be a
// hardlink of the outside file.
func TestExtractHardlinkThroughSymlink(t *testing.T) {
	for _, p := range hostilePaths {
		t.Run(p.name, func(t *testing.T) {
			w := newOutside(t)
			var c pxartest.Case
			for _, k := range hostileCases(t, w.Outside) {
				if k.Name == "hardlink through a symlink" {
					c = k
				}
			}
			err := p.run(c, w.Target, pxar.ExtractOptions{})
			var st unix.Stat_t
			if unix.Lstat(filepath.Join(w.Outside, pxartest.Secret), &st) != nil || st.Nlink != 1 {
				t.Fatalf("the outside file has %d links now", st.Nlink)
			}
			if err == nil || !strings.Contains(err.Error(), "symlink") {
				t.Fatalf("error %v, want a refusal of the path through a symlink", err)
			}
			if _, err := os.Lstat(filepath.Join(w.Target, "h")); err == nil {
				t.Fatal("h was created")
			}
		})
	}
}

// A symlink d -> outside and then a directory d holding files: nothing is
// written through d, whatever the options.
func TestExtractDirectoryThroughSymlink(t *testing.T) {
	for _, p := range hostilePaths {
		for _, ow := range []bool{false, true} {
			t.Run(fmt.Sprintf("%s/overwrite=%v", p.name, ow), func(t *testing.T) {
				w := newOutside(t)
				var c pxartest.Case
				for _, k := range hostileCases(t, w.Outside) {
					if k.Name == "directory through a symlink" {
						c = k
					}
				}
				if p.name == "split-background" || p.name == "split" {
					o := pxar.ExtractOptions{Overwrite: ow, AllowExistingDirs: ow}
					if p.name == "split-background" {
						o.BackgroundPayload = bytes.NewReader(c.Payload)
					}
					// The decoder alone refuses the duplicate d.
					d := pxar.NewDecoder(bytes.NewReader(c.Meta))
					var derr error
					for derr == nil {
						_, derr = d.Next()
					}
					if !strings.Contains(derr.Error(), `duplicate name "d" in directory "/"`) {
						t.Errorf("decoder: %v", derr)
					}
				}
				err := p.run(c, w.Target, pxar.ExtractOptions{Overwrite: ow, AllowExistingDirs: ow})
				if err == nil {
					t.Fatal("extracted without an error")
				}
				for _, name := range []string{"x", "y"} {
					if _, err := os.Lstat(filepath.Join(w.Outside, name)); err == nil {
						t.Fatalf("%s was written outside the target", name)
					}
				}
			})
		}
	}
}

// A target given as a symlink by the user is followed (it is the user's
// choice, not the archive's).
func TestExtractIntoSymlinkedTarget(t *testing.T) {
	for _, p := range hostilePaths {
		t.Run(p.name, func(t *testing.T) {
			dir := t.TempDir()
			real := filepath.Join(dir, "real")
			if err := os.Mkdir(real, 0o755); err != nil {
				t.Fatal(err)
			}
			link := filepath.Join(dir, "link")
			if err := os.Symlink("real", link); err != nil {
				t.Fatal(err)
			}
			w := newOutside(t)
			var c pxartest.Case
			for _, k := range hostileCases(t, w.Outside) {
				if k.Name == "hardlink with an absolute target" {
					c = k
				}
			}
			// Just the file a: cut the hardlink by pattern.
			err := p.run(c, link, pxar.ExtractOptions{Patterns: mustPatterns(t, "a")})
			if err != nil {
				t.Fatal(err)
			}
			if got, _ := os.ReadFile(filepath.Join(real, "a")); string(got) != "pwned\n" {
				t.Fatalf("a in the symlinked target: %q", got)
			}
		})
	}
}
