package restore

import (
	"context"
	"io"
	"sync/atomic"

	"cairn/core/snapshot"
	"cairn/pxar"
)

// payloadReadAhead is how many payload chunks a restore fetches in
// parallel ahead of the one being written out.
const payloadReadAhead = 6

// extractArchive restores a whole pxar archive into target, reading its
// entries in order. A split archive's file data comes through a forward reader with
// parallel read-ahead: payload references never go back, and memory stays
// at the read-ahead window. read, when not nil, is added the bytes read of
// both streams, for progress.
func extractArchive(ctx context.Context, s *snapshot.Snapshot, a snapshot.PxarArchive, target string, o pxar.ExtractOptions, read *atomic.Uint64) error {
	meta, _, err := s.Stream(ctx, a.Meta)
	if err != nil {
		return err
	}
	defer meta.Close()
	var entries io.Reader = meta
	if read != nil {
		entries = countingReader{meta, read}
	}
	if !a.Split() {
		return pxar.Extract(entries, target, o)
	}
	payload, err := s.ReaderAtWith(ctx, a.Payload, snapshot.ReaderAtOptions{ReadAhead: payloadReadAhead, Forward: true})
	if err != nil {
		return err
	}
	defer payload.Close()
	// Large files are written in the background, through a reader of their
	// own so that both readers move forward (see pxar.ExtractOptions).
	bg, err := s.ReaderAtWith(ctx, a.Payload, snapshot.ReaderAtOptions{ReadAhead: payloadReadAhead, Forward: true})
	if err != nil {
		return err
	}
	defer bg.Close()
	var data, bgData io.ReaderAt = payload, bg
	if read != nil {
		data, bgData = countingReaderAt{payload, read}, countingReaderAt{bg, read}
	}
	o.BackgroundPayload = bgData
	return pxar.ExtractSplit(entries, data, target, o)
}

// countingReader adds the bytes read to n.
type countingReader struct {
	r io.Reader
	n *atomic.Uint64
}

func (c countingReader) Read(p []byte) (int, error) {
	k, err := c.r.Read(p)
	c.n.Add(uint64(k))
	return k, err
}

// countingReaderAt adds the bytes read to n and keeps the stream's size
// visible (the pxar reader checks references against it).
type countingReaderAt struct {
	r *snapshot.IndexReaderAt
	n *atomic.Uint64
}

func (c countingReaderAt) ReadAt(p []byte, off int64) (int, error) {
	k, err := c.r.ReadAt(p, off)
	c.n.Add(uint64(k))
	return k, err
}

func (c countingReaderAt) Size() int64 { return c.r.Size() }
