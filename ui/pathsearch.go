package ui

import (
	"bytes"
	"container/heap"
	"context"
	"math/bits"
	"runtime"
	"sync"
	"sync/atomic"
)

// A query matches the paths that hold its characters in order (lower-
// cased). Hits are ranked: the query whole in the base name is best (at
// its start better, all of it best), then whole anywhere in the path;
// shorter paths win ties, then lower indexes. Scores, exactly:
//
//	base name == q          3000 - len(path)
//	base name starts with q 2500 - len(path)
//	base name holds q       2000 - len(path)
//	path holds q            1000 - len(path)
//	otherwise                  0 - len(path)
//
// A search has a keystroke's time, on a million paths, so it decides what
// it can per directory and per run of siblings: how far the query got
// along each directory's path is worked out once; a run whose directory
// holds the whole query is a run of hits, set a machine word at a time.
// The best tiers come from the name index (byName) before the scan, and
// the scan scores only paths whose tier bound can still make the list.

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
	hits  []uint64 // bit i: path i matched
	named *named   // where the paths whose base name starts with the query are
	subs  []int32  // subStates, when worked out for every directory
	Top   []PathMatch
	Total int
}

// Hits calls fn with every path that matched, in index order.
func (r *SearchResult) Hits(fn func(i int)) {
	for w, word := range r.hits {
		for ; word != 0; word &= word - 1 {
			fn(w<<6 | bits.TrailingZeros64(word))
		}
	}
}

// query is a lower-cased query and what matching it needs.
type query struct {
	q    []byte
	m    int32
	mask uint64 // the query's characters
	// exact is the part of mask whose characters have a bit of their
	// own: a base name lacking one of them cannot hold the query.
	exact uint64
	pairs uint64 // pairMask of q
	// suffix[k] and suffixExact[k] are mask and exact of q[k:].
	suffix, suffixExact []uint64
	delta               []int32 // KMP automaton: state<<8|byte → state; m (a match) stays m
}

func newQuery(s string) *query {
	q := lower(s)
	m := int32(len(q))
	qs := &query{q: q, m: m, mask: maskOf(q), delta: make([]int32, (len(q)+1)*256)}
	qs.suffix, qs.suffixExact = make([]uint64, m+1), make([]uint64, m+1)
	for k := m - 1; k >= 0; k-- {
		c := q[k]
		qs.suffix[k] = qs.suffix[k+1] | charBit(c)
		qs.suffixExact[k] = qs.suffixExact[k+1]
		if charExact[c] {
			qs.suffixExact[k] |= charBit(c)
		}
	}
	qs.exact = qs.suffixExact[0]
	qs.pairs = pairMask(q)
	// The automaton of the longest prefix of q that ends here.
	var fail int32
	for st := int32(0); st <= m; st++ {
		for c := 0; c < 256; c++ {
			switch {
			case st == m:
				qs.delta[st<<8|int32(c)] = m
			case q[st] == byte(c):
				qs.delta[st<<8|int32(c)] = st + 1
			case st == 0:
				qs.delta[c] = 0
			default:
				qs.delta[st<<8|int32(c)] = qs.delta[fail<<8|int32(c)]
			}
		}
		if st > 0 && st < m {
			fail = qs.delta[fail<<8|int32(q[st])]
		}
	}
	return qs
}

// named is where the paths whose base name starts with a query are in the
// name index (byName positions): the range lo..hi, or the list pos.
type named struct {
	lo, hi int32
	pos    []int32
}

