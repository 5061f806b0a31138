// Package index reads and writes the chunk index files of a snapshot:
// dynamic (.didx, for pxar streams and the catalog) and fixed (.fidx, for
// images), formats.md 4.
package index

import (
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"sort"
)

// HeaderSize is the one-page header both index kinds start with.
const HeaderSize = 4096

var (
	MagicDynamic = [8]byte{28, 145, 78, 165, 25, 186, 179, 205}
	MagicFixed   = [8]byte{47, 127, 65, 237, 145, 253, 15, 205}
)

// ErrCorrupt marks an index that cannot be decoded.
var ErrCorrupt = errors.New("corrupt index")

// Index is what readers need from either kind: the chunks in stream order.
type Index interface {
	Count() int
	ChunkDigest(i int) [32]byte
	// ChunkRange gives the byte range [start, end) chunk i covers.
	ChunkRange(i int) (start, end uint64)
	// Size is the length of the reconstructed stream.
	Size() uint64
	// Csum is the index checksum the manifest records.
	Csum() [32]byte
	// Find returns the chunk holding stream offset off.
	Find(off uint64) (int, bool)
}

// Open decodes either kind, telling them apart by the magic.
func Open(data []byte) (Index, error) {
	if len(data) < 8 {
		return nil, fmt.Errorf("%w: %d bytes is shorter than a magic", ErrCorrupt, len(data))
	}
	switch [8]byte(data[:8]) {
	case MagicDynamic:
		return ReadDynamic(data)
	case MagicFixed:
		return ReadFixed(data)
	}
	return nil, fmt.Errorf("%w: unknown magic %x", ErrCorrupt, data[:8])
}

func header(magic [8]byte, uuid [16]byte, ctime int64, csum [32]byte) []byte {
	h := make([]byte, HeaderSize)
	copy(h, magic[:])
	copy(h[8:], uuid[:])
	binary.LittleEndian.PutUint64(h[24:], uint64(ctime))
	copy(h[32:], csum[:])
	return h
}

// Dynamic is a .didx: chunk end offsets and digests.
type Dynamic struct {
	UUID    [16]byte
	Ctime   int64
	Ends    []uint64
	Digests [][32]byte
}

func (d *Dynamic) Count() int                 { return len(d.Ends) }
func (d *Dynamic) ChunkDigest(i int) [32]byte { return d.Digests[i] }

func (d *Dynamic) ChunkRange(i int) (uint64, uint64) {
	if i == 0 {
		return 0, d.Ends[0]
	}
	return d.Ends[i-1], d.Ends[i]
}

func (d *Dynamic) Size() uint64 {
	if len(d.Ends) == 0 {
		return 0
	}
	return d.Ends[len(d.Ends)-1]
}

func (d *Dynamic) Find(off uint64) (int, bool) {
	i := sort.Search(len(d.Ends), func(i int) bool { return d.Ends[i] > off })
	return i, i < len(d.Ends)
}

func (d *Dynamic) body() []byte {
	b := make([]byte, 0, 40*len(d.Ends))
	for i, e := range d.Ends {
		b = binary.LittleEndian.AppendUint64(b, e)
		b = append(b, d.Digests[i][:]...)
	}
	return b
}

// Csum is SHA-256 over the entries.
func (d *Dynamic) Csum() [32]byte { return sha256.Sum256(d.body()) }

// Encode writes the whole file.
func (d *Dynamic) Encode() []byte {
	body := d.body()
	return append(header(MagicDynamic, d.UUID, d.Ctime, sha256.Sum256(body)), body...)
}

