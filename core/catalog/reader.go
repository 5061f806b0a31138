package catalog

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"strings"
)

// EntryType is the one-byte ASCII type tag of a catalog entry.
type EntryType byte

// Entry types (formats.md 7.2).
const (
	TypeDirectory   EntryType = 'd'
	TypeFile        EntryType = 'f'
	TypeSymlink     EntryType = 'l'
	TypeHardlink    EntryType = 'h'
	TypeBlockDevice EntryType = 'b'
	TypeCharDevice  EntryType = 'c'
	TypeFifo        EntryType = 'p'
	TypeSocket      EntryType = 's'
)

// Valid reports whether t is one of the known entry types.
func (t EntryType) Valid() bool {
	switch t {
	case TypeDirectory, TypeFile, TypeSymlink, TypeHardlink,
		TypeBlockDevice, TypeCharDevice, TypeFifo, TypeSocket:
		return true
	}
	return false
}

// String returns the type letter as used by `catalog dump`.
func (t EntryType) String() string { return string(rune(t)) }

// Entry is one catalog entry.
type Entry struct {
	Name  []byte
	Type  EntryType
	Size  uint64 // files only
	Mtime int64  // files only, seconds since the epoch
	// Offset is, for directories, the file offset of the directory's block.
	Offset uint64
}

// IsDir reports whether e is a directory.
func (e Entry) IsDir() bool { return e.Type == TypeDirectory }

// ErrNotFound is wrapped by Lookup when a path component does not exist.
var ErrNotFound = fs.ErrNotExist

// Reader gives random access to a catalog file.
type Reader struct {
	r    io.ReaderAt
	size int64
	end  uint64 // end of the block area (size - 8)
	root uint64
}

// NewReader checks the magic and the trailing root offset of a catalog of
// the given size.
func NewReader(r io.ReaderAt, size int64) (*Reader, error) {
	if size < 16 {
		return nil, fmt.Errorf("catalog: file too short (%d bytes)", size)
	}
	var magic [8]byte
	if err := readFull(r, magic[:], 0); err != nil {
		return nil, err
	}
	if magic != Magic {
		return nil, errors.New("catalog: got unexpected magic number for catalog")
	}
	var tail [8]byte
	if err := readFull(r, tail[:], size-8); err != nil {
		return nil, err
	}
	cr := &Reader{r: r, size: size, end: uint64(size - 8)}
	cr.root = binary.LittleEndian.Uint64(tail[:])
	if cr.root < 8 || cr.root >= cr.end {
		return nil, fmt.Errorf("catalog: invalid root directory offset %d (file size %d)", cr.root, size)
	}
	return cr, nil
}

func readFull(r io.ReaderAt, p []byte, off int64) error {
	n, err := r.ReadAt(p, off)
	if n == len(p) {
		return nil
	}
	if err == nil || err == io.EOF {
		err = io.ErrUnexpectedEOF
	}
	return fmt.Errorf("catalog: read at %d: %w", off, err)
}

// Root returns the catalog's root directory entry (no name). Its children
// are the archives of the snapshot, e.g. "root.pxar.didx".
func (r *Reader) Root() (Entry, error) {
	return Entry{Type: TypeDirectory, Offset: r.root}, nil
}

// readBlock returns the table of the directory block at off.
func (r *Reader) readBlock(off uint64) ([]byte, error) {
	if off < 8 || off >= r.end {
		return nil, fmt.Errorf("catalog: directory offset %d out of range", off)
	}
	hdr := make([]byte, min(10, r.end-off))
	if err := readFull(r.r, hdr, int64(off)); err != nil {
		return nil, err
	}
	n, l, err := decodeU64(hdr)
	if err != nil {
		return nil, fmt.Errorf("catalog: directory block at %d: %w", off, err)
	}
	if n < 1 {
		return nil, fmt.Errorf("catalog: got small directory size %d at offset %d", n, off)
	}
	tstart := off + uint64(l)
	if n > r.end-tstart {
		return nil, fmt.Errorf("catalog: directory block at %d exceeds file (table length %d)", off, n)
	}
	data := make([]byte, n)
	if err := readFull(r.r, data, int64(tstart)); err != nil {
		return nil, err
	}
	return data, nil
}

