package datastore

import (
	"bufio"
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"fmt"
	"io"

	"cairn/core"
	"cairn/core/index"
)

// Streaming checks of index files, for the server's sessions: an index is
// scanned with one buffer, whatever its size.

// IndexInfo is what a scan of an index file found.
type IndexInfo struct {
	Fixed     bool
	Count     uint64
	Size      uint64 // the stream (dynamic) or image (fixed) size
	Image     uint64 // fixed
	ChunkSize uint64 // fixed
	Csum      [32]byte
}

// ScanIndex reads an index file of size bytes from r, checking it as
// index.Open does (magic, structure, strictly growing ends, the stored
// checksum), and calls fn (when not nil) for every entry in order; fn
// errors end the scan. It holds one buffer, whatever the index's size.
func ScanIndex(r io.Reader, size int64, fn func(digest [32]byte, start, end uint64) error) (IndexInfo, error) {
	var info IndexInfo
	corrupt := func(format string, args ...any) (IndexInfo, error) {
		return info, fmt.Errorf("%w: "+format, append([]any{index.ErrCorrupt}, args...)...)
	}
	if size < index.HeaderSize {
		return corrupt("%d bytes is shorter than an index header", size)
	}
	br := bufio.NewReaderSize(r, 64<<10)
	hdr := make([]byte, index.HeaderSize)
	if _, err := io.ReadFull(br, hdr); err != nil {
		return info, err
	}
	body := uint64(size - index.HeaderSize)
	switch [8]byte(hdr[:8]) {
	case index.MagicDynamic:
		if body%entrySizeDyn != 0 {
			return corrupt("dynamic index body of %d bytes is not a multiple of 40", body)
		}
		info.Count = body / entrySizeDyn
	case index.MagicFixed:
		info.Fixed = true
		info.Image = binary.LittleEndian.Uint64(hdr[64:])
		info.ChunkSize = binary.LittleEndian.Uint64(hdr[72:])
		cs := info.ChunkSize
		if cs == 0 || cs&(cs-1) != 0 {
			return corrupt("chunk size %d is not a power of two", cs)
		}
		want := info.Image/cs + min(info.Image%cs, 1)
		if body%entrySizeFixed != 0 || body/entrySizeFixed != want {
			return corrupt("fixed index has %d bytes of digests, %d chunks expected", body, want)
		}
		info.Count = want
		info.Size = info.Image
	default:
		return corrupt("unknown magic %x", hdr[:8])
	}
	h := sha256.New()
	var e [entrySizeDyn]byte
	var prev uint64
	for i := uint64(0); i < info.Count; i++ {
		var d [32]byte
		var start, end uint64
		if info.Fixed {
			if _, err := io.ReadFull(br, e[:entrySizeFixed]); err != nil {
				return info, err
			}
			h.Write(e[:entrySizeFixed])
			d = [32]byte(e[:32])
			start = i * info.ChunkSize
			end = min(start+info.ChunkSize, info.Image)
		} else {
			if _, err := io.ReadFull(br, e[:]); err != nil {
				return info, err
			}
			h.Write(e[:])
			end = binary.LittleEndian.Uint64(e[:8])
			if end <= prev {
				return corrupt("chunk %d ends at %d, not after %d", i, end, prev)
			}
			start, prev = prev, end
			d = [32]byte(e[8:])
			info.Size = end
		}
		if fn != nil {
			if err := fn(d, start, end); err != nil {
				return info, err
			}
		}
	}
	h.Sum(info.Csum[:0])
	if info.Csum != [32]byte(hdr[32:64]) {
		return corrupt("%s index checksum mismatch", kindName(info.Fixed))
	}
	return info, nil
}

// fileOpener is the datastore's snapshot reader with streaming reads.
type fileOpener interface {
	OpenFile(name string) (io.ReadCloser, int64, error)
}

// OpenSnapshotFile opens a file of a snapshot for streaming (or, with
// another reader, from memory).
func OpenSnapshotFile(rd core.SnapshotReader, name string) (io.ReadCloser, int64, error) {
	if fo, ok := rd.(fileOpener); ok {
		return fo.OpenFile(name)
	}
	data, err := rd.ReadFile(name)
	if err != nil {
		return nil, 0, err
	}
	return io.NopCloser(bytes.NewReader(data)), int64(len(data)), nil
}
