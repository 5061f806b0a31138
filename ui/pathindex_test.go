package ui

import (
	"context"
	"fmt"
	"math/rand"
	"sort"
	"strings"
	"testing"

	"cairn/internal/testutil"
)

func TestPathIndexRanking(t *testing.T) {
	ix := NewPathIndex([]string{"/home/host-link", "/etc/hostname.hard", "/etc/hostname", "/var/log/big.log", "/ETC/HOSTNAMES/x"})
	res := ix.Search(context.Background(), "hostname", nil, 10)
	if res.Total != 3 || ix.Path(res.Top[0].Index) != "/etc/hostname" {
		t.Fatalf("got %d hits, first %q", res.Total, ix.Path(res.Top[0].Index))
	}
	if p := res.Top[0].Positions; len(p) != 8 || p[0] != 5 {
		t.Errorf("positions %v", p)
	}
	narrower := ix.Search(context.Background(), "hostname.h", res, 10)
	if narrower.Total != 1 || ix.Path(narrower.Top[0].Index) != "/etc/hostname.hard" {
		t.Fatalf("narrowed: %+v", narrower)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if r := NewPathIndex(synthPaths(200000)).Search(ctx, "a", nil, 10); r != nil {
		t.Error("a cancelled search returned results")
	}
}

func synthPaths(n int) []string {
	r := rand.New(rand.NewSource(1))
	words := []string{"etc", "usr", "lib", "share", "doc", "home", "user", "src", "cairn", "pxar", "kernel", "drivers", "net", "include", "python3", "site-packages", "node_modules", "config", "cache", "local"}
	out := make([]string, n)
	for i := range out {
		p := ""
		for j, d := 0, 2+r.Intn(6); j < d; j++ {
			p += "/" + words[r.Intn(len(words))]
		}
		out[i] = fmt.Sprintf("%s/file%d.txt", p, i)
	}
	return out
}

// BenchmarkPathIndex types a query one key at a time over 1,000,000 paths,
// as the find screen does; ns/op is per keystroke (target: under 50 ms).
func BenchmarkPathIndex(b *testing.B) {
	ix := NewPathIndex(synthPaths(1000000))
	query := "kernel/drv/file12"
	b.ResetTimer()
	for b.Loop() {
		var prev *SearchResult
		for i := 1; i <= len(query); i++ {
			prev = ix.Search(context.Background(), query[:i], prev, 50)
		}
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*len(query))/1e6, "ms/keystroke")
}

// BenchmarkPathIndexFirstKey is the worst keystroke: one character that
// matches nearly every path, with nothing to narrow from.
func BenchmarkPathIndexFirstKey(b *testing.B) {
	ix := NewPathIndex(synthPaths(1000000))
	b.ResetTimer()
	for b.Loop() {
		ix.Search(context.Background(), "e", nil, 50)
	}
}

// refScore is the plain definition the index must agree with: q a
// subsequence of the lower-cased path; the query whole in the base name is
// best (+2000, at its start +500, all of it +500), whole anywhere +1000;
// shorter paths win.
func refScore(path, q string) (int, bool) {
	p := strings.ToLower(path)
	q = strings.ToLower(q)
	pos := 0
	for i := 0; i < len(q); i++ {
		j := strings.IndexByte(p[pos:], q[i])
		if j < 0 {
			return 0, false
		}
		pos += j + 1
	}
	score := 0
	base := p[strings.LastIndexByte(p, '/')+1:]
	if i := strings.Index(base, q); i >= 0 {
		score += 2000
		if i == 0 {
			score += 500
		}
		if len(base) == len(q) {
			score += 500
		}
	} else if strings.Contains(p, q) {
		score += 1000
	}
	return score - len(p), true
}

// The index finds exactly what the plain definition finds, ranks it the
// same, and narrowing from a shorter query changes nothing.
func TestPathIndexMatchesDefinition(t *testing.T) {
	r := rand.New(rand.NewSource(3))
	paths := synthPaths(60000)
	for i := range paths {
		switch r.Intn(5) {
		case 0:
			paths[i] = strings.ToUpper(paths[i][:3]) + paths[i][3:]
		case 1:
			paths[i] = strings.TrimPrefix(paths[i], "/")
		}
	}
	paths = append(paths, "a", "b/a", "/x/y/", "k/k", "ab/ab/abab", "//x")
	ix := NewPathIndex(paths)
	for i, p := range paths {
		if got := ix.Path(i); got != p {
			t.Fatalf("Path(%d) = %q, want %q", i, got, p)
		}
	}
	for _, q := range []string{"k", "/", "x", "ab", "aba", "usr/l", "file1", "FILE12.T", "lib/share", "e/", "zz", "drivers/net/file5", "é"} {
		var prev *SearchResult
		for n := 1; n <= len(q); n++ {
			sub := q[:n]
			type hit struct{ i, s int }
			var want []hit
			for i, p := range paths {
				if s, ok := refScore(p, sub); ok {
					want = append(want, hit{i, s})
				}
			}
			sort.Slice(want, func(a, b int) bool {
				if want[a].s != want[b].s {
					return want[a].s > want[b].s
				}
				return want[a].i < want[b].i
			})
			for _, from := range []*SearchResult{nil, prev} {
				got := ix.Search(context.Background(), sub, from, 30)
				if got.Total != len(want) {
					t.Fatalf("%q (narrowed %v): %d hits, want %d", sub, from != nil, got.Total, len(want))
				}
				for k := range got.Top {
					if got.Top[k].Index != want[k].i || got.Top[k].Score != want[k].s {
						t.Fatalf("%q (narrowed %v) #%d: %q %d, want %q %d", sub, from != nil, k,
							paths[got.Top[k].Index], got.Top[k].Score, paths[want[k].i], want[k].s)
					}
				}
				if len(got.Top) != min(30, len(want)) {
					t.Fatalf("%q: %d top, want %d", sub, len(got.Top), min(30, len(want)))
				}
			}
			prev = ix.Search(context.Background(), sub, prev, 30)
		}
	}
}

// synthIndex indexes testutil.SynthUsr(n) as the tree's find does.
func synthIndex(n int) *PathIndex {
	b := NewPathIndexBuilder(n)
	dirs := map[*testutil.SynthNode]int32{}
	var walk func(d *testutil.SynthNode, id int32)
	walk = func(d *testutil.SynthNode, id int32) {
		for _, k := range d.Kids {
			if k.Dir {
				dirs[k] = b.AddDir(id, []byte(k.Name))
				continue
			}
			b.Add(id, []byte(k.Name))
		}
		for _, k := range d.Kids {
			if k.Dir {
				walk(k, dirs[k])
			}
		}
	}
	walk(testutil.SynthUsr(n), RootDir)
	return b.Index()
}

// BenchmarkPathIndexUsr types the find benchmark's queries one key at a
// time over a 1,000,000-path tree shaped like /usr; ms/key is the mean
// cost of a keystroke's search.
func BenchmarkPathIndexUsr(b *testing.B) {
	ix := synthIndex(1_000_000)
	queries := []string{"libc.so", "python3", "init", "readme.md", "x86_64-linux", "locale/de", "zqxj", "e", "a", "share/doc/c"}
	keys := 0
	b.ResetTimer()
	for b.Loop() {
		for _, q := range queries {
			var prev *SearchResult
			for i := 1; i <= len(q); i++ {
				prev = ix.Search(context.Background(), q[:i], prev, 200)
				keys++
			}
		}
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(keys)/1e6, "ms/key")
}
