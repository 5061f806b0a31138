package pxar

import (
	"encoding/binary"
	"slices"
)

// goodbyeItem is one 24-byte record of a GOODBYE table (spec 1.6).
type goodbyeItem struct {
	hash   uint64
	offset uint64 // encoder: absolute FILENAME offset; on disk: distance back from the GOODBYE header
	size   uint64
}

// bstPermutation returns, for each output slot k, the index into the
// hash-sorted array it takes: an in-order walk over the complete binary tree
// in heap (Eytzinger) layout, which is what upstream's binary_tree_array does.
func bstPermutation(n int) []int {
	out := make([]int, n)
	next := 0
	var walk func(i int)
	walk = func(i int) {
		if i >= n {
			return
		}
		walk(2*i + 1)
		out[i] = next
		next++
		walk(2*i + 2)
	}
	walk(0)
	return out
}

// encodeGoodbye builds the complete GOODBYE item (header included) for a
// directory whose GOODBYE header is at goodbyeOff and whose ENTRY is at entryOff.
// items carry absolute FILENAME offsets and are reordered in place.
func encodeGoodbye(items []goodbyeItem, goodbyeOff, entryOff uint64) []byte {
	slices.SortStableFunc(items, func(a, b goodbyeItem) int {
		switch {
		case a.hash < b.hash:
			return -1
		case a.hash > b.hash:
			return 1
		}
		return 0
	})
	n := len(items)
	full := uint64(headerSize + goodbyeItemSize*(n+1))
	buf := make([]byte, full)
	binary.LittleEndian.PutUint64(buf[0:], htypeGoodbye)
	binary.LittleEndian.PutUint64(buf[8:], full)
	for k, src := range bstPermutation(n) {
		it := items[src]
		p := buf[headerSize+goodbyeItemSize*k:]
		binary.LittleEndian.PutUint64(p[0:], it.hash)
		binary.LittleEndian.PutUint64(p[8:], goodbyeOff-it.offset)
		binary.LittleEndian.PutUint64(p[16:], it.size)
	}
	p := buf[headerSize+goodbyeItemSize*n:]
	binary.LittleEndian.PutUint64(p[0:], goodbyeTailMarker)
	binary.LittleEndian.PutUint64(p[8:], goodbyeOff-entryOff)
	binary.LittleEndian.PutUint64(p[16:], full)
	return buf
}

// lookupGoodbye searches a decoded table (n items, tail excluded) for hash and
// calls fn for every candidate until fn returns true; duplicates are possible.
func lookupGoodbye(items []goodbyeItem, hash uint64, fn func(goodbyeItem) bool) bool {
	var search func(i int) bool
	search = func(i int) bool {
		if i >= len(items) {
			return false
		}
		it := items[i]
		if it.hash == hash {
			if fn(it) {
				return true
			}
			// Equal hashes may sit in either subtree.
			return search(2*i+1) || search(2*i+2)
		}
		if hash < it.hash {
			return search(2*i + 1)
		}
		return search(2*i + 2)
	}
	return search(0)
}
