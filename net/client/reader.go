package client

import (
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"net/url"

	"cairn/core"
)

// snapshotReader is core.SnapshotReader over the reader protocol (protocol.md 4).
type snapshotReader struct {
	s    *Session
	ctx  context.Context
	snap core.Snapshot
}

// OpenSnapshot starts a reader session for one snapshot.
func (r *Repository) OpenSnapshot(ctx context.Context, ns core.Namespace, snap core.Snapshot) (core.SnapshotReader, error) {
	q := snapshotQuery(r.store, ns, snap)
	s, err := r.c.Upgrade(ctx, "reader", ReaderProtocol, q)
	if err != nil {
		// The server's answer names the snapshot ("snapshot host/a/… does
		// not exist."), printed as upstream prints it; other failures
		// (the connection) get the context.
		var he *HTTPError
		if errors.As(err, &he) {
			return nil, err
		}
		return nil, fmt.Errorf("open snapshot %s: %w", snap, err)
	}
	return &snapshotReader{s: s, ctx: ctx, snap: snap}, nil
}

func (r *snapshotReader) Snapshot() core.Snapshot { return r.snap }

// ReadFile downloads a file; for indexes this also allows their chunks.
func (r *snapshotReader) ReadFile(name string) ([]byte, error) {
	data, err := r.s.download(r.ctx, "download", url.Values{"file-name": {name}})
	if err != nil {
		return nil, fmt.Errorf("read %s of %s: %w", name, r.snap, err)
	}
	return data, nil
}

// ReadChunk downloads a chunk's stored blob.
func (r *snapshotReader) ReadChunk(digest [32]byte) ([]byte, error) {
	data, err := r.s.download(r.ctx, "chunk", url.Values{"digest": {hex.EncodeToString(digest[:])}})
	if err != nil {
		return nil, fmt.Errorf("read chunk %x: %w", digest, err)
	}
	return data, nil
}

func (r *snapshotReader) Close() error { return r.s.Close() }
