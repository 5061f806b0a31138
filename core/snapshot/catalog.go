package snapshot

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"

	"cairn/core"
	"cairn/core/catalog"
	"cairn/core/manifest"
	"cairn/pxar"
)

// Catalog returns the catalog of the snapshot's pxar archives. Unified
// archives have theirs stored; split archives have none (upstream writes
// none for them), so when there are any the catalog is rebuilt in memory,
// their part read from their metadata streams. Every archive is a top-level
// directory named by its PxarArchive.Meta (root.pxar.didx,
// root.mpxar.didx), which FindPxar maps back to the archive.
func (s *Snapshot) Catalog(ctx context.Context) (*catalog.Reader, error) {
	stored, err := s.storedCatalog(ctx)
	if err != nil {
		return nil, err
	}
	archives := s.PxarArchives()
	if stored != nil && !anySplit(archives) {
		return stored, nil
	}
	if len(archives) == 0 {
		return nil, fmt.Errorf("snapshot %s has no catalog and no pxar archive: %w", s.Reader.Snapshot(), core.ErrNotFound)
	}
	var buf bytes.Buffer
	w, err := catalog.NewWriter(&buf)
	if err != nil {
		return nil, err
	}
	for _, a := range archives {
		if err := s.catalogArchive(ctx, w, stored, a); err != nil {
			return nil, err
		}
	}
	if err := w.Finish(); err != nil {
		return nil, err
	}
	return catalog.NewReader(bytes.NewReader(buf.Bytes()), int64(buf.Len()))
}

func anySplit(archives []PxarArchive) bool {
	for _, a := range archives {
		if a.Split() {
			return true
		}
	}
	return false
}

// storedCatalog reads catalog.pcat1.didx; nil without error when the
// snapshot has none.
func (s *Snapshot) storedCatalog(ctx context.Context) (*catalog.Reader, error) {
	if !s.has(manifest.CatalogName) {
		return nil, nil
	}
	data, err := s.ReadAll(ctx, manifest.CatalogName)
	if err != nil {
		return nil, fmt.Errorf("catalog: %w", err)
	}
	return catalog.NewReader(bytes.NewReader(data), int64(len(data)))
}

// catalogArchive adds one archive's tree as a top-level directory: copied
// from the stored catalog, or read from the archive's entries when that
// catalog lacks it (always for split archives).
func (s *Snapshot) catalogArchive(ctx context.Context, w *catalog.Writer, stored *catalog.Reader, a PxarArchive) error {
	if err := w.StartDirectory([]byte(a.Meta)); err != nil {
		return err
	}
	if dir, ok, err := storedArchive(stored, a); err != nil {
		return err
	} else if ok {
		if err := w.CopyDir(stored, dir); err != nil {
			return err
		}
		return w.EndDirectory()
	}
	entries, _, err := s.Stream(ctx, a.Meta)
	if err != nil {
		return err
	}
	defer entries.Close()
	if err := pxar.FeedCatalog(entries, w); err != nil {
		return fmt.Errorf("catalog of %s: %w", a.Meta, err)
	}
	return w.EndDirectory()
}

// storedArchive finds a unified archive's directory in the stored catalog.
func storedArchive(stored *catalog.Reader, a PxarArchive) (catalog.Entry, bool, error) {
	if stored == nil || a.Split() {
		return catalog.Entry{}, false, nil
	}
	dir, err := stored.Lookup("/" + a.Meta)
	if errors.Is(err, catalog.ErrNotFound) {
		return catalog.Entry{}, false, nil
	}
	if err != nil {
		return catalog.Entry{}, false, err
	}
	return dir, dir.IsDir(), nil
}

// CatalogEntry looks up one archive-relative path of a pxar archive as the
// catalog lists it, reading as little as possible: the stored catalog for
// a unified archive, the goodbye tables along the path of a split
// archive's metadata stream. A path that does not exist (or goes through
// something that is not a directory) gives an error wrapping
// catalog.ErrNotFound.
func (s *Snapshot) CatalogEntry(ctx context.Context, a PxarArchive, path string) (catalog.Entry, error) {
	comps := strings.FieldsFunc(path, func(r rune) bool { return r == '/' })
	if !a.Split() {
		cat, err := s.storedCatalog(ctx)
		if err != nil {
			return catalog.Entry{}, err
		}
		if _, ok, _ := storedArchive(cat, a); !ok {
			// Not in a stored catalog: rebuilt from the archive itself.
			if cat, err = s.Catalog(ctx); err != nil {
				return catalog.Entry{}, err
			}
		}
		return catalogLookup(cat, a, comps)
	}
	acc, closeAcc, err := s.PxarAccessor(ctx, PxarArchive{Meta: a.Meta})
	if err != nil {
		return catalog.Entry{}, err
	}
	defer closeAcc()
	n := acc.Root()
	for _, c := range comps {
		if !n.IsDir() {
			return catalog.Entry{}, notInArchive(a, path)
		}
		if n, err = acc.LookupChild(n, c); errors.Is(err, catalog.ErrNotFound) {
			return catalog.Entry{}, notInArchive(a, path)
		} else if err != nil {
			return catalog.Entry{}, err
		}
	}
	return CatalogEntryOf(n), nil
}

func catalogLookup(cat *catalog.Reader, a PxarArchive, comps []string) (catalog.Entry, error) {
	cur, err := cat.Lookup("/" + a.Meta)
	if err != nil {
		return catalog.Entry{}, err
	}
	for _, c := range comps {
		if !cur.IsDir() {
			return catalog.Entry{}, notInArchive(a, strings.Join(comps, "/"))
		}
		ents, err := cat.ReadDir(cur)
		if err != nil {
			return catalog.Entry{}, err
		}
		i := slices.IndexFunc(ents, func(e catalog.Entry) bool { return string(e.Name) == c })
		if i < 0 {
			return catalog.Entry{}, notInArchive(a, strings.Join(comps, "/"))
		}
		cur = ents[i]
	}
	return cur, nil
}

func notInArchive(a PxarArchive, path string) error {
	return fmt.Errorf("%s not found in %s: %w", path, a.Name(), catalog.ErrNotFound)
}

// CatalogEntryOf describes an archive entry as the catalog would, for
// listings read from an archive rather than from a stored catalog.
func CatalogEntryOf(n *pxar.Node) catalog.Entry {
	e := catalog.Entry{Name: n.Name}
	switch n.Kind {
	case pxar.KindDirectory:
		e.Type = catalog.TypeDirectory
	case pxar.KindFile:
		e.Type, e.Size, e.Mtime = catalog.TypeFile, n.Size, n.Stat.MtimeSec
	case pxar.KindSymlink:
		e.Type = catalog.TypeSymlink
	case pxar.KindHardlink:
		e.Type = catalog.TypeHardlink
	case pxar.KindDevice:
		e.Type = catalog.TypeCharDevice
		if n.Stat.FileType() == pxar.ModeIFBLK {
			e.Type = catalog.TypeBlockDevice
		}
	case pxar.KindFifo:
		e.Type = catalog.TypeFifo
	case pxar.KindSocket:
		e.Type = catalog.TypeSocket
	}
	return e
}
