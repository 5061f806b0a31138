package datastore_test

import (
	"context"
	"io/fs"
	"os"
	"path/filepath"
	"testing"

	"cairn/core"
	"cairn/core/backup"
	"cairn/core/datastore"
	"cairn/core/restore"
	"cairn/internal/testutil"
)

// Backup and restore throughput to MinIO on loopback, next to the same on
// a local path. CAIRN_BENCH_DATA names the dataset (bench/run.sh makes one):
//
//	CAIRN_BENCH_DATA=/path go test ./core/datastore/ -run '^$' -bench 'S3|Local' -benchtime 2x

func benchDataset(b *testing.B) (string, int64) {
	dir := os.Getenv("CAIRN_BENCH_DATA")
	if dir == "" {
		b.Skip("set CAIRN_BENCH_DATA to a dataset directory (bench/run.sh does)")
	}
	var total int64
	filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err == nil && d.Type().IsRegular() {
			if st, err := d.Info(); err == nil {
				total += st.Size()
			}
		}
		return nil
	})
	return dir, total
}

func localStore(b *testing.B) *datastore.Datastore {
	dir := filepath.Join(testutil.TempDir(b), "store")
	if err := datastore.Create(dir); err != nil {
		b.Fatal(err)
	}
	ds, err := datastore.Open(dir, "root@pam")
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { ds.Close() })
	return ds
}

func benchBackup(b *testing.B, open func(i int) *datastore.Datastore) {
	dir, total := benchDataset(b)
	sp, _ := backup.ParseSpec("data.pxar:" + dir)
	b.SetBytes(total)
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		b.StopTimer()
		ds := open(i)
		b.StartTimer()
		if _, err := backup.Run(context.Background(), backup.Options{Repo: ds,
			Snapshot: core.Snapshot{Group: core.Group{Type: core.TypeHost, ID: "bench"}, Time: 1700000000}, Specs: []backup.Spec{sp}}); err != nil {
			b.Fatal(err)
		}
	}
}

func benchRestore(b *testing.B, ds *datastore.Datastore, fresh func() *datastore.Datastore) {
	dir, total := benchDataset(b)
	sp, _ := backup.ParseSpec("data.pxar:" + dir)
	if _, err := backup.Run(context.Background(), backup.Options{Repo: ds,
		Snapshot: core.Snapshot{Group: core.Group{Type: core.TypeHost, ID: "bench"}, Time: 1700000000}, Specs: []backup.Spec{sp}}); err != nil {
		b.Fatal(err)
	}
	b.SetBytes(total)
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		b.StopTimer()
		r := ds
		if fresh != nil {
			r = fresh() // cold chunk cache: every chunk comes from S3
		}
		dst := filepath.Join(b.TempDir(), "dst")
		b.StartTimer()
		if err := restore.Run(context.Background(), restore.Options{Repo: r, Snapshot: "host/bench", Archive: "data.pxar", Target: dst}); err != nil {
			b.Fatal(err)
		}
		b.StopTimer()
		os.RemoveAll(dst)
		b.StartTimer()
	}
}

func BenchmarkLocalBackup(b *testing.B) {
	benchBackup(b, func(int) *datastore.Datastore { return localStore(b) })
}

func BenchmarkLocalRestore(b *testing.B) { benchRestore(b, localStore(b), nil) }

func BenchmarkS3Backup(b *testing.B) {
	m := startMinio(b)
	benchBackup(b, func(i int) *datastore.Datastore {
		cfg := s3Config(m, b, "bench"+string(rune('a'+i%26))+filepath.Base(b.TempDir()))
		cfg.CacheBytes = -1
		return openS3(b, cfg)
	})
}

func BenchmarkS3Restore(b *testing.B) {
	m := startMinio(b)
	cfg := s3Config(m, b, "bench-restore")
	cfg.CacheBytes = -1
	ds := openS3(b, cfg)
	benchRestore(b, ds, func() *datastore.Datastore {
		c := cfg
		c.CacheDir = filepath.Join(b.TempDir(), "cache")
		d, err := datastore.OpenS3(c, "root@pam")
		if err != nil {
			b.Fatal(err)
		}
		b.Cleanup(func() { d.Close() })
		return d
	})
}
