package pxar

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"os"
	"slices"
	"strings"
	"sync"
)

// Accessor gives random access to an archive: it reads the GOODBYE tables
// that close every directory to list and look up children without reading
// the archive from the start, so only the parts of the stream that are
// needed are ever read (formats.md 1.6).
//
// An Accessor is safe for concurrent use when its io.ReaderAt is.
type Accessor struct {
	r       io.ReaderAt
	size    uint64
	version uint64
	root    *Node
	payload io.ReaderAt // split archives: the payload stream, nil if not given

	mu     sync.Mutex
	tables map[uint64][]goodbyeItem // goodbye header offset -> decoded items (small cache)
}

// Node is an entry found through an Accessor. For directories it also
// knows where the directory's GOODBYE table is.
type Node struct {
	Entry
	// Start is the offset of the FILENAME header (0 for the root), End the
	// end of the entry (for directories the end of their GOODBYE table).
	Start, End uint64
	goodbye    uint64 // directories: offset of the GOODBYE header
}

// IsDir reports whether n is a directory.
func (n *Node) IsDir() bool { return n.Kind == KindDirectory }

// NewAccessor opens the archive of the given size that r reads.
func NewAccessor(r io.ReaderAt, size uint64) (*Accessor, error) {
	a := &Accessor{r: r, size: size, version: 1, tables: map[uint64][]goodbyeItem{}}
	if size < headerSize+statV1Size+headerSize+goodbyeItemSize {
		return nil, corruptf("archive too short (%d bytes)", size)
	}
	var tail [goodbyeItemSize]byte
	if err := a.readAt(tail[:], size-goodbyeItemSize); err != nil {
		return nil, err
	}
	le := binary.LittleEndian
	if le.Uint64(tail[:]) != goodbyeTailMarker {
		return nil, corruptf("archive does not end with a GOODBYE table")
	}
	full := le.Uint64(tail[16:])
	if full < headerSize+goodbyeItemSize || full > size || (full-headerSize)%goodbyeItemSize != 0 {
		return nil, corruptf("root GOODBYE table has invalid size %d", full)
	}
	d := a.decoderAt(0, size)
	e, err := d.root()
	if err != nil {
		return nil, err
	}
	a.version = d.version
	a.root = &Node{Entry: *e, Start: 0, End: size, goodbye: size - full}
	return a, nil
}

// Size is the archive size.
func (a *Accessor) Size() uint64 { return a.size }

// SetPayload gives the accessor the payload stream of a split archive
// (spec 1.9); Open and ExtractFrom read file data from it. Call it before
// the accessor is used.
func (a *Accessor) SetPayload(r io.ReaderAt) { a.payload = r }

// Split reports whether the archive is a split archive's metadata stream
// (format version 2), whose file data is in a payload stream.
func (a *Accessor) Split() bool { return a.version == 2 }

// Root returns the root directory.
func (a *Accessor) Root() *Node { return a.root }

func (a *Accessor) readAt(p []byte, off uint64) error {
	if off+uint64(len(p)) > a.size {
		return corruptf("read of %d bytes at offset %d beyond the archive end %d", len(p), off, a.size)
	}
	n, err := a.r.ReadAt(p, int64(off))
	if n == len(p) {
		return nil
	}
	if err == nil || errors.Is(err, io.EOF) {
		return corruptf("truncated archive at offset %d", off+uint64(n))
	}
	return err
}

// decoderAt returns a decoder positioned at off that may read up to end.
func (a *Accessor) decoderAt(off, end uint64) *Decoder {
	if end > a.size {
		end = a.size
	}
	sr := io.NewSectionReader(a.r, int64(off), int64(end-off))
	// Metadata is small: a small buffer avoids reading far into file data.
	return &Decoder{r: bufio.NewReaderSize(sr, 4096), pos: off, version: a.version, started: off != 0}
}

// table returns the decoded GOODBYE items (tail excluded) of a directory.
// maxDirEntries bounds the entries of one directory the accessor reads
// (96 MiB of GOODBYE table); real directories stay far below it.
const maxDirEntries = 4 << 20

