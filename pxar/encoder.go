package pxar

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"slices"
)

// Encoder writes an archive sequentially: format version 1 (one stream), or
// version 2 split into a metadata and a payload stream (spec 1.9). Only the
// open directories' goodbye items are kept in memory.
type Encoder struct {
	w   io.Writer
	pos uint64
	// Split archives: file data goes to payload, the metadata stream gets
	// PAYLOAD_REF items pointing into it.
	payload io.Writer
	ppos    uint64
	stack   []*dirFrame
	buf     []byte
	err     error // sticky: after a failed write the stream is unusable
	done    bool
}

type dirFrame struct {
	name        []byte
	filenameOff uint64 // absolute offset of this directory's FILENAME (0 for the root)
	entryOff    uint64
	items       []goodbyeItem
}

// NewEncoder writes the root directory's ENTRY and attributes and returns an
// encoder positioned inside the root directory.
func NewEncoder(w io.Writer, root *Metadata) (*Encoder, error) {
	if root.Stat.FileType() != ModeIFDIR {
		return nil, fmt.Errorf("pxar: root must be a directory (mode %o)", root.Stat.Mode)
	}
	e := &Encoder{w: w}
	e.stack = append(e.stack, &dirFrame{entryOff: 0})
	if err := e.writeMetadata(root); err != nil {
		return nil, err
	}
	return e, nil
}

// NewSplitEncoder starts a version-2 archive: FORMAT_VERSION and the
// optional prelude on meta, the start marker on payload. As upstream's
// encoder does, the root directory's goodbye tail points at offset 0, the
// FORMAT_VERSION item, not at the root ENTRY after it (its root state keeps
// the default entry offset).
func NewSplitEncoder(meta, payload io.Writer, root *Metadata, prelude []byte) (*Encoder, error) {
	if root.Stat.FileType() != ModeIFDIR {
		return nil, fmt.Errorf("pxar: root must be a directory (mode %o)", root.Stat.Mode)
	}
	e := &Encoder{w: meta, payload: payload}
	e.stack = append(e.stack, &dirFrame{entryOff: 0})
	if err := e.item(htypeFormatVersion, u64s(2)); err != nil {
		return nil, err
	}
	if len(prelude) > 0 {
		if err := e.item(htypePrelude, prelude); err != nil {
			return nil, err
		}
	}
	if err := e.writePayload(u64s(htypePayloadStart, headerSize)); err != nil {
		return nil, err
	}
	if err := e.writeMetadata(root); err != nil {
		return nil, err
	}
	return e, nil
}

// PayloadPosition is the payload stream's length so far, injected bytes included.
func (e *Encoder) PayloadPosition() uint64 { return e.ppos }

// AdvancePayload moves the payload position past n bytes that the caller put
// into the payload stream itself (reused chunks of a previous snapshot).
func (e *Encoder) AdvancePayload(n uint64) { e.ppos += n }

func (e *Encoder) writePayload(p []byte) error { return e.writeTo(e.payload, &e.ppos, p) }

// Position is the number of bytes written so far.
func (e *Encoder) Position() uint64 { return e.pos }

// Depth is the number of open directories (1 = root).
func (e *Encoder) Depth() int { return len(e.stack) }

func (e *Encoder) write(p []byte) error { return e.writeTo(e.w, &e.pos, p) }

// writeTo writes p to one of the streams, advancing its position; an error
// sticks: after it the archive is unusable.
func (e *Encoder) writeTo(w io.Writer, pos *uint64, p []byte) error {
	if e.err != nil {
		return e.err
	}
	n, err := w.Write(p)
	*pos += uint64(n)
	if err == nil && n != len(p) {
		err = io.ErrShortWrite
	}
	e.err = err
	return err
}

// item writes one header plus content built from parts.
func (e *Encoder) item(htype uint64, parts ...[]byte) error {
	size := headerSize
	for _, p := range parts {
		size += len(p)
	}
	b := e.buf[:0]
	b = binary.LittleEndian.AppendUint64(b, htype)
	b = binary.LittleEndian.AppendUint64(b, uint64(size))
	for _, p := range parts {
		b = append(b, p...)
	}
	e.buf = b
	return e.write(b)
}

func u64s(vals ...uint64) []byte {
	b := make([]byte, 0, 8*len(vals))
	for _, v := range vals {
		b = binary.LittleEndian.AppendUint64(b, v)
	}
	return b
}

