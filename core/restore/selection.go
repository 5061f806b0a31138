package restore

import (
	"context"
	"sync"
	"sync/atomic"
	"time"

	"cairn/core"
	"cairn/core/manifest"
	"cairn/core/snapshot"
	"cairn/pxar"
)

// PathsOptions tune ExtractPxarPaths.
type PathsOptions struct {
	// Extract are the extraction options; their Patterns are ignored.
	Extract pxar.ExtractOptions
	// Total is the size of the selection's files when the caller knows it
	// (from the catalog); 0 has it summed from the archive first.
	Total uint64
	// Progress, when set, receives the bytes restored so far and the total
	// about ten times a second, and once more at the end.
	Progress func(core.Progress)
}

// progressEvery is how often restores report progress.
const progressEvery = 100 * time.Millisecond

// ExtractPxarPaths restores part of a pxar archive into target: the entries
// at paths (archive-relative, "etc/hosts"; a directory brings everything
// below it), each at its place under target. It reads through the archive's
// random-access reader, following the GOODBYE tables to the entries as the
// catalog shell does, so only the chunks that hold those entries and the
// directories leading to them are fetched: a few files of a large archive
// cost a few chunks, and a damaged chunk elsewhere does not matter.
// Progress counts the bytes of the selected files.
//
// With no paths it restores the whole archive, reading it in order; then
// progress counts the archive's stream bytes.
func ExtractPxarPaths(ctx context.Context, s *snapshot.Snapshot, a snapshot.PxarArchive, paths []string, target string, o PathsOptions) error {
	if len(paths) == 0 {
		var read atomic.Uint64
		stop := reportEvery(o.Progress, func() core.Progress {
			return core.Progress{Archive: a.Meta, BytesRead: read.Load(), BytesTotal: a.Size}
		})
		err := extractArchive(ctx, s, a, target, o.Extract, &read)
		stop()
		return err
	}
	acc, release, err := s.PxarAccessor(ctx, a)
	if err != nil {
		return err
	}
	defer release()
	total := o.Total
	if total == 0 && o.Progress != nil {
		if total, err = acc.PathsSize(paths); err != nil {
			return err
		}
	}
	var mu sync.Mutex
	cur := core.Progress{Archive: a.Meta, BytesTotal: total}
	stop := reportEvery(o.Progress, func() core.Progress {
		mu.Lock()
		defer mu.Unlock()
		return cur
	})
	err = acc.ExtractPaths(paths, target, o.Extract, func(n uint64, path string) {
		mu.Lock()
		if path != cur.Path {
			cur.Files++
		}
		cur.BytesRead, cur.Path = n, path
		mu.Unlock()
	})
	stop()
	if err == nil {
		err = ctx.Err()
	}
	return err
}

// RunPaths restores what a marked selection asks for (the TUI's restore):
// the entries at paths of a pxar archive, as ExtractPxarPaths does (the
// whole archive when paths is empty), or a whole image or blob as Run does.
// Warnings go to o.Events; progress, when set, gets ExtractPxarPaths'
// reports. o.Patterns and o.PreludeTarget are not used for pxar archives.
func RunPaths(ctx context.Context, o Options, paths []string, progress func(core.Progress)) error {
	if !manifest.ArchiveName(o.Archive).IsPxar() {
		return Run(ctx, o)
	}
	s, err := o.open(ctx)
	if err != nil {
		return err
	}
	defer s.Close()
	if err := s.Unlock(o.Key, o.KeyExplicit); err != nil {
		return err
	}
	a, err := s.FindPxar(o.Archive)
	if err != nil {
		return err
	}
	return ExtractPxarPaths(ctx, s, a, paths, o.Target, PathsOptions{Extract: o.ExtractOptions(), Progress: progress})
}

// reportEvery calls report with what current returns every progressEvery
// until stopped, and once more when stopped. A nil report does nothing.
func reportEvery(report func(core.Progress), current func() core.Progress) (stop func()) {
	if report == nil {
		return func() {}
	}
	start := time.Now()
	done := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	emit := func() {
		p := current()
		p.Elapsed = time.Since(start)
		report(p)
	}
	go func() {
		defer wg.Done()
		t := time.NewTicker(progressEvery)
		defer t.Stop()
		for {
			select {
			case <-done:
				return
			case <-t.C:
				emit()
			}
		}
	}()
	return func() {
		close(done)
		wg.Wait()
		emit()
	}
}
