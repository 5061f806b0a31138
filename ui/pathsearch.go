package ui

import (
	"bytes"
	"container/heap"
	"context"
	"math/bits"
	"runtime"
	"sort"
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
	named []int32  // the paths whose base name starts with the query
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

// subStates works out, for every directory, how many of the query's bytes
// its prefix (path and "/") holds as a subsequence. Parents come first.
func (ix *PathIndex) subStates(qs *query) []int32 {
	st := make([]int32, len(ix.dParent))
	for d := 1; d < len(st); d++ {
		st[d] = ix.feedSub(qs, st[ix.dParent[d]], int32(d))
	}
	return st
}

// nextSubStates is subStates of qs from prev, the states of qs less its
// last byte c: a directory that did not hold prev whole does not hold qs
// either; one whose parent held prev holds qs when its parent does or its
// name (or "/") has c; only a directory where prev was completed needs
// its name read again.
func (ix *PathIndex) nextSubStates(qs *query, prev []int32) []int32 {
	m := qs.m - 1
	c := qs.q[m]
	st := make([]int32, len(ix.dParent))
	for d := 1; d < len(st); d++ {
		s := prev[d]
		if s < m {
			st[d] = s
			continue
		}
		p := ix.dParent[d]
		switch {
		case prev[p] < m:
			s = ix.feedSub(qs, st[p], int32(d))
		case st[p] > m || c == '/' || charExact[c] && ix.dNameMask[d]&charBit(c) != 0:
			s = m + 1
		case !charExact[c] && bytes.IndexByte(ix.dlow[ix.dStart[d]:ix.dEnd[d]], c) >= 0:
			s = m + 1
		}
		st[d] = s
	}
	return st
}

// feedSub moves a subsequence state over directory d's name and "/"; a
// name without the next byte wanted is skipped whole.
func (ix *PathIndex) feedSub(qs *query, s, d int32) int32 {
	q, m := qs.q, qs.m
	if s >= m {
		return s
	}
	if c := q[s]; !charExact[c] || ix.dNameMask[d]&charBit(c) != 0 {
		for _, c := range ix.dlow[ix.dStart[d]:ix.dEnd[d]] {
			if c == q[s] {
				if s++; s == m {
					return s
				}
			}
		}
	}
	if q[s] == '/' {
		s++
	}
	return s
}

// lazySub is subStates for the directories a few candidates need: -1 is
// not worked out yet.
type lazySub struct {
	ix    *PathIndex
	qs    *query
	st    []int32
	chain []int32
}

func newLazySub(ix *PathIndex, qs *query) *lazySub {
	st := make([]int32, len(ix.dParent))
	for d := 1; d < len(st); d++ {
		st[d] = -1
	}
	return &lazySub{ix: ix, qs: qs, st: st}
}

// of works out directory d's state (and its ancestors').
func (l *lazySub) of(d int32) int32 {
	if v := l.st[d]; v >= 0 {
		return v
	}
	l.chain = l.chain[:0]
	for ; l.st[d] < 0; d = l.ix.dParent[d] {
		l.chain = append(l.chain, d)
	}
	s := l.st[d]
	for j := len(l.chain) - 1; j >= 0; j-- {
		s = l.ix.feedSub(l.qs, s, l.chain[j])
		l.st[l.chain[j]] = s
	}
	return s
}

// kmpMemo is one worker's KMP states of directory prefixes, worked out
// only for the directories that need them (state+1; 0: not yet).
type kmpMemo struct {
	ix    *PathIndex
	qs    *query
	memo  []int32
	chain []int32
}

func (k *kmpMemo) state(d int32) int32 {
	if d == RootDir {
		return 0
	}
	if k.memo == nil {
		k.memo = make([]int32, len(k.ix.dParent))
	}
	if v := k.memo[d]; v != 0 {
		return v - 1
	}
	k.chain = k.chain[:0]
	for ; d != RootDir && k.memo[d] == 0; d = k.ix.dParent[d] {
		k.chain = append(k.chain, d)
	}
	s := int32(0)
	if d != RootDir {
		s = k.memo[d] - 1
	}
	delta := k.qs.delta
	for j := len(k.chain) - 1; j >= 0; j-- {
		d := k.chain[j]
		for _, c := range k.ix.dlow[k.ix.dStart[d]:k.ix.dEnd[d]] {
			s = delta[s<<8|int32(c)]
		}
		s = delta[s<<8|'/']
		k.memo[d] = s + 1
	}
	return s
}

// prefixTop offers every path whose base name starts with the query (the
// two best tiers) to a top list, from the name index, or from the previous
// query's such paths when it is a prefix of this one. It returns them too.
func (ix *PathIndex) prefixTop(qs *query, prev []int32, narrowing bool, limit int) (*topK, []int32) {
	t := &topK{limit: limit}
	q, m := qs.q, qs.m
	cand := prev
	if !narrowing || m <= 2 {
		var lo, hi int32
		if m == 1 {
			lo, hi = ix.nameAt[int(q[0])<<8], ix.nameAt[(int(q[0])+1)<<8]
		} else {
			k := int(q[0])<<8 | int(q[1])
			lo, hi = ix.nameAt[k], ix.nameAt[k+1]
		}
		cand = ix.byName[lo:hi]
	}
	var out []int32
	if m > 2 {
		out = make([]int32, 0, len(cand)/4)
	} else {
		out = cand
	}
	for _, i := range cand {
		base := ix.low[ix.offs[i]:ix.offs[i+1]]
		if m > 2 {
			if !bytes.HasPrefix(base, q) {
				continue
			}
			out = append(out, i)
		}
		score := 2500
		if len(base) == len(q) {
			score = 3000
		}
		t.offer(PathMatch{Index: int(i), Score: score - int(ix.dLen[ix.parent[i]]) - len(base)})
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
	var prevNamed []int32
	if narrowing {
		from, prevNamed = prev.hits, prev.named
	}
	pre, named := ix.prefixTop(qs, prevNamed, narrowing, limit)
	res.named = named
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

// scanner is one worker's search over a range of the index: it finds the
// hits and, when scoring, offers the paths the name index did not.
type scanner struct {
	ix        *PathIndex
	qs        *query
	st        []int32  // subStates (run)
	lazy      *lazySub // or worked out on demand (sparse)
	from      []uint64
	out       []uint64
	top       *topK
	scoring   bool
	floor     int // the name index's last score, when haveFloor
	haveFloor bool
	kmp       kmpMemo
	kmpDir    int32 // the KMP state of the directory entries works on; -1: not yet
	total     int
}

// run scans paths lo..hi (lo a multiple of 64, so no other worker writes
// its words) run by run; false means ctx was cancelled.
func (sc *scanner) run(ctx context.Context, lo, hi int) bool {
	ix, qs := sc.ix, sc.qs
	r := sort.Search(len(ix.runDir), func(r int) bool { return int(ix.runs[r+1]) > lo })
	for ; r < len(ix.runDir) && int(ix.runs[r]) < hi; r++ {
		if r&1023 == 0 && ctx.Err() != nil {
			return false
		}
		a, b := max(int(ix.runs[r]), lo), min(int(ix.runs[r+1]), hi)
		d := ix.runDir[r]
		score := sc.scoring
		if score {
			// The best the run can score: a base name holding the query
			// needs all its characters in the run's names.
			tier := 2000
			if ix.runMask[r]&qs.exact != qs.exact || ix.runBg[r]&qs.pairs != qs.pairs {
				tier = sc.pathTier(d)
			}
			score = sc.mayEnter(tier - int(ix.dLen[d]) - int(ix.runMin[r]))
		}
		if sc.st[d] == qs.m && !score {
			sc.bulk(a, b)
			continue
		}
		sc.entries(a, b, d, sc.st[d], score)
	}
	return true
}

// sparse visits the candidates one by one; false means ctx was cancelled.
func (sc *scanner) sparse(ctx context.Context) bool {
	for w, word := range sc.from {
		if w&1023 == 0 && ctx.Err() != nil {
			return false
		}
		for ; word != 0; word &= word - 1 {
			i := w<<6 | bits.TrailingZeros64(word)
			d := sc.ix.parent[i]
			sc.entries(i, i+1, d, sc.lazy.of(d), sc.scoring)
		}
	}
	return true
}

// pathTier is the best tier a path of directory d reaches when its base
// name does not hold the query: 1000 when the query may run through the
// directory's path into the base name, else 0.
func (sc *scanner) pathTier(d int32) int {
	if sc.kmp.state(d) > 0 {
		return 1000
	}
	return 0
}

// mayEnter tells whether a score can still make the list.
func (sc *scanner) mayEnter(best int) bool {
	t := sc.top
	return !(sc.haveFloor && best < sc.floor) && !(len(t.items) >= t.limit && best < t.items[0].Score)
}

// wordRange is the mask of bits a..b of word w.
func wordRange(w, a, b int) uint64 {
	mask := ^uint64(0)
	if lo := a - w<<6; lo > 0 {
		mask &= ^uint64(0) << lo
	}
	if hi := b - w<<6; hi < 64 {
		mask &= 1<<hi - 1
	}
	return mask
}

// bulk records paths a..b (those in from, when narrowing) as hits: their
// directory holds the whole query.
func (sc *scanner) bulk(a, b int) {
	for w := a >> 6; w <= (b-1)>>6; w++ {
		mask := wordRange(w, a, b)
		if sc.from != nil {
			mask &= sc.from[w]
		}
		sc.out[w] |= mask
		sc.total += bits.OnesCount64(mask)
	}
}

// entries checks paths a..b of directory d, whose prefix holds dsub of
// the query's bytes, a machine word of paths at a time: first which are
// hits (character sets before bytes; without a branch per path when one
// byte is left), then, when scoring, each hit's tier bound before the
// work that tells whether it reaches the tier.
func (sc *scanner) entries(a, b int, d, dsub int32, scoring bool) {
	ix, qs := sc.ix, sc.qs
	q, m, qmask := qs.q, qs.m, qs.mask
	dmask, dlen, exact, pairs := ix.dMask[d], int(ix.dLen[d]), qs.exact, qs.pairs
	noBase := -1 // pathTier(d), once needed
	// What the base name must still hold, after the directory.
	restExact := qs.suffixExact[dsub]
	restOne := dsub == m-1 && charExact[q[dsub]]
	var restBit uint8
	if restOne {
		restBit = charBits[q[dsub]]
	}
	sc.kmpDir = -1
	for w := a >> 6; w <= (b-1)>>6; w++ {
		cand := wordRange(w, a, b)
		if sc.from != nil {
			cand &= sc.from[w]
		}
		if cand == 0 {
			continue
		}
		var got uint64
		switch {
		case dsub == m:
			got = cand
		case restOne:
			for i, end := max(a, w<<6), min(b, w<<6+64); i < end; i++ {
				got |= (ix.bmask[i] >> restBit & 1) << (i & 63)
			}
			got &= cand
		default:
			for c := cand; c != 0; c &= c - 1 {
				i := w<<6 | bits.TrailingZeros64(c)
				bmask := ix.bmask[i]
				if (dmask|bmask)&qmask != qmask || bmask&restExact != restExact {
					continue
				}
				// The query's rest must follow in the base name.
				sub := dsub
				for _, c := range ix.low[ix.offs[i]:ix.offs[i+1]] {
					if c == q[sub] {
						if sub++; sub == m {
							break
						}
					}
				}
				if sub == m {
					got |= 1 << (i & 63)
				}
			}
		}
		sc.out[w] |= got
		sc.total += bits.OnesCount64(got)
		if !scoring {
			continue
		}
		if noBase < 0 {
			noBase = sc.pathTier(d)
		}
		for ; got != 0; got &= got - 1 {
			// The tier's bound first: a base name lacking one of the
			// query's characters cannot hold it.
			i := w<<6 | bits.TrailingZeros64(got)
			bound := noBase
			if ix.bmask[i]&exact == exact && ix.bgmask[i]&pairs == pairs {
				bound = 2000
			}
			if sc.mayEnter(bound - dlen - int(ix.offs[i+1]-ix.offs[i])) {
				sc.score(i, d)
			}
		}
	}
}

// score offers hit i of directory d to the top list, unless its tier's
// bound says it cannot make it or the name index offered it already.
func (sc *scanner) score(i int, d int32) {
	ix, qs := sc.ix, sc.qs
	q, m := qs.q, qs.m
	holds := ix.bmask[i]&qs.exact == qs.exact && ix.bgmask[i]&qs.pairs == qs.pairs
	base := ix.low[ix.offs[i]:ix.offs[i+1]]
	length := int(ix.dLen[d]) + len(base)
	if !holds {
		// The base name cannot hold the query: the path may, through
		// the directory's path (the automaton's state after it).
		if sc.kmpDir < 0 {
			sc.kmpDir = sc.kmp.state(d)
		}
		if sc.kmpDir == 0 {
			if sc.mayEnter(-length) {
				sc.top.offer(PathMatch{Index: i, Score: -length})
			}
			return
		}
		if !sc.mayEnter(1000 - length) {
			return
		}
	} else if !sc.mayEnter(2000 - length) {
		return
	}
	at := -1
	switch {
	case !holds:
	case m == 1:
		at = bytes.IndexByte(base, q[0])
	case len(base) >= len(q):
		at = bytes.Index(base, q)
	}
	score := 0
	switch {
	case at == 0:
		return // the name index offered it
	case at > 0:
		score = 2000
	default:
		if sc.kmpDir < 0 {
			sc.kmpDir = sc.kmp.state(d)
		}
		s := sc.kmpDir
		for _, c := range base {
			if s == m {
				break
			}
			s = qs.delta[s<<8|int32(c)]
		}
		if s == m {
			score = 1000
		}
	}
	if sc.mayEnter(score - length) {
		sc.top.offer(PathMatch{Index: i, Score: score - length})
	}
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
