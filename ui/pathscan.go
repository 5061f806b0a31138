package ui

import (
	"bytes"
	"context"
	"math/bits"
	"sort"
)

// The scan of a search (Search in pathsearch.go): directory states, then
// run by run, a machine word of paths at a time.

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
