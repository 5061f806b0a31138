package client_test

import (
	"context"
	"io"
	"io/fs"
	"net"
	"os"
	"path/filepath"
	"runtime/pprof"
	"strconv"
	"syscall"
	"testing"
	"time"

	"cairn/core"
	"cairn/core/backup"
	"cairn/core/datastore"
	"cairn/internal/testutil"
	"cairn/net/client"
	"cairn/net/server"
	"cairn/net/server/config"
)

// BenchmarkBackupTLS backs up the CAIRN_BENCH_DATA dataset (see
// core/backup/bench_test.go, bench/run.sh) once into a local datastore and
// once through loopback TLS into an in-process server whose datastore is on
// the same file system, each into an empty store. Compare the MB/s:
//
//	CAIRN_BENCH_DATA=/tmp/cairn-bench-small go test ./net/client/ -run '^$' -bench BackupTLS -benchtime 3x
func BenchmarkBackupTLS(b *testing.B) {
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
	sp, _ := backup.ParseSpec("data.pxar:" + dir)
	var cpu time.Duration // process CPU time of the timed runs
	report := func(b *testing.B) {
		b.ReportMetric(cpu.Seconds()/float64(b.N), "cpu-s/op")
		cpu = 0
	}
	run := func(b *testing.B, repo core.Repository, when int64) {
		before := cpuTime()
		defer func() { cpu += cpuTime() - before }()
		var err error
		pprof.Do(context.Background(), pprof.Labels("side", "client"), func(ctx context.Context) {
			_, err = backup.Run(context.Background(), backup.Options{Repo: repo,
				Snapshot: core.Snapshot{Group: core.Group{Type: core.TypeHost, ID: "bench"}, Time: when}, Specs: []backup.Spec{sp}})
		})
		if err != nil {
			b.Fatal(err)
		}
	}
	b.Run("local", func(b *testing.B) {
		b.SetBytes(total)
		for i := 0; i < b.N; i++ {
			b.StopTimer()
			path := filepath.Join(testutil.TempDir(b), "store")
			if err := datastore.Create(path); err != nil {
				b.Fatal(err)
			}
			ds, err := datastore.Open(path, "root@pam")
			if err != nil {
				b.Fatal(err)
			}
			b.StartTimer()
			run(b, ds, 1700000000)
			b.StopTimer()
			ds.Close()
			os.RemoveAll(path)
			b.StartTimer()
		}
		report(b)
	})
	b.Run("remote", func(b *testing.B) {
		b.SetBytes(total)
		for i := 0; i < b.N; i++ {
			b.StopTimer()
			repo, stop := benchServer(b)
			b.StartTimer()
			run(b, repo, 1700000000)
			b.StopTimer()
			stop()
			b.StartTimer()
		}
		report(b)
	})
}

// cpuTime is the user+system CPU time of the process so far.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// benchServer starts net/server in-process with an empty datastore and
// returns a logged-in repository on it.
func benchServer(b *testing.B) (*client.Repository, func()) {
	d := b.TempDir()
	b.Setenv("XDG_RUNTIME_DIR", filepath.Join(d, "run"))
	b.Setenv("XDG_CONFIG_HOME", filepath.Join(d, "config"))
	base := testutil.TempDir(b)
	store := filepath.Join(base, "store")
	if err := datastore.Create(store); err != nil {
		b.Fatal(err)
	}
	cfgDir := filepath.Join(d, "cfg")
	err := config.Update(cfgDir, func(c *config.Config) error {
		c.Datastores["store1"] = config.Datastore{Path: store}
		h, err := config.HashSecret("pw")
		if err != nil {
			return err
		}
		c.Users["bench@pbs"] = config.User{Hash: h, Enable: true}
		c.ACLs = append(c.ACLs, config.ACL{Path: "/datastore/store1", Role: "DatastoreAdmin", AuthID: "bench@pbs", Propagate: true})
		return nil
	})
	if err != nil {
		b.Fatal(err)
	}
	srv, err := server.New(server.Options{ConfigDir: cfgDir, Log: io.Discard, AuthFailDelay: -1, PermFailDelay: -1})
	if err != nil {
		b.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	// Server goroutines inherit the label: -tagfocus side=server.
	go pprof.Do(context.Background(), pprof.Labels("side", "server"), func(context.Context) { srv.Serve(ln) })
	_, p, _ := net.SplitHostPort(ln.Addr().String())
	port, _ := strconv.Atoi(p)
	repo, err := client.Open(client.Options{Spec: core.RepoSpec{AuthID: "bench@pbs", Host: "127.0.0.1", Port: port, Store: "store1"},
		Password: []byte("pw"), Fingerprint: srv.Fingerprint(), Log: io.Discard})
	if err != nil {
		b.Fatal(err)
	}
	// Log in outside the timed part.
	if _, err := repo.ListGroups(""); err != nil {
		b.Fatal(err)
	}
	return repo, func() {
		repo.Close()
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		srv.Shutdown(ctx)
		os.RemoveAll(store)
	}
}
