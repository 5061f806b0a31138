package ui

import "strings"

// PathIndex is a fuzzy finder over many paths (a whole catalog). It keeps
// the tree's shape: a path is its directory, shared with its siblings, and
// a base name. Base names live in two byte arenas (lower-cased for
// matching, and as given), so a million paths cost tens of megabytes, not
// a million strings. Searching is in pathsearch.go.
type PathIndex struct {
	low, orig []byte   // base names back to back: lower-cased, as given
	offs      []uint32 // entry i's base name is low[offs[i]:offs[i+1]]
	parent    []int32  // entry i's directory
	bmask     []uint64 // the characters of entry i's base name (charBit)
	bgmask    []uint64 // its pairs of adjacent characters (pairBit)

	// Directories, parents before children; RootDir holds the paths
	// that have no directory part.
	dParent      []int32
	dStart, dEnd []uint32 // the directory's name in dlow/dorig
	dlow, dorig  []byte
	dLen         []int32  // length of the directory's prefix: its path and "/"
	dMask        []uint64 // the characters of that prefix
	dNameMask    []uint64 // the characters of the directory's name

	// Runs of siblings: entries runs[r]..runs[r+1] share directory
	// runDir[r]; runMin[r] is their shortest base name and runMask[r]
	// the characters of all their base names. A search decides what it
	// can once per run.
	runs    []int32
	runDir  []int32
	runMin  []int32
	runMask []uint64
	runBg   []uint64

	// The name index: the paths whose base name starts with the query,
	// the best tiers, shortest path first. byName orders the entries by
	// the first two bytes of their base name, those of exactly two bytes
	// first, then by path length: names b0 b1 are
	// byName[nameAt[2k]:nameAt[2k+2]] (k = b0<<8|b1), the two-byte ones
	// up to nameAt[2k+1]. byFirst orders them by the first byte, then by
	// path length: byFirst[firstAt[b0]:firstAt[b0+1]].
	byName  []int32
	nameAt  []int32
	byFirst []int32
	firstAt []int32
	// nameHead and nameLen are, in byName's order, the first 8 bytes of
	// the base name (big-endian, zero-padded) and its length (at most
	// 255): a prefix test without reading the arena out of order.
	nameHead []uint64
	nameLen  []uint8
}

// RootDir is the directory of paths without a "/".
const RootDir int32 = 0

// PathIndexBuilder collects paths directory by directory, as a catalog
// walk meets them.
type PathIndexBuilder struct {
	ix *PathIndex
}

// NewPathIndexBuilder starts an empty index; sizeHint is the expected
// number of paths.
func NewPathIndexBuilder(sizeHint int) *PathIndexBuilder {
	ix := &PathIndex{
		low: make([]byte, 0, sizeHint*12), orig: make([]byte, 0, sizeHint*12),
		offs: make([]uint32, 1, sizeHint+1), parent: make([]int32, 0, sizeHint), bmask: make([]uint64, 0, sizeHint), bgmask: make([]uint64, 0, sizeHint),
		dParent: []int32{-1}, dStart: []uint32{0}, dEnd: []uint32{0}, dLen: []int32{0}, dMask: []uint64{0}, dNameMask: []uint64{0},
	}
	return &PathIndexBuilder{ix: ix}
}

// Add indexes the path dir/name and returns its number.
func (b *PathIndexBuilder) Add(dir int32, name []byte) int {
	ix := b.ix
	ix.orig = append(ix.orig, name...)
	start := len(ix.low)
	ix.low = appendLower(ix.low, name)
	ix.offs = append(ix.offs, uint32(len(ix.low)))
	ix.parent = append(ix.parent, dir)
	bm, bg := maskOf(ix.low[start:]), pairMask(ix.low[start:])
	ix.bmask = append(ix.bmask, bm)
	ix.bgmask = append(ix.bgmask, bg)
	i := len(ix.parent) - 1
	if r := len(ix.runDir) - 1; r >= 0 && ix.runDir[r] == dir {
		ix.runMin[r] = min(ix.runMin[r], int32(len(name)))
		ix.runMask[r] |= bm
		ix.runBg[r] |= bg
	} else {
		ix.runs = append(ix.runs, int32(i))
		ix.runDir = append(ix.runDir, dir)
		ix.runMin = append(ix.runMin, int32(len(name)))
		ix.runMask = append(ix.runMask, bm)
		ix.runBg = append(ix.runBg, bg)
	}
	return i
}

