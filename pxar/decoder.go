package pxar

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"time"
)

// Entry is one decoded archive entry. Hardlinks carry no metadata; goodbye
// entries only Path (of the directory being closed) and offsets.
type Entry struct {
	Path string // "/" for the root, otherwise "/dir/name"
	Name []byte // nil for the root
	Kind Kind
	Metadata
	Size           uint64 // regular files: content size
	LinkTarget     string // symlink target, or hardlink target path (archive-relative)
	HardlinkOffset uint64 // hardlinks: distance back to the target's FILENAME header
	Device         Device // devices
	// Contents is a regular file's data, valid until the next Next call: from
	// the archive itself (unified), or from the payload stream given with
	// SetPayload (split; nil without one).
	Contents      io.Reader
	PayloadOffset uint64 // regular files in v2 metadata archives: PAYLOAD header offset in the payload stream

	FilenameOffset int64  // offset of the FILENAME header, -1 for the root
	EntryOffset    uint64 // offset of the ENTRY (or HARDLINK, or GOODBYE) header
	ContentOffset  uint64 // regular files: first content byte
	EndOffset      uint64 // end of the entry; directories: 0 (see their KindGoodbye entry)
}

// Mode is the full st_mode.
func (e *Entry) Mode() uint64 { return e.Stat.Mode }

// UID is the owner's user id.
func (e *Entry) UID() uint32 { return e.Stat.UID }

// GID is the owner's group id.
func (e *Entry) GID() uint32 { return e.Stat.GID }

// Mtime is the modification time.
func (e *Entry) Mtime() time.Time { return time.Unix(e.Stat.MtimeSec, int64(e.Stat.MtimeNsec)) }

// FileMode converts the stored mode to an io/fs mode.
func (e *Entry) FileMode() fs.FileMode {
	m := fs.FileMode(e.Stat.Mode & 0o777)
	switch e.Stat.FileType() {
	case ModeIFDIR:
		m |= fs.ModeDir
	case ModeIFLNK:
		m |= fs.ModeSymlink
	case ModeIFBLK:
		m |= fs.ModeDevice
	case ModeIFCHR:
		m |= fs.ModeDevice | fs.ModeCharDevice
	case ModeIFIFO:
		m |= fs.ModeNamedPipe
	case ModeIFSOCK:
		m |= fs.ModeSocket
	}
	if e.Stat.Mode&ModeISUID != 0 {
		m |= fs.ModeSetuid
	}
	if e.Stat.Mode&ModeISGID != 0 {
		m |= fs.ModeSetgid
	}
	if e.Stat.Mode&ModeISVTX != 0 {
		m |= fs.ModeSticky
	}
	return m
}

type header struct {
	htype uint64
	size  uint64 // content size (full_size - 16)
	off   uint64 // offset of the header
}

type decDir struct {
	path     string
	entryOff uint64
	children uint64
	names    nameSet
}

// nameSet finds a name given twice in one directory. Archives list a
// directory's entries sorted by name, and then a duplicate is caught by
// comparing with the previous name only; the names are kept all the same
// (NUL-separated, NUL being no part of a name), and only once the order
// breaks do they go into a map.
type nameSet struct {
	arena     []byte
	lastStart int
	set       map[string]struct{}
}

// add records name and reports whether it was there already.
func (n *nameSet) add(name []byte) bool {
	if n.set == nil {
		if len(n.arena) == 0 || bytes.Compare(name, n.arena[n.lastStart:len(n.arena)-1]) > 0 {
			n.lastStart = len(n.arena)
			n.arena = append(append(n.arena, name...), 0)
			return false
		}
		n.set = make(map[string]struct{})
		for p := range bytes.SplitSeq(n.arena[:len(n.arena)-1], []byte{0}) {
			n.set[string(p)] = struct{}{}
		}
		n.arena = nil
	}
	if _, dup := n.set[string(name)]; dup {
		return true
	}
	n.set[string(name)] = struct{}{}
	return false
}

// Decoder reads an archive sequentially from a plain io.Reader.
type Decoder struct {
	r           *bufio.Reader
	pos         uint64
	started     bool
	done        bool
	version     uint64
	stack       []decDir
	peeked      *header
	payloadLeft uint64
	payload     io.ReaderAt // payload stream of a split archive, nil if not given
	prelude     io.Writer   // receives a split archive's PRELUDE, nil to skip it
	err         error
}

