package datastore

import (
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"golang.org/x/sys/unix"

	"cairn/core"
	"cairn/core/index"
)

// GCCutoff is how long an unreferenced chunk survives: 24 h 5 min
// (protocol.md 8.2), so relatime mounts still see phase 1's touches.
const GCCutoff = 24*time.Hour + 5*time.Minute

const gcLockName = ".gc-lock"

// GarbageCollect marks every chunk an index references, then removes chunks
// not used since the cutoff, or since the oldest running backup minus five
// minutes. Only one GC runs at a time. How a chunk's use is recorded is the
// backend's business: the directory backend touches atimes, the S3 backend
// keeps the marked set and per-chunk "last used" markers (s3gc.go).
func (d *Datastore) GarbageCollect(ctx context.Context, events core.Sink) (*core.GCStatus, error) {
	if err := os.MkdirAll(d.backend.StateDir(), dirMode); err != nil {
		return nil, err
	}
	lock, err := os.OpenFile(filepath.Join(d.backend.StateDir(), gcLockName), os.O_CREATE|os.O_RDWR, fileMode)
	if err != nil {
		return nil, err
	}
	defer lock.Close()
	if err := unix.Flock(int(lock.Fd()), unix.LOCK_EX|unix.LOCK_NB); err != nil {
		return nil, fmt.Errorf("garbage collection already running on this datastore: %w", core.ErrLocked)
	}
	d.refresh()
	startSec, sess, err := d.backend.StartGC()
	if err != nil {
		return nil, err
	}
	st := &core.GCStatus{UPID: core.NewUPID("garbage_collection", d.storeName(), d.owner, startSec)}
	events.Info(fmt.Sprintf("starting garbage collection on store %s", d.storeName()))

	minAtime := startSec.Add(-GCCutoff)
	oldest := startSec
	if w, ok := d.oldestWriter(); ok {
		oldest = w
		if w.Add(-5 * time.Minute).Before(minAtime) {
			minAtime = w.Add(-5 * time.Minute)
		}
		events.Info(fmt.Sprintf("Oldest backup writer started at %s, extending minimum access time to %s",
			w.UTC().Format(time.RFC3339), minAtime.UTC().Format(time.RFC3339)))
	}

	events.GCInfo("Start GC phase1 (mark used chunks)", core.GCPhaseMark, 0)
	if err := d.markUsedChunks(ctx, sess, st, events); err != nil {
		return nil, err
	}
	events.GCInfo("Start GC phase2 (sweep unused chunks)", core.GCPhaseSweep, 0)
	if err := sess.Sweep(ctx, minAtime, oldest, st, events); err != nil {
		return nil, err
	}
	if err := d.backend.WriteFile(".gc-status", gcStatusJSON(st)); err != nil {
		events.Warn(fmt.Sprintf("could not save .gc-status: %v", err))
	}
	return st, nil
}

// markUsedChunks marks every chunk referenced by any index (protocol.md 8.3).
func (d *Datastore) markUsedChunks(ctx context.Context, sess GCSession, st *core.GCStatus, events core.Sink) error {
	files, err := d.backend.ListIndexFiles()
	if err != nil {
		return fmt.Errorf("list index files: %w", err)
	}
	// Recently marked digests: dedup across snapshots without unbounded memory.
	seen := map[[32]byte]struct{}{}
	const seenMax = 1 << 20
	lastPct := -1
	for i, p := range files {
		if err := ctx.Err(); err != nil {
			return err
		}
		data, err := d.backend.ReadFile(p)
		if errors.Is(err, fs.ErrNotExist) {
			continue // vanished (forgotten meanwhile)
		}
		if err != nil {
			return err
		}
		idx, err := index.Open(data)
		if err != nil {
			return fmt.Errorf("garbage collection stopped: index %q is corrupt: %w", p, err)
		}
		st.IndexFileCount++
		st.IndexDataBytes += idx.Size()
		for c := 0; c < idx.Count(); c++ {
			dg := idx.ChunkDigest(c)
			if _, ok := seen[dg]; ok {
				continue
			}
			if len(seen) >= seenMax {
				clear(seen)
			}
			seen[dg] = struct{}{}
			ok, err := sess.Mark(dg)
			if err != nil {
				return err
			}
			if !ok {
				events.Warn(fmt.Sprintf("warning: unable to access non-existent chunk %x, required by %q", dg, d.displayPath(p)))
			}
		}
		if pct := (i + 1) * 100 / len(files); pct != lastPct {
			lastPct = pct
			events.GCInfo(fmt.Sprintf("marked %d%% (%d of %d index files)", pct, i+1, len(files)), core.GCPhaseMark, pct)
		}
	}
	return nil
}

// dirGC is the directory backend's GC: marks are atimes.
type dirGC struct{ b *dirBackend }

// StartGC takes the start from the kernel's coarse atime clock, by touching
// the GC lock file, so a chunk marked after the start never looks older.
func (b *dirBackend) StartGC() (time.Time, GCSession, error) {
	start := time.Now()
	lock := filepath.Join(b.root, gcLockName)
	if err := touch(lock); err == nil {
		if at, _, ok := atimeOf(lock); ok {
			start = at
		}
	}
	return start, dirGC{b}, nil
}

func (g dirGC) Mark(dg [32]byte) (bool, error) {
	ok, err := g.b.markChunk(dg)
	if err == nil && !ok {
		touchBadCopies(g.b.root, dg)
	}
	return ok, err
}