// AddDir indexes the directory dir/name as a path and returns the
// directory to add its children to.
func (b *PathIndexBuilder) AddDir(dir int32, name []byte) int32 {
	b.Add(dir, name)
	return b.dir(dir, name)
}

// dir makes a directory below parent without indexing it as a path.
func (b *PathIndexBuilder) dir(parent int32, name []byte) int32 {
	ix := b.ix
	ix.dStart = append(ix.dStart, uint32(len(ix.dlow)))
	ix.dorig = append(ix.dorig, name...)
	ix.dlow = appendLower(ix.dlow, name)
	ix.dEnd = append(ix.dEnd, uint32(len(ix.dlow)))
	ix.dParent = append(ix.dParent, parent)
	ix.dLen = append(ix.dLen, ix.dLen[parent]+int32(len(name))+1)
	nm := maskOf(ix.dlow[ix.dStart[len(ix.dStart)-1]:])
	ix.dNameMask = append(ix.dNameMask, nm)
	ix.dMask = append(ix.dMask, ix.dMask[parent]|nm|charBit('/'))
	return int32(len(ix.dParent) - 1)
}

// Index finishes the index; the builder must not be used afterwards.
func (b *PathIndexBuilder) Index() *PathIndex {
	ix := b.ix
	n := len(ix.parent)
	ix.runs = append(ix.runs, int32(n))
	// Stable counting sorts: by path length, then by the name's bytes.
	byLen := countingSort(identity(n), maxPathLen+1, func(i int32) int {
		return min(int(ix.dLen[ix.parent[i]])+int(ix.offs[i+1]-ix.offs[i]), maxPathLen)
	})
	var at []int32
	ix.byName, at = countingSortAt(byLen, 1<<17, func(i int32) int {
		k := ix.nameKey(int(i)) << 1
		if ix.offs[i+1]-ix.offs[i] != 2 {
			k |= 1
		}
		return k
	})
	ix.nameAt = at
	ix.nameHead, ix.nameLen = make([]uint64, n), make([]uint8, n)
	for pos, i := range ix.byName {
		base := ix.low[ix.offs[i]:ix.offs[i+1]]
		ix.nameHead[pos] = head8(base)
		ix.nameLen[pos] = uint8(min(len(base), 255))
	}
	ix.byFirst, ix.firstAt = countingSortAt(byLen, 256, func(i int32) int { return ix.nameKey(int(i)) >> 8 })
	return ix
}

// head8 packs the first 8 bytes of s, big-endian, zero-padded.
func head8(s []byte) uint64 {
	var h uint64
	for k := 0; k < 8; k++ {
		h <<= 8
		if k < len(s) {
			h |= uint64(s[k])
		}
	}
	return h
}

// maxPathLen bounds the path lengths the name index orders by.
const maxPathLen = 1 << 16

func identity(n int) []int32 {
	out := make([]int32, n)
	for i := range out {
		out[i] = int32(i)
	}
	return out
}

func countingSort(in []int32, keys int, key func(int32) int) []int32 {
	out, _ := countingSortAt(in, keys, key)
	return out
}

// countingSortAt orders in by key, stably, and returns where each key's
// entries start (keys+1 offsets).
func countingSortAt(in []int32, keys int, key func(int32) int) ([]int32, []int32) {
	at := make([]int32, keys+1)
	for _, i := range in {
		at[key(i)+1]++
	}
	for k := 1; k <= keys; k++ {
		at[k] += at[k-1]
	}
	next := append([]int32(nil), at[:keys]...)
	out := make([]int32, len(in))
	for _, i := range in {
		k := key(i)
		out[next[k]] = i
		next[k]++
	}
	return out, at
}