// NewDecoder returns a decoder reading from r.
func NewDecoder(r io.Reader) *Decoder {
	br, ok := r.(*bufio.Reader)
	if !ok {
		br = bufio.NewReaderSize(r, 64<<10)
	}
	return &Decoder{r: br, version: 1}
}

// SetPayload gives the decoder the payload stream of a split archive
// (spec 1.9), from which regular files' Contents are then read. Payload
// references only move forward, so a reader with read-ahead serves well.
func (d *Decoder) SetPayload(r io.ReaderAt) { d.payload = r }

// SetPreludeWriter makes the decoder copy a split archive's PRELUDE (the
// exclude patterns upstream records, spec 1.4) to w as it passes; call it
// before the first Next.
func (d *Decoder) SetPreludeWriter(w io.Writer) { d.prelude = w }

// readPrelude copies the PRELUDE content to the prelude writer, streaming:
// its size is the archive's word, not a reason to allocate.
func (d *Decoder) readPrelude(size uint64) error {
	if d.prelude == nil {
		return d.discard(size)
	}
	for size > 0 {
		n, err := io.CopyN(d.prelude, d.r, int64(min(size, 1<<30)))
		d.pos += uint64(n)
		size -= uint64(n)
		if errors.Is(err, io.EOF) {
			return corruptf("truncated archive at offset %d", d.pos)
		}
		if err != nil {
			return fmt.Errorf("pxar: write prelude: %w", err)
		}
	}
	return nil
}

// Position is the number of archive bytes consumed so far.
func (d *Decoder) Position() uint64 { return d.pos }

func (d *Decoder) readFull(p []byte) error {
	n, err := io.ReadFull(d.r, p)
	d.pos += uint64(n)
	if err != nil {
		if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
			return corruptf("truncated archive at offset %d", d.pos)
		}
		return err
	}
	return nil
}

func (d *Decoder) discard(n uint64) error {
	for n > 0 {
		chunk := min(n, 1<<30)
		got, err := d.r.Discard(int(chunk))
		d.pos += uint64(got)
		n -= uint64(got)
		if err != nil {
			if errors.Is(err, io.EOF) {
				return corruptf("truncated archive at offset %d", d.pos)
			}
			return err
		}
	}
	return nil
}

func (d *Decoder) readHeader() (header, error) {
	if h := d.peeked; h != nil {
		d.peeked = nil
		return *h, nil
	}
	off := d.pos
	var b [headerSize]byte
	if err := d.readFull(b[:]); err != nil {
		return header{}, err
	}
	full := binary.LittleEndian.Uint64(b[8:])
	if full < headerSize {
		return header{}, corruptf("item at offset %d has size %d < 16", off, full)
	}
	return header{htype: binary.LittleEndian.Uint64(b[:]), size: full - headerSize, off: off}, nil
}

// content reads an item's content after checking it against the type's limits.
func (d *Decoder) content(h header, minSize, maxSize uint64, what string) ([]byte, error) {
	if h.size < minSize || h.size > maxSize {
		return nil, corruptf("%s item at offset %d has invalid content size %d", what, h.off, h.size)
	}
	b := make([]byte, h.size)
	if err := d.readFull(b); err != nil {
		return nil, err
	}
	return b, nil
}

// cstring checks the trailing NUL and strips it.
func cstring(b []byte, what string, off uint64) ([]byte, error) {
	if len(b) == 0 || b[len(b)-1] != 0 {
		return nil, corruptf("%s at offset %d is not NUL-terminated", what, off)
	}
	s := b[:len(b)-1]
	if bytes.IndexByte(s, 0) >= 0 {
		return nil, corruptf("%s at offset %d contains a NUL byte", what, off)
	}
	return s, nil
}

// Next returns the next entry, or io.EOF after the root directory's GOODBYE.
// Unread file contents of the previous entry are skipped.
func (d *Decoder) Next() (*Entry, error) {
	if d.err != nil {
		return nil, d.err
	}
	e, err := d.next()
	if err != nil {
		d.err = err
		return nil, err
	}
	return e, nil
}

