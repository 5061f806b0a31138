package pxar

import (
	"encoding/binary"
	"errors"
	"io"
	"math"
)

// Reading split archives (format version 2, spec 1.9): a regular file's
// PAYLOAD_REF gives the offset of its PAYLOAD header in the separate payload
// stream. Readers follow the references only; the payload stream may hold
// unreferenced bytes between entries, so it is never parsed as a list.

// sizer is implemented by payload readers that know their length
// (*bytes.Reader, *io.SectionReader, the restore's index readers).
type sizer interface{ Size() int64 }

// openPayload checks the PAYLOAD header a reference points at and returns
// exactly the size bytes of file data behind it.
func openPayload(r io.ReaderAt, offset, size uint64) (*io.SectionReader, error) {
	if offset > math.MaxInt64-headerSize || size > math.MaxInt64-headerSize-offset {
		return nil, corruptf("payload reference at offset %d with size %d is out of range", offset, size)
	}
	end := offset + headerSize + size
	if s, ok := r.(sizer); ok && end > uint64(s.Size()) {
		return nil, corruptf("payload reference at offset %d with size %d extends beyond the payload stream end %d", offset, size, s.Size())
	}
	var b [headerSize]byte
	n, err := r.ReadAt(b[:], int64(offset))
	if n < headerSize {
		if err == nil || errors.Is(err, io.EOF) {
			return nil, corruptf("payload reference at offset %d points beyond the end of the payload stream", offset)
		}
		return nil, err
	}
	htype, full := binary.LittleEndian.Uint64(b[:]), binary.LittleEndian.Uint64(b[8:])
	if htype != htypePayload {
		return nil, corruptf("payload reference at offset %d: item there is %#x, not a PAYLOAD", offset, htype)
	}
	if full < headerSize || full-headerSize != size {
		return nil, corruptf("payload reference at offset %d: PAYLOAD item has full size %d, reference says %d data bytes", offset, full, size)
	}
	return io.NewSectionReader(exactReaderAt{r: r, end: int64(end)}, int64(offset+headerSize), int64(size)), nil
}

// exactReaderAt turns an early end of the payload stream inside referenced
// data into a corrupt-archive error, so a truncated file is never taken for
// a short one.
type exactReaderAt struct {
	r   io.ReaderAt
	end int64
}

func (e exactReaderAt) ReadAt(p []byte, off int64) (int, error) {
	n, err := e.r.ReadAt(p, off)
	if n < len(p) && off+int64(n) < e.end && (err == nil || errors.Is(err, io.EOF)) {
		return n, corruptf("payload stream ends at offset %d, inside file data that ends at %d", off+int64(n), e.end)
	}
	return n, err
}

// refContents serves a file's data from the payload stream. The header is
// checked on the first read, not before: entries that are listed or
// skipped by patterns cost no payload I/O.
type refContents struct {
	r            io.ReaderAt
	offset, size uint64
	data         *io.SectionReader
	err          error
}

func (c *refContents) Read(p []byte) (int, error) {
	if c.data == nil && c.err == nil {
		c.data, c.err = openPayload(c.r, c.offset, c.size)
	}
	if c.err != nil {
		return 0, c.err
	}
	return c.data.Read(p)
}

// errNoPayload is what reading a split archive's file without its payload
// stream gives.
func errNoPayload(path string) error {
	return errors.New("pxar: " + path + ": file contents are in a separate payload stream, which was not given")
}