// nameKey is the first two bytes of entry i's lower-cased base name.
func (ix *PathIndex) nameKey(i int) int {
	base := ix.low[ix.offs[i]:ix.offs[i+1]]
	switch len(base) {
	case 0:
		return 0
	case 1:
		return int(base[0]) << 8
	}
	return int(base[0])<<8 | int(base[1])
}

// NewPathIndex indexes paths given as strings ("/" separates directories).
func NewPathIndex(paths []string) *PathIndex {
	b := NewPathIndexBuilder(len(paths))
	dirs := map[string]int32{}
	var dirOf func(p string) int32
	dirOf = func(p string) int32 {
		if d, ok := dirs[p]; ok {
			return d
		}
		parent, name := RootDir, p
		if i := strings.LastIndexByte(p, '/'); i >= 0 {
			parent, name = dirOf(p[:i]), p[i+1:]
		}
		d := b.dir(parent, []byte(name))
		dirs[p] = d
		return d
	}
	for _, p := range paths {
		dir, name := RootDir, p
		if i := strings.LastIndexByte(p, '/'); i >= 0 {
			dir, name = dirOf(p[:i]), p[i+1:]
		}
		b.Add(dir, []byte(name))
	}
	return b.Index()
}

func appendLower(dst, s []byte) []byte {
	for _, c := range s {
		if 'A' <= c && c <= 'Z' {
			c += 32
		}
		dst = append(dst, c)
	}
	return dst
}

func lower(s string) []byte { return appendLower(make([]byte, 0, len(s)), []byte(s)) }

// charBit maps a lower-cased byte to one bit of a 64-bit set: letters,
// digits and the usual punctuation of file names have a bit each (so a
// set tells exactly whether they occur), the rest share the last bits.
func charBit(c byte) uint64 { return 1 << charBits[c] }

// charExact tells the bytes that have a bit of their own.
var charBits, charExact = func() (bits [256]uint8, exact [256]bool) {
	n := uint8(0)
	own := func(c byte) { bits[c], exact[c] = n, true; n++ }
	for c := byte('a'); c <= 'z'; c++ {
		own(c)
	}
	for c := byte('0'); c <= '9'; c++ {
		own(c)
	}
	for _, c := range []byte("._-/+@~ ,:=#%()[]{}") {
		own(c)
	}
	shared := 64 - n
	for c := 0; c < 256; c++ {
		if !exact[c] && !(c >= 'A' && c <= 'Z') {
			bits[c] = n + uint8(c)%shared
		}
	}
	return bits, exact
}()

// pairMask is the set of s's pairs of adjacent bytes, hashed to 64 bits:
// a name holding a query holds its pairs, which few names have all of.
func pairMask(s []byte) uint64 {
	var m uint64
	for i := 1; i < len(s); i++ {
		m |= 1 << ((uint32(s[i-1])<<8 | uint32(s[i])) * 0x9E3779B1 >> 26)
	}
	return m
}

func maskOf(s []byte) uint64 {
	var m uint64
	for _, c := range s {
		m |= charBit(c)
	}
	return m
}

// Len is the number of indexed paths.
func (ix *PathIndex) Len() int { return len(ix.parent) }

// Path returns path i as given.
func (ix *PathIndex) Path(i int) string { return string(ix.path(i, ix.orig, ix.dorig)) }

// path builds path i from the given arenas.
func (ix *PathIndex) path(i int, arena, darena []byte) []byte {
	d := ix.parent[i]
	base := arena[ix.offs[i]:ix.offs[i+1]]
	out := make([]byte, int(ix.dLen[d])+len(base))
	copy(out[ix.dLen[d]:], base)
	for ; d != RootDir; d = ix.dParent[d] {
		end := ix.dLen[d] - 1
		out[end] = '/'
		copy(out[end-int32(ix.dEnd[d]-ix.dStart[d]):], darena[ix.dStart[d]:ix.dEnd[d]])
	}
	return out
}