func (d *Decoder) next() (*Entry, error) {
	if d.payloadLeft > 0 {
		n := d.payloadLeft
		d.payloadLeft = 0
		if err := d.discard(n); err != nil {
			return nil, err
		}
	}
	if d.done {
		return nil, io.EOF
	}
	if !d.started {
		d.started = true
		return d.root()
	}
	h, err := d.readHeader()
	if err != nil {
		return nil, err
	}
	switch h.htype {
	case htypeFilename:
		return d.child(h)
	case htypeGoodbye:
		return d.goodbye(h)
	}
	return nil, corruptf("unexpected item %#x at offset %d (want FILENAME or GOODBYE)", h.htype, h.off)
}

func (d *Decoder) root() (*Entry, error) {
	h, err := d.readHeader()
	if err != nil {
		return nil, err
	}
	if h.htype == htypeFormatVersion {
		b, err := d.content(h, 8, 8, "FORMAT_VERSION")
		if err != nil {
			return nil, err
		}
		if v := binary.LittleEndian.Uint64(b); v != 2 {
			return nil, corruptf("unsupported format version %d", v)
		}
		d.version = 2
		if h, err = d.readHeader(); err != nil {
			return nil, err
		}
		if h.htype == htypePrelude {
			if err := d.readPrelude(h.size); err != nil {
				return nil, err
			}
			if h, err = d.readHeader(); err != nil {
				return nil, err
			}
		}
	}
	if h.htype != htypeEntry && h.htype != htypeEntryV1 {
		return nil, corruptf("archive does not start with an ENTRY (type %#x)", h.htype)
	}
	e := &Entry{Path: "/", FilenameOffset: -1, EntryOffset: h.off}
	if err := d.entry(h, e); err != nil {
		return nil, err
	}
	if e.Kind != KindDirectory {
		return nil, corruptf("archive root is not a directory (mode %o)", e.Stat.Mode)
	}
	// Upstream takes the root's ENTRY offset as 0 even in v2 archives (QUIRK, spec 1.6).
	d.stack[0].entryOff = 0
	return e, nil
}

func (d *Decoder) child(fh header) (*Entry, error) {
	if len(d.stack) == 0 {
		return nil, corruptf("FILENAME outside a directory at offset %d", fh.off)
	}
	b, err := d.content(fh, 2, maxFilenameContent, "FILENAME")
	if err != nil {
		return nil, err
	}
	name, err := cstring(b, "file name", fh.off)
	if err != nil {
		return nil, err
	}
	if err := checkFilename(name); err != nil {
		return nil, fmt.Errorf("%w: at offset %d: %v", ErrCorrupt, fh.off, err)
	}
	parent := &d.stack[len(d.stack)-1]
	if parent.names.add(name) {
		// Extracting both, the second would replace the first, maybe
		// while it is being written: nothing may rely on that.
		return nil, corruptf("duplicate name %q in directory %q (second FILENAME at offset %d)", name, parent.path, fh.off)
	}
	parent.children++
	p := parent.path
	if p != "/" {
		p += "/"
	}
	e := &Entry{Path: p + string(name), Name: name, FilenameOffset: int64(fh.off)}
	h, err := d.readHeader()
	if err != nil {
		return nil, err
	}
	e.EntryOffset = h.off
	switch h.htype {
	case htypeHardlink:
		b, err := d.content(h, 9, maxHardlinkContent, "HARDLINK")
		if err != nil {
			return nil, err
		}
		e.Kind = KindHardlink
		e.HardlinkOffset = binary.LittleEndian.Uint64(b)
		if e.HardlinkOffset == 0 || e.HardlinkOffset > fh.off {
			return nil, corruptf("hardlink %q has invalid offset %d", e.Path, e.HardlinkOffset)
		}
		target, err := cstring(b[8:], "hardlink target", h.off)
		if err != nil {
			return nil, err
		}
		if len(target) == 0 {
			return nil, corruptf("hardlink %q has an empty target", e.Path)
		}
		e.LinkTarget = string(target)
		e.EndOffset = d.pos
		return e, nil
	case htypeEntry, htypeEntryV1:
		if err := d.entry(h, e); err != nil {
			return nil, err
		}
		return e, nil
	}
	return nil, corruptf("FILENAME at offset %d not followed by ENTRY or HARDLINK", fh.off)
}

