package backup

import (
	"fmt"
	"io"
	"os"
	"sync"
	"time"

	"cairn/core/index"
)

// openImage opens a block device or regular file for an image backup and
// returns its size, which the archive is announced with before streaming.
func openImage(path string) (*os.File, uint64, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, 0, err
	}
	size, err := f.Seek(0, io.SeekEnd)
	if err != nil {
		f.Close()
		return nil, 0, fmt.Errorf("size of %q: %w", path, err)
	}
	if size == 0 {
		f.Close()
		return nil, 0, fmt.Errorf("image %q is empty", path)
	}
	if _, err := f.Seek(0, io.SeekStart); err != nil {
		f.Close()
		return nil, 0, err
	}
	return f, uint64(size), nil
}

// imageStream backs up an opened image of the given size in fixed-size
// chunks (formats.md 5.4) into a .fidx.
func imageStream(up *uploader, st *stats, f io.Reader, path string, size uint64, chunkSize int) (*index.Fixed, error) {
	count := (size + uint64(chunkSize) - 1) / uint64(chunkSize)
	idx := &index.Fixed{UUID: newUUID(), Ctime: time.Now().Unix(), ImageSize: size, ChunkSize: uint64(chunkSize), Digests: make([][32]byte, count)}
	var mu sync.Mutex
	a := arenaFor(chunkSize)
	for i := uint64(0); i < count; i++ {
		n := chunkSize
		if rest := size - i*uint64(chunkSize); rest < uint64(n) {
			n = int(rest)
		}
		buf := a.get()[:n]
		if _, err := io.ReadFull(f, buf); err != nil {
			a.put(buf, n)
			return nil, fmt.Errorf("read %q: %w", path, err)
		}
		st.addRead(uint64(n))
		slot := i
		if err := up.submit(buf, func(d [32]byte) { mu.Lock(); idx.Digests[slot] = d; mu.Unlock() }); err != nil {
			return nil, err
		}
	}
	return idx, nil
}
