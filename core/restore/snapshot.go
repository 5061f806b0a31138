package restore

import (
	"context"
	"crypto/sha256"
	"fmt"
	"io"
	"sort"

	"cairn/core"
	"cairn/core/blob"
	"cairn/core/index"
	"cairn/core/manifest"
)

// ResolveSnapshot turns "type/id/time" or "type/id" (the group's newest
// snapshot) into a snapshot of the repository.
func ResolveSnapshot(repo core.Repository, ns core.Namespace, arg string) (core.Snapshot, error) {
	snap, isGroup, err := core.ParseGroupOrSnapshot(arg)
	if err != nil {
		return core.Snapshot{}, err
	}
	if !isGroup {
		return snap, nil
	}
	list, err := repo.ListSnapshots(ns, &snap.Group)
	if err != nil {
		return core.Snapshot{}, err
	}
	var finished []core.SnapshotInfo
	for _, s := range list {
		if s.Finished {
			finished = append(finished, s)
		}
	}
	if len(finished) == 0 {
		return core.Snapshot{}, fmt.Errorf("backup group %s does not contain any snapshots: %w", snap.Group, core.ErrNotFound)
	}
	sort.Slice(finished, func(i, j int) bool { return finished[i].Snapshot.Time > finished[j].Snapshot.Time })
	return finished[0].Snapshot, nil
}

// Snapshot is an open snapshot with its verified manifest.
type Snapshot struct {
	Reader      core.SnapshotReader
	Manifest    *manifest.Manifest
	ManifestRaw []byte // the blob as stored
	Cipher      blob.Cipher
}

// Open opens a snapshot and loads its manifest.
func Open(ctx context.Context, repo core.Repository, ns core.Namespace, snap core.Snapshot) (*Snapshot, error) {
	r, err := repo.OpenSnapshot(ctx, ns, snap)
	if err != nil {
		return nil, err
	}
	raw, err := r.ReadFile("index.json.blob")
	if err != nil {
		r.Close()
		return nil, fmt.Errorf("manifest of %s: %w", snap, err)
	}
	data, err := blob.Decode(raw, nil)
	if err != nil {
		r.Close()
		return nil, fmt.Errorf("manifest of %s is corrupt: %w", snap, err)
	}
	m, err := manifest.Parse(data)
	if err != nil {
		r.Close()
		return nil, fmt.Errorf("manifest of %s: %w", snap, err)
	}
	return &Snapshot{Reader: r, Manifest: m, ManifestRaw: raw}, nil
}

// Close releases the snapshot.
func (s *Snapshot) Close() error { return s.Reader.Close() }

// File returns the manifest entry of a stored file name, or a clear error.
func (s *Snapshot) File(name string) (*manifest.File, error) {
	f, ok := s.Manifest.Lookup(name)
	if !ok {
		return nil, fmt.Errorf("archive '%s' not found in snapshot %s: %w", name, s.Reader.Snapshot(), core.ErrNotFound)
	}
	return f, nil
}

// Index loads an index file and checks it against the manifest (formats.md 6.3).
func (s *Snapshot) Index(name string) (index.Index, *manifest.File, error) {
	f, err := s.File(name)
	if err != nil {
		return nil, nil, err
	}
	raw, err := s.Reader.ReadFile(name)
	if err != nil {
		return nil, nil, err
	}
	idx, err := index.Open(raw)
	if err != nil {
		return nil, nil, fmt.Errorf("index %s is corrupt: %w", name, err)
	}
	csum := idx.Csum()
	if fmt.Sprintf("%x", csum[:]) != f.Csum || idx.Size() != f.Size {
		return nil, nil, fmt.Errorf("index %s does not match the manifest (checksum or size differ): %w", name, core.ErrCorrupt)
	}
	return idx, f, nil
}

// Blob loads a blob file, checks it against the manifest and decodes it.
func (s *Snapshot) Blob(name string) ([]byte, error) {
	f, err := s.File(name)
	if err != nil {
		return nil, err
	}
	raw, err := s.Reader.ReadFile(name)
	if err != nil {
		return nil, err
	}
	sum := sha256.Sum256(raw)
	if fmt.Sprintf("%x", sum[:]) != f.Csum || uint64(len(raw)) != f.Size {
		return nil, fmt.Errorf("blob %s does not match the manifest (checksum or size differ): %w", name, core.ErrCorrupt)
	}
	data, err := blob.Decode(raw, s.Cipher)
	if err != nil {
		return nil, fmt.Errorf("blob %s: %w", name, err)
	}
	return data, nil
}

// ReadAll reads a whole dynamic or fixed stream into memory (catalogs).
func (s *Snapshot) ReadAll(ctx context.Context, name string) ([]byte, error) {
	idx, _, err := s.Index(name)
	if err != nil {
		return nil, err
	}
	cr := NewChunkReader(ctx, s.Reader, idx, s.Cipher, 4)
	defer cr.Close()
	return io.ReadAll(cr)
}
