package backup_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"

	"cairn/core"
	"cairn/core/backup"
	"cairn/core/datastore"
	"cairn/core/datastore/datastoretest"
	"cairn/core/restore"
	"cairn/internal/testutil"
)

// cancelRepo cancels the backup when its first chunk reaches the store,
// so the cancel comes while the walk is under way, and counts the chunks
// that still arrive after it.
type cancelRepo struct {
	core.Repository
	cancel  context.CancelFunc
	uploads atomic.Int64
}

func (r *cancelRepo) StartBackup(ctx context.Context, o core.BackupOptions) (core.BackupWriter, error) {
	w, err := r.Repository.StartBackup(ctx, o)
	if err != nil {
		return nil, err
	}
	return &cancelWriter{BackupWriter: w, r: r}, nil
}

type cancelWriter struct {
	core.BackupWriter
	r *cancelRepo
}

func (w *cancelWriter) UploadChunk(d [32]byte, size uint64, encode func() ([]byte, error)) (bool, int, error) {
	if w.r.uploads.Add(1) == 1 {
		w.r.cancel()
	}
	return w.BackupWriter.UploadChunk(d, size, encode)
}

// TestBackupCancelStopsMidWalk pins issue 17 item 1: stopping a backup
// stopped it only between archives, so a single large archive was read to
// its end and kept. A cancel now reaches the file walk and the reading of
// a file: Run returns context.Canceled long before the source is read, and
// no snapshot is left, not even an unfinished one.
func TestBackupCancelStopsMidWalk(t *testing.T) {
	for _, tc := range []struct {
		name  string
		make  func(t *testing.T, dir string)
		chunk int
		// total is how many chunks the whole source makes; a backup that
		// stops where it is sends only the few already on their way.
		total int
	}{
		{"many files", func(t *testing.T, dir string) {
			// 4,000 files of 4 KiB in 80 directories: 16 MiB of stream
			// in 64 KiB chunks, about 250 of them.
			for d := range 80 {
				sub := filepath.Join(dir, fmt.Sprintf("d%02d", d))
				if err := os.MkdirAll(sub, 0o755); err != nil {
					t.Fatal(err)
				}
				for f := range 50 {
					data := []byte(fmt.Sprintf("%d/%d\n", d, f))
					data = append(data, make([]byte, 4096-len(data))...)
					if err := os.WriteFile(filepath.Join(sub, fmt.Sprintf("f%02d", f)), data, 0o644); err != nil {
						t.Fatal(err)
					}
				}
			}
		}, 64 << 10, 250},
		{"one large file", func(t *testing.T, dir string) {
			// 4 GiB, sparse: a thousand 4 MiB chunks to read and hash.
			f, err := os.Create(filepath.Join(dir, "disk.raw"))
			if err != nil {
				t.Fatal(err)
			}
			defer f.Close()
			if err := f.Truncate(4 << 30); err != nil {
				t.Fatal(err)
			}
		}, 0, 1024},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := testutil.TempDir(t)
			src := filepath.Join(dir, "src")
			if err := os.MkdirAll(src, 0o755); err != nil {
				t.Fatal(err)
			}
			tc.make(t, src)
			ds := datastoretest.Memory(t)
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			repo := &cancelRepo{Repository: ds, cancel: cancel}
			var lastRead atomic.Uint64
			snap := core.Snapshot{Group: core.Group{Type: core.TypeHost, ID: "cancelme"}, Time: 1700000000}
			res, err := backup.Run(ctx, backup.Options{
				Repo: repo, Snapshot: snap, Specs: []backup.Spec{{Name: "root.pxar", Type: "pxar", Path: src}},
				ChunkSize: tc.chunk, Workers: 2,
				Events: func(ev core.Event) {
					if ev.Kind == core.EventProgress {
						lastRead.Store(ev.Progress.BytesRead)
					}
				},
			})
			if !errors.Is(err, context.Canceled) {
				t.Fatalf("Run after a cancel: result %v, error %v; want context.Canceled", res, err)
			}
			if n := repo.uploads.Load(); n >= int64(tc.total)/4 {
				t.Errorf("%d chunks reached the store after the cancel at the first; the walk went on (the source makes about %d)", n, tc.total)
			}
			list, err := ds.ListSnapshots("", nil)
			if err != nil && !errors.Is(err, core.ErrNotFound) {
				t.Fatal(err)
			}
			if len(list) != 0 {
				t.Errorf("snapshots after the cancel: %+v", list)
			}
			if _, err := ds.Backend().Stat("host/cancelme/" + snap.TimeString()); !errors.Is(err, os.ErrNotExist) {
				t.Errorf("the snapshot directory is still there: %v", err)
			}
		})
	}
}

