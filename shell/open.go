package shell

import (
	"bytes"
	"context"
	"fmt"
	"strings"

	"cairn/core/catalog"
	"cairn/core/manifest"
	"cairn/core/restore"
	"cairn/pxar"
)

// CatalogName is the stored name of a snapshot's catalog.
const CatalogName = "catalog.pcat1.didx"

// OpenArchive opens random access to a .pxar archive of an open (and
// unlocked) snapshot. The returned close function releases the chunk cache.
func OpenArchive(ctx context.Context, s *restore.Snapshot, archive string) (*pxar.Accessor, func() error, error) {
	name := manifest.ArchiveFileName(archive)
	if !strings.HasSuffix(name, ".pxar.didx") {
		return nil, nil, fmt.Errorf("archive %s is not a pxar archive", archive)
	}
	ra, err := s.ReaderAt(ctx, name)
	if err != nil {
		return nil, nil, err
	}
	a, err := pxar.NewAccessor(ra, uint64(ra.Size()))
	if err != nil {
		ra.Close()
		return nil, nil, fmt.Errorf("archive %s: %w", name, err)
	}
	return a, ra.Close, nil
}

// SnapshotOptions prepares a shell over an archive of an open (and
// unlocked) snapshot: it downloads the catalog; the archive is opened for
// random access on first use. Call the returned function when done.
func SnapshotOptions(ctx context.Context, s *restore.Snapshot, archive string) (Options, func(), error) {
	name := manifest.ArchiveFileName(archive)
	if !strings.HasSuffix(name, ".pxar.didx") {
		return Options{}, nil, fmt.Errorf("can only open pxar archives in the catalog shell, not %s", archive)
	}
	if _, err := s.File(name); err != nil {
		return Options{}, nil, err
	}
	data, err := s.ReadAll(ctx, CatalogName)
	if err != nil {
		return Options{}, nil, fmt.Errorf("catalog: %w", err)
	}
	cat, err := catalog.NewReader(bytes.NewReader(data), int64(len(data)))
	if err != nil {
		return Options{}, nil, err
	}
	var closeAcc func() error
	o := Options{
		Catalog: cat,
		Archive: name,
		Open: func() (*pxar.Accessor, error) {
			a, c, err := OpenArchive(ctx, s, name)
			closeAcc = c
			return a, err
		},
	}
	return o, func() {
		if closeAcc != nil {
			closeAcc()
		}
	}, nil
}
