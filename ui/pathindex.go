package ui

import (
	"bytes"
	"container/heap"
	"context"
	"runtime"
	"sync"
)

// PathIndex is a fuzzy finder over many paths (a whole catalog). Paths live
// in one byte arena, lower-cased for matching, so a search is a scan with
// bytes.IndexByte per query character; a longer query only rescans the
// previous query's hits, and a search checks its context so stale ones stop.
type PathIndex struct {
	arena []byte // lower-cased paths, back to back
	orig  []string
	offs  []uint32 // start of each path in arena; len(orig)+1 entries
}

// NewPathIndex indexes paths.
func NewPathIndex(paths []string) *PathIndex {
	total := 0
	for _, p := range paths {
		total += len(p)
	}
	ix := &PathIndex{arena: make([]byte, 0, total), orig: paths, offs: make([]uint32, 0, len(paths)+1)}
	for _, p := range paths {
		ix.offs = append(ix.offs, uint32(len(ix.arena)))
		ix.arena = append(ix.arena, lower(p)...)
	}
	ix.offs = append(ix.offs, uint32(len(ix.arena)))
	return ix
}

func lower(s string) []byte {
	b := []byte(s)
	for i, c := range b {
		if 'A' <= c && c <= 'Z' {
			b[i] = c + 32
		}
	}
	return b
}

// Len is the number of indexed paths.
func (ix *PathIndex) Len() int { return len(ix.orig) }

// Path returns path i.
func (ix *PathIndex) Path(i int) string { return ix.orig[i] }

// PathMatch is one hit: the path's index, its score and the byte positions
// that matched (for highlighting).
type PathMatch struct {
	Index     int
	Score     int
	Positions []int
}

// SearchResult is the answer to one query; pass it to the next Search so
// a longer query narrows it instead of scanning everything.
type SearchResult struct {
	Query string
	hits  []int32
	Top   []PathMatch
	Total int
}

// Search finds the paths containing query's characters in order and
// returns the best limit of them. prev may be nil. It returns nil when ctx
// was cancelled.
func (ix *PathIndex) Search(ctx context.Context, query string, prev *SearchResult, limit int) *SearchResult {
	q := lower(query)
	res := &SearchResult{Query: query}
	if len(q) == 0 {
		return res
	}
	var cand []int32
	narrowing := prev != nil && prev.Query != "" && len(prev.Query) <= len(query) && string(lower(prev.Query)) == string(q[:len(prev.Query)])
	if narrowing {
		cand = prev.hits
	}
	n := len(ix.orig)
	if narrowing {
		n = len(cand)
	}
	workers := min(runtime.GOMAXPROCS(0), 8)
	if n < 50000 {
		workers = 1
	}
	type part struct {
		hits []int32
		top  topK
	}
	parts := make([]part, workers)
	var wg sync.WaitGroup
	cancelled := false
	var mu sync.Mutex
	for w := 0; w < workers; w++ {
		wg.Add(1)
		go func(w int) {
			defer wg.Done()
			lo, hi := n*w/workers, n*(w+1)/workers
			p := &parts[w]
			p.top.limit = limit
			for k := lo; k < hi; k++ {
				if (k-lo)&0xffff == 0xffff && ctx.Err() != nil {
					mu.Lock()
					cancelled = true
					mu.Unlock()
					return
				}
				i := int32(k)
				if narrowing {
					i = cand[k]
				}
				path := ix.arena[ix.offs[i]:ix.offs[i+1]]
				score, ok := scorePath(path, q)
				if !ok {
					continue
				}
				p.hits = append(p.hits, i)
				p.top.offer(PathMatch{Index: int(i), Score: score})
			}
		}(w)
	}
	wg.Wait()
	if cancelled || ctx.Err() != nil {
		return nil
	}
	var all topK
	all.limit = limit
	for _, p := range parts {
		res.hits = append(res.hits, p.hits...)
		for _, m := range p.top.items {
			all.offer(m)
		}
	}
	res.Total = len(res.hits)
	res.Top = all.sorted()
	for i := range res.Top {
		res.Top[i].Positions = positions(ix.arena[ix.offs[res.Top[i].Index]:ix.offs[res.Top[i].Index+1]], q)
	}
	return res
}

// scorePath checks that q is a subsequence of path and scores the hit: the
// query as a whole in the last component is best, then anywhere; shorter
// paths win ties.
func scorePath(path, q []byte) (int, bool) {
	pos := 0
	for _, c := range q {
		j := bytes.IndexByte(path[pos:], c)
		if j < 0 {
			return 0, false
		}
		pos += j + 1
	}
	score := 0
	base := path[bytes.LastIndexByte(path, '/')+1:]
	if i := bytes.Index(base, q); i >= 0 {
		score += 2000
		if i == 0 {
			score += 500
		}
		if len(base) == len(q) {
			score += 500
		}
	} else if bytes.Contains(path, q) {
		score += 1000
	}
	score -= len(path)
	return score, true
}

// positions are the bytes to highlight: the whole query in the last
// component when it is there, else a greedy subsequence.
func positions(path, q []byte) []int {
	slash := bytes.LastIndexByte(path, '/') + 1
	if i := bytes.Index(path[slash:], q); i >= 0 {
		out := make([]int, len(q))
		for k := range q {
			out[k] = slash + i + k
		}
		return out
	}
	if i := bytes.Index(path, q); i >= 0 {
		out := make([]int, len(q))
		for k := range q {
			out[k] = i + k
		}
		return out
	}
	var out []int
	pos := 0
	for _, c := range q {
		j := bytes.IndexByte(path[pos:], c)
		if j < 0 {
			return out
		}
		out = append(out, pos+j)
		pos += j + 1
	}
	return out
}

// topK keeps the best matches in a min-heap.
type topK struct {
	limit int
	items []PathMatch
}

func (t *topK) Len() int { return len(t.items) }
func (t *topK) Less(i, j int) bool {
	a, b := t.items[i], t.items[j]
	if a.Score != b.Score {
		return a.Score < b.Score
	}
	return a.Index > b.Index
}
func (t *topK) Swap(i, j int) { t.items[i], t.items[j] = t.items[j], t.items[i] }
func (t *topK) Push(x any)    { t.items = append(t.items, x.(PathMatch)) }
func (t *topK) Pop() any {
	x := t.items[len(t.items)-1]
	t.items = t.items[:len(t.items)-1]
	return x
}

func (t *topK) offer(m PathMatch) {
	if t.limit <= 0 {
		return
	}
	if len(t.items) < t.limit {
		heap.Push(t, m)
		return
	}
	top := t.items[0]
	if m.Score > top.Score || (m.Score == top.Score && m.Index < top.Index) {
		t.items[0] = m
		heap.Fix(t, 0)
	}
}

// sorted empties the heap, best first.
func (t *topK) sorted() []PathMatch {
	out := make([]PathMatch, len(t.items))
	for i := len(out) - 1; i >= 0; i-- {
		out[i] = heap.Pop(t).(PathMatch)
	}
	return out
}