func decodeStat(h header, b []byte) (Stat, error) {
	le := binary.LittleEndian
	s := Stat{Mode: le.Uint64(b[0:]), Flags: le.Uint64(b[8:]), UID: le.Uint32(b[16:]), GID: le.Uint32(b[20:])}
	if h.htype == htypeEntryV1 {
		ns := le.Uint64(b[24:])
		s.MtimeSec = int64(ns / 1e9)
		s.MtimeNsec = uint32(ns % 1e9)
		return s, nil
	}
	s.MtimeSec = int64(le.Uint64(b[24:]))
	s.MtimeNsec = le.Uint32(b[32:])
	if s.MtimeNsec >= 1e9 {
		return s, corruptf("ENTRY at offset %d has nanoseconds %d", h.off, s.MtimeNsec)
	}
	return s, nil
}

// entry reads ENTRY, its attributes and its kind item into e.
func (d *Decoder) entry(h header, e *Entry) error {
	size := uint64(statSize)
	if h.htype == htypeEntryV1 {
		size = statV1Size
	}
	b, err := d.content(h, size, size, "ENTRY")
	if err != nil {
		return err
	}
	if e.Stat, err = decodeStat(h, b); err != nil {
		return err
	}
	ft := e.Stat.FileType()
	for {
		h, err := d.readHeader()
		if err != nil {
			return err
		}
		switch h.htype {
		case htypeXattr:
			b, err := d.content(h, 2, maxXattrContent, "XATTR")
			if err != nil {
				return err
			}
			i := bytes.IndexByte(b, 0)
			if i <= 0 || i > maxXattrNameLen {
				return corruptf("XATTR at offset %d has an invalid name", h.off)
			}
			e.Xattrs = append(e.Xattrs, Xattr{Name: b[:i], Value: b[i+1:]})
		case htypeACLUser, htypeACLGroup, htypeACLDefaultUser, htypeACLDefaultGroup:
			b, err := d.content(h, 16, 16, "ACL")
			if err != nil {
				return err
			}
			ent := ACLEntry{ID: binary.LittleEndian.Uint64(b), Permissions: binary.LittleEndian.Uint64(b[8:])}
			a := &e.ACL
			switch h.htype {
			case htypeACLUser:
				a.Users = append(a.Users, ent)
			case htypeACLGroup:
				a.Groups = append(a.Groups, ent)
			case htypeACLDefaultUser:
				a.DefaultUsers = append(a.DefaultUsers, ent)
			default:
				a.DefaultGroups = append(a.DefaultGroups, ent)
			}
		case htypeACLGroupObj:
			b, err := d.content(h, 8, 8, "ACL_GROUP_OBJ")
			if err != nil {
				return err
			}
			if e.ACL.GroupObj != nil {
				return corruptf("duplicate ACL_GROUP_OBJ at offset %d", h.off)
			}
			v := binary.LittleEndian.Uint64(b)
			e.ACL.GroupObj = &v
		case htypeACLDefault:
			b, err := d.content(h, 32, 32, "ACL_DEFAULT")
			if err != nil {
				return err
			}
			if e.ACL.Default != nil {
				return corruptf("duplicate ACL_DEFAULT at offset %d", h.off)
			}
			le := binary.LittleEndian
			e.ACL.Default = &ACLDefault{UserObj: le.Uint64(b), GroupObj: le.Uint64(b[8:]), Other: le.Uint64(b[16:]), Mask: le.Uint64(b[24:])}
		case htypeFCaps:
			b, err := d.content(h, 0, maxXattrContent, "FCAPS")
			if err != nil {
				return err
			}
			if e.FCaps != nil {
				return corruptf("duplicate FCAPS at offset %d", h.off)
			}
			e.FCaps = b
		case htypeQuotaProjID:
			b, err := d.content(h, 8, 8, "QUOTA_PROJID")
			if err != nil {
				return err
			}
			if e.QuotaProjID != nil {
				return corruptf("duplicate QUOTA_PROJID at offset %d", h.off)
			}
			v := binary.LittleEndian.Uint64(b)
			e.QuotaProjID = &v
		case htypePayload:
			if ft != ModeIFREG || d.version != 1 {
				return corruptf("unexpected PAYLOAD at offset %d for mode %o", h.off, e.Stat.Mode)
			}
			e.Kind = KindFile
			e.Size = h.size
			e.ContentOffset = d.pos
			e.EndOffset = d.pos + h.size
			d.payloadLeft = h.size
			e.Contents = &payloadReader{d: d}
			return nil
		case htypePayloadRef:
			if ft != ModeIFREG || d.version != 2 {
				return corruptf("unexpected PAYLOAD_REF at offset %d", h.off)
			}
			b, err := d.content(h, 16, 16, "PAYLOAD_REF")
			if err != nil {
				return err
			}
			e.Kind = KindFile
			e.PayloadOffset = binary.LittleEndian.Uint64(b)
			e.Size = binary.LittleEndian.Uint64(b[8:])
			e.EndOffset = d.pos
			if d.payload != nil {
				e.Contents = &refContents{r: d.payload, offset: e.PayloadOffset, size: e.Size}
			}
			return nil
		case htypeSymlink:
			if ft != ModeIFLNK {
				return corruptf("unexpected SYMLINK at offset %d for mode %o", h.off, e.Stat.Mode)
			}
			b, err := d.content(h, 2, maxSymlinkContent, "SYMLINK")
			if err != nil {
				return err
			}
			t, err := cstring(b, "symlink target", h.off)
			if err != nil {
				return err
			}
			e.Kind = KindSymlink
			e.LinkTarget = string(t)
			e.EndOffset = d.pos
			return nil
		case htypeDevice:
			if ft != ModeIFBLK && ft != ModeIFCHR {
				return corruptf("unexpected DEVICE at offset %d for mode %o", h.off, e.Stat.Mode)
			}
			b, err := d.content(h, 16, 16, "DEVICE")
			if err != nil {
				return err
			}
			e.Kind = KindDevice
			e.Device = Device{Major: binary.LittleEndian.Uint64(b), Minor: binary.LittleEndian.Uint64(b[8:])}
			e.EndOffset = d.pos
			return nil
		case htypeFilename, htypeGoodbye:
			// Entries without a kind item end here; the mode says what they are.
			d.peeked = &h
			switch ft {
			case ModeIFIFO:
				e.Kind = KindFifo
			case ModeIFSOCK:
				e.Kind = KindSocket
			case ModeIFDIR:
				e.Kind = KindDirectory
				d.stack = append(d.stack, decDir{path: e.Path, entryOff: e.EntryOffset})
				return nil
			default:
				return corruptf("entry %q with mode %o has no content item", e.Path, e.Stat.Mode)
			}
			e.EndOffset = h.off
			return nil
		default:
			return corruptf("unexpected item %#x at offset %d in entry %q", h.htype, h.off, e.Path)
		}
	}
}

