package backup_test

import (
	"context"
	"fmt"
	"io/fs"
	"math/rand/v2"
	"os"
	"path/filepath"
	"testing"

	"cairn/core"
	"cairn/core/backup"
	"cairn/core/datastore/datastoretest"
	"cairn/core/restore"
	"cairn/internal/testutil"
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
		ds := datastoretest.Dir(b)
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
		ds := datastoretest.Dir(b)
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
	ds := datastoretest.Dir(b)
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

// syntheticTree writes ~48 MiB into a memory-backed directory: text-like
// files (compressible), random files and a sparse-ish image, so the
// pipeline benchmarks run without the shared dataset.
func syntheticTree(b *testing.B) (string, int64) {
	b.Helper()
	dir := filepath.Join(testutil.TempDir(b), "tree")
	r := rand.New(rand.NewPCG(1, 2))
	var total int64
	write := func(name string, data []byte) {
		p := filepath.Join(dir, name)
		os.MkdirAll(filepath.Dir(p), 0o755)
		if err := os.WriteFile(p, data, 0o644); err != nil {
			b.Fatal(err)
		}
		total += int64(len(data))
	}
	words := []string{"chunk ", "index ", "blob ", "snapshot ", "func ", "return ", "err ", "nil\n", "\t"}
	for i := range 400 {
		var sb []byte
		for len(sb) < 40<<10 {
			sb = append(sb, words[r.IntN(len(words))]...)
		}
		write(fmt.Sprintf("src/d%02d/f%03d.go", i%20, i), sb)
	}
	for i := range 6 {
		data := make([]byte, 4<<20)
		for k := range data {
			data[k] = byte(r.Uint32())
		}
		write(fmt.Sprintf("bin/blob%d", i), data)
	}
	img := make([]byte, 16<<20)
	for k := 0; k < len(img); k += 3 << 20 {
		for j := k; j < min(k+1<<20, len(img)); j++ {
			img[j] = byte(r.Uint32())
		}
	}
	write("images/disk.raw", img)
	return dir, total
}

// BenchmarkPipeline measures whole backups of the synthetic tree into a
// memory-backed datastore: legacy and split archives, plain and encrypted,
// and an unchanged re-backup with metadata change detection.
func BenchmarkPipeline(b *testing.B) {
	dir, total := syntheticTree(b)
	sp, _ := backup.ParseSpec("data.pxar:" + dir)
	key, _ := keys.NewKey()
	cc, _ := keys.NewCryptConfig(key)
	run := func(b *testing.B, ds core.Repository, when int64, mode string, crypt *keys.CryptConfig) {
		o := backup.Options{Repo: ds, ChangeDetection: mode,
			Snapshot: core.Snapshot{Group: core.Group{Type: core.TypeHost, ID: "bench"}, Time: when}, Specs: []backup.Spec{sp}}
		if crypt != nil {
			o.Crypt, o.CryptMode = crypt, "encrypt"
		}
		if _, err := backup.Run(context.Background(), o); err != nil {
			b.Fatal(err)
		}
	}
	for _, c := range []struct {
		name  string
		mode  string
		crypt *keys.CryptConfig
	}{{"legacy", backup.ModeLegacy, nil}, {"legacy-encrypted", backup.ModeLegacy, cc}, {"split-encrypted", backup.ModeData, cc}} {
		b.Run(c.name, func(b *testing.B) {
			b.SetBytes(total)
			for i := 0; i < b.N; i++ {
				b.StopTimer()
				ds := datastoretest.Dir(b)
				b.StartTimer()
				run(b, ds, 1700000000, c.mode, c.crypt)
			}
		})
	}
	b.Run("unchanged-metadata", func(b *testing.B) {
		ds := datastoretest.Dir(b)
		run(b, ds, 1700000000, backup.ModeMetadata, cc)
		b.SetBytes(total)
		b.ResetTimer()
		for i := 0; i < b.N; i++ {
			run(b, ds, 1700000001+int64(i), backup.ModeMetadata, cc)
		}
	})
}
