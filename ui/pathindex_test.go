package ui

import (
	"context"
	"fmt"
	"math/rand"
	"testing"
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