// parseTable decodes the table of the block starting at start.
func parseTable(start uint64, data []byte) ([]Entry, error) {
	fail := func(format string, args ...any) ([]Entry, error) {
		return nil, fmt.Errorf("catalog: directory block at %d: "+format, append([]any{start}, args...)...)
	}
	count, l, err := decodeU64(data)
	if err != nil {
		return fail("entry count: %v", err)
	}
	b := data[l:]
	// Every entry takes at least two bytes.
	if count > uint64(len(b))/2 {
		return fail("entry count %d exceeds block size", count)
	}
	entries := make([]Entry, 0, count)
	for i := uint64(0); i < count; i++ {
		if len(b) == 0 {
			return fail("unexpected end of block")
		}
		t := EntryType(b[0])
		if !t.Valid() {
			return fail("invalid entry type 0x%02x", b[0])
		}
		b = b[1:]
		nl, l, err := decodeU64(b)
		if err != nil {
			return fail("name length: %v", err)
		}
		b = b[l:]
		if nl >= MaxNameLen {
			return fail("directory entry name too long (%d >= %d)", nl, MaxNameLen)
		}
		if nl > uint64(len(b)) {
			return fail("unexpected end of block in entry name")
		}
		e := Entry{Type: t, Name: append([]byte(nil), b[:nl]...)}
		b = b[nl:]
		switch t {
		case TypeDirectory:
			off, l, err := decodeU64(b)
			if err != nil {
				return fail("directory offset: %v", err)
			}
			b = b[l:]
			// The child block precedes this one and starts after the magic.
			if off == 0 || off > start || start-off < 8 {
				return fail("got wrong directory offset %d for %q", off, e.Name)
			}
			e.Offset = start - off
		case TypeFile:
			size, l, err := decodeU64(b)
			if err != nil {
				return fail("file size: %v", err)
			}
			b = b[l:]
			mtime, l, err := decodeI64(b)
			if err != nil {
				return fail("file mtime: %v", err)
			}
			b = b[l:]
			e.Size, e.Mtime = size, mtime
		}
		entries = append(entries, e)
	}
	if len(b) != 0 {
		return fail("unable to parse whole catalog data block (%d bytes left)", len(b))
	}
	return entries, nil
}

// ReadDir returns the entries of directory dir in stored order.
func (r *Reader) ReadDir(dir Entry) ([]Entry, error) {
	if !dir.IsDir() {
		return nil, fmt.Errorf("catalog: %q is not a directory", dir.Name)
	}
	data, err := r.readBlock(dir.Offset)
	if err != nil {
		return nil, err
	}
	return parseTable(dir.Offset, data)
}

// Lookup resolves a "/"-separated path from the catalog root. The first
// component is the archive name (e.g. "root.pxar.didx"). A leading "/"
// and empty components are ignored; "" and "/" return the root.
func (r *Reader) Lookup(path string) (Entry, error) {
	return r.lookup(path, func(dir Entry, name string) (*Entry, error) {
		entries, err := r.ReadDir(dir)
		if err != nil {
			return nil, err
		}
		for _, e := range entries {
			if string(e.Name) == name {
				return &e, nil
			}
		}
		return nil, nil
	})
}

// lookup resolves path from the root, component by component: child finds
// an entry of a directory by name (nil when there is none).
func (r *Reader) lookup(path string, child func(dir Entry, name string) (*Entry, error)) (Entry, error) {
	cur, _ := r.Root()
	for _, comp := range strings.Split(path, "/") {
		if comp == "" {
			continue
		}
		if !cur.IsDir() {
			return Entry{}, fmt.Errorf("catalog: path %q: %q is not a directory", path, cur.Name)
		}
		found, err := child(cur, comp)
		if err != nil {
			return Entry{}, err
		}
		if found == nil {
			return Entry{}, fmt.Errorf("catalog: path %q not found in catalog: %w", path, ErrNotFound)
		}
		cur = *found
	}
	return cur, nil
}

