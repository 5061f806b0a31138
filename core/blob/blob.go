// Package blob encodes and decodes DataBlobs (formats.md 2): the container of
// every chunk and every .blob file — a magic, a CRC-32 and the payload,
// optionally zstd-compressed and optionally AES-256-GCM encrypted.
package blob

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"math"
	"runtime"

	"github.com/klauspost/compress/zstd"
)

// Magic numbers: the first 8 bytes of SHA-256 over the names in formats.md 2.1.
var (
	MagicPlain         = [8]byte{66, 171, 56, 7, 190, 131, 112, 161}
	MagicCompressed    = [8]byte{49, 185, 88, 66, 111, 182, 163, 127}
	MagicEncrypted     = [8]byte{123, 103, 133, 190, 34, 45, 76, 240}
	MagicEncryptedZstd = [8]byte{230, 89, 27, 191, 11, 191, 216, 11}
)

const (
	// HeaderSize is the unencrypted header: magic and CRC.
	HeaderSize = 12
	// EncryptedHeaderSize adds the 16-byte IV and the 16-byte GCM tag.
	EncryptedHeaderSize = 44
	// MaxSize is the largest payload the encoder accepts (128 MiB).
	MaxSize = 128 << 20
)

var (
	// ErrCorrupt marks a blob that fails its CRC, magic or decoding.
	ErrCorrupt = errors.New("corrupt blob")
	// ErrNoKey is returned for an encrypted blob when no key was given.
	ErrNoKey = errors.New("blob is encrypted, but no key was given")
)

// Cipher seals and opens blob payloads (AES-256-GCM with a 16-byte IV and
// the tag kept apart from the ciphertext).
type Cipher interface {
	// Seal encrypts plain; the ciphertext is appended to dst (which may be
	// nil) and returned.
	Seal(dst, plain []byte) (iv, tag [16]byte, ciphertext []byte, err error)
	Open(iv, tag [16]byte, ciphertext []byte) ([]byte, error)
}

var (
	encoder, _ = zstd.NewWriter(nil, zstd.WithEncoderLevel(zstd.SpeedFastest),
		zstd.WithEncoderConcurrency(runtime.GOMAXPROCS(0)), zstd.WithLowerEncoderMem(true),
		// ZSTD_compress, as upstream calls it, writes no content checksum:
		// the blob has its CRC and the chunk its digest.
		zstd.WithEncoderCRC(false))
	decoder, _ = zstd.NewReader(nil, zstd.WithDecoderConcurrency(0),
		zstd.WithDecoderMaxMemory(MaxSize+1), zstd.WithDecoderMaxWindow(MaxSize),
		// A frame checksum adds nothing: the blob CRC covers the frame and a
		// chunk digest the data.
		zstd.IgnoreChecksum(true))
)

// Kind describes a blob's variant from its magic.
type Kind struct{ Compressed, Encrypted bool }

// KindOf reads the magic of b.
func KindOf(b []byte) (Kind, error) {
	if len(b) < HeaderSize {
		return Kind{}, fmt.Errorf("%w: %d bytes is shorter than a blob header", ErrCorrupt, len(b))
	}
	switch [8]byte(b[:8]) {
	case MagicPlain:
		return Kind{}, nil
	case MagicCompressed:
		return Kind{Compressed: true}, nil
	case MagicEncrypted:
		return Kind{Encrypted: true}, nil
	case MagicEncryptedZstd:
		return Kind{Compressed: true, Encrypted: true}, nil
	}
	return Kind{}, fmt.Errorf("%w: unknown magic %x", ErrCorrupt, b[:8])
}

// Encode wraps data in a blob. Compression is kept only when it makes the
// payload strictly smaller (PBS 3.2 rule, formats.md 2.4); c == nil means
// no encryption.
func Encode(data []byte, compress bool, c Cipher) ([]byte, error) {
	return EncodeTo(nil, data, compress, c)
}