func (g dirGC) Sweep(ctx context.Context, minAtime, oldest time.Time, st *core.GCStatus, events core.Sink) error {
	return sweepUnusedChunks(ctx, g.b.root, st, minAtime, oldest, events)
}

func touchBadCopies(root string, dg [32]byte) {
	base := chunkPath(root, dg)
	for n := 0; n < 10; n++ {
		touch(fmt.Sprintf("%s.%d.bad", base, n))
	}
}

// isChunkName accepts 64 hex digits, optionally followed by ".N.bad".
func isChunkName(name string) (bad bool, ok bool) {
	if len(name) < 64 {
		return false, false
	}
	if _, err := hex.DecodeString(name[:64]); err != nil {
		return false, false
	}
	rest := name[64:]
	if rest == "" {
		return false, true
	}
	if len(rest) == 6 && rest[0] == '.' && rest[1] >= '0' && rest[1] <= '9' && rest[2:] == ".bad" {
		return true, true
	}
	return false, false
}

// sweepUnusedChunks removes chunk files not touched since minAtime
// (protocol.md 8.4). A chunk is first renamed aside and its atime checked
// again, so a backup in another process that touched it meanwhile keeps it.
func sweepUnusedChunks(ctx context.Context, root string, st *core.GCStatus, minAtime, oldest time.Time, events core.Sink) error {
	// Prefix directories are made on demand: list the ones there are
	// rather than open 65536 names, most of them missing in a young
	// datastore. A missing one is an empty one.
	var have [65536]bool
	top, err := os.ReadDir(filepath.Join(root, chunksName))
	if err != nil {
		return err
	}
	for _, e := range top {
		if i, ok := prefixIndex(e.Name()); ok && e.IsDir() {
			have[i] = true
		}
	}
	var count uint64
	lastPct := -1
	for i := 0; i < 65536; i++ {
		if err := ctx.Err(); err != nil {
			return err
		}
		if have[i] {
			dir := filepath.Join(root, chunksName, prefixName(i))
			ents, err := os.ReadDir(dir)
			if err != nil && !errors.Is(err, fs.ErrNotExist) {
				return err
			}
			for _, e := range ents {
				if !e.Type().IsRegular() {
					continue
				}
				bad, ok := isChunkName(e.Name())
				if !ok {
					removeStaleTemp(filepath.Join(dir, e.Name()), minAtime)
					continue
				}
				count++
				sweepOne(filepath.Join(dir, e.Name()), bad, st, minAtime, oldest)
			}
		}
		if pct := (i + 1) * 100 / 65536; pct != lastPct && pct > 0 {
			lastPct = pct
			events.GCInfo(fmt.Sprintf("percentage done: %d, chunk count: %d", pct, count), core.GCPhaseSweep, pct)
		}
	}
	return nil
}

func atimeOf(p string) (time.Time, int64, bool) {
	var s syscall.Stat_t
	if err := syscall.Lstat(p, &s); err != nil {
		return time.Time{}, 0, false
	}
	return time.Unix(s.Atim.Sec, s.Atim.Nsec), s.Size, true
}

// removeStaleTemp deletes what a crashed backup left: a chunk under its
// temporary name, older than the GC cutoff (a running backup's are newer).
func removeStaleTemp(p string, minAtime time.Time) {
	if !strings.Contains(filepath.Base(p), ".tmp_") {
		return
	}
	if fi, err := os.Lstat(p); err == nil && fi.ModTime().Before(minAtime) {
		os.Remove(p)
	}
}

func sweepOne(p string, bad bool, st *core.GCStatus, minAtime, oldest time.Time) {
	atime, size, ok := atimeOf(p)
	if !ok {
		return
	}
	switch {
	case atime.Before(minAtime):
		aside := p + ".gc-sweep"
		if err := os.Rename(p, aside); err != nil {
			return
		}
		if again, _, ok := atimeOf(aside); ok && !again.Before(minAtime) {
			// Touched while we looked: put it back (unless a new copy arrived).
			if err := os.Link(aside, p); err != nil && !errors.Is(err, fs.ErrExist) {
				os.Rename(aside, p)
				return
			}
			os.Remove(aside)
			countKept(bad, size, st)
			return
		}
		if err := os.Remove(aside); err != nil {
			if bad {
				st.StillBad++
			}
			return
		}
		countRemoved(bad, size, st)
	case atime.Before(oldest):
		countPending(bad, size, st)
	default:
		countKept(bad, size, st)
	}
}

// countRemoved counts a chunk (or bad copy) the sweep removed.
func countRemoved(bad bool, size int64, st *core.GCStatus) {
	if bad {
		st.RemovedBad++
	} else {
		st.RemovedChunks++
	}
	st.RemovedBytes += uint64(size)
}

// countPending counts an unused chunk too young to remove: used after the
// cutoff but before the oldest running backup started.
func countPending(bad bool, size int64, st *core.GCStatus) {
	if bad {
		st.StillBad++
	} else {
		st.PendingChunks++
		st.PendingBytes += uint64(size)
	}
}

// countKept counts a chunk (or bad copy) that stays.
func countKept(bad bool, size int64, st *core.GCStatus) {
	if !bad {
		st.DiskChunks++
	}
	st.DiskBytes += uint64(size)
}
