package catalog

import (
	"bufio"
	"fmt"
	"io"
)

// Streaming directory reads: ScanDir decodes a directory block entry by
// entry through a small buffer, where ReadDir reads the whole block into
// memory first. A catalog comes from the client, so a block's length is
// whatever it claims (up to the file's size): a server listing one
// directory of a hostile catalog must not allocate it (issue 16 item 2).

// scanBuffer is the read buffer of a scan.
const scanBuffer = 64 << 10

// ScanDir calls fn for each entry of directory dir, in stored order,
// checking the block as ReadDir does; fn's error ends the scan. The whole
// block is checked only once the last entry was passed to fn, so a caller
// that must not act on a bad block scans twice: first with a nil fn.
func (r *Reader) ScanDir(dir Entry, fn func(Entry) error) error {
	if !dir.IsDir() {
		return fmt.Errorf("catalog: %q is not a directory", dir.Name)
	}
	off := dir.Offset
	if off < 8 || off >= r.end {
		return fmt.Errorf("catalog: directory offset %d out of range", off)
	}
	hdr := make([]byte, min(10, r.end-off))
	if err := readFull(r.r, hdr, int64(off)); err != nil {
		return err
	}
	n, l, err := decodeU64(hdr)
	if err != nil {
		return fmt.Errorf("catalog: directory block at %d: %w", off, err)
	}
	if n < 1 {
		return fmt.Errorf("catalog: got small directory size %d at offset %d", n, off)
	}
	tstart := off + uint64(l)
	if n > r.end-tstart {
		return fmt.Errorf("catalog: directory block at %d exceeds file (table length %d)", off, n)
	}
	s := &tableScanner{br: bufio.NewReaderSize(io.NewSectionReader(r.r, int64(tstart), int64(n)), int(min(n, scanBuffer))), left: n, start: off}
	return s.scan(fn)
}

// tableScanner decodes a directory table from a stream of left bytes.
type tableScanner struct {
	br    *bufio.Reader
	left  uint64
	start uint64 // the block's offset
}

func (s *tableScanner) fail(format string, args ...any) error {
	return fmt.Errorf("catalog: directory block at %d: "+format, append([]any{s.start}, args...)...)
}

// varint decodes a varu64 (signed: a vari64) from the stream.
func (s *tableScanner) varint(signed bool) (uint64, int64, error) {
	p, _ := s.br.Peek(int(min(11, s.left)))
	var u uint64
	var i int64
	var n int
	var err error
	if signed {
		i, n, err = decodeI64(p)
	} else {
		u, n, err = decodeU64(p)
	}
	if err != nil {
		return 0, 0, err
	}
	s.br.Discard(n)
	s.left -= uint64(n)
	return u, i, nil
}

func (s *tableScanner) scan(fn func(Entry) error) error {
	count, _, err := s.varint(false)
	if err != nil {
		return s.fail("entry count: %v", err)
	}
	// Every entry takes at least two bytes.
	if count > s.left/2 {
		return s.fail("entry count %d exceeds block size", count)
	}
	name := make([]byte, 0, 256)
	for i := uint64(0); i < count; i++ {
		if s.left == 0 {
			return s.fail("unexpected end of block")
		}
		tb, err := s.br.ReadByte()
		if err != nil {
			return s.fail("%v", err)
		}
		s.left--
		t := EntryType(tb)
		if !t.Valid() {
			return s.fail("invalid entry type 0x%02x", tb)
		}
		nl, _, err := s.varint(false)
		if err != nil {
			return s.fail("name length: %v", err)
		}
		if nl >= MaxNameLen {
			return s.fail("directory entry name too long (%d >= %d)", nl, MaxNameLen)
		}
		if nl > s.left {
			return s.fail("unexpected end of block in entry name")
		}
		name = name[:nl]
		if _, err := io.ReadFull(s.br, name); err != nil {
			return s.fail("%v", err)
		}
		s.left -= nl
		e := Entry{Type: t, Name: name}
		switch t {
		case TypeDirectory:
			o, _, err := s.varint(false)
			if err != nil {
				return s.fail("directory offset: %v", err)
			}
			// The child block precedes this one and starts after the magic.
			if o == 0 || o > s.start || s.start-o < 8 {
				return s.fail("got wrong directory offset %d for %q", o, e.Name)
			}
			e.Offset = s.start - o
		case TypeFile:
			size, _, err := s.varint(false)
			if err != nil {
				return s.fail("file size: %v", err)
			}
			_, mtime, err := s.varint(true)
			if err != nil {
				return s.fail("file mtime: %v", err)
			}
			e.Size, e.Mtime = size, mtime
		}
		if fn != nil {
			if err := fn(e); err != nil {
				return err
			}
		}
	}
	if s.left != 0 {
		return s.fail("unable to parse whole catalog data block (%d bytes left)", s.left)
	}
	return nil
}

// LookupScan is Lookup through ScanDir: it resolves a "/"-separated path
// from the root holding one entry at a time.
func (r *Reader) LookupScan(path string) (Entry, error) {
	return r.lookup(path, func(dir Entry, name string) (*Entry, error) {
		var found *Entry
		err := r.ScanDir(dir, func(e Entry) error {
			if found == nil && string(e.Name) == name {
				e.Name = append([]byte(nil), e.Name...)
				found = &e
			}
			return nil
		})
		return found, err
	})
}
