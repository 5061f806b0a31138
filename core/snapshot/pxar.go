package snapshot

import (
	"context"
	"fmt"

	"cairn/core"
	"cairn/core/manifest"
	"cairn/pxar"
)

// PxarArchive is a pxar archive of a snapshot: one unified stream
// (NAME.pxar.didx), or a split pair whose metadata stream holds the entries
// and whose payload stream holds the file data (formats.md 1.9).
type PxarArchive struct {
	// Meta is the stored name of the stream with the entries,
	// NAME.pxar.didx or NAME.mpxar.didx; it is also the archive's
	// top-level directory in the snapshot's catalog.
	Meta string
	// Payload is NAME.ppxar.didx for a split archive, "" otherwise.
	Payload string
	// Size is the length of both streams together.
	Size uint64
}

// Split reports whether the file data is in a separate payload stream.
func (a PxarArchive) Split() bool { return a.Payload != "" }

// Name is the archive's name as users give it, NAME.pxar.
func (a PxarArchive) Name() string {
	base, _, _ := manifest.ArchiveName(a.Meta).PxarBase()
	return base + ".pxar"
}

// FindPxar resolves a user-given pxar archive name (root.pxar, or a stored
// name such as root.mpxar.didx) to the archive in the snapshot. A name of
// either form finds the other when only that exists: NAME.pxar falls back to
// the split pair as upstream's restore does, and a catalog's
// NAME.mpxar.didx names the split pair.
func (s *Snapshot) FindPxar(name string) (PxarArchive, error) {
	n := manifest.ArchiveName(name)
	base, kind, ok := n.PxarBase()
	if !ok {
		return PxarArchive{}, fmt.Errorf("archive %s is not a pxar archive", name)
	}
	unified := PxarArchive{Meta: n.Unified()}
	var split PxarArchive
	split.Meta, split.Payload = n.Split()
	order := []PxarArchive{unified, split}
	if kind != ".pxar" {
		order = []PxarArchive{split, unified}
	}
	for _, a := range order {
		if a, ok := s.complete(a); ok {
			return a, nil
		}
	}
	if s.has(split.Meta) != s.has(split.Payload) {
		return PxarArchive{}, fmt.Errorf("split archive %s is incomplete: the snapshot has only one of %s and %s: %w",
			base+".pxar", split.Meta, split.Payload, core.ErrCorrupt)
	}
	_, err := s.File(order[0].Meta)
	return PxarArchive{}, err
}

func (s *Snapshot) has(name string) bool {
	_, ok := s.Manifest.Lookup(name)
	return ok
}

// complete fills in the size when every stream of a is in the manifest.
func (s *Snapshot) complete(a PxarArchive) (PxarArchive, bool) {
	for _, n := range []string{a.Meta, a.Payload} {
		if n == "" {
			continue
		}
		f, ok := s.Manifest.Lookup(n)
		if !ok {
			return a, false
		}
		a.Size += f.Size
	}
	return a, true
}

// PxarArchives lists the snapshot's pxar archives in manifest order, a split
// pair once. A metadata stream without its payload stream is left out.
func (s *Snapshot) PxarArchives() []PxarArchive {
	var out []PxarArchive
	for _, f := range s.Manifest.Files {
		n := manifest.ArchiveName(f.Filename)
		_, kind, ok := n.PxarBase()
		if !ok || kind == ".ppxar" {
			continue
		}
		a := PxarArchive{Meta: f.Filename}
		if kind == ".mpxar" {
			_, a.Payload = n.Split()
		}
		if a, ok := s.complete(a); ok {
			out = append(out, a)
		}
	}
	return out
}

// accessorCacheBytes bounds each chunk cache of an accessor's streams.
const accessorCacheBytes = 32 << 20

// PxarAccessor opens random access to a pxar archive, unified or split (the
// shell, the mount, single-file restores). release frees the chunk caches.
func (s *Snapshot) PxarAccessor(ctx context.Context, a PxarArchive) (acc *pxar.Accessor, release func() error, err error) {
	o := ReaderAtOptions{CacheBytes: accessorCacheBytes}
	meta, err := s.ReaderAtWith(ctx, a.Meta, o)
	if err != nil {
		return nil, nil, err
	}
	acc, err = pxar.NewAccessor(meta, uint64(meta.Size()))
	if err != nil {
		meta.Close()
		return nil, nil, fmt.Errorf("archive %s: %w", a.Meta, err)
	}
	if !a.Split() {
		return acc, meta.Close, nil
	}
	if !acc.Split() {
		meta.Close()
		return nil, nil, fmt.Errorf("archive %s is not a split metadata archive (no format version 2): %w", a.Meta, core.ErrCorrupt)
	}
	payload, err := s.ReaderAtWith(ctx, a.Payload, o)
	if err != nil {
		meta.Close()
		return nil, nil, err
	}
	acc.SetPayload(payload)
	return acc, func() error {
		payload.Close()
		return meta.Close()
	}, nil
}