// prefixTop offers the paths whose base name starts with the query (the
// two best tiers) to a top list, from the name index: its lists run from
// the shortest path, so the first limit of each tier are all that can
// make the list. It returns where those paths are, for the next query,
// which looks only among them.
func (ix *PathIndex) prefixTop(qs *query, prev *named, limit int) (*topK, *named) {
	t := &topK{limit: limit}
	q, m := qs.q, int(qs.m)
	offerAt := func(pos int32, tier int) {
		i := ix.byName[pos]
		t.offer(PathMatch{Index: int(i), Score: tier - int(ix.dLen[ix.parent[i]]) - int(ix.offs[i+1]-ix.offs[i])})
	}
	k := int(q[0]) << 8
	if m >= 2 {
		k |= int(q[1])
	}
	lo, mid, hi := ix.nameAt[2*k], ix.nameAt[2*k+1], ix.nameAt[2*k+2]
	if m == 1 {
		// One byte: its names of one byte are the bucket b0 0; the rest
		// of the byte's list has them too, skipped.
		for pos := lo; pos < min(hi, lo+int32(limit)); pos++ {
			offerAt(pos, 3000)
		}
		n := 0
		for _, i := range ix.byFirst[ix.firstAt[q[0]]:ix.firstAt[int(q[0])+1]] {
			if ix.offs[i+1]-ix.offs[i] == 1 {
				continue
			}
			if n++; n > limit {
				break
			}
			t.offer(PathMatch{Index: int(i), Score: 2500 - int(ix.dLen[ix.parent[i]]) - int(ix.offs[i+1]-ix.offs[i])})
		}
		return t, nil
	}
	if m == 2 {
		for pos := lo; pos < min(mid, lo+int32(limit)); pos++ {
			offerAt(pos, 3000)
		}
		for pos := mid; pos < min(hi, mid+int32(limit)); pos++ {
			offerAt(pos, 2500)
		}
		return t, &named{lo: lo, hi: hi}
	}
	// Three bytes or more: compare the heads (the first 8 bytes), then
	// the rest of a longer query in the arena.
	qh, mask := head8(q), ^uint64(0)
	if m < 8 {
		mask <<= 8 * (8 - m)
	}
	out := &named{pos: make([]int32, 0, 1024)}
	n := 0
	test := func(pos int32) {
		if ix.nameHead[pos]&mask != qh {
			return
		}
		if m > 8 {
			i := ix.byName[pos]
			if !bytes.HasPrefix(ix.low[ix.offs[i]:ix.offs[i+1]], q) {
				return
			}
		}
		out.pos = append(out.pos, pos)
		switch {
		case int(ix.nameLen[pos]) == m:
			offerAt(pos, 3000)
		case n < limit:
			n++
			offerAt(pos, 2500)
		}
	}
	if prev != nil && prev.pos != nil {
		for _, pos := range prev.pos {
			test(pos)
		}
	} else {
		if prev != nil {
			lo, hi = prev.lo, prev.hi
		}
		for pos := lo; pos < hi; pos++ {
			test(pos)
		}
	}
	return t, out
}

// Search finds the paths containing query's characters in order and
// returns the best limit of them. prev may be nil. It returns nil when ctx
// was cancelled.
func (ix *PathIndex) Search(ctx context.Context, query string, prev *SearchResult, limit int) *SearchResult {
	res := &SearchResult{Query: query}
	if query == "" {
		return res
	}
	qs := newQuery(query)
	var from []uint64
	narrowing := prev != nil && prev.Query != "" && len(prev.Query) <= len(query) && string(lower(prev.Query)) == string(qs.q[:len(prev.Query)])
	var prevNamed *named
	if narrowing {
		from, prevNamed = prev.hits, prev.named
	}
	pre, names := ix.prefixTop(qs, prevNamed, limit)
	res.named = names
	// When the name index gave a full list that no other tier can reach
	// (2000 at best, less the path's length of at least one), the scan
	// only finds hits.
	floor, haveFloor := 0, false
	if limit > 0 && len(pre.items) >= limit {
		floor, haveFloor = pre.items[0].Score, true
	}
	scoring := limit > 0 && !(haveFloor && floor > 1999)
	n := ix.Len()
	words := (n + 63) / 64
	res.hits = make([]uint64, words)
	newScanner := func(top *topK) *scanner {
		return &scanner{ix: ix, qs: qs, from: from, out: res.hits, top: top,
			scoring: scoring, floor: floor, haveFloor: haveFloor, kmp: kmpMemo{ix: ix, qs: qs}}
	}
	type part struct {
		total int
		top   topK
	}
	var parts []part
	if from != nil && prev.Total*16 < n {
		// Few candidates: visit them, not every run and directory.
		parts = make([]part, 1)
		parts[0].top.limit = limit
		sc := newScanner(&parts[0].top)
		sc.lazy = newLazySub(ix, qs)
		if !sc.sparse(ctx) {
			return nil
		}
		parts[0].total = sc.total
	} else {
		var st []int32
		if narrowing && prev.subs != nil && len(prev.Query) == len(query)-1 {
			st = ix.nextSubStates(qs, prev.subs)
		} else {
			st = ix.subStates(qs)
		}
		res.subs = st
		workers := min(runtime.GOMAXPROCS(0), 8)
		if n < 50000 {
			workers = 1
		}
		parts = make([]part, workers)
		var wg sync.WaitGroup
		var stopped atomic.Bool
		for w := 0; w < workers; w++ {
			wg.Add(1)
			go func(w int) {
				defer wg.Done()
				p := &parts[w]
				p.top.limit = limit
				sc := newScanner(&p.top)
				sc.st = st
				if !sc.run(ctx, min(words*w/workers*64, n), min(words*(w+1)/workers*64, n)) {
					stopped.Store(true)
				}
				p.total = sc.total
			}(w)
		}
		wg.Wait()
		if stopped.Load() {
			return nil
		}
	}
	if ctx.Err() != nil {
		return nil
	}
	all := pre
	for _, p := range parts {
		res.Total += p.total
		for _, m := range p.top.items {
			all.offer(m)
		}
	}
	res.Top = all.sorted()
	for i := range res.Top {
		res.Top[i].Positions = positions(ix.path(res.Top[i].Index, ix.low, ix.dlow), qs.q)
	}
	return res
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