func encodeStat(s *Stat) []byte {
	b := make([]byte, statSize)
	binary.LittleEndian.PutUint64(b[0:], s.Mode)
	binary.LittleEndian.PutUint64(b[8:], s.Flags)
	binary.LittleEndian.PutUint32(b[16:], s.UID)
	binary.LittleEndian.PutUint32(b[20:], s.GID)
	binary.LittleEndian.PutUint64(b[24:], uint64(s.MtimeSec))
	binary.LittleEndian.PutUint32(b[32:], s.MtimeNsec)
	return b
}

func sortACL(l []ACLEntry) []ACLEntry {
	l = slices.Clone(l)
	slices.SortFunc(l, func(a, b ACLEntry) int {
		if a.ID != b.ID {
			if a.ID < b.ID {
				return -1
			}
			return 1
		}
		switch {
		case a.Permissions < b.Permissions:
			return -1
		case a.Permissions > b.Permissions:
			return 1
		}
		return 0
	})
	return l
}

// writeMetadata emits ENTRY and the attribute items in the order upstream's
// encoder uses (spec 1.5); decoders accept any order but byte identity needs this one.
func (e *Encoder) writeMetadata(m *Metadata) error {
	if m.Stat.MtimeNsec >= 1e9 {
		return fmt.Errorf("pxar: mtime nanoseconds out of range (%d)", m.Stat.MtimeNsec)
	}
	if err := e.item(htypeEntry, encodeStat(&m.Stat)); err != nil {
		return err
	}
	for _, x := range m.Xattrs {
		if len(x.Name) == 0 || len(x.Name) > maxXattrNameLen || slices.Contains(x.Name, 0) {
			return fmt.Errorf("pxar: invalid xattr name %q", x.Name)
		}
		if len(x.Name)+1+len(x.Value) > maxXattrContent {
			return fmt.Errorf("pxar: xattr %q too large", x.Name)
		}
		if err := e.item(htypeXattr, x.Name, []byte{0}, x.Value); err != nil {
			return err
		}
	}
	a := &m.ACL
	for _, u := range sortACL(a.Users) {
		if err := e.item(htypeACLUser, u64s(u.ID, u.Permissions)); err != nil {
			return err
		}
	}
	for _, g := range sortACL(a.Groups) {
		if err := e.item(htypeACLGroup, u64s(g.ID, g.Permissions)); err != nil {
			return err
		}
	}
	if a.GroupObj != nil {
		if err := e.item(htypeACLGroupObj, u64s(*a.GroupObj)); err != nil {
			return err
		}
	}
	if d := a.Default; d != nil {
		if err := e.item(htypeACLDefault, u64s(d.UserObj, d.GroupObj, d.Other, d.Mask)); err != nil {
			return err
		}
	}
	for _, u := range sortACL(a.DefaultUsers) {
		if err := e.item(htypeACLDefaultUser, u64s(u.ID, u.Permissions)); err != nil {
			return err
		}
	}
	for _, g := range sortACL(a.DefaultGroups) {
		if err := e.item(htypeACLDefaultGroup, u64s(g.ID, g.Permissions)); err != nil {
			return err
		}
	}
	if m.FCaps != nil {
		if len(m.FCaps) > maxXattrContent {
			return fmt.Errorf("pxar: fcaps too large")
		}
		if err := e.item(htypeFCaps, m.FCaps); err != nil {
			return err
		}
	}
	if m.QuotaProjID != nil {
		if err := e.item(htypeQuotaProjID, u64s(*m.QuotaProjID)); err != nil {
			return err
		}
	}
	return nil
}

func (e *Encoder) cur() (*dirFrame, error) {
	if e.done || len(e.stack) == 0 {
		return nil, errors.New("pxar: encoder already finished")
	}
	if e.err != nil {
		return nil, e.err
	}
	return e.stack[len(e.stack)-1], nil
}

// begin writes the FILENAME item and returns its offset.
func (e *Encoder) begin(name []byte) (*dirFrame, uint64, error) {
	d, err := e.cur()
	if err != nil {
		return nil, 0, err
	}
	if err := checkFilename(name); err != nil {
		return nil, 0, err
	}
	off := e.pos
	if err := e.item(htypeFilename, name, []byte{0}); err != nil {
		return nil, 0, err
	}
	return d, off, nil
}

func (d *dirFrame) add(name []byte, start, end uint64) {
	d.items = append(d.items, goodbyeItem{hash: hashName(name), offset: start, size: end - start})
}

