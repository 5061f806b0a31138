package server_test

// End-to-end tests of an S3-backed datastore served by cairn serve (the
// in-process server) and driven by the real network client, against a real
// MinIO: CAIRN_MINIO, or $(go env GOPATH)/bin/minio as .ci/minio.sh builds
// it. Without one they skip.

import (
	"bytes"
	"context"
	"fmt"
	"io/fs"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"cairn/core"
	"cairn/core/backup"
	"cairn/core/blob"
	"cairn/core/datastore"
	"cairn/core/restore"
	"cairn/internal/testutil"
	"cairn/net/client"
	"cairn/net/server"
	"cairn/net/server/config"
)

const (
	minioUser     = "cairn-srv-user"
	minioPassword = "cairn-srv-secret-0123456789"
)

// startMinio starts a real MinIO with this package's test credentials.
func startMinio(t testing.TB) *testutil.MinIO {
	return testutil.StartMinIO(t, minioUser, minioPassword)
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

// syncBuffer collects the server log.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

type s3Env struct {
	m      *testutil.MinIO
	cfgDir string
	cache  string
	srv    *server.Server
	log    *syncBuffer
	clk    *clock
	host   string
	port   int
	fp     string
}

// newS3Env configures an S3 endpoint and an S3 datastore "s3store" the way
// cairn manager does, and serves it.
func newS3Env(t *testing.T, secret string) *s3Env {
	m := startMinio(t)
	d := t.TempDir()
	t.Setenv("XDG_RUNTIME_DIR", filepath.Join(d, "run"))
	t.Setenv("XDG_CONFIG_HOME", filepath.Join(d, "config"))
	t.Setenv("XDG_CACHE_HOME", filepath.Join(d, "cache"))
	e := &s3Env{m: m, cfgDir: t.TempDir(), cache: filepath.Join(t.TempDir(), "s3cache"), log: &syncBuffer{}, clk: &clock{}}
	err := config.Update(e.cfgDir, func(c *config.Config) error {
		host, err := config.ParseS3EndpointURL("http://"+m.Addr, true)
		if err != nil {
			return err
		}
		c.S3Endpoints["minio"] = config.S3Endpoint{Endpoint: host, PathStyle: true, Insecure: true}
		c.S3Secrets["minio"] = config.S3Secret{AccessKey: minioUser, SecretKey: minioPassword}
		dsc := config.Datastore{Path: e.cache, Backend: config.BackendS3, S3Endpoint: "minio", Bucket: "cairn-srv", Prefix: "ds1"}
		s3cfg, err := c.S3Config(dsc)
		if err != nil {
			return err
		}
		if err := datastore.CreateS3(s3cfg); err != nil {
			return err
		}
		c.Datastores["s3store"] = dsc
		// The secret the server will use (a wrong one in the credentials test).
		c.S3Secrets["minio"] = config.S3Secret{AccessKey: minioUser, SecretKey: secret}
		for _, u := range []string{"alice@pbs", "bob@pbs"} {
			h, err := config.HashSecret(u + "-pw")
			if err != nil {
				return err
			}
			c.Users[u] = config.User{Hash: h, Enable: true}
		}
		c.ACLs = append(c.ACLs, config.ACL{Path: "/datastore/s3store", Role: "DatastoreAdmin", AuthID: "alice@pbs", Propagate: true})
		c.ACLs = append(c.ACLs, config.ACL{Path: "/datastore/s3store", Role: "DatastoreBackup", AuthID: "bob@pbs", Propagate: true})
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	e.srv, err = server.New(server.Options{ConfigDir: e.cfgDir, Log: e.log, AuthFailDelay: -1, PermFailDelay: -1, Clock: e.clk.now})
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go e.srv.Serve(ln)
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		e.srv.Shutdown(ctx)
	})
	_, p, _ := net.SplitHostPort(ln.Addr().String())
	e.port, _ = strconv.Atoi(p)
	e.host, e.fp = "127.0.0.1", e.srv.Fingerprint()
	return e
}

func (e *s3Env) repo(t *testing.T, user string) *client.Repository {
	r, err := client.Open(client.Options{Spec: core.RepoSpec{AuthID: user, Host: e.host, Port: e.port, Store: "s3store"},
		Password: []byte(user + "-pw"), Fingerprint: e.fp, Log: &syncBuffer{}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { r.Close() })
	return r
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

func runBackup(repo core.Repository, ns core.Namespace, id string, when int64, src string) (*backup.Result, error) {
	sp, err := backup.ParseSpec("root.pxar:" + src)
	if err != nil {
		return nil, err
	}
	return backup.Run(context.Background(), backup.Options{Repo: repo, Namespace: ns, ChunkSize: 64 << 10,
		Snapshot: core.Snapshot{Group: core.Group{Type: core.TypeHost, ID: id}, Time: when}, Specs: []backup.Spec{sp}})
}

func restoreAndCompare(t *testing.T, repo core.Repository, ns core.Namespace, snap, src string) {
	t.Helper()
	dst := filepath.Join(t.TempDir(), "dst")
	if err := restore.Run(context.Background(), restore.Options{Repo: repo, Namespace: ns, Snapshot: snap, Archive: "root.pxar", Target: dst}); err != nil {
		t.Fatalf("restore %s: %v", snap, err)
	}
	if describe(t, src) != describe(t, dst) {
		t.Fatalf("restored tree of %s differs", snap)
	}
}

func gc(t *testing.T, repo core.Repository) *core.GCStatus {
	t.Helper()
	st, err := repo.GarbageCollect(context.Background(), func(core.Event) {})
	if err != nil {
		t.Fatalf("gc: %v", err)
	}
	return st
}

// TestS3ServerWalkthrough runs the local, prune and gc walkthrough flows
// through the server on an S3 datastore.
func TestS3ServerWalkthrough(t *testing.T) {
	e := newS3Env(t, minioPassword)
	alice := e.repo(t, "alice@pbs")
	ctx := context.Background()
	api := alice.Client()
	const store = "admin/datastore/s3store/"

	var dsList []map[string]any
	if err := api.Get(ctx, "admin/datastore", nil, &dsList); err != nil || len(dsList) != 1 || dsList[0]["backend-type"] != "s3" {
		t.Fatalf("datastore list %v %v", dsList, err)
	}

	src := filepath.Join(t.TempDir(), "src")
	makeTree(t, src)
	if err := alice.CreateNamespace("prod"); err != nil {
		t.Fatalf("create namespace: %v", err)
	}
	if nss, err := alice.ListNamespaces("", -1); err != nil || len(nss) != 2 {
		t.Fatalf("namespaces %v %v", nss, err)
	}

	// local: back up (the second run is incremental), list, restore.
	for i, when := range []int64{1700000000, 1700000100, 1700000200} {
		if i == 2 {
			os.WriteFile(filepath.Join(src, "etc/hostname"), []byte("changed\n"), 0o644)
			os.Chtimes(filepath.Join(src, "etc/hostname"), time.Unix(1714564800, 0), time.Unix(1714564800, 0))
		}
		res, err := runBackup(alice, "prod", "elsa", when, src)
		if err != nil {
			t.Fatalf("backup %d: %v", i, err)
		}
		if i == 1 && res.Totals.ChunksNew != 0 {
			t.Errorf("unchanged second backup uploaded %d new chunks", res.Totals.ChunksNew)
		}
	}
	list, err := alice.ListSnapshots("prod", nil)
	if err != nil || len(list) != 3 || !list[2].Finished || list[2].Owner != "alice@pbs" {
		t.Fatalf("list: %+v %v", list, err)
	}
	groups, err := alice.ListGroups("prod")
	if err != nil || len(groups) != 1 || groups[0].BackupCount != 3 || groups[0].Owner != "alice@pbs" {
		t.Fatalf("groups: %+v %v", groups, err)
	}
	restoreAndCompare(t, alice, "prod", "host/elsa", src)
	first := list[0].Snapshot
	q := url.Values{"ns": {"prod"}, "backup-type": {"host"}, "backup-id": {"elsa"}, "backup-time": {strconv.FormatInt(first.Time, 10)}}

	// Snapshot files, notes and status read through the backend.
	var files []map[string]any
	if err := api.Get(ctx, store+"files", q, &files); err != nil || len(files) < 3 {
		t.Fatalf("files %v %v", files, err)
	}
	nq := url.Values{}
	for k, v := range q {
		nq[k] = v
	}
	nq.Set("notes", "first run\nsecond line")
	if err := api.Put(ctx, store+"notes", nq, nil); err != nil {
		t.Fatalf("set notes: %v", err)
	}
	var notes string
	if err := api.Get(ctx, store+"notes", q, &notes); err != nil || notes != "first run\nsecond line" {
		t.Fatalf("notes %q %v", notes, err)
	}
	if l, _ := alice.ListSnapshots("prod", &first.Group); len(l) != 3 || l[0].Comment != "first run" {
		t.Fatalf("comment after notes: %+v", l)
	}
	var status map[string]any
	if err := api.Get(ctx, store+"status", url.Values{"verbose": {"1"}}, &status); err != nil || status["backend-type"] != "s3" {
		t.Fatalf("status %v %v", status, err)
	}
	// The notes changed the manifest's unprotected part only: it still restores.
	old := filepath.Join(t.TempDir(), "old")
	if err := restore.Run(ctx, restore.Options{Repo: alice, Namespace: "prod", Snapshot: first.String(), Archive: "root.pxar", Target: old}); err != nil {
		t.Fatalf("restore first: %v", err)
	}
	if b, _ := os.ReadFile(filepath.Join(old, "etc/hostname")); string(b) != "hello\n" {
		t.Fatalf("first snapshot's hostname %q", b)
	}
	if a, b := describe(t, filepath.Join(old, "home")), describe(t, filepath.Join(src, "home")); a != b {
		t.Fatal("restored home of the first snapshot differs")
	}

	// prune: protected snapshots stay; forget; keep-last.
	if err := alice.SetProtected("prod", first, true); err != nil {
		t.Fatalf("protect: %v", err)
	}
	if err := alice.ForgetSnapshot("prod", first); err == nil {
		t.Fatal("forgot a protected snapshot")
	}
	pr, err := alice.Prune("prod", first.Group, core.KeepOptions{KeepLast: 1}, true)
	if err != nil || len(pr) != 3 || !pr[0].Protected || pr[1].Keep || !pr[2].Keep {
		t.Fatalf("prune dry-run %+v %v", pr, err)
	}
	if l, _ := alice.ListSnapshots("prod", nil); len(l) != 3 {
		t.Fatalf("dry run removed snapshots: %d left", len(l))
	}
	if err := alice.SetProtected("prod", first, false); err != nil {
		t.Fatal(err)
	}
	if err := alice.ForgetSnapshot("prod", first); err != nil {
		t.Fatalf("forget: %v", err)
	}
	if _, err := alice.Prune("prod", first.Group, core.KeepOptions{KeepLast: 1}, false); err != nil {
		t.Fatalf("prune: %v", err)
	}
	list, err = alice.ListSnapshots("prod", nil)
	if err != nil || len(list) != 1 || list[0].Snapshot.Time != 1700000200 {
		t.Fatalf("after prune: %+v %v", list, err)
	}

	// gc: unreferenced chunks survive a fresh GC and go once a day old.
	st := gc(t, alice)
	if st.RemovedChunks != 0 || st.PendingChunks == 0 || st.DiskChunks == 0 {
		t.Fatalf("fresh GC: %+v", st)
	}
	e.clk.advance(25 * time.Hour)
	st = gc(t, alice)
	if st.RemovedChunks == 0 || st.DiskChunks == 0 {
		t.Fatalf("aged GC: %+v", st)
	}
	var gcStatus map[string]any
	if err := api.Get(ctx, store+"gc", nil, &gcStatus); err != nil || gcStatus["upid"] == nil {
		t.Fatalf("gc status %v %v", gcStatus, err)
	}
	rep, err := alice.Verify(ctx, "prod", nil, nil, nil)
	if err != nil || len(rep.Snapshots) != 1 || rep.Failed() != 0 {
		t.Fatalf("verify %+v %v", rep, err)
	}
	restoreAndCompare(t, alice, "prod", "host/elsa", src)

	// change-owner, then bob backs up into the group.
	bob := e.repo(t, "bob@pbs")
	if _, err := runBackup(bob, "prod", "elsa", 1700000300, src); err == nil || !strings.Contains(err.Error(), "owner") {
		t.Fatalf("bob backed up into alice's group: %v", err)
	}
	if err := alice.ChangeOwner(ctx, "prod", first.Group, "bob@pbs"); err != nil {
		t.Fatalf("change owner: %v", err)
	}
	if _, err := runBackup(bob, "prod", "elsa", 1700000300, src); err != nil {
		t.Fatalf("bob after change-owner: %v", err)
	}
	if g, _ := alice.ListGroups("prod"); len(g) != 1 || g[0].Owner != "bob@pbs" || g[0].BackupCount != 2 {
		t.Fatalf("groups after change-owner: %+v", g)
	}

	// Delete everything: an aged GC empties the chunk store.
	if _, _, err := alice.DeleteGroup("prod", first.Group); err != nil {
		t.Fatalf("delete group: %v", err)
	}
	if err := alice.DeleteNamespace("prod", true); err != nil {
		t.Fatalf("delete namespace: %v", err)
	}
	e.clk.advance(25 * time.Hour)
	if st := gc(t, alice); st.DiskChunks != 0 || st.RemovedChunks == 0 {
		t.Fatalf("GC of an empty store: %+v", st)
	}

	// The datastore really lives in the bucket: a fresh handle with its own
	// cache sees the (now empty) tree, and nothing was written beside the
	// configured cache directory.
	cfg, _ := config.Load(e.cfgDir)
	s3cfg, err := cfg.S3Config(cfg.Datastores["s3store"])
	if err != nil {
		t.Fatal(err)
	}
	s3cfg.CacheDir = filepath.Join(t.TempDir(), "cold")
	cold, err := datastore.OpenS3(s3cfg, "root@pam")
	if err != nil {
		t.Fatal(err)
	}
	defer cold.Close()
	if nss, err := cold.ListNamespaces("", -1); err != nil || len(nss) != 1 {
		t.Fatalf("cold namespaces %v %v", nss, err)
	}

	// Credentials stay out of the log and of the endpoint file.
	checkNoSecret(t, e)
}

func checkNoSecret(t *testing.T, e *s3Env) {
	t.Helper()
	if strings.Contains(e.log.String(), minioPassword) {
		t.Error("the server log shows the S3 secret key")
	}
	b, err := os.ReadFile(filepath.Join(e.cfgDir, config.S3File))
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(string(b), minioPassword) || strings.Contains(string(b), minioUser) {
		t.Errorf("%s holds credentials: %s", config.S3File, b)
	}
	st, err := os.Stat(filepath.Join(e.cfgDir, config.S3SecretFile))
	if err != nil {
		t.Fatal(err)
	}
	if st.Mode().Perm() != 0o600 {
		t.Errorf("%s has mode %v", config.S3SecretFile, st.Mode().Perm())
	}
}

// TestS3ServerBadCredentials: a datastore whose endpoint has the wrong
// secret is unavailable, and no answer or log line carries the secret.
func TestS3ServerBadCredentials(t *testing.T) {
	const wrong = "definitely-wrong-secret-4711"
	e := newS3Env(t, wrong)
	alice := e.repo(t, "alice@pbs")
	_, err := alice.ListGroups("")
	if err == nil {
		t.Fatal("listing with a wrong S3 secret worked")
	}
	if strings.Contains(err.Error(), wrong) || strings.Contains(err.Error(), minioPassword) {
		t.Fatalf("error shows the secret: %v", err)
	}
	if !strings.Contains(err.Error(), "not available") {
		t.Errorf("unexpected error: %v", err)
	}
	if strings.Contains(e.log.String(), wrong) {
		t.Error("the server log shows the S3 secret key")
	}
	// %v of the configuration redacts the secrets.
	cfg, _ := config.Load(e.cfgDir)
	if s := fmt.Sprintf("%v %+v %#v", cfg.S3Secrets, cfg.S3Secrets, cfg.S3Secrets); strings.Contains(s, wrong) {
		t.Errorf("formatted secrets: %s", s)
	}
}

// TestS3UploadLog: upload-backup-log on an S3 datastore stores the blob
// through the backend; files and snapshots list it.
func TestS3UploadLog(t *testing.T) {
	e := newS3Env(t, minioPassword)
	alice := e.repo(t, "alice@pbs")
	src := filepath.Join(t.TempDir(), "src")
	makeTree(t, src)
	if _, err := runBackup(alice, "", "elsa", 1700000000, src); err != nil {
		t.Fatal(err)
	}
	snap := core.Snapshot{Group: core.Group{Type: core.TypeHost, ID: "elsa"}, Time: 1700000000}
	lb, _ := blob.Encode([]byte("the log"), true, nil)
	if err := alice.UploadLog("", snap, lb); err != nil {
		t.Fatal(err)
	}
	if err := alice.UploadLog("", snap, lb); err == nil || !strings.Contains(err.Error(), "backup already contains a log.") {
		t.Fatalf("second upload: %v", err)
	}
	var files []map[string]any
	q := url.Values{"backup-type": {"host"}, "backup-id": {"elsa"}, "backup-time": {"1700000000"}}
	if err := alice.Client().Get(context.Background(), "admin/datastore/s3store/files", q, &files); err != nil ||
		!strings.Contains(fmt.Sprint(files), "client.log.blob") {
		t.Fatalf("files: %v %v", files, err)
	}
	list, err := alice.ListSnapshots("", nil)
	if err != nil || len(list) != 1 || !strings.Contains(fmt.Sprint(list[0].Files), "client.log.blob") {
		t.Fatalf("snapshots: %v %v", list, err)
	}
}
