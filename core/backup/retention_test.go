package backup_test

import (
	"context"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"cairn/core"
	"cairn/core/backup"
	"cairn/core/datastore"
	"cairn/core/datastore/datastoretest"
	"cairn/core/restore"
)

// ageChunks sets every chunk's atime into the past, as if days had gone by.
func ageChunks(t *testing.T, ds *datastore.Datastore, age time.Duration) {
	t.Helper()
	ts := []unix.Timespec{unix.NsecToTimespec(time.Now().Add(-age).UnixNano()), {Nsec: unix.UTIME_OMIT}}
	filepath.WalkDir(filepath.Join(ds.Root(), ".chunks"), func(p string, d fs.DirEntry, err error) error {
		if err == nil && !d.IsDir() {
			if err := unix.UtimesNanoAt(unix.AT_FDCWD, p, ts, 0); err != nil {
				t.Fatal(err)
			}
		}
		return nil
	})
}

// pausingRepo stops the backup after its first chunk until released.
type pausingRepo struct {
	*datastore.Datastore
	paused, release chan struct{}
}

type pausingWriter struct {
	core.BackupWriter
	once *sync.Once
	r    pausingRepo
}

func (p pausingRepo) StartBackup(ctx context.Context, o core.BackupOptions) (core.BackupWriter, error) {
	w, err := p.Datastore.StartBackup(ctx, o)
	if err != nil {
		return nil, err
	}
	return pausingWriter{w, &sync.Once{}, p}, nil
}

func (p pausingWriter) UploadChunk(d [32]byte, n uint64, enc func() ([]byte, error)) (bool, int, error) {
	reused, size, err := p.BackupWriter.UploadChunk(d, n, enc)
	p.once.Do(func() {
		close(p.r.paused)
		<-p.r.release
	})
	return reused, size, err
}

func TestGCDuringBackupKeepsWhatTheBackupNeeds(t *testing.T) {
	src := filepath.Join(t.TempDir(), "src")
	makeTree(t, src)
	ds := datastoretest.Dir(t)
	first, _ := runBackup(t, ds, "elsa", 1700000000, "root.pxar:"+src)
	// The only snapshot referencing the chunks goes away, and days pass.
	if err := ds.ForgetSnapshot("", first.Snapshot); err != nil {
		t.Fatal(err)
	}
	ageChunks(t, ds, 72*time.Hour)

	repo := pausingRepo{ds, make(chan struct{}), make(chan struct{})}
	sp, _ := backup.ParseSpec("root.pxar:" + src)
	done := make(chan error, 1)
	go func() {
		_, err := backup.Run(context.Background(), backup.Options{Repo: repo, ChunkSize: 64 << 10, Workers: 1,
			Snapshot: core.Snapshot{Group: core.Group{Type: core.TypeHost, ID: "elsa"}, Time: 1700000100}, Specs: []backup.Spec{sp}})
		done <- err
	}()
	<-repo.paused
	st, err := ds.GarbageCollect(context.Background(), nil)
	if err != nil {
		t.Fatal(err)
	}
	if st.RemovedChunks == 0 {
		t.Fatal("GC removed nothing: the test does not exercise the race")
	}
	close(repo.release)
	if err := <-done; err != nil {
		t.Fatalf("backup after GC: %v", err)
	}
	dst := filepath.Join(t.TempDir(), "dst")
	if err := restore.Run(context.Background(), restore.Options{Repo: ds, Snapshot: "host/elsa", Archive: "root.pxar", Target: dst}); err != nil {
		t.Fatalf("restore: %v", err)
	}
	if a, b := describe(t, src), describe(t, dst); a != b {
		t.Fatal("restored tree differs after GC ran during the backup")
	}
	// A second GC now must keep every chunk of the finished snapshot.
	ageChunks(t, ds, 72*time.Hour)
	if _, err := ds.GarbageCollect(context.Background(), nil); err != nil {
		t.Fatal(err)
	}
	rep, err := ds.Verify(context.Background(), "", nil, nil, nil)
	if err != nil || rep.Failed() != 0 {
		t.Fatalf("verify after GC: %v %+v", err, rep)
	}
}

