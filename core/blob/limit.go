package blob

import (
	"bytes"
	"errors"
	"fmt"

	"github.com/klauspost/compress/zstd"
)

// ErrTooLarge marks a blob whose payload is (or decompresses to) more than
// the limit a caller gave DecodeLimit.
var ErrTooLarge = errors.New("blob payload exceeds the limit")

// capDecoder stops decompressing at the capacity of the destination: a few
// KiB of zstd cannot make it produce more than it was allowed.
var capDecoder, _ = zstd.NewReader(nil, zstd.WithDecoderConcurrency(0),
	zstd.WithDecodeAllCapLimit(true),
	zstd.WithDecoderMaxMemory(MaxSize+1), zstd.WithDecoderMaxWindow(MaxSize),
	zstd.IgnoreChecksum(true))

// DecodeLimit is Decode for a payload of at most limit bytes (0 < limit <=
// MaxSize). A larger one is refused with an error wrapping ErrTooLarge (and
// ErrCorrupt) without decompressing further than limit bytes plus one zstd
// block (128 KiB): a small compressed chunk cannot make the caller allocate
// more than it was prepared to. The plaintext goes to dst's memory when its
// capacity is at least limit; otherwise limit bytes are allocated up front
// for a compressed payload.
func DecodeLimit(b []byte, c Cipher, limit int, dst []byte) ([]byte, error) {
	if limit <= 0 || limit > MaxSize {
		return nil, fmt.Errorf("blob: decode limit %d out of range", limit)
	}
	if err := VerifyCRC(b); err != nil {
		return nil, err
	}
	k, _ := KindOf(b)
	tooLarge := func(what string) error {
		return fmt.Errorf("%w: %w: %s exceeds %d bytes", ErrCorrupt, ErrTooLarge, what, limit)
	}
	payload := b[HeaderSize:]
	if k.Encrypted {
		if c == nil {
			return nil, ErrNoKey
		}
		ct := b[EncryptedHeaderSize:]
		if !k.Compressed && len(ct) > limit {
			return nil, tooLarge("payload")
		}
		iv, tag := [16]byte(b[12:28]), [16]byte(b[28:44])
		plain, err := c.Open(iv, tag, ct)
		if err != nil {
			return nil, fmt.Errorf("%w: decryption failed (wrong key?): %v", ErrCorrupt, err)
		}
		payload = plain
	}
	if !k.Compressed {
		if len(payload) > limit {
			return nil, tooLarge("payload")
		}
		if k.Encrypted {
			return payload, nil
		}
		if cap(dst) >= len(payload) {
			return append(dst[:0], payload...), nil
		}
		return bytes.Clone(payload), nil
	}
	if cap(dst) < limit {
		dst = make([]byte, 0, limit)
	}
	out, err := capDecoder.DecodeAll(payload, dst[:0:limit])
	if errors.Is(err, zstd.ErrDecoderSizeExceeded) {
		return nil, tooLarge("decompressed payload")
	}
	if err != nil {
		return nil, fmt.Errorf("%w: zstd: %v", ErrCorrupt, err)
	}
	if len(out) > limit {
		return nil, tooLarge("decompressed payload")
	}
	return out, nil
}
