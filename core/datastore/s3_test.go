package datastore_test

import (
	"context"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"cairn/internal/testutil"

	"cairn/core"
	"cairn/core/backup"
	"cairn/core/datastore"
	"cairn/core/restore"
)

// The S3 tests run against a real MinIO server: CAIRN_MINIO, or
// $(go env GOPATH)/bin/minio as .ci/minio.sh builds it. Without one they skip.

const (
	minioUser     = "cairn-test-user"
	minioPassword = "cairn-test-secret-0123456789"
)

// startMinio starts a real MinIO with this package's test credentials.
func startMinio(t testing.TB) *testutil.MinIO {
	return testutil.StartMinIO(t, minioUser, minioPassword)
}

// s3Config is a datastore config on m with a fresh cache dir.
func s3Config(m *testutil.MinIO, t testing.TB, bucket string) datastore.S3Config {
	return datastore.S3Config{Endpoint: m.Addr, Bucket: bucket, Prefix: "store", AccessKey: minioUser, SecretKey: minioPassword,
		PathStyle: true, Insecure: true, CacheDir: filepath.Join(t.TempDir(), "cache"), CacheBytes: 64 << 20, MaxRetries: 2}
}

func openS3(t testing.TB, cfg datastore.S3Config) *datastore.Datastore {
	t.Helper()
	if err := datastore.CreateS3(cfg); err != nil {
		t.Fatal(err)
	}
	ds, err := datastore.OpenS3(cfg, "root@pam")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ds.Close() })
	return ds
}

func makeTree(t testing.TB, dir string) {
	t.Helper()
	testutil.WriteTree(t, dir, testutil.SampleTree(), testutil.SampleMTime)
}

func describe(t testing.TB, dir string) string {
	t.Helper()
	var b strings.Builder
	filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			t.Fatal(err)
		}
		rel, _ := filepath.Rel(dir, p)
		st, _ := os.Lstat(p)
		fmt.Fprintf(&b, "%s %v %d", rel, st.Mode(), st.ModTime().UnixNano())
		if st.Mode().IsRegular() {
			data, _ := os.ReadFile(p)
			fmt.Fprintf(&b, " %d %x", len(data), data)
		}
		b.WriteString("\n")
		return nil
	})
	return b.String()
}

func runBackup(t testing.TB, repo core.Repository, id string, when int64, src string) error {
	sp, err := backup.ParseSpec("root.pxar:" + src)
	if err != nil {
		t.Fatal(err)
	}
	_, err = backup.Run(context.Background(), backup.Options{Repo: repo, ChunkSize: 64 << 10,
		Snapshot: core.Snapshot{Group: core.Group{Type: core.TypeHost, ID: id}, Time: when}, Specs: []backup.Spec{sp}})
	return err
}

func restoreAndCompare(t *testing.T, repo core.Repository, snap, src string) {
	t.Helper()
	dst := filepath.Join(t.TempDir(), "dst")
	if err := restore.Run(context.Background(), restore.Options{Repo: repo, Snapshot: snap, Archive: "root.pxar", Target: dst}); err != nil {
		t.Fatalf("restore %s: %v", snap, err)
	}
	if describe(t, src) != describe(t, dst) {
		t.Fatalf("restored tree of %s differs", snap)
	}
}

// clock is a movable test clock.
type clock struct {
	mu  sync.Mutex
	off time.Duration
}

func (c *clock) now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return time.Now().Add(c.off) }
func (c *clock) advance(d time.Duration) {
	c.mu.Lock()
	c.off += d
	c.mu.Unlock()
}