// EncodeTo is Encode writing into dst's memory when it is large enough
// (the result never aliases data). One buffer does it all: zstd writes
// behind the header and the cipher seals in place, so a chunk costs no
// scratch memory.
func EncodeTo(dst, data []byte, compress bool, c Cipher) ([]byte, error) {
	if len(data) > MaxSize {
		return nil, fmt.Errorf("blob payload of %d bytes exceeds %d", len(data), MaxSize)
	}
	// Headroom for zstd's block headers on incompressible data and for the
	// GCM tag, so nothing has to grow (and copy) the buffer.
	if need := EncodedCap(len(data)); cap(dst) < need {
		dst = make([]byte, 0, need)
	}
	hdr := HeaderSize
	if c != nil {
		hdr = EncryptedHeaderSize
	}
	out := dst[:hdr]
	compressed := false
	if compress && len(data) > 0 && !looksRandom(data) {
		if z := encoder.EncodeAll(data, out); len(z) < hdr+len(data) {
			out, compressed = z, true
		}
	}
	if c == nil {
		magic := MagicPlain
		if compressed {
			magic = MagicCompressed
		} else {
			out = append(out[:HeaderSize], data...)
		}
		copy(out, magic[:])
		binary.LittleEndian.PutUint32(out[8:], crc32.ChecksumIEEE(out[HeaderSize:]))
		return out, nil
	}
	var iv, tag [16]byte
	var ct []byte
	var err error
	magic := MagicEncrypted
	if compressed {
		magic = MagicEncryptedZstd
		p := out[hdr:]
		iv, tag, ct, err = c.Seal(p[:0], p) // in place
	} else {
		out = out[:hdr]
		iv, tag, ct, err = c.Seal(out[hdr:hdr], data)
	}
	if err != nil {
		return nil, err
	}
	out = out[:hdr+len(ct)]
	if len(ct) > 0 && &ct[0] != &out[hdr] {
		copy(out[hdr:], ct) // a Cipher that ignored dst
	}
	copy(out, magic[:])
	copy(out[12:], iv[:])
	copy(out[28:], tag[:])
	binary.LittleEndian.PutUint32(out[8:], crc32.ChecksumIEEE(out[hdr:]))
	return out, nil
}

// looksRandom tells from samples whether data is not worth compressing:
// every 4 KiB window taken each 128 KiB has near 8 bits of entropy per byte
// (encrypted, compressed or random data). zstd spends about as long failing
// on such data as compressing text; the samples cost 3%. Small blobs are
// always tried.
func looksRandom(data []byte) bool {
	const window, step = 4 << 10, 128 << 10
	if len(data) < 4*step {
		return false
	}
	var hist [256]uint32
	for off := 0; off+window <= len(data); off += step {
		clear(hist[:])
		for _, b := range data[off : off+window] {
			hist[b]++
		}
		// Entropy above 7.8 bits per byte; sum of n*log2(n) stays small.
		var sum float64
		for _, n := range hist {
			if n > 1 {
				sum += float64(n) * math.Log2(float64(n))
			}
		}
		if bits := math.Log2(window) - sum/window; bits < 7.8 {
			return false
		}
	}
	return true
}

// EncodedCap is a buffer size EncodeTo never has to grow for n bytes.
func EncodedCap(n int) int { return EncryptedHeaderSize + n + n>>8 + 64 + 16 }

// WrapCompressed makes an unencrypted compressed blob of a zstd frame made
// elsewhere (benchmarks that need a given compression ratio).
func WrapCompressed(frame []byte) []byte {
	out := make([]byte, HeaderSize, HeaderSize+len(frame))
	copy(out, MagicCompressed[:])
	out = append(out, frame...)
	binary.LittleEndian.PutUint32(out[8:], crc32.ChecksumIEEE(out[HeaderSize:]))
	return out
}

// VerifyCRC checks the magic and the CRC-32 of an encoded blob.
func VerifyCRC(b []byte) error {
	k, err := KindOf(b)
	if err != nil {
		return err
	}
	hdr := HeaderSize
	if k.Encrypted {
		hdr = EncryptedHeaderSize
		if len(b) < hdr {
			return fmt.Errorf("%w: encrypted blob of %d bytes is shorter than its header", ErrCorrupt, len(b))
		}
	}
	want := binary.LittleEndian.Uint32(b[8:12])
	if got := crc32.ChecksumIEEE(b[hdr:]); got != want {
		return fmt.Errorf("%w: CRC mismatch (stored %08x, computed %08x)", ErrCorrupt, want, got)
	}
	return nil
}

// Decode verifies and unwraps a blob, returning the plaintext.
func Decode(b []byte, c Cipher) ([]byte, error) {
	if err := VerifyCRC(b); err != nil {
		return nil, err
	}
	k, _ := KindOf(b)
	payload := b[HeaderSize:]
	if k.Encrypted {
		if c == nil {
			return nil, ErrNoKey
		}
		iv, tag := [16]byte(b[12:28]), [16]byte(b[28:44])
		plain, err := c.Open(iv, tag, b[EncryptedHeaderSize:])
		if err != nil {
			return nil, fmt.Errorf("%w: decryption failed (wrong key?): %v", ErrCorrupt, err)
		}
		payload = plain
	}
	if !k.Compressed {
		if !k.Encrypted {
			return bytes.Clone(payload), nil
		}
		return payload, nil
	}
	out, err := decoder.DecodeAll(payload, nil)
	if err != nil {
		return nil, fmt.Errorf("%w: zstd: %v", ErrCorrupt, err)
	}
	if len(out) > MaxSize {
		return nil, fmt.Errorf("%w: decompressed payload exceeds %d bytes", ErrCorrupt, MaxSize)
	}
	return out, nil
}
