package server

import (
	"context"
	"crypto/sha256"
	"errors"
	"io"

	"cairn/core/blob"
)

// readBody reads a request body that announced n bytes: all of it and at
// most one byte more (to tell "larger than announced"). Memory grows with
// the bytes that really arrive, never with the announcement: a client that
// announces 16 MiB and sends nothing costs nothing.
func readBody(r io.Reader, n int64) ([]byte, error) {
	buf := make([]byte, 0, min(n+1, 64<<10))
	for {
		if len(buf) == cap(buf) {
			if int64(len(buf)) > n {
				return buf, nil
			}
			nb := make([]byte, len(buf), min(max(2*int64(cap(buf)), 64<<10), n+1))
			copy(nb, buf)
			buf = nb
		}
		k, err := r.Read(buf[len(buf):cap(buf)])
		buf = buf[:len(buf)+k]
		if errors.Is(err, io.EOF) {
			return buf, nil
		}
		if err != nil {
			return buf, err
		}
	}
}

// verifyPlainChunk checks that an unencrypted chunk decodes to exactly size
// bytes whose SHA-256 is digest. The decompressed bytes count against the
// server's decode budget (Limits.DecodeBudget), and decompression stops at
// size: a small upload cannot make the server hold more than it announced,
// nor more than the budget all together.
func (b *backupSession) verifyPlainChunk(ctx context.Context, data []byte, size int64, digest [32]byte) error {
	// Twice the size: a payload that decodes to more than size makes the
	// decoder grow its output once before it stops (blob.DecodeLimit).
	budget, weight := b.srv.decodeBudget(), 2*size
	if err := budget.acquire(ctx, weight); err != nil {
		return err
	}
	defer budget.release(weight)
	plain, err := blob.DecodeLimit(data, nil, int(size), nil)
	if errors.Is(err, blob.ErrTooLarge) {
		return badRequest("detected chunk with wrong length (more than %d bytes)", size)
	}
	if err != nil {
		return badRequest("invalid chunk - %v", err)
	}
	if int64(len(plain)) != size {
		return badRequest("detected chunk with wrong length (%d != %d)", size, len(plain))
	}
	if sha256.Sum256(plain) != digest {
		return badRequest("detected chunk with wrong digest.")
	}
	return nil
}

// maxManifestSize bounds a decoded manifest (index.json.blob): the upload
// limit of a blob (16 MiB, protocol.md 3.3) applies to its contents too.
const maxManifestSize = maxChunkSize

// decodeManifest decodes an uploaded manifest blob, no further than
// maxManifestSize, within the decode budget.
func (b *backupSession) decodeManifest(ctx context.Context, data []byte) ([]byte, error) {
	budget, weight := b.srv.decodeBudget(), int64(2*maxManifestSize)
	if err := budget.acquire(ctx, weight); err != nil {
		return nil, err
	}
	defer budget.release(weight)
	return blob.DecodeLimit(data, nil, maxManifestSize, nil)
}