func TestS3BackupRestorePruneGC(t *testing.T) {
	m := startMinio(t)
	cfg := s3Config(m, t, "cairn-main")
	ds := openS3(t, cfg)
	clk := &clock{}
	ds.SetClock(clk.now)
	src := filepath.Join(t.TempDir(), "src")
	makeTree(t, src)
	if err := ds.CreateNamespace("a"); err != nil {
		t.Fatal(err)
	}
	threeBackups(t, ds, src)
	if nss, _ := ds.ListNamespaces("", -1); len(nss) != 2 {
		t.Fatalf("namespaces %v", nss)
	}
	restoreAndCompare(t, ds, "host/elsa", src)

	// A fresh process (new cache directory) sees the same datastore.
	cfg2 := cfg
	cfg2.CacheDir = filepath.Join(t.TempDir(), "cache2")
	ds2, err := datastore.OpenS3(cfg2, "root@pam")
	if err != nil {
		t.Fatal(err)
	}
	defer ds2.Close()
	if l2, err := ds2.ListSnapshots("", nil); err != nil || len(l2) != 3 {
		t.Fatalf("second open lists %d snapshots: %v", len(l2), err)
	}

	pruneGCRoundTrip(t, ds, clk, src, func() {
		// Restore through a cold cache too.
		restoreAndCompare(t, ds2, "host/elsa", src)
	})
}

// threeBackups stores three snapshots of host/elsa from src (the last one
// with etc/hostname changed) and checks that they are listed, finished and
// owned.
func threeBackups(t *testing.T, ds *datastore.Datastore, src string) {
	t.Helper()
	for i, when := range []int64{1700000000, 1700000100, 1700000200} {
		if i == 2 {
			os.WriteFile(filepath.Join(src, "etc/hostname"), []byte("changed\n"), 0o644)
			os.Chtimes(filepath.Join(src, "etc/hostname"), time.Unix(1714564800, 0), time.Unix(1714564800, 0))
		}
		if err := runBackup(t, ds, "elsa", when, src); err != nil {
			t.Fatalf("backup %d: %v", i, err)
		}
	}
	list, err := ds.ListSnapshots("", nil)
	if err != nil || len(list) != 3 || !list[2].Finished || list[2].Owner != "root@pam" {
		t.Fatalf("list: %+v %v", list, err)
	}
}