// TestBackupLeavesOutItsDatastore pins issue 17 item 3: backing up a
// directory that holds the datastore wrote the datastore into itself. The
// store is left out of the archive (and said so); the rest is kept.
func TestBackupLeavesOutItsDatastore(t *testing.T) {
	dir := testutil.TempDir(t)
	src := filepath.Join(dir, "home")
	makeTree(t, src)
	store := filepath.Join(src, "demo-store")
	if err := datastore.Create(store); err != nil {
		t.Fatal(err)
	}
	ds, err := datastore.Open(store, "root@pam")
	if err != nil {
		t.Fatal(err)
	}
	defer ds.Close()
	var infos []string
	snap := core.Snapshot{Group: core.Group{Type: core.TypeHost, ID: "self"}, Time: 1700000000}
	if _, err := backup.Run(context.Background(), backup.Options{
		Repo: ds, Snapshot: snap, Specs: []backup.Spec{{Name: "root.pxar", Type: "pxar", Path: src}},
		Events: func(ev core.Event) {
			if ev.Kind == core.EventInfo {
				infos = append(infos, ev.Message)
			}
		},
	}); err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(dir, "restored")
	if err := restore.Run(context.Background(), restore.Options{Repo: ds, Snapshot: snap.String(), Archive: "root.pxar", Target: out}); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(out, "demo-store")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("the datastore was archived into itself: %v", err)
	}
	if _, err := os.Stat(filepath.Join(out, "etc/hostname")); err != nil {
		t.Errorf("the rest of the source is missing: %v", err)
	}
	said := false
	for _, m := range infos {
		said = said || (m == fmt.Sprintf("Leaving out '%s' of root.pxar: it is the datastore this backup writes to", store))
	}
	if !said {
		t.Errorf("no message about the datastore left out: %q", infos)
	}

	// A source inside the datastore is refused before anything is written.
	_, err = backup.Run(context.Background(), backup.Options{
		Repo: ds, Snapshot: core.Snapshot{Group: snap.Group, Time: snap.Time + 1},
		Specs: []backup.Spec{{Name: "chunks.pxar", Type: "pxar", Path: filepath.Join(store, ".chunks")}},
	})
	if err == nil || !strings.Contains(err.Error(), "inside the datastore") {
		t.Errorf("backing up the datastore's own chunks: %v", err)
	}
}

// TestBackupEstimateGivesProgressATotal: with Estimate, the engine measures
// the sources and reports done/total itself (issue 17, structured
// progress), so screens no longer walk the sources on their own.
func TestBackupEstimateGivesProgressATotal(t *testing.T) {
	dir := testutil.TempDir(t)
	src := filepath.Join(dir, "src")
	if err := os.MkdirAll(src, 0o755); err != nil {
		t.Fatal(err)
	}
	f, err := os.Create(filepath.Join(src, "disk.raw"))
	if err != nil {
		t.Fatal(err)
	}
	const size = 512 << 20 // sparse: a second or more to read
	f.Truncate(size)
	f.Close()
	ds := datastoretest.Memory(t)
	var est *core.Estimate
	var withTotal int
	_, err = backup.Run(context.Background(), backup.Options{
		Repo: ds, Snapshot: core.Snapshot{Group: core.Group{Type: core.TypeHost, ID: "est"}, Time: 1700000000},
		Specs: []backup.Spec{{Name: "root.pxar", Type: "pxar", Path: src}}, Estimate: true,
		Events: func(ev core.Event) {
			switch ev.Kind {
			case core.EventEstimate:
				est = ev.Estimate
			case core.EventProgress:
				if ev.Progress.BytesTotal == size {
					withTotal++
				}
			}
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	if est == nil || len(est.Sizes) != 1 || est.Sizes[0] != size {
		t.Fatalf("estimate %+v, want one archive of %d bytes", est, size)
	}
	if withTotal == 0 {
		t.Error("no progress report carried the total")
	}
}