func (a *Accessor) table(dir *Node) ([]goodbyeItem, error) {
	if !dir.IsDir() {
		return nil, fmt.Errorf("pxar: %s is not a directory", dir.Path)
	}
	a.mu.Lock()
	items, ok := a.tables[dir.goodbye]
	a.mu.Unlock()
	if ok {
		return items, nil
	}
	if dir.goodbye+headerSize+goodbyeItemSize > dir.End {
		return nil, corruptf("directory %s has an invalid GOODBYE offset", dir.Path)
	}
	n := dir.End - dir.goodbye
	// The header first, and a bound on the table: a crafted archive (its
	// chunks repeated) can claim any directory size, and the table is read
	// whole, on a server too (catalog listings).
	le := binary.LittleEndian
	var hdr [headerSize]byte
	if err := a.readAt(hdr[:], dir.goodbye); err != nil {
		return nil, err
	}
	if le.Uint64(hdr[:]) != htypeGoodbye || le.Uint64(hdr[8:]) != n {
		return nil, corruptf("directory %s: no GOODBYE table at offset %d", dir.Path, dir.goodbye)
	}
	if n > headerSize+goodbyeItemSize*(maxDirEntries+1) {
		return nil, corruptf("directory %s: GOODBYE table of %d bytes is larger than %d entries", dir.Path, n, maxDirEntries)
	}
	buf := make([]byte, n)
	if err := a.readAt(buf, dir.goodbye); err != nil {
		return nil, err
	}
	count := int((n - headerSize) / goodbyeItemSize)
	tail := buf[headerSize+goodbyeItemSize*(count-1):]
	if le.Uint64(tail) != goodbyeTailMarker || le.Uint64(tail[16:]) != n {
		return nil, corruptf("directory %s: bad GOODBYE tail", dir.Path)
	}
	items = make([]goodbyeItem, count-1)
	for i := range items {
		p := buf[headerSize+goodbyeItemSize*i:]
		it := goodbyeItem{hash: le.Uint64(p), offset: le.Uint64(p[8:]), size: le.Uint64(p[16:])}
		if it.offset > dir.goodbye || it.offset == 0 {
			return nil, corruptf("directory %s: GOODBYE item points outside the archive", dir.Path)
		}
		start := dir.goodbye - it.offset
		if start < dir.Start || start+it.size > dir.goodbye {
			return nil, corruptf("directory %s: GOODBYE item %d out of range", dir.Path, i)
		}
		items[i] = it
	}
	a.mu.Lock()
	if len(a.tables) > 4096 {
		clear(a.tables)
	}
	a.tables[dir.goodbye] = items
	a.mu.Unlock()
	return items, nil
}

// errNoFilename is entryAt's answer when no FILENAME header is at start.
var errNoFilename = errors.New("no FILENAME header")

// entryAt decodes the entry whose FILENAME header is at start, reading no
// further than limit; parent is the path of its directory. The entry's
// Contents are not kept.
func (a *Accessor) entryAt(parent string, start, limit uint64) (*Entry, error) {
	d := a.decoderAt(start, limit)
	d.started = true
	d.stack = []decDir{{path: parent}}
	h, err := d.readHeader()
	if err != nil {
		return nil, err
	}
	if h.htype != htypeFilename {
		return nil, errNoFilename
	}
	e, err := d.child(h)
	if err != nil {
		return nil, err
	}
	e.Contents = nil
	return e, nil
}

// nodeAt decodes the child whose FILENAME header is at start and whose
// entry spans size bytes; parent is the path of its directory.
func (a *Accessor) nodeAt(parent string, start, size uint64) (*Node, error) {
	end := start + size
	// Entries without a kind item (fifos, sockets, directories) end where
	// the next header starts, so the decoder may peek one header past end.
	e, err := a.entryAt(parent, start, end+headerSize)
	if errors.Is(err, errNoFilename) {
		return nil, corruptf("no FILENAME at offset %d", start)
	}
	if err != nil {
		return nil, err
	}
	n := &Node{Entry: *e, Start: start, End: end}
	switch e.Kind {
	case KindDirectory:
		var tail [goodbyeItemSize]byte
		if err := a.readAt(tail[:], end-goodbyeItemSize); err != nil {
			return nil, err
		}
		le := binary.LittleEndian
		full := le.Uint64(tail[16:])
		if le.Uint64(tail[:]) != goodbyeTailMarker || full > size || full < headerSize+goodbyeItemSize {
			return nil, corruptf("directory %s: bad GOODBYE tail", e.Path)
		}
		n.goodbye = end - full
		if n.goodbye < e.EntryOffset || le.Uint64(tail[8:]) != n.goodbye-e.EntryOffset {
			return nil, corruptf("directory %s: GOODBYE tail does not point at its ENTRY", e.Path)
		}
	case KindFile:
		if a.version == 1 && e.EndOffset != end {
			return nil, corruptf("file %s: size does not match its GOODBYE item", e.Path)
		}
	}
	return n, nil
}

