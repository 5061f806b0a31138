package views

// The find benchmark of issue 17 item 10: a synthetic catalog of 1,000,000
// paths with the depth and name mix of /usr, searched through the Tree
// model as a user types. Targets: p95 per keystroke under 16 ms (the
// model's Update, the search command it returns and the View), opening the
// index under 1 s, memory under 300 MB.

import (
	"bytes"
	"runtime"
	"slices"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	tea "github.com/charmbracelet/bubbletea"

	"cairn/core"
	"cairn/core/catalog"
	"cairn/internal/testutil"
	"cairn/ui"
	"cairn/ui/uitest"
)

// synthUsr writes testutil.SynthUsr(n), a tree shaped like /usr, as the
// catalog of one archive, root.pxar.didx.
func synthUsr(tb testing.TB, n int) *catalog.Reader {
	tb.Helper()
	var buf bytes.Buffer
	w, err := catalog.NewWriter(&buf)
	if err != nil {
		tb.Fatal(err)
	}
	var write func(d *testutil.SynthNode) error
	write = func(d *testutil.SynthNode) error {
		for _, k := range d.Kids {
			var err error
			switch {
			case k.Dir:
				if err = w.StartDirectory([]byte(k.Name)); err == nil {
					if err = write(k); err == nil {
						err = w.EndDirectory()
					}
				}
			case strings.HasSuffix(k.Name, ".so"):
				err = w.AddSymlink([]byte(k.Name))
			default:
				err = w.AddFile([]byte(k.Name), uint64(len(k.Name))*1000, 1700000000)
			}
			if err != nil {
				return err
			}
		}
		return nil
	}
	if err := w.StartDirectory([]byte("root.pxar.didx")); err != nil {
		tb.Fatal(err)
	}
	if err := write(testutil.SynthUsr(n)); err != nil {
		tb.Fatal(err)
	}
	if err := w.EndDirectory(); err != nil {
		tb.Fatal(err)
	}
	if err := w.Finish(); err != nil {
		tb.Fatal(err)
	}
	cr, err := catalog.NewReader(bytes.NewReader(buf.Bytes()), int64(buf.Len()))
	if err != nil {
		tb.Fatal(err)
	}
	return cr
}

var (
	synthOnce sync.Once
	synthCat  *catalog.Reader
)

// benchTree is a Tree over the synthetic catalog, sized 140×40, its
// directory listing shown, without a datastore.
func benchTree(tb testing.TB, cr *catalog.Reader) *Tree {
	tb.Helper()
	c := &ui.Common{RepoName: "bench", Keys: ui.NewKeyMap(), Styles: ui.NewStyles(true)}
	tr := NewTree(c, "", core.Snapshot{Group: brElsa, Time: brT0}, "root.pxar.didx")
	tr.SetSize(140, 37)
	root, err := cr.Lookup("/root.pxar.didx")
	if err != nil {
		tb.Fatal(err)
	}
	tr.Update(catalogLoadedMsg{snap: tr.snap, archive: tr.archive, reader: cr, root: root})
	if tr.reader == nil {
		tb.Fatal("catalog not taken")
	}
	return tr
}

// runSync runs cmd and what its messages lead to synchronously, feeding
// every message to m; timers (cursor blinks) are skipped.
func runSync(m tea.Model, cmd tea.Cmd) {
	queue := []tea.Cmd{cmd}
	for len(queue) > 0 {
		c := queue[0]
		queue = queue[1:]
		if c == nil || uitest.IsTimer(c) {
			continue
		}
		switch msg := c().(type) {
		case nil:
		case tea.BatchMsg:
			queue = append(queue, msg...)
		default:
			if uitest.IsBlink(msg) {
				continue
			}
			_, next := m.Update(msg)
			queue = append(queue, next)
		}
	}
}

// benchQueries are typed one key at a time: 1 to 12 characters, names,
// path fragments, extensions and a miss.
var benchQueries = []string{"libc.so", "python3", "init", "readme.md", "x86_64-linux", "locale/de", "zqxj",
	"pyc", "conf", "kernel/drv", "man1", "share/doc/c", "e", "gtk", "hicolor/scal", "LC_MESSAGES.", "a",
	"usb", "site-pack", "Makefile"}

// BenchmarkFind1M opens the find on a 1,000,000-path catalog and types the
// queries one key at a time. A keystroke's cost is the model's Update, the
// search command it returns (run here, not in the background), the
// result's Update and the View: what stands between a key and the screen.
// It reports the open time (/ until the index is ready and drawn), the
// p50, p95 and max cost of a keystroke, and the live heap with the
// catalog, the tree and its index loaded.
func BenchmarkFind1M(b *testing.B) {
	synthOnce.Do(func() { synthCat = synthUsr(b, 1_000_000) })
	var keys []time.Duration
	var open time.Duration
	var heap uint64
	for b.Loop() {
		tr := benchTree(b, synthCat)
		runtime.GC()
		t0 := time.Now()
		_, cmd := tr.Update(uitest.Press(tr.c.Keys.Find))
		runSync(tr, cmd)
		_ = tr.View()
		open = max(open, time.Since(t0))
		if tr.find.ix == nil || tr.find.ix.Len() < 1_000_000 {
			b.Fatalf("index holds %v paths", tr.find.ix)
		}
		runtime.GC()
		var ms runtime.MemStats
		runtime.ReadMemStats(&ms)
		heap = max(heap, ms.HeapAlloc)
		for _, q := range benchQueries {
			for _, r := range q {
				t := time.Now()
				_, cmd := tr.Update(uitest.Runes(string(r)))
				runSync(tr, cmd)
				_ = tr.View()
				keys = append(keys, time.Since(t))
			}
			if tr.find.last == nil && q != "zqxj" {
				b.Fatalf("no answer for %q", q)
			}
			tr.Update(uitest.Press(tr.c.Keys.Clear))
		}
		runtime.KeepAlive(tr)
	}
	slices.Sort(keys)
	pct := func(p float64) float64 { return float64(keys[int(p*float64(len(keys)-1))]) / 1e6 }
	b.ReportMetric(float64(open)/1e6, "open-ms")
	b.ReportMetric(pct(0.5), "p50-ms/key")
	b.ReportMetric(pct(0.95), "p95-ms/key")
	b.ReportMetric(pct(1), "max-ms/key")
	b.ReportMetric(float64(heap)/(1<<20), "heap-MB")
}

// TestSynthUsrShape keeps the benchmark's catalog honest: a 100,000-entry
// one has the depth mix of /usr.
func TestSynthUsrShape(t *testing.T) {
	cr := synthUsr(t, 100_000)
	depths := map[int]int{}
	total := 0
	if err := cr.Walk(func(p string, e catalog.Entry) error {
		depths[strings.Count(p, "/")-1]++ // below /root.pxar.didx
		total++
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	var ds []int
	for d := range depths {
		ds = append(ds, d)
	}
	sort.Ints(ds)
	t.Logf("entries %d, depths %v", total, depths)
	if total < 100_000 {
		t.Errorf("%d entries", total)
	}
	mid := 0
	for d, n := range depths {
		if d >= 3 && d <= 8 {
			mid += n
		}
	}
	if mid*2 < total {
		t.Errorf("only %d of %d entries 3–8 levels deep: %v", mid, total, depths)
	}
}