func (d *Decoder) goodbye(h header) (*Entry, error) {
	if len(d.stack) == 0 {
		return nil, corruptf("GOODBYE outside a directory at offset %d", h.off)
	}
	dir := d.stack[len(d.stack)-1]
	if h.size%goodbyeItemSize != 0 || h.size/goodbyeItemSize != dir.children+1 {
		return nil, corruptf("GOODBYE at offset %d has size %d for %d children", h.off, h.size, dir.children)
	}
	// Stream over the table instead of holding it: only the tail is checked here.
	if err := d.discard(h.size - goodbyeItemSize); err != nil {
		return nil, err
	}
	var tail [goodbyeItemSize]byte
	if err := d.readFull(tail[:]); err != nil {
		return nil, err
	}
	le := binary.LittleEndian
	if le.Uint64(tail[:]) != goodbyeTailMarker || le.Uint64(tail[16:]) != h.size+headerSize ||
		le.Uint64(tail[8:]) != h.off-dir.entryOff {
		return nil, corruptf("GOODBYE at offset %d has a bad tail item", h.off)
	}
	d.stack[len(d.stack)-1] = decDir{} // let its names go
	d.stack = d.stack[:len(d.stack)-1]
	if len(d.stack) == 0 {
		d.done = true
	}
	return &Entry{Path: dir.path, Kind: KindGoodbye, FilenameOffset: -1, EntryOffset: h.off, EndOffset: d.pos}, nil
}

// payloadReader yields the current file's contents and stops at its end.
type payloadReader struct{ d *Decoder }

func (p *payloadReader) Read(b []byte) (int, error) {
	d := p.d
	if d.payloadLeft == 0 {
		return 0, io.EOF
	}
	if uint64(len(b)) > d.payloadLeft {
		b = b[:d.payloadLeft]
	}
	n, err := d.r.Read(b)
	d.pos += uint64(n)
	d.payloadLeft -= uint64(n)
	if err == io.EOF && d.payloadLeft > 0 {
		err = corruptf("truncated file contents at offset %d", d.pos)
		d.err = err
	}
	if err == io.EOF {
		err = nil
	}
	return n, err
}
