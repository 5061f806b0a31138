package pxar

import (
	"encoding/binary"
	"errors"
	"os"
	"testing"
)

// virtualArchive is an archive of any claimed size: a real root entry, then
// zeros, then a GOODBYE header and tail claiming a table of full bytes.
type virtualArchive struct {
	prefix     []byte
	size, full uint64
}

func (v *virtualArchive) ReadAt(p []byte, off int64) (int, error) {
	le := binary.LittleEndian
	var hdr, tail [24]byte
	le.PutUint64(hdr[:], htypeGoodbye)
	le.PutUint64(hdr[8:], v.full)
	le.PutUint64(tail[:], goodbyeTailMarker)
	le.PutUint64(tail[16:], v.full)
	for i := range p {
		o := uint64(off) + uint64(i)
		switch gb := v.size - v.full; {
		case o < uint64(len(v.prefix)):
			p[i] = v.prefix[o]
		case o >= gb && o < gb+headerSize:
			p[i] = hdr[o-gb]
		case o >= v.size-goodbyeItemSize:
			p[i] = tail[o-(v.size-goodbyeItemSize)]
		default:
			p[i] = 0
		}
	}
	return len(p), nil
}

// A crafted archive claiming a directory of hundreds of millions of entries
// is refused before its GOODBYE table is allocated (a server lists catalogs
// through the accessor).
func TestAccessorRefusesHugeGoodbyeTable(t *testing.T) {
	dir := t.TempDir()
	must(t, os.Mkdir(dir+"/empty", 0o755))
	a := createBytes(t, dir+"/empty", CreateOptions{})
	prefix := a[:len(a)-(headerSize+goodbyeItemSize)]
	full := uint64(headerSize + goodbyeItemSize*(1<<28))
	v := &virtualArchive{prefix: prefix, full: full, size: uint64(len(prefix)) + full}
	acc, err := NewAccessor(v, v.size)
	if err != nil {
		t.Fatal(err)
	}
	_, err = acc.ReadDir(acc.Root())
	if !errors.Is(err, ErrCorrupt) {
		t.Fatalf("ReadDir of a 6 GiB GOODBYE table: %v, want a corrupt-archive error", err)
	}
}