type walkFrame struct {
	prefix  []byte
	entries []Entry
	next    int
}

// walk visits all entries depth-first (pre-order). join builds a child's
// path from its parent's path. Each directory block may be visited only
// once, which bounds the work by the file size even for corrupt input.
func (r *Reader) walk(rootPrefix []byte, join func(prefix, name []byte) []byte, fn func(path []byte, e Entry) error) error {
	root, _ := r.Root()
	entries, err := r.ReadDir(root)
	if err != nil {
		return err
	}
	visited := map[uint64]bool{root.Offset: true}
	stack := []walkFrame{{prefix: rootPrefix, entries: entries}}
	for len(stack) > 0 {
		f := &stack[len(stack)-1]
		if f.next >= len(f.entries) {
			stack = stack[:len(stack)-1]
			continue
		}
		e := f.entries[f.next]
		f.next++
		p := join(f.prefix, e.Name)
		if err := fn(p, e); err != nil {
			if err == fs.SkipDir {
				if !e.IsDir() {
					stack = stack[:len(stack)-1]
				}
				continue
			}
			if err == fs.SkipAll {
				return nil
			}
			return err
		}
		if !e.IsDir() {
			continue
		}
		if visited[e.Offset] {
			return fmt.Errorf("catalog: directory block at %d referenced more than once", e.Offset)
		}
		visited[e.Offset] = true
		children, err := r.ReadDir(e)
		if err != nil {
			return err
		}
		stack = append(stack, walkFrame{prefix: p, entries: children})
	}
	return nil
}

// Walk calls fn for every entry below the root, depth-first in stored
// order, with paths like "/root.pxar.didx/etc/hostname". The root itself is
// not reported. If fn returns fs.SkipDir for a directory its contents are
// skipped (for other entries the rest of the parent directory is skipped);
// fs.SkipAll ends the walk without error.
func (r *Reader) Walk(fn func(path string, e Entry) error) error {
	join := func(prefix, name []byte) []byte {
		p := make([]byte, 0, len(prefix)+1+len(name))
		p = append(p, prefix...)
		p = append(p, '/')
		return append(p, name...)
	}
	return r.walk(nil, join, func(p []byte, e Entry) error { return fn(string(p), e) })
}

// Dump prints every entry like upstream `proxmox-backup-client catalog
// dump`: one line per entry, `TYPE "PATH"` with the path starting at "./"
// and quoted like Rust's Debug for paths, files additionally followed by
// the size and the mtime formatted as local time "%FT%TZ".
func (r *Reader) Dump(w io.Writer) error {
	var line []byte
	return r.walk([]byte("./"), rustPathPush, func(p []byte, e Entry) error {
		line = append(line[:0], byte(e.Type), ' ')
		line = appendRustDebugPath(line, p)
		if e.Type == TypeFile {
			line = fmt.Appendf(line, " %d %s", e.Size, formatMtime(e.Mtime))
		}
		line = append(line, '\n')
		_, err := w.Write(line)
		return err
	})
}

// rustPathPush mimics Rust's PathBuf::push on Unix: an absolute name
// replaces the path, otherwise a separator is added unless the path is
// empty or already ends with one.
func rustPathPush(prefix, name []byte) []byte {
	if len(name) > 0 && name[0] == '/' {
		return bytes.Clone(name)
	}
	p := make([]byte, 0, len(prefix)+1+len(name))
	p = append(p, prefix...)
	if len(p) > 0 && p[len(p)-1] != '/' {
		p = append(p, '/')
	}
	return append(p, name...)
}