func checkType(m *Metadata, want uint64, what string) error {
	if m.Stat.FileType() != want {
		return fmt.Errorf("pxar: %s needs file type %o, mode is %o", what, want, m.Stat.Mode)
	}
	return nil
}

// AddFile writes a regular file whose contents are exactly size bytes read
// from r, and returns the offset of its FILENAME header (for later hardlinks).
// A reader that ends early is an error: the announced size is already on disk.
func (e *Encoder) AddFile(name []byte, m *Metadata, size uint64, r io.Reader) (uint64, error) {
	d, start, err := e.beginFile(name, m)
	if err != nil {
		return 0, err
	}
	hdr := u64s(htypePayload, headerSize+size)
	var dst io.Writer = countWriter{e}
	if e.payload != nil {
		if err := e.item(htypePayloadRef, u64s(e.ppos, size)); err != nil {
			return 0, err
		}
		if b, ok := e.payload.(BoundarySuggester); ok {
			b.SuggestBoundary(e.ppos)
		}
		if err := e.writePayload(hdr); err != nil {
			return 0, err
		}
		dst = payloadWriter{e}
	} else if err := e.write(hdr); err != nil {
		return 0, err
	}
	n, err := io.CopyN(dst, r, int64(size))
	if err != nil {
		if e.err != nil {
			return 0, e.err
		}
		e.err = fmt.Errorf("pxar: file %q: short read (%d of %d bytes): %w", name, n, size, err)
		return 0, e.err
	}
	d.add(name, start, e.pos)
	return start, nil
}

// AddFileRef writes a regular file of a split archive whose PAYLOAD header
// already sits at payloadOffset in the payload stream (reused from a
// previous snapshot). Returns the FILENAME offset, as AddFile does.
func (e *Encoder) AddFileRef(name []byte, m *Metadata, size, payloadOffset uint64) (uint64, error) {
	if e.payload == nil {
		return 0, errors.New("pxar: payload references need a split archive")
	}
	d, start, err := e.beginFile(name, m)
	if err != nil {
		return 0, err
	}
	if err := e.item(htypePayloadRef, u64s(payloadOffset, size)); err != nil {
		return 0, err
	}
	d.add(name, start, e.pos)
	return start, nil
}

// beginFile writes a regular file's FILENAME and metadata, and returns its
// directory and the FILENAME offset.
func (e *Encoder) beginFile(name []byte, m *Metadata) (*dirFrame, uint64, error) {
	if err := checkType(m, ModeIFREG, "file"); err != nil {
		return nil, 0, err
	}
	d, start, err := e.begin(name)
	if err != nil {
		return nil, 0, err
	}
	if err := e.writeMetadata(m); err != nil {
		return nil, 0, err
	}
	return d, start, nil
}

// BoundarySuggester is a payload stream that wants to know where files
// start: upstream's payload chunker prefers cutting there (spec 5.5), so an
// unchanged file tends to keep its chunks.
type BoundarySuggester interface {
	SuggestBoundary(offset uint64)
}

// payloadWriter routes file data of split archives to the payload stream.
type payloadWriter struct{ e *Encoder }

func (p payloadWriter) Write(b []byte) (int, error) {
	if err := p.e.writePayload(b); err != nil {
		return 0, err
	}
	return len(b), nil
}

// countWriter routes payload bytes through Encoder.write so positions stay right.
type countWriter struct{ e *Encoder }

// ReadFrom lets the output read file data into its own buffers (the chunk
// stream does), saving a copy per byte.
func (c countWriter) ReadFrom(r io.Reader) (int64, error) {
	return c.e.readFrom(c.e.w, &c.e.pos, r, writerOnly{c})
}

func (p payloadWriter) ReadFrom(r io.Reader) (int64, error) {
	return p.e.readFrom(p.e.payload, &p.e.ppos, r, writerOnly{p})
}

// writerOnly hides ReadFrom, for io.Copy's fallback.
type writerOnly struct{ io.Writer }

func (e *Encoder) readFrom(out io.Writer, pos *uint64, r io.Reader, plain io.Writer) (int64, error) {
	if e.err != nil {
		return 0, e.err
	}
	rf, ok := out.(io.ReaderFrom)
	if !ok {
		return io.Copy(plain, r)
	}
	n, err := rf.ReadFrom(r)
	*pos += uint64(n)
	return n, err
}

func (c countWriter) Write(p []byte) (int, error) {
	if err := c.e.write(p); err != nil {
		return 0, err
	}
	return len(p), nil
}

