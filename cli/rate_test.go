package cli

import (
	"bytes"
	"context"
	"crypto/rand"
	"errors"
	"io"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/spf13/cobra"

	"cairn/core"
	"cairn/core/backup"
	"cairn/core/datastore"
	"cairn/internal/testutil"
	"cairn/net/client"
	"cairn/net/server"
	"cairn/net/server/config"
)

func TestRateFlags(t *testing.T) {
	parse := func(args ...string) (repoFlags, error) {
		var rf repoFlags
		cmd := &cobra.Command{Use: "x", RunE: func(*cobra.Command, []string) error { return nil }}
		rf.addRate(cmd)
		return rf, cmd.ParseFlags(args)
	}
	for _, c := range []struct {
		args        []string
		rate, burst uint64
	}{
		{nil, 0, 0},
		{[]string{"--rate", "1000000"}, 1000000, 1000000},
		{[]string{"--rate=10MiB"}, 10 << 20, 10 << 20},
		{[]string{"--rate", "5MB", "--burst", "64KiB"}, 5000000, 64 << 10},
		{[]string{"--rate", "1.5G", "--burst", "1000"}, 1500000000, 1000},
		{[]string{"--burst", "1MB"}, 0, 1000000}, // no --rate: no limit, as upstream
	} {
		rf, err := parse(c.args...)
		if err != nil {
			t.Errorf("%q: %v", c.args, err)
			continue
		}
		cfg := rf.rate.config()
		if cfg.Rate != c.rate || (cfg.Enabled() && cfg.EffectiveBurst() != c.burst) {
			t.Errorf("%q: rate %d burst %d, want %d %d", c.args, cfg.Rate, cfg.EffectiveBurst(), c.rate, c.burst)
		}
		if cfg.Enabled() != (c.rate > 0) {
			t.Errorf("%q: enabled %v", c.args, cfg.Enabled())
		}
	}
	var none *rateFlags
	if none.config().Enabled() {
		t.Error("a command without addRate is limited")
	}
	// Bad values are usage errors (exit 2) naming the value, on one line.
	for _, args := range [][]string{{"--rate", "fast"}, {"--rate", "99999"}, {"--rate", "1MB", "--burst", "10"}, {"--rate", "-5MB"}} {
		root := newRoot()
		root.SetArgs(append([]string{"restore", "host/x", "a.pxar", "t", "--repository", "/nonexistent"}, args...))
		root.SetOut(io.Discard)
		root.SetErr(io.Discard)
		err := root.Execute()
		var ue usageError
		bad := args[len(args)-1]
		if !errors.As(err, &ue) || !strings.Contains(err.Error(), strconv.Quote(bad)) || strings.Contains(err.Error(), "\n") {
			t.Errorf("%q: %v (usage error %v)", args, err, errors.As(err, &ue))
		}
	}
}

// runCLI runs a cairn command line in-process.
func runCLI(t *testing.T, args ...string) error {
	t.Helper()
	root := newRoot()
	root.SetArgs(args)
	var out bytes.Buffer
	root.SetOut(&out)
	root.SetErr(&out)
	err := root.Execute()
	if err != nil {
		t.Logf("cairn %s: %v\n%s", strings.Join(args, " "), err, out.String())
	}
	return err
}

// randomTree writes 3 MiB of incompressible data.
func randomTree(t *testing.T, dir string) []byte {
	t.Helper()
	data := make([]byte, 3<<20)
	rand.Read(data)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "random.bin"), data, 0o644); err != nil {
		t.Fatal(err)
	}
	return data
}

func backupTo(t *testing.T, repo core.Repository, src string) {
	t.Helper()
	sp, err := backup.ParseSpec("root.pxar:" + src)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := backup.Run(context.Background(), backup.Options{Repo: repo, Specs: []backup.Spec{sp},
		Snapshot: core.Snapshot{Group: core.Group{Type: core.TypeHost, ID: "rate"}, Time: 1700000000}}); err != nil {
		t.Fatal(err)
	}
}

// timedRestore restores host/rate root.pxar with --rate 1MB (burst: the
// rate) and checks it took at least what the bucket allows for the data.
func timedRestore(t *testing.T, repoArg string, data []byte) {
	t.Helper()
	target := filepath.Join(testutil.TempDir(t), "restored")
	start := time.Now()
	if err := runCLI(t, "restore", "host/rate", "root.pxar", target, "--repository", repoArg, "--rate", "1MB"); err != nil {
		t.Fatal(err)
	}
	took := time.Since(start)
	min := time.Duration(float64(len(data)-1000000) / 1e6 * float64(time.Second))
	t.Logf("cairn restore --rate 1MB of %d bytes: %v (at least %v)", len(data), took, min)
	if took < min {
		t.Errorf("restore took %v, less than the bucket allows (%v)", took, min)
	}
	if got, _ := os.ReadFile(filepath.Join(target, "random.bin")); !bytes.Equal(got, data) {
		t.Fatal("restored data differs")
	}
}

// `cairn restore --rate` from a local datastore: the limit holds for what
// is read from the store.
func TestRestoreRateLocal(t *testing.T) {
	dir := testutil.TempDir(t)
	data := randomTree(t, filepath.Join(dir, "src"))
	store := filepath.Join(dir, "store")
	if err := datastore.Create(store); err != nil {
		t.Fatal(err)
	}
	ds, err := datastore.Open(store, "root@pam")
	if err != nil {
		t.Fatal(err)
	}
	backupTo(t, ds, filepath.Join(dir, "src"))
	ds.Close()
	timedRestore(t, store, data)
}

// `cairn restore --rate` from a server over HTTPS on loopback: the limit
// holds for what the client's connections receive.
func TestRestoreRateRemote(t *testing.T) {
	d := t.TempDir()
	t.Setenv("XDG_RUNTIME_DIR", filepath.Join(d, "run"))
	t.Setenv("XDG_CONFIG_HOME", filepath.Join(d, "config"))
	t.Setenv("HOME", d)
	store := filepath.Join(testutil.TempDir(t), "store")
	if err := datastore.Create(store); err != nil {
		t.Fatal(err)
	}
	cfgDir := filepath.Join(d, "cfg")
	err := config.Update(cfgDir, func(c *config.Config) error {
		c.Datastores["store1"] = config.Datastore{Path: store}
		h, err := config.HashSecret("alice-pw")
		if err != nil {
			return err
		}
		c.Users["alice@pbs"] = config.User{Hash: h, Enable: true}
		c.ACLs = append(c.ACLs, config.ACL{Path: "/datastore/store1", Role: "DatastoreAdmin", AuthID: "alice@pbs", Propagate: true})
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	srv, err := server.New(server.Options{ConfigDir: cfgDir, Log: io.Discard, AuthFailDelay: -1, PermFailDelay: -1})
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go srv.Serve(ln)
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		srv.Shutdown(ctx)
	})
	port := ln.Addr().(*net.TCPAddr).Port
	spec := core.RepoSpec{AuthID: "alice@pbs", Host: "127.0.0.1", Port: port, Store: "store1"}
	repo, err := client.Open(client.Options{Spec: spec, Password: []byte("alice-pw"), Fingerprint: srv.Fingerprint(), Log: io.Discard})
	if err != nil {
		t.Fatal(err)
	}
	src := filepath.Join(t.TempDir(), "src")
	data := randomTree(t, src)
	backupTo(t, repo, src)
	repo.Close()
	t.Setenv("PBS_PASSWORD", "alice-pw")
	t.Setenv("PBS_FINGERPRINT", srv.Fingerprint())
	timedRestore(t, spec.String(), data)
}
