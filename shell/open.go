package shell

import (
	"context"
	"fmt"

	"cairn/core/manifest"
	"cairn/core/snapshot"
	"cairn/pxar"
)

// SnapshotOptions prepares a shell over an archive of an open (and
// unlocked) snapshot: it loads the catalog (for split archives, rebuilt
// from their metadata archives); the archive is opened for random access on
// first use. Call the returned function when done.
func SnapshotOptions(ctx context.Context, s *snapshot.Snapshot, archive string) (Options, func(), error) {
	if !manifest.ArchiveName(archive).IsPxar() {
		return Options{}, nil, fmt.Errorf("can only open pxar archives in the catalog shell, not %s", archive)
	}
	a, err := s.FindPxar(archive)
	if err != nil {
		return Options{}, nil, err
	}
	cat, err := s.Catalog(ctx)
	if err != nil {
		return Options{}, nil, err
	}
	var closeAcc func() error
	o := Options{
		Catalog: cat,
		Archive: a.Meta,
		Open: func() (*pxar.Accessor, error) {
			acc, c, err := s.PxarAccessor(ctx, a)
			closeAcc = c
			return acc, err
		},
	}
	return o, func() {
		if closeAcc != nil {
			closeAcc()
		}
	}, nil
}
