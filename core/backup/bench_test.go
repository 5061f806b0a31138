package backup_test

import (
	"context"
	"io/fs"
	"os"
	"path/filepath"
	"testing"

	"cairn/core"
	"cairn/core/backup"
	"cairn/core/restore"
	"cairn/keys"
)

// benchData is the dataset the benchmarks back up: CAIRN_BENCH_DATA (made by
// ../shared/bench/make-dataset.sh, see bench/run.sh).
func benchData(b *testing.B) (string, int64) {
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

// BenchmarkBackup measures a first (full) backup into an empty datastore.
func BenchmarkBackup(b *testing.B) {
	dir, total := benchData(b)
	sp, _ := backup.ParseSpec("data.pxar:" + dir)
	b.SetBytes(total)
	for i := 0; i < b.N; i++ {
		b.StopTimer()
		ds := openStore(b)
		b.StartTimer()
		_, err := backup.Run(context.Background(), backup.Options{Repo: ds,
			Snapshot: core.Snapshot{Group: core.Group{Type: core.TypeHost, ID: "bench"}, Time: 1700000000}, Specs: []backup.Spec{sp}})
		if err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkBackupEncrypted is BenchmarkBackup with AES-256-GCM and keyed
// digests: compare the two to see what encryption costs.
func BenchmarkBackupEncrypted(b *testing.B) {
	dir, total := benchData(b)
	sp, _ := backup.ParseSpec("data.pxar:" + dir)
	key, _ := keys.NewKey()
	cc, _ := keys.NewCryptConfig(key)
	b.SetBytes(total)
	for i := 0; i < b.N; i++ {
		b.StopTimer()
		ds := openStore(b)
		b.StartTimer()
		_, err := backup.Run(context.Background(), backup.Options{Repo: ds, Crypt: cc, CryptMode: "encrypt",
			Snapshot: core.Snapshot{Group: core.Group{Type: core.TypeHost, ID: "bench"}, Time: 1700000000}, Specs: []backup.Spec{sp}})
		if err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkRestore measures restoring the whole dataset into an empty directory.
func BenchmarkRestore(b *testing.B) {
	dir, total := benchData(b)
	sp, _ := backup.ParseSpec("data.pxar:" + dir)
	ds := openStore(b)
	if _, err := backup.Run(context.Background(), backup.Options{Repo: ds,
		Snapshot: core.Snapshot{Group: core.Group{Type: core.TypeHost, ID: "bench"}, Time: 1700000000}, Specs: []backup.Spec{sp}}); err != nil {
		b.Fatal(err)
	}
	b.SetBytes(total)
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		b.StopTimer()
		dst := filepath.Join(b.TempDir(), "dst")
		b.StartTimer()
		if err := restore.Run(context.Background(), restore.Options{Repo: ds, Snapshot: "host/bench", Archive: "data.pxar", Target: dst}); err != nil {
			b.Fatal(err)
		}
		b.StopTimer()
		os.RemoveAll(dst)
		b.StartTimer()
	}
}