func TestGCGracePeriod(t *testing.T) {
	src := filepath.Join(t.TempDir(), "src")
	makeTree(t, src)
	ds := datastoretest.Dir(t)
	first, _ := runBackup(t, ds, "elsa", 1700000000, "root.pxar:"+src)
	ds.ForgetSnapshot("", first.Snapshot)
	// A minute old: well inside the grace period, and clearly older than
	// the GC start (a chunk written in the same clock tick as the start
	// would count as in use, not pending).
	ageChunks(t, ds, time.Minute)
	st, err := ds.GarbageCollect(context.Background(), nil)
	if err != nil {
		t.Fatal(err)
	}
	if st.RemovedChunks != 0 || st.PendingChunks == 0 {
		t.Fatalf("fresh unreferenced chunks: removed %d pending %d", st.RemovedChunks, st.PendingChunks)
	}
	ageChunks(t, ds, 25*time.Hour)
	st, _ = ds.GarbageCollect(context.Background(), nil)
	if st.RemovedChunks == 0 || st.DiskChunks != 0 {
		t.Fatalf("after the grace period: removed %d, left %d", st.RemovedChunks, st.DiskChunks)
	}
}

func TestVerifyNamesCorruptChunkAndSnapshots(t *testing.T) {
	src := filepath.Join(t.TempDir(), "src")
	makeTree(t, src)
	ds := datastoretest.Dir(t)
	runBackup(t, ds, "elsa", 1700000000, "root.pxar:"+src)
	runBackup(t, ds, "elsa", 1700000100, "root.pxar:"+src)
	rep, err := ds.Verify(context.Background(), "", nil, nil, nil)
	if err != nil || rep.Failed() != 0 || len(rep.Snapshots) != 2 {
		t.Fatalf("clean verify: %v %+v", err, rep)
	}
	// Corrupt the largest chunk.
	var victim string
	var size int64
	filepath.WalkDir(filepath.Join(ds.Root(), ".chunks"), func(p string, d fs.DirEntry, err error) error {
		if d != nil && !d.IsDir() {
			if st, _ := d.Info(); st.Size() > size {
				victim, size = p, st.Size()
			}
		}
		return nil
	})
	data, _ := os.ReadFile(victim)
	data[100] ^= 1
	os.WriteFile(victim, data, 0o644)
	digest := filepath.Base(victim)

	rep, err = ds.Verify(context.Background(), "", nil, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	if rep.Failed() != 2 || len(rep.BadChunks[digest]) != 2 {
		t.Fatalf("verify did not name %s for both snapshots: %+v", digest, rep.BadChunks)
	}
	list, _ := ds.ListSnapshots("", nil)
	for _, s := range list {
		if s.Verification == nil || s.Verification.State != "failed" {
			t.Fatalf("verify state not recorded: %+v", s.Verification)
		}
	}
	err = restore.Run(context.Background(), restore.Options{Repo: ds, Snapshot: "host/elsa", Archive: "root.pxar", Target: filepath.Join(t.TempDir(), "dst")})
	if err == nil || !strings.Contains(err.Error(), digest) {
		t.Fatalf("restore did not fail naming %s: %v", digest, err)
	}
	// A new backup stores the chunk again, and the new snapshot verifies.
	runBackup(t, ds, "elsa", 1700000200, "root.pxar:"+src)
	snap := core.Snapshot{Group: core.Group{Type: core.TypeHost, ID: "elsa"}, Time: 1700000200}
	rep, err = ds.Verify(context.Background(), "", nil, &snap, nil)
	if err != nil || rep.Failed() != 0 {
		t.Fatalf("verify of the repaired snapshot: %v %+v", err, rep)
	}
}
