package pxar

import (
	"bytes"
	"errors"
	"io"
	"path/filepath"
	"slices"
	"strings"

	"golang.org/x/sys/unix"
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
	// unchangedAfter(limit) estimates how many bytes of the previous payload
	// after this file and before offset limit belong to files that are
	// unchanged (and so will be reused too): the padding policy needs it.
	Reuse(pos, prevOffset, size uint64, unchangedAfter func(limit uint64) uint64) (newOffset, grown uint64, ok bool, err error)
}

// Previous is the metadata archive of the snapshot before, read in step
// with the new walk: both visit entries in the same order (pre-order,
// children sorted by name), so one sequential pass finds every file's
// previous state with flat memory.
type Previous struct {
	d     *Decoder
	ahead []ahead // entries read but not yet passed, goodbyes skipped
	err   error
}

type ahead struct {
	*Entry
	checked, unchanged, gone bool // a stat's verdict, once asked
}

// NewPrevious reads a previous v2 metadata archive from r.
func NewPrevious(r io.Reader) *Previous { return &Previous{d: NewDecoder(r)} }

// Err is the first decoding error; after one, no file is found any more.
func (p *Previous) Err() error { return p.err }

// fill reads entries until ahead holds n of them (or the archive ends).
func (p *Previous) fill(n int) {
	for len(p.ahead) < n && p.err == nil {
		e, err := p.d.Next()
		if err != nil {
			if !errors.Is(err, io.EOF) {
				p.err = err
			}
			return
		}
		if e.Kind != KindGoodbye {
			// Contents is only valid until the next call: never used here.
			p.ahead = append(p.ahead, ahead{Entry: e})
		}
	}
}

// Find returns the previous entry at rel ("dir/name"), skipping everything
// before it, or nil. Lookups must come in walk order.
func (p *Previous) Find(rel string) *Entry {
	for {
		p.fill(1)
		if len(p.ahead) == 0 {
			return nil
		}
		e := p.ahead[0].Entry
		switch c := comparePreorder(strings.TrimPrefix(e.Path, "/"), rel); {
		case c < 0:
			p.ahead = p.ahead[1:]
		case c == 0:
			p.ahead = p.ahead[1:]
			return e
		default:
			return nil
		}
	}
}

// maxLookahead bounds how many entries unchangedAfter reads ahead.
const maxLookahead = 4096

// unchangedAfter sums the payload bytes (headers included) of the files
// stored after the last one found and before payload offset limit that a
// stat says are unchanged under root: an estimate of how much of the
// chunks about to be injected later files will use.
func (p *Previous) unchangedAfter(root string, limit uint64) uint64 {
	var sum uint64
	for i := 0; i < maxLookahead; i++ {
		p.fill(i + 1)
		if i >= len(p.ahead) {
			break
		}
		a := &p.ahead[i]
		if a.Kind != KindFile {
			continue
		}
		if a.PayloadOffset >= limit {
			break
		}
		if !a.checked {
			a.checked = true
			a.unchanged, a.gone = statUnchanged(root, a.Entry)
		}
		switch {
		case a.unchanged:
			sum += min(16+a.Size, limit-a.PayloadOffset)
		case !a.gone:
			// A changed file is read and written anew, which ends the run
			// of injected chunks: nothing after it reuses these chunks.
			return sum
		}
	}
	return sum
}

// statUnchanged guesses from a stat (size, mtime, mode, owner) whether a
// previous file is still the same under root, or gone.
func statUnchanged(root string, e *Entry) (unchanged, gone bool) {
	var st unix.Stat_t
	if unix.Lstat(filepath.Join(root, e.Path), &st) != nil {
		return false, true
	}
	s := statToStat(&st)
	return uint64(st.Size) == e.Size && s.Mode == e.Stat.Mode && s.UID == e.Stat.UID &&
		s.GID == e.Stat.GID && s.MtimeSec == e.Stat.MtimeSec && s.MtimeNsec == e.Stat.MtimeNsec, false
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