// ReadDir lists a directory's entries in archive order (sorted by name).
func (a *Accessor) ReadDir(dir *Node) ([]*Node, error) {
	items, err := a.table(dir)
	if err != nil {
		return nil, err
	}
	items = slices.Clone(items)
	// Larger distance back = earlier in the archive.
	slices.SortFunc(items, func(x, y goodbyeItem) int {
		switch {
		case x.offset > y.offset:
			return -1
		case x.offset < y.offset:
			return 1
		}
		return 0
	})
	out := make([]*Node, 0, len(items))
	for _, it := range items {
		n, err := a.nodeAt(dir.Path, dir.goodbye-it.offset, it.size)
		if err != nil {
			return nil, err
		}
		out = append(out, n)
	}
	return out, nil
}

// LookupChild finds the entry called name in dir through the GOODBYE
// table's hash search; it returns an error wrapping os.ErrNotExist if
// there is none.
func (a *Accessor) LookupChild(dir *Node, name string) (*Node, error) {
	items, err := a.table(dir)
	if err != nil {
		return nil, err
	}
	var found *Node
	var ferr error
	lookupGoodbye(items, hashName([]byte(name)), func(it goodbyeItem) bool {
		n, err := a.nodeAt(dir.Path, dir.goodbye-it.offset, it.size)
		if err != nil {
			ferr = err
			return true
		}
		if string(n.Name) == name {
			found = n
			return true
		}
		return false
	})
	if ferr != nil {
		return nil, ferr
	}
	if found == nil {
		return nil, fmt.Errorf("pxar: %s: %w", joinPath(dir.Path, name), os.ErrNotExist)
	}
	return found, nil
}

func joinPath(dir, name string) string {
	if dir == "/" {
		return "/" + name
	}
	return dir + "/" + name
}

// Lookup resolves an absolute or root-relative path ("" and "/" are the
// root). Symlinks are not followed.
func (a *Accessor) Lookup(path string) (*Node, error) {
	cur := a.root
	for _, c := range strings.Split(path, "/") {
		if c == "" || c == "." {
			continue
		}
		if !cur.IsDir() {
			return nil, fmt.Errorf("pxar: %s is not a directory", cur.Path)
		}
		n, err := a.LookupChild(cur, c)
		if err != nil {
			return nil, err
		}
		cur = n
	}
	return cur, nil
}

// HardlinkTarget returns the entry a hardlink points to.
func (a *Accessor) HardlinkTarget(n *Node) (*Node, error) {
	if n.Kind != KindHardlink {
		return n, nil
	}
	if n.HardlinkOffset == 0 || n.HardlinkOffset > n.Start {
		return nil, corruptf("hardlink %s has an invalid offset", n.Path)
	}
	start := n.Start - n.HardlinkOffset
	// The target's size is unknown here; decode with the rest of the archive
	// as the limit and take its end from the decoded entry.
	parent := n.LinkTarget
	if i := strings.LastIndexByte(strings.TrimPrefix(parent, "/"), '/'); i >= 0 {
		parent = "/" + strings.TrimPrefix(parent, "/")[:i]
	} else {
		parent = "/"
	}
	e, err := a.entryAt(parent, start, a.size)
	if errors.Is(err, errNoFilename) {
		return nil, corruptf("hardlink %s: no FILENAME at target offset %d", n.Path, start)
	}
	if err != nil {
		return nil, err
	}
	if e.Kind == KindDirectory || e.Kind == KindHardlink {
		return nil, corruptf("hardlink %s points at a %s", n.Path, e.Kind)
	}
	return &Node{Entry: *e, Start: start, End: e.EndOffset}, nil
}

// hardlinkCopy is the entry a hardlink n is extracted as when its target
// is not: the target's, under n's name and path.
func (a *Accessor) hardlinkCopy(n *Node) (Entry, error) {
	t, err := a.HardlinkTarget(n)
	if err != nil {
		return Entry{}, err
	}
	e := t.Entry
	e.Name, e.Path = n.Name, n.Path
	return e, nil
}

// Open returns the contents of a regular file (hardlinks are resolved).
func (a *Accessor) Open(n *Node) (*io.SectionReader, error) {
	if n.Kind == KindHardlink {
		t, err := a.HardlinkTarget(n)
		if err != nil {
			return nil, err
		}
		n = t
	}
	if n.Kind != KindFile {
		return nil, fmt.Errorf("pxar: %s is not a regular file", n.Path)
	}
	if a.version != 1 {
		if a.payload == nil {
			return nil, errNoPayload(n.Path)
		}
		return openPayload(a.payload, n.PayloadOffset, n.Size)
	}
	if n.ContentOffset+n.Size > a.size {
		return nil, corruptf("file %s extends beyond the archive", n.Path)
	}
	return io.NewSectionReader(a.r, int64(n.ContentOffset), int64(n.Size)), nil
}

