// Package realserver tests the client against the real cairn server
// (net/server), in-process.
package realserver

import (
	"bytes"
	"context"
	"crypto/rand"
	"errors"
	"io"
	"net"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"cairn/core"
	"cairn/core/backup"
	"cairn/core/blob"
	"cairn/core/datastore"
	"cairn/core/manifest"
	"cairn/core/restore"
	"cairn/internal/testutil"
	"cairn/keys"
	"cairn/net/client"
	"cairn/net/server"
	"cairn/net/server/config"
)

type env struct {
	cfg  string
	srv  *server.Server
	host string
	port int
	fp   string
}

func newEnv(t *testing.T) *env {
	d := t.TempDir()
	t.Setenv("XDG_RUNTIME_DIR", filepath.Join(d, "run"))
	t.Setenv("XDG_CONFIG_HOME", filepath.Join(d, "config"))
	cfgDir := t.TempDir()
	store := testutil.TempDir(t)
	if err := datastore.Create(store); err != nil {
		t.Fatal(err)
	}
	err := config.Update(cfgDir, func(c *config.Config) error {
		c.Datastores["store1"] = config.Datastore{Path: store}
		for _, u := range []string{"alice@pbs", "bob@pbs"} {
			h, err := config.HashSecret(u + "-pw")
			if err != nil {
				return err
			}
			c.Users[u] = config.User{Hash: h, Enable: true}
		}
		c.ACLs = append(c.ACLs, config.ACL{Path: "/datastore/store1", Role: "DatastoreAdmin", AuthID: "alice@pbs", Propagate: true})
		c.ACLs = append(c.ACLs, config.ACL{Path: "/datastore/store1", Role: "DatastoreBackup", AuthID: "bob@pbs", Propagate: true})
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
	_, p, _ := net.SplitHostPort(ln.Addr().String())
	port, _ := strconv.Atoi(p)
	return &env{cfg: cfgDir, srv: srv, host: "127.0.0.1", port: port, fp: srv.Fingerprint()}
}

func (e *env) repo(t *testing.T, user, pw string) *client.Repository {
	r, err := client.Open(client.Options{Spec: core.RepoSpec{AuthID: user, Host: e.host, Port: e.port, Store: "store1"},
		Password: []byte(pw), Fingerprint: e.fp, Log: io.Discard})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { r.Close() })
	return r
}

func doBackup(repo core.Repository, ns core.Namespace, id string, when int64, specs ...string) (*backup.Result, error) {
	var parsed []backup.Spec
	for _, s := range specs {
		sp, err := backup.ParseSpec(s)
		if err != nil {
			return nil, err
		}
		parsed = append(parsed, sp)
	}
	return backup.Run(context.Background(), backup.Options{Repo: repo, Namespace: ns,
		Snapshot: core.Snapshot{Group: core.Group{Type: core.TypeHost, ID: id}, Time: when}, Specs: parsed})
}

func TestRealServerCycle(t *testing.T) {
	e := newEnv(t)
	alice := e.repo(t, "alice@pbs", "alice@pbs-pw")
	src := t.TempDir()
	os.MkdirAll(filepath.Join(src, "etc"), 0o755)
	os.WriteFile(filepath.Join(src, "etc/hostname"), []byte("hello\n"), 0o644)
	big := make([]byte, 5<<20)
	rand.Read(big)
	os.WriteFile(filepath.Join(src, "big.bin"), big, 0o644)
	img := filepath.Join(t.TempDir(), "disk.raw")
	os.WriteFile(img, big[:4<<20+17], 0o644)

	if err := alice.CreateNamespace("prod"); err != nil {
		t.Fatalf("create ns: %v", err)
	}
	nss, err := alice.ListNamespaces("", -1)
	if err != nil || len(nss) != 2 {
		t.Fatalf("namespaces %v %v", nss, err)
	}
	if _, err := doBackup(alice, "prod", "elsa", 1700000000, "root.pxar:"+src, "disk.img:"+img); err != nil {
		t.Fatalf("backup: %v", err)
	}
	res, err := doBackup(alice, "prod", "elsa", 1700000100, "root.pxar:"+src)
	if err != nil {
		t.Fatalf("backup 2: %v", err)
	}
	if res.Totals.ChunksNew != 0 {
		t.Errorf("second backup uploaded %d chunks", res.Totals.ChunksNew)
	}
	list, err := alice.ListSnapshots("prod", nil)
	if err != nil || len(list) != 2 || !list[0].Finished {
		t.Fatalf("list %+v %v", list, err)
	}
	dst := t.TempDir()
	if err := restore.Run(context.Background(), restore.Options{Repo: alice, Namespace: "prod", Snapshot: "host/elsa", Archive: "root.pxar", Target: filepath.Join(dst, "r")}); err != nil {
		t.Fatalf("restore: %v", err)
	}
	got, _ := os.ReadFile(filepath.Join(dst, "r/big.bin"))
	if !bytes.Equal(got, big) {
		t.Fatal("restored file differs")
	}
	first := list[0].Snapshot
	if err := restore.Run(context.Background(), restore.Options{Repo: alice, Namespace: "prod", Snapshot: first.String(), Archive: "disk.img", Target: filepath.Join(dst, "disk")}); err != nil {
		t.Fatalf("restore image: %v", err)
	}
	if got, _ := os.ReadFile(filepath.Join(dst, "disk")); !bytes.Equal(got, big[:4<<20+17]) {
		t.Fatal("restored image differs")
	}

	// protected / forget / prune
	if err := alice.SetProtected("prod", first, true); err != nil {
		t.Fatalf("protect: %v", err)
	}
	if err := alice.ForgetSnapshot("prod", first); err == nil {
		t.Fatal("forgot a protected snapshot")
	}
	pr, err := alice.Prune("prod", first.Group, core.KeepOptions{KeepLast: 1}, true)
	if err != nil || len(pr) != 2 {
		t.Fatalf("prune dry-run %+v %v", pr, err)
	}
	if !pr[0].Protected || !pr[1].Keep {
		t.Errorf("prune %+v", pr)
	}
	if err := alice.SetProtected("prod", first, false); err != nil {
		t.Fatal(err)
	}
	if err := alice.ForgetSnapshot("prod", first); err != nil {
		t.Fatalf("forget: %v", err)
	}

	// verify + gc
	rep, err := alice.Verify(context.Background(), "prod", nil, nil, nil)
	if err != nil || len(rep.Snapshots) != 1 || rep.Failed() != 0 {
		t.Fatalf("verify %+v %v", rep, err)
	}
	var lines []string
	st, err := alice.GarbageCollect(context.Background(), func(ev core.Event) { lines = append(lines, ev.Message) })
	if err != nil || st == nil {
		t.Fatalf("gc %v", err)
	}
	if len(lines) == 0 {
		t.Error("no gc log lines")
	}

	// change-owner and bob
	bob := e.repo(t, "bob@pbs", "bob@pbs-pw")
	if _, err := doBackup(bob, "prod", "elsa", 1700000200, "root.pxar:"+src); err == nil || !strings.Contains(err.Error(), "owner") {
		t.Fatalf("bob backed up into alice's group: %v", err)
	}
	if err := alice.ChangeOwner(context.Background(), "prod", first.Group, "bob@pbs"); err != nil {
		t.Fatalf("change owner: %v", err)
	}
	if _, err := doBackup(bob, "prod", "elsa", 1700000200, "root.pxar:"+src); err != nil {
		t.Fatalf("bob after change-owner: %v", err)
	}
	if _, _, err := alice.DeleteGroup("prod", first.Group); err != nil {
		t.Fatalf("delete group: %v", err)
	}
	if err := alice.DeleteNamespace("prod", true); err != nil {
		t.Fatalf("delete ns: %v", err)
	}
	_, err = alice.OpenSnapshot(context.Background(), "", core.Snapshot{Group: first.Group, Time: 1})
	if !errors.Is(err, core.ErrNotFound) {
		t.Errorf("want not found, got %v", err)
	}
}

func TestRealServerAPIToken(t *testing.T) {
	e := newEnv(t)
	secret := config.NewTokenSecret()
	h, _ := config.HashSecret(secret)
	config.Update(e.cfg, func(c *config.Config) error {
		c.Tokens["alice@pbs!t1"] = config.Token{Hash: h, Enable: true}
		c.ACLs = append(c.ACLs, config.ACL{Path: "/datastore/store1", Role: "DatastoreBackup", AuthID: "alice@pbs!t1", Propagate: true})
		return nil
	})
	tok := e.repo(t, "alice@pbs!t1", secret)
	src := t.TempDir()
	os.WriteFile(filepath.Join(src, "f"), []byte("token data"), 0o644)
	if _, err := doBackup(tok, "", "tok", 1700000000, "root.pxar:"+src); err != nil {
		t.Fatalf("backup with token: %v", err)
	}
	if l, err := tok.ListSnapshots("", nil); err != nil || len(l) != 1 {
		t.Fatalf("list %v %v", l, err)
	}
	_, err := e.repo(t, "alice@pbs!t1", "wrong").ListGroups("")
	if !client.IsAuthError(err) {
		t.Fatalf("want 401, got %v", err)
	}
	// Logging in with a token caches nothing.
	c, _ := client.New(client.Options{Spec: core.RepoSpec{AuthID: "alice@pbs!t1", Host: e.host, Port: e.port, Store: "store1"}, Fingerprint: e.fp, Log: io.Discard})
	if err := c.Login(context.Background()); err == nil || !strings.Contains(err.Error(), "secret") {
		t.Fatalf("token without secret: %v", err)
	}
}

func TestRealServerImageOnly(t *testing.T) {
	e := newEnv(t)
	alice := e.repo(t, "alice@pbs", "alice@pbs-pw")
	img := filepath.Join(t.TempDir(), "disk.raw")
	data := make([]byte, 6<<20)
	rand.Read(data)
	os.WriteFile(img, data, 0o644)
	if _, err := doBackup(alice, "", "vm1", 1700000000, "disk.img:"+img); err != nil {
		t.Fatalf("image-only backup: %v", err)
	}
	out := filepath.Join(t.TempDir(), "out")
	if err := restore.Run(context.Background(), restore.Options{Repo: alice, Snapshot: "host/vm1", Archive: "disk.img", Target: out}); err != nil {
		t.Fatal(err)
	}
	if got, _ := os.ReadFile(out); !bytes.Equal(got, data) {
		t.Fatal("image differs")
	}
}

// manifestFiles lists the files a snapshot's manifest names, in order.
func manifestFiles(t *testing.T, repo core.Repository, id string) []string {
	t.Helper()
	list, err := repo.ListSnapshots("", &core.Group{Type: core.TypeHost, ID: id})
	if err != nil || len(list) != 1 || !list[0].Finished {
		t.Fatalf("list %+v %v", list, err)
	}
	r, err := repo.OpenSnapshot(context.Background(), "", list[0].Snapshot)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	raw, err := r.ReadFile("index.json.blob")
	if err != nil {
		t.Fatal(err)
	}
	plain, err := blob.Decode(raw, nil)
	if err != nil {
		t.Fatal(err)
	}
	m, err := manifest.Parse(plain)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, f := range m.Files {
		names = append(names, f.Filename)
	}
	return names
}

func runWith(repo core.Repository, id string, crypt *keys.CryptConfig, mode string, specs ...string) error {
	var parsed []backup.Spec
	for _, s := range specs {
		sp, err := backup.ParseSpec(s)
		if err != nil {
			return err
		}
		parsed = append(parsed, sp)
	}
	_, err := backup.Run(context.Background(), backup.Options{Repo: repo, Crypt: crypt, CryptMode: mode,
		Snapshot: core.Snapshot{Group: core.Group{Type: core.TypeHost, ID: id}, Time: 1700000000}, Specs: parsed})
	return err
}

// Backups without a pxar archive store exactly their archives: no catalog.
func TestRealServerManifestFiles(t *testing.T) {
	e := newEnv(t)
	alice := e.repo(t, "alice@pbs", "alice@pbs-pw")
	dir := t.TempDir()
	img := filepath.Join(dir, "disk.raw")
	data := make([]byte, 9<<20+5)
	rand.Read(data)
	os.WriteFile(img, data, 0o644)
	conf := filepath.Join(dir, "vm.conf")
	os.WriteFile(conf, []byte("memory: 2048\n"), 0o644)
	src := filepath.Join(dir, "src")
	os.MkdirAll(src, 0o755)
	os.WriteFile(filepath.Join(src, "f"), data[:100<<10], 0o644)
	key, _ := keys.NewKey()
	cc, _ := keys.NewCryptConfig(key)

	for _, tc := range []struct {
		id, mode string
		specs    []string
		want     string
	}{
		{"blob", "none", []string{"vm.conf:" + conf}, "vm.conf.blob"},
		{"blob-signed", "sign-only", []string{"vm.conf:" + conf}, "vm.conf.blob"},
		{"blob-enc", "encrypt", []string{"vm.conf:" + conf}, "vm.conf.blob"},
		{"img", "none", []string{"disk.img:" + img}, "disk.img.fidx"},
		{"img-enc", "encrypt", []string{"disk.img:" + img}, "disk.img.fidx"},
		{"img-blob", "sign-only", []string{"disk.img:" + img, "vm.conf:" + conf}, "disk.img.fidx vm.conf.blob"},
		{"mixed", "encrypt", []string{"disk.img:" + img, "root.pxar:" + src, "vm.conf:" + conf}, "disk.img.fidx root.pxar.didx vm.conf.blob catalog.pcat1.didx"},
	} {
		t.Run(tc.id, func(t *testing.T) {
			var crypt *keys.CryptConfig
			if tc.mode != "none" {
				crypt = cc
			}
			if err := runWith(alice, tc.id, crypt, tc.mode, tc.specs...); err != nil {
				t.Fatalf("backup: %v", err)
			}
			if got := strings.Join(manifestFiles(t, alice, tc.id), " "); got != tc.want {
				t.Fatalf("manifest files %q, want %q", got, tc.want)
			}
			if !strings.Contains(tc.want, "disk.img") {
				return
			}
			out := filepath.Join(t.TempDir(), "out")
			if err := restore.Run(context.Background(), restore.Options{Repo: alice, Snapshot: "host/" + tc.id, Archive: "disk.img", Target: out,
				Key: func() (*keys.CryptConfig, error) { return crypt, nil }}); err != nil {
				t.Fatalf("restore: %v", err)
			}
			if got, _ := os.ReadFile(out); !bytes.Equal(got, data) {
				t.Fatal("image differs")
			}
		})
	}
}

// A server stores images in 4 MiB chunks: other sizes fail before upload.
func TestRealServerImageChunkSize(t *testing.T) {
	e := newEnv(t)
	alice := e.repo(t, "alice@pbs", "alice@pbs-pw")
	img := filepath.Join(t.TempDir(), "disk.raw")
	os.WriteFile(img, make([]byte, 3<<20), 0o644)
	sp, _ := backup.ParseSpec("disk.img:" + img)
	_, err := backup.Run(context.Background(), backup.Options{Repo: alice, ChunkSize: 1 << 20,
		Snapshot: core.Snapshot{Group: core.Group{Type: core.TypeHost, ID: "cs"}, Time: 1700000000}, Specs: []backup.Spec{sp}})
	if err == nil || !strings.Contains(err.Error(), "4096 KiB") {
		t.Fatalf("want chunk size error, got %v", err)
	}
	// The server removes the aborted snapshot once the connection is gone.
	waitNoSnapshots(t, alice)
}

// waitNoSnapshots waits until the server has removed every snapshot.
func waitNoSnapshots(t *testing.T, repo core.Repository) {
	t.Helper()
	for deadline := time.Now().Add(5 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		l, err := repo.ListSnapshots("", nil)
		if err == nil && len(l) == 0 {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("snapshots left: %+v %v", l, err)
		}
	}
}

func TestRealServerSpeedTest(t *testing.T) {
	e := newEnv(t)
	bob := e.repo(t, "bob@pbs", "bob@pbs-pw")
	var st interface {
		SpeedTest(window time.Duration, progress io.Writer) (uint64, time.Duration, error)
	} = bob
	var out bytes.Buffer
	n, el, err := st.SpeedTest(300*time.Millisecond, &out)
	if err != nil {
		t.Fatalf("speedtest: %v", err)
	}
	if n == 0 || n%(4<<20) != 0 || el < 300*time.Millisecond {
		t.Fatalf("bytes %d elapsed %v", n, el)
	}
	want := regexp.MustCompile(`^Uploaded ` + strconv.FormatUint(n>>22, 10) + ` chunks in \d+ seconds\.\nTime per request: \d+ microseconds\.\n$`)
	if !want.MatchString(out.String()) {
		t.Fatalf("output %q", out.String())
	}
	t.Logf("%s%.0f MB/s", out.String(), float64(n)/el.Seconds()/1e6)
	// The benchmark snapshot does not stay.
	waitNoSnapshots(t, bob)
}
