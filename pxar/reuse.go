package pxar

import (
	"bytes"
	"errors"
	"io"
	"slices"
	"strings"
)

// Injector puts file data of a previous snapshot into a new split archive's
// payload stream without reading the files again (metadata change
// detection, spec 1.9 and 5.5). It works on whole chunks of the previous
// payload index, so it lives with the chunk stream, not here.
type Injector interface {
	// Reuse tries to make the previous payload entry at prevOffset (its
	// PAYLOAD header; size bytes of data follow) part of the new payload
	// stream, whose length is now pos. On success it returns the entry's
	// offset in the new stream and how many bytes the stream grew by; ok is
	// false when reusing would waste too much (the file is read instead).
	Reuse(pos, prevOffset, size uint64) (newOffset, grown uint64, ok bool, err error)
}

// Previous is the metadata archive of the snapshot before, read in step
// with the new walk: both visit entries in the same order (pre-order,
// children sorted by name), so one sequential pass finds every file's
// previous state with flat memory.
type Previous struct {
	d    *Decoder
	next *Entry
	err  error
}

// NewPrevious reads a previous v2 metadata archive from r.
func NewPrevious(r io.Reader) *Previous { return &Previous{d: NewDecoder(r)} }

// Err is the first decoding error; after one, no file is found any more.
func (p *Previous) Err() error { return p.err }

// peek returns the next entry that names something (goodbyes skipped).
func (p *Previous) peek() *Entry {
	for p.next == nil && p.err == nil {
		e, err := p.d.Next()
		if err != nil {
			if !errors.Is(err, io.EOF) {
				p.err = err
			}
			return nil
		}
		if e.Kind == KindGoodbye {
			continue
		}
		// The decoder reuses nothing across calls for these fields, but
		// Contents is only valid until the next call: it is never used here.
		p.next = e
	}
	return p.next
}

// Find returns the previous entry at rel ("dir/name"), skipping everything
// before it, or nil. Lookups must come in walk order.
func (p *Previous) Find(rel string) *Entry {
	for {
		e := p.peek()
		if e == nil {
			return nil
		}
		switch c := comparePreorder(strings.TrimPrefix(e.Path, "/"), rel); {
		case c < 0:
			p.next = nil
		case c == 0:
			p.next = nil
			return e
		default:
			return nil
		}
	}
}

// comparePreorder orders archive paths as a walk visits them: component by
// component in byte order, a directory before its contents.
func comparePreorder(a, b string) int {
	for {
		if a == "" || b == "" {
			return len(a) - len(b) // the ancestor (shorter) first
		}
		ca, ra, _ := strings.Cut(a, "/")
		cb, rb, _ := strings.Cut(b, "/")
		if c := strings.Compare(ca, cb); c != 0 {
			return c
		}
		a, b = ra, rb
	}
}

// reusable reports whether a file's previous entry describes the same
// contents: upstream's rule is equal stored metadata (mode, flags, owner,
// mtime, xattrs, ACLs, fcaps, quota project) and equal size. The archive
// keeps no ctime or inode number, so those cannot take part.
func reusable(prev *Entry, m *Metadata, size uint64) bool {
	return prev != nil && prev.Kind == KindFile && prev.Size == size && sameMetadata(&prev.Metadata, m)
}

func sameMetadata(a, b *Metadata) bool {
	return a.Stat == b.Stat &&
		slices.EqualFunc(a.Xattrs, b.Xattrs, func(x, y Xattr) bool {
			return bytes.Equal(x.Name, y.Name) && bytes.Equal(x.Value, y.Value)
		}) &&
		sameACL(&a.ACL, &b.ACL) &&
		bytes.Equal(a.FCaps, b.FCaps) && (a.FCaps == nil) == (b.FCaps == nil) &&
		samePtr(a.QuotaProjID, b.QuotaProjID)
}

func sameACL(a, b *ACL) bool {
	return slices.Equal(sortACL(a.Users), sortACL(b.Users)) &&
		slices.Equal(sortACL(a.Groups), sortACL(b.Groups)) &&
		samePtr(a.GroupObj, b.GroupObj) && samePtr(a.Default, b.Default) &&
		slices.Equal(sortACL(a.DefaultUsers), sortACL(b.DefaultUsers)) &&
		slices.Equal(sortACL(a.DefaultGroups), sortACL(b.DefaultGroups))
}

func samePtr[T comparable](a, b *T) bool {
	if a == nil || b == nil {
		return a == b
	}
	return *a == *b
}

// ReuseStats sum up metadata change detection for one archive (upstream
// prints them as the "Change detection summary").
type ReuseStats struct {
	Files, Hardlinks      uint64
	ReusedFiles, Reused   uint64 // files and their data bytes taken from the previous snapshot
	ChangedFiles, Changed uint64 // files and data bytes read again
}