// ReadDynamic decodes a .didx, checking its checksum and that the chunk ends
// grow strictly.
func ReadDynamic(data []byte) (*Dynamic, error) {
	if len(data) < HeaderSize || [8]byte(data[:8]) != MagicDynamic {
		return nil, fmt.Errorf("%w: not a dynamic index", ErrCorrupt)
	}
	body := data[HeaderSize:]
	if len(body)%40 != 0 {
		return nil, fmt.Errorf("%w: dynamic index body of %d bytes is not a multiple of 40", ErrCorrupt, len(body))
	}
	if sha256.Sum256(body) != [32]byte(data[32:64]) {
		return nil, fmt.Errorf("%w: dynamic index checksum mismatch", ErrCorrupt)
	}
	n := len(body) / 40
	d := &Dynamic{UUID: [16]byte(data[8:24]), Ctime: int64(binary.LittleEndian.Uint64(data[24:])),
		Ends: make([]uint64, n), Digests: make([][32]byte, n)}
	var prev uint64
	for i := 0; i < n; i++ {
		e := body[40*i:]
		d.Ends[i] = binary.LittleEndian.Uint64(e)
		if d.Ends[i] <= prev {
			return nil, fmt.Errorf("%w: chunk %d ends at %d, not after %d", ErrCorrupt, i, d.Ends[i], prev)
		}
		prev = d.Ends[i]
		d.Digests[i] = [32]byte(e[8:40])
	}
	return d, nil
}

// Fixed is a .fidx: an image cut into equal chunks.
type Fixed struct {
	UUID      [16]byte
	Ctime     int64
	ImageSize uint64
	ChunkSize uint64
	Digests   [][32]byte
}

func (f *Fixed) Count() int                 { return len(f.Digests) }
func (f *Fixed) ChunkDigest(i int) [32]byte { return f.Digests[i] }
func (f *Fixed) Size() uint64               { return f.ImageSize }

func (f *Fixed) ChunkRange(i int) (uint64, uint64) {
	start := uint64(i) * f.ChunkSize
	return start, min(start+f.ChunkSize, f.ImageSize)
}

func (f *Fixed) Find(off uint64) (int, bool) {
	if off >= f.ImageSize {
		return len(f.Digests), false
	}
	return int(off / f.ChunkSize), true
}

func (f *Fixed) body() []byte {
	b := make([]byte, 0, 32*len(f.Digests))
	for _, d := range f.Digests {
		b = append(b, d[:]...)
	}
	return b
}

// Csum is SHA-256 over the digests.
func (f *Fixed) Csum() [32]byte { return sha256.Sum256(f.body()) }

// Encode writes the whole file.
func (f *Fixed) Encode() []byte {
	body := f.body()
	h := header(MagicFixed, f.UUID, f.Ctime, sha256.Sum256(body))
	binary.LittleEndian.PutUint64(h[64:], f.ImageSize)
	binary.LittleEndian.PutUint64(h[72:], f.ChunkSize)
	return append(h, body...)
}

// ReadFixed decodes a .fidx, checking checksum, chunk size and count.
func ReadFixed(data []byte) (*Fixed, error) {
	if len(data) < HeaderSize || [8]byte(data[:8]) != MagicFixed {
		return nil, fmt.Errorf("%w: not a fixed index", ErrCorrupt)
	}
	f := &Fixed{UUID: [16]byte(data[8:24]), Ctime: int64(binary.LittleEndian.Uint64(data[24:])),
		ImageSize: binary.LittleEndian.Uint64(data[64:]), ChunkSize: binary.LittleEndian.Uint64(data[72:])}
	if f.ChunkSize == 0 || f.ChunkSize&(f.ChunkSize-1) != 0 {
		return nil, fmt.Errorf("%w: chunk size %d is not a power of two", ErrCorrupt, f.ChunkSize)
	}
	body := data[HeaderSize:]
	want := f.ImageSize / f.ChunkSize
	if f.ImageSize%f.ChunkSize != 0 {
		want++
	}
	if len(body)%32 != 0 || uint64(len(body)/32) != want {
		return nil, fmt.Errorf("%w: fixed index has %d bytes of digests, %d chunks expected", ErrCorrupt, len(body), want)
	}
	if sha256.Sum256(body) != [32]byte(data[32:64]) {
		return nil, fmt.Errorf("%w: fixed index checksum mismatch", ErrCorrupt)
	}
	f.Digests = make([][32]byte, want)
	for i := range f.Digests {
		f.Digests[i] = [32]byte(body[32*i:])
	}
	return f, nil
}
