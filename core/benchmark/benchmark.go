// Package benchmark measures the building blocks of a backup the way
// upstream's `proxmox-backup-client benchmark` does (protocol.md 10): the
// same 1 MiB buffer, the same loops and windows, and per iteration the same
// work (a fresh zstd context per compression and decompression, as
// zstd::stream::encode_all/decode_all make one), so the figures and their
// percentages of upstream's reference machine compare with what upstream's
// client prints on the same machine.
//
// One difference is the data's own: libzstd at level 1 compresses the
// counter buffer to 66%, while klauspost/compress at its level-1 speed
// (what backups use) finds nothing to gain and stores it raw, so a decoder
// would only copy. Decompression and verification therefore work on the
// buffer as libzstd level 1 compresses it, made here with the encoder level
// that reaches the same 66% (SpeedBetterCompression), so the decoder does
// upstream's amount of work.
package benchmark

import (
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"fmt"
	"time"

	"github.com/klauspost/compress/zstd"
	"golang.org/x/crypto/scrypt"

	"cairn/core/blob"
	"cairn/keys"
)

// Reference speeds (bytes/s) of upstream's reference machine, a Ryzen 7
// 2700X (protocol.md 10).
const (
	TopTLS        = 1235e6
	TopSHA256     = 2022e6
	TopCompress   = 752e6
	TopDecompress = 1198e6
	TopVerify     = 758e6
	TopAES256GCM  = 3645e6
)

// Data is upstream's test buffer: the little-endian 32-bit counters
// 0 … 262143, 1 MiB.
func Data() []byte {
	b := make([]byte, 1<<20)
	for i := 0; i < len(b)/4; i++ {
		binary.LittleEndian.PutUint32(b[4*i:], uint32(i))
	}
	return b
}

// measure runs step until more than window has passed, checking after each
// step as upstream's loops do, and returns bytes per second.
func measure(window time.Duration, step func() (int, error)) (float64, error) {
	start := time.Now()
	total := 0
	for {
		n, err := step()
		if err != nil {
			return 0, err
		}
		total += n
		if time.Since(start) > window {
			return float64(total) / time.Since(start).Seconds(), nil
		}
	}
}

// SHA256 hashes the buffer for a second.
func SHA256(data []byte) (float64, error) {
	return measure(time.Second, func() (int, error) { sha256.Sum256(data); return len(data), nil })
}

// compressOnce is zstd::stream::encode_all(data, 1): a new level-1 context.
func compressOnce(data []byte) ([]byte, error) { return compressAt(data, zstd.SpeedFastest) }

// compressedAsUpstream is the buffer compressed to the ratio libzstd level 1
// reaches on it (see the package comment).
func compressedAsUpstream(data []byte) ([]byte, error) {
	return compressAt(data, zstd.SpeedBetterCompression)
}

// compressAt compresses data in a new context at level.
func compressAt(data []byte, level zstd.EncoderLevel) ([]byte, error) {
	enc, err := zstd.NewWriter(nil, zstd.WithEncoderLevel(level), zstd.WithEncoderConcurrency(1))
	if err != nil {
		return nil, err
	}
	defer enc.Close()
	return enc.EncodeAll(data, nil), nil
}

// decompressOnce is zstd::stream::decode_all: a new context.
func decompressOnce(z []byte) ([]byte, error) {
	dec, err := zstd.NewReader(bytes.NewReader(z), zstd.WithDecoderConcurrency(1))
	if err != nil {
		return nil, err
	}
	defer dec.Close()
	var out bytes.Buffer
	if _, err := out.ReadFrom(dec); err != nil {
		return nil, err
	}
	return out.Bytes(), nil
}

// Compress compresses the buffer at level 1 for three seconds.
func Compress(data []byte) (float64, error) {
	return measure(3*time.Second, func() (int, error) {
		_, err := compressOnce(data)
		return len(data), err
	})
}

// Decompress decompresses the compressed buffer for a second (bytes counted
// are the decompressed ones).
func Decompress(data []byte) (float64, error) {
	z, err := compressedAsUpstream(data)
	if err != nil {
		return 0, err
	}
	return measure(time.Second, func() (int, error) {
		out, err := decompressOnce(z)
		return len(out), err
	})
}

// testKey is upstream's benchmark key: scrypt("test", no salt, N=65536,
// r=8, p=1).
func testKey() (*keys.CryptConfig, error) {
	k, err := scrypt.Key([]byte("test"), nil, 65536, 8, 1, 32)
	if err != nil {
		return nil, err
	}
	return keys.NewCryptConfig([32]byte(k))
}

// AES256GCM encrypts the buffer as a chunk is (DataBlob::encrypt_benchmark)
// for a second.
func AES256GCM(data []byte) (float64, error) {
	cc, err := testKey()
	if err != nil {
		return 0, err
	}
	return measure(time.Second, func() (int, error) {
		_, _, _, err := cc.Seal(nil, data)
		return len(data), err
	})
}

// Verify checks a compressed, unencrypted chunk of the buffer as the chunk
// store's verification does (verify_unencrypted: decompress with a new
// context, check the size and the SHA-256 digest) for a second.
func Verify(data []byte) (float64, error) {
	z, err := compressedAsUpstream(data)
	if err != nil {
		return 0, err
	}
	chunk := blob.WrapCompressed(z)
	digest := sha256.Sum256(data)
	return measure(time.Second, func() (int, error) {
		if err := blob.VerifyCRC(chunk); err != nil {
			return 0, err
		}
		plain, err := decompressOnce(chunk[blob.HeaderSize:])
		if err != nil {
			return 0, err
		}
		if len(plain) != len(data) || sha256.Sum256(plain) != digest {
			return 0, fmt.Errorf("benchmark chunk does not verify")
		}
		return len(plain), nil
	})
}