// Walk visits dir and everything below it depth-first in archive order.
// fn returning SkipDir for a directory skips its contents.
func (a *Accessor) Walk(dir *Node, fn func(n *Node) error) error {
	if err := fn(dir); err != nil {
		if errors.Is(err, errSkipDir) {
			return nil
		}
		return err
	}
	if !dir.IsDir() {
		return nil
	}
	children, err := a.ReadDir(dir)
	if err != nil {
		return err
	}
	for _, c := range children {
		if err := a.Walk(c, fn); err != nil {
			return err
		}
	}
	return nil
}

// contents is a file's data for the extractor, read only when it writes
// the file: a section of the archive, or of the payload stream (nil
// without one, which the extractor reports).
func (a *Accessor) contents(e *Entry) (io.Reader, error) {
	if a.version == 1 {
		return a.Open(&Node{Entry: *e})
	}
	if a.payload == nil {
		return nil, nil
	}
	return &refContents{r: a.payload, offset: e.PayloadOffset, size: e.Size}, nil
}

var errSkipDir = SkipDir

// SkipDir may be returned by a Walk callback to skip a directory's contents.
//
//lint:ignore ST1012 named like fs.SkipDir, which it mirrors
var SkipDir = errors.New("pxar: skip directory")

// ExtractFrom recreates dir (a directory of the archive) under dest using
// random access: only the metadata and the contents of extracted files are
// read. Patterns (matched against the archive-relative path) select entries
// exactly as Extract's do; without patterns everything below dir is
// extracted. The contents of dir end up directly inside dest.
func (a *Accessor) ExtractFrom(dir *Node, dest string, o ExtractOptions) error {
	if !dir.IsDir() {
		return fmt.Errorf("pxar: %s is not a directory", dir.Path)
	}
	x, err := openExtractor(dest, o)
	if err != nil {
		return err
	}
	defer x.close()
	// The extraction root behaves like the archive root for the extractor.
	rootEntry := dir.Entry
	rootEntry.FilenameOffset = -1
	if err := x.entry(&rootEntry); err != nil {
		return err
	}
	prefix := ""
	if dir.Path != "/" {
		prefix = strings.TrimPrefix(dir.Path, "/") + "/"
	}
	var rec func(d *Node) error
	rec = func(d *Node) error {
		children, err := a.ReadDir(d)
		if err != nil {
			return err
		}
		if err := checkDuplicates(d, children); err != nil {
			return err
		}
		for _, c := range children {
			e := c.Entry
			if e.Kind == KindHardlink && prefix != "" {
				// Hardlink targets are archive paths; the extractor resolves
				// them below dest, so make them relative to dir. A target
				// outside dir becomes a copy of the file.
				if t, ok := strings.CutPrefix(strings.TrimPrefix(e.LinkTarget, "/"), prefix); ok {
					e.LinkTarget = t
				} else if e, err = a.hardlinkCopy(c); err != nil {
					return err
				}
			}
			if e.Kind == KindFile {
				c, err := a.contents(&e)
				if err != nil {
					return err
				}
				e.Contents = c
			}
			if err := x.entry(&e); err != nil {
				return err
			}
			if c.IsDir() {
				if err := rec(c); err != nil {
					return err
				}
				if err := x.entry(&Entry{Path: c.Path, Kind: KindGoodbye, FilenameOffset: -1}); err != nil {
					return err
				}
			}
		}
		return nil
	}
	if err := rec(dir); err != nil {
		return err
	}
	return x.entry(&Entry{Path: dir.Path, Kind: KindGoodbye, FilenameOffset: -1})
}

// checkDuplicates refuses a directory whose GOODBYE table lists two
// entries of the same name (the sequential decoder refuses them too): the
// second could replace the first while it is being written.
func checkDuplicates(dir *Node, children []*Node) error {
	if len(children) < 2 {
		return nil
	}
	seen := make(map[string]struct{}, len(children))
	for _, c := range children {
		if _, dup := seen[string(c.Name)]; dup {
			return corruptf("directory %q holds two entries named %q", dir.Path, c.Name)
		}
		seen[string(c.Name)] = struct{}{}
	}
	return nil
}

// AllXattrs returns every extended attribute the entry had on disk: its
// plain xattrs plus file capabilities and POSIX ACLs in their xattr forms.
func (m *Metadata) AllXattrs() []Xattr {
	out := slices.Clone(m.Xattrs)
	if m.FCaps != nil {
		out = append(out, Xattr{Name: []byte(xattrFCaps), Value: m.FCaps})
	}
	if b := accessACLXattr(&m.ACL, m.Stat.Mode); b != nil {
		out = append(out, Xattr{Name: []byte(xattrACLAccess), Value: b})
	}
	if m.Stat.FileType() == ModeIFDIR {
		if b := defaultACLXattr(&m.ACL); b != nil {
			out = append(out, Xattr{Name: []byte(xattrACLDefault), Value: b})
		}
	}
	return out
}