// AddSymlink writes a symbolic link.
func (e *Encoder) AddSymlink(name []byte, m *Metadata, target []byte) error {
	if err := checkType(m, ModeIFLNK, "symlink"); err != nil {
		return err
	}
	if len(target) == 0 || len(target) > maxPathLen || slices.Contains(target, 0) {
		return fmt.Errorf("pxar: invalid symlink target %q", target)
	}
	d, start, err := e.begin(name)
	if err != nil {
		return err
	}
	if err := e.writeMetadata(m); err != nil {
		return err
	}
	if err := e.item(htypeSymlink, target, []byte{0}); err != nil {
		return err
	}
	d.add(name, start, e.pos)
	return nil
}

// AddDevice writes a block or character device node.
func (e *Encoder) AddDevice(name []byte, m *Metadata, dev Device) error {
	if t := m.Stat.FileType(); t != ModeIFBLK && t != ModeIFCHR {
		return fmt.Errorf("pxar: device needs a block or char mode, mode is %o", m.Stat.Mode)
	}
	d, start, err := e.begin(name)
	if err != nil {
		return err
	}
	if err := e.writeMetadata(m); err != nil {
		return err
	}
	if err := e.item(htypeDevice, u64s(dev.Major, dev.Minor)); err != nil {
		return err
	}
	d.add(name, start, e.pos)
	return nil
}

// AddFifo writes a named pipe (ENTRY only).
func (e *Encoder) AddFifo(name []byte, m *Metadata) error {
	return e.addSpecial(name, m, ModeIFIFO, "fifo")
}

// AddSocket writes a socket (ENTRY only).
func (e *Encoder) AddSocket(name []byte, m *Metadata) error {
	return e.addSpecial(name, m, ModeIFSOCK, "socket")
}

func (e *Encoder) addSpecial(name []byte, m *Metadata, typ uint64, what string) error {
	if err := checkType(m, typ, what); err != nil {
		return err
	}
	d, start, err := e.begin(name)
	if err != nil {
		return err
	}
	if err := e.writeMetadata(m); err != nil {
		return err
	}
	d.add(name, start, e.pos)
	return nil
}

// AddHardlink writes a link to a file written earlier: target is its
// archive-relative path (no leading "/"), targetOffset the value AddFile returned.
func (e *Encoder) AddHardlink(name []byte, target string, targetOffset uint64) error {
	if target == "" || len(target) > maxPathLen || slices.Contains([]byte(target), 0) {
		return fmt.Errorf("pxar: invalid hardlink target %q", target)
	}
	d, start, err := e.begin(name)
	if err != nil {
		return err
	}
	if targetOffset >= start {
		return fmt.Errorf("pxar: hardlink %q must point backwards", name)
	}
	if err := e.item(htypeHardlink, u64s(start-targetOffset), []byte(target), []byte{0}); err != nil {
		return err
	}
	d.add(name, start, e.pos)
	return nil
}

// CreateDirectory opens a child directory; later Add calls go into it until
// FinishDirectory.
func (e *Encoder) CreateDirectory(name []byte, m *Metadata) error {
	if err := checkType(m, ModeIFDIR, "directory"); err != nil {
		return err
	}
	_, start, err := e.begin(name)
	if err != nil {
		return err
	}
	f := &dirFrame{name: slices.Clone(name), filenameOff: start, entryOff: e.pos}
	if err := e.writeMetadata(m); err != nil {
		return err
	}
	e.stack = append(e.stack, f)
	return nil
}

// FinishDirectory writes the current directory's GOODBYE table and closes it.
// Closing the root ends the archive.
func (e *Encoder) FinishDirectory() error {
	d, err := e.cur()
	if err != nil {
		return err
	}
	g := encodeGoodbye(d.items, e.pos, d.entryOff)
	d.items = nil
	if err := e.write(g); err != nil {
		return err
	}
	e.stack = e.stack[:len(e.stack)-1]
	if len(e.stack) == 0 {
		e.done = true
		if e.payload != nil {
			return e.writePayload(u64s(htypePayloadTail, headerSize))
		}
		return nil
	}
	e.stack[len(e.stack)-1].add(d.name, d.filenameOff, e.pos)
	return nil
}

// Finish closes the root directory; every child directory must be finished.
func (e *Encoder) Finish() error {
	if len(e.stack) != 1 {
		if e.done {
			return nil
		}
		return fmt.Errorf("pxar: %d directories still open", len(e.stack)-1)
	}
	return e.FinishDirectory()
}
