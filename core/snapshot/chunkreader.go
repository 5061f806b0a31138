package snapshot

import (
	"context"
	"crypto/sha256"
	"fmt"
	"io"

	"cairn/core"
	"cairn/core/blob"
	"cairn/core/index"
	"cairn/keys"
)

// result is one fetched and verified chunk.
type result struct {
	data []byte
	err  error
}

// ChunkReader is an io.Reader over the stream an index describes. It fetches
// up to ahead chunks in parallel and verifies each against its digest, so
// silently wrong data is never returned.
type ChunkReader struct {
	queue  chan chan result
	cancel context.CancelFunc
	cur    []byte
	err    error
}

// NewChunkReader starts reading idx from r.
// A nil crypt means the chunks are plain.
func NewChunkReader(ctx context.Context, r core.SnapshotReader, idx index.Index, crypt *keys.CryptConfig, ahead int) *ChunkReader {
	if ahead < 1 {
		ahead = 1
	}
	ctx, cancel := context.WithCancel(ctx)
	cr := &ChunkReader{queue: make(chan chan result, ahead), cancel: cancel}
	go func() {
		defer close(cr.queue)
		for i := 0; i < idx.Count(); i++ {
			ch := make(chan result, 1)
			select {
			case cr.queue <- ch:
			case <-ctx.Done():
				return
			}
			start, end := idx.ChunkRange(i)
			digest := idx.ChunkDigest(i)
			go func() { ch <- fetchChunk(r, digest, end-start, crypt) }()
		}
	}()
	return cr
}

// FetchChunk reads one chunk, decodes it and checks digest and size.
func fetchChunk(r core.SnapshotReader, digest [32]byte, size uint64, crypt *keys.CryptConfig) result {
	raw, err := r.ReadChunk(digest)
	if err != nil {
		return result{err: err}
	}
	var ci blob.Cipher
	if crypt != nil {
		ci = crypt
	}
	data, err := blob.Decode(raw, ci)
	if err != nil {
		return result{err: fmt.Errorf("chunk %x is corrupt: %v: %w", digest, err, core.ErrCorrupt)}
	}
	// An encrypted chunk's digest is keyed: hash once, the right way.
	var want [32]byte
	if crypt != nil {
		want = crypt.Digest(data)
	} else {
		want = sha256.Sum256(data)
	}
	if want != digest {
		return result{err: fmt.Errorf("chunk %x is corrupt: digest mismatch: %w", digest, core.ErrCorrupt)}
	}
	if uint64(len(data)) != size {
		return result{err: fmt.Errorf("chunk %x is corrupt: size %d, index says %d: %w", digest, len(data), size, core.ErrCorrupt)}
	}
	return result{data: data}
}

// Read implements io.Reader.
func (c *ChunkReader) Read(p []byte) (int, error) {
	for len(c.cur) == 0 {
		if c.err != nil {
			return 0, c.err
		}
		ch, ok := <-c.queue
		if !ok {
			c.err = io.EOF
			return 0, io.EOF
		}
		res := <-ch
		if res.err != nil {
			c.err = res.err
			c.cancel()
			return 0, res.err
		}
		c.cur = res.data
	}
	n := copy(p, c.cur)
	c.cur = c.cur[n:]
	return n, nil
}

// Close stops the read-ahead.
func (c *ChunkReader) Close() error {
	c.cancel()
	for ch := range c.queue {
		<-ch
	}
	return nil
}
