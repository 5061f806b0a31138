package ratelimit_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"os"
	"path/filepath"
	"testing"
	"time"

	"cairn/core"
	"cairn/core/backup"
	"cairn/core/datastore/datastoretest"
	"cairn/core/ratelimit"
	"cairn/core/restore"
	"cairn/internal/testutil"
)

// A local datastore opened in-process with --rate 1 MB/s: a backup of
// 3 MiB of incompressible data stores at least that many bytes, a restore
// reads at least that many, so each takes at least (3 MiB - burst) / rate.
// Only this lower bound is asserted.
func TestLocalRepositoryRate(t *testing.T) {
	dir := testutil.TempDir(t)
	src := filepath.Join(dir, "src")
	if err := os.MkdirAll(src, 0o755); err != nil {
		t.Fatal(err)
	}
	const size = 3 << 20
	data := make([]byte, size)
	rand.Read(data)
	if err := os.WriteFile(filepath.Join(src, "random.bin"), data, 0o644); err != nil {
		t.Fatal(err)
	}
	ds := datastoretest.Dir(t)
	c := ratelimit.Config{Rate: 1000000} // burst: the rate
	min := time.Duration(float64(size-c.EffectiveBurst()) / float64(c.Rate) * float64(time.Second))

	repo := ratelimit.Repository(ds, ratelimit.NewPair(c))
	sp, err := backup.ParseSpec("root.pxar:" + src)
	if err != nil {
		t.Fatal(err)
	}
	snap := core.Snapshot{Group: core.Group{Type: core.TypeHost, ID: "rate"}, Time: 1700000000}
	start := time.Now()
	if _, err := backup.Run(context.Background(), backup.Options{Repo: repo, Snapshot: snap, Specs: []backup.Spec{sp}}); err != nil {
		t.Fatal(err)
	}
	took := time.Since(start)
	t.Logf("backup of %d bytes at %d B/s: %v (at least %v)", size, c.Rate, took, min)
	if took < min {
		t.Errorf("backup took %v, less than the bucket allows (%v)", took, min)
	}

	// A new repository value: a fresh pair of buckets, as a new command has.
	repo = ratelimit.Repository(ds, ratelimit.NewPair(c))
	target := filepath.Join(dir, "restored")
	start = time.Now()
	if err := restore.Run(context.Background(), restore.Options{Repo: repo, Snapshot: snap.String(), Archive: "root.pxar", Target: target}); err != nil {
		t.Fatal(err)
	}
	took = time.Since(start)
	t.Logf("restore of %d bytes at %d B/s: %v (at least %v)", size, c.Rate, took, min)
	if took < min {
		t.Errorf("restore took %v, less than the bucket allows (%v)", took, min)
	}
	if got, _ := os.ReadFile(filepath.Join(target, "random.bin")); !bytes.Equal(got, data) {
		t.Fatal("restored data differs")
	}
	// Without a limit the repository is the datastore itself.
	if ratelimit.Repository(ds, ratelimit.NewPair(ratelimit.Config{})) != core.Repository(ds) {
		t.Error("no limit wrapped the repository")
	}
}