// pruneGCRoundTrip follows threeBackups on a datastore whose chunk ages
// follow clk: protect, prune to the last snapshot, GC before and after the
// cutoff, verify and restore (then also), forget and GC to nothing.
func pruneGCRoundTrip(t *testing.T, ds *datastore.Datastore, clk *clock, src string, also func()) {
	t.Helper()
	list, err := ds.ListSnapshots("", nil)
	if err != nil {
		t.Fatal(err)
	}
	// Protect, prune and forget.
	first := list[0].Snapshot
	if err := ds.SetProtected("", first, true); err != nil {
		t.Fatal(err)
	}
	if err := ds.ForgetSnapshot("", first); err == nil {
		t.Fatal("forgot a protected snapshot")
	}
	ds.SetProtected("", first, false)
	res, err := ds.Prune("", first.Group, core.KeepOptions{KeepLast: 1}, false)
	if err != nil {
		t.Fatal(err)
	}
	kept := 0
	for _, r := range res {
		if r.Keep {
			kept++
		}
	}
	if list, _ = ds.ListSnapshots("", nil); len(list) != 1 || kept != 1 {
		t.Fatalf("after prune: %d left (%d kept)", len(list), kept)
	}

	// Fresh unreferenced chunks survive GC; after a day they go.
	st, err := ds.GarbageCollect(context.Background(), nil)
	if err != nil {
		t.Fatal(err)
	}
	if st.RemovedChunks != 0 || st.PendingChunks == 0 || st.DiskChunks == 0 {
		t.Fatalf("fresh GC: %+v", st)
	}
	clk.advance(25 * time.Hour)
	st, err = ds.GarbageCollect(context.Background(), nil)
	if err != nil {
		t.Fatal(err)
	}
	if st.RemovedChunks == 0 || st.DiskChunks == 0 {
		t.Fatalf("aged GC: %+v", st)
	}
	rep, err := ds.Verify(context.Background(), "", nil, nil, nil)
	if err != nil || rep.Failed() != 0 {
		t.Fatalf("verify: %v %+v", err, rep)
	}
	restoreAndCompare(t, ds, "host/elsa", src)
	if also != nil {
		also()
	}

	if err := ds.ForgetSnapshot("", list[0].Snapshot); err != nil {
		t.Fatal(err)
	}
	clk.advance(25 * time.Hour)
	st, err = ds.GarbageCollect(context.Background(), nil)
	if err != nil || st.DiskChunks != 0 {
		t.Fatalf("GC of an empty store: %+v %v", st, err)
	}
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

func TestS3GCDuringBackupKeepsWhatTheBackupNeeds(t *testing.T) {
	m := startMinio(t)
	ds := openS3(t, s3Config(m, t, "cairn-gc"))
	clk := &clock{}
	ds.SetClock(clk.now)
	src := filepath.Join(t.TempDir(), "src")
	makeTree(t, src)
	if err := runBackup(t, ds, "elsa", 1700000000, src); err != nil {
		t.Fatal(err)
	}
	list, _ := ds.ListSnapshots("", nil)
	if err := ds.ForgetSnapshot("", list[0].Snapshot); err != nil {
		t.Fatal(err)
	}
	clk.advance(72 * time.Hour)

	repo := pausingRepo{ds, make(chan struct{}), make(chan struct{})}
	done := make(chan error, 1)
	go func() { done <- runBackup(t, repo, "elsa", 1700000100, src) }()
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
	restoreAndCompare(t, ds, "host/elsa", src)
	clk.advance(72 * time.Hour)
	if _, err := ds.GarbageCollect(context.Background(), nil); err != nil {
		t.Fatal(err)
	}
	rep, err := ds.Verify(context.Background(), "", nil, nil, nil)
	if err != nil || rep.Failed() != 0 {
		t.Fatalf("verify after GC: %v %+v", err, rep)
	}
}

func TestS3ServerStopsMidBackup(t *testing.T) {
	m := startMinio(t)
	cfg := s3Config(m, t, "cairn-stop")
	ds := openS3(t, cfg)
	src := filepath.Join(t.TempDir(), "src")
	makeTree(t, src)

	repo := pausingRepo{ds, make(chan struct{}), make(chan struct{})}
	done := make(chan error, 1)
	go func() { done <- runBackup(t, repo, "elsa", 1700000000, src) }()
	<-repo.paused
	m.Stop()
	close(repo.release)
	select {
	case err := <-done:
		if err == nil {
			t.Fatal("backup succeeded with the S3 server gone")
		}
		if strings.Contains(err.Error(), minioPassword) {
			t.Fatalf("the error shows the secret key: %v", err)
		}
		t.Logf("backup failed as it should: %v", err)
	case <-time.After(3 * time.Minute):
		t.Fatal("backup hangs with the S3 server gone")
	}
	m.Start()
	list, err := ds.ListSnapshots("", nil)
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range list {
		if s.Finished {
			t.Fatalf("a finished snapshot appeared: %+v", s)
		}
	}
	if err := runBackup(t, ds, "elsa", 1700000100, src); err != nil {
		t.Fatalf("retry: %v", err)
	}
	restoreAndCompare(t, ds, "host/elsa", src)
}

func TestS3CredentialsNotInErrors(t *testing.T) {
	m := startMinio(t)
	cfg := s3Config(m, t, "cairn-creds")
	cfg.SecretKey = "wrong-secret-value-xyz"
	err := datastore.CreateS3(cfg)
	if err == nil {
		t.Fatal("create with a wrong secret succeeded")
	}
	if strings.Contains(err.Error(), cfg.SecretKey) || strings.Contains(err.Error(), minioPassword) {
		t.Fatalf("error shows the secret: %v", err)
	}
}
