package client

import (
	"bytes"
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"cairn/core"
	"cairn/core/backup"
	"cairn/core/restore"
	"cairn/internal/testutil"
)

// isolate points the ticket and fingerprint caches into a temp dir.
func isolate(t *testing.T) {
	d := t.TempDir()
	t.Setenv("XDG_RUNTIME_DIR", filepath.Join(d, "run"))
	t.Setenv("XDG_CONFIG_HOME", filepath.Join(d, "config"))
	t.Setenv("HOME", d)
}

func openRepo(t *testing.T, f *fakeServer, mod func(*Options)) *Repository {
	opts := Options{Spec: f.spec("alice@pbs"), Password: []byte("alice-pw"), Fingerprint: f.fp, Log: quiet{}}
	if mod != nil {
		mod(&opts)
	}
	r, err := Open(opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { r.Close() })
	return r
}

func makeTree(t *testing.T, dir string) {
	t.Helper()
	testutil.WriteTree(t, dir, testutil.Tree{
		"etc/hostname":     testutil.File("elsa\n"),
		"etc/hosts":        testutil.File("127.0.0.1 localhost\n"),
		"home/u/notes.txt": testutil.File(strings.Repeat("note ", 1000)),
		"home/u/big.bin":   testutil.File(testutil.RandomBytes(3 << 20)),
		"etc/link":         testutil.Symlink("hostname"),
	}, time.Unix(1700000000, 0))
}

func describe(t *testing.T, dir string) string {
	var b strings.Builder
	filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(dir, p)
		st, _ := os.Lstat(p)
		fmt.Fprintf(&b, "%s %v", rel, st.Mode())
		if st.Mode().IsRegular() {
			data, _ := os.ReadFile(p)
			fmt.Fprintf(&b, " %x", data)
		}
		if st.Mode()&fs.ModeSymlink != 0 {
			l, _ := os.Readlink(p)
			b.WriteString(" -> " + l)
		}
		if rel != "." {
			fmt.Fprintf(&b, " %d", st.ModTime().Unix())
		}
		b.WriteString("\n")
		return nil
	})
	return b.String()
}

func runBackup(t *testing.T, repo core.Repository, ns core.Namespace, when int64, specs ...string) (*backup.Result, error) {
	var parsed []backup.Spec
	for _, s := range specs {
		sp, err := backup.ParseSpec(s)
		if err != nil {
			t.Fatal(err)
		}
		parsed = append(parsed, sp)
	}
	return backup.Run(context.Background(), backup.Options{Repo: repo, Namespace: ns,
		Snapshot: core.Snapshot{Group: core.Group{Type: core.TypeHost, ID: "elsa"}, Time: when}, Specs: parsed})
}

func TestBackupRestoreOverNetwork(t *testing.T) {
	isolate(t)
	f := newFakeServer(t)
	repo := openRepo(t, f, nil)
	src := filepath.Join(t.TempDir(), "src")
	makeTree(t, src)
	res, err := runBackup(t, repo, f.ns, 1700000000, "root.pxar:"+src)
	if err != nil {
		t.Fatalf("backup: %v", err)
	}
	if res.Totals.ChunksNew == 0 {
		t.Fatal("no chunks uploaded")
	}
	list, err := repo.ListSnapshots(f.ns, nil)
	if err != nil || len(list) != 1 || !list[0].Finished || !list[0].HasSize {
		t.Fatalf("list: %+v %v", list, err)
	}
	var names []string
	for _, fi := range list[0].Files {
		names = append(names, fi.Filename)
	}
	if got := strings.Join(names, " "); got != "root.pxar.didx catalog.pcat1.didx index.json.blob" {
		t.Fatalf("files: %s", got)
	}
	groups, err := repo.ListGroups(f.ns)
	if err != nil || len(groups) != 1 || groups[0].Group.ID != "elsa" || groups[0].Owner != "alice@pbs" {
		t.Fatalf("groups: %+v %v", groups, err)
	}
	dst := filepath.Join(t.TempDir(), "dst")
	if err := restore.Run(context.Background(), restore.Options{Repo: repo, Namespace: f.ns, Snapshot: "host/elsa", Archive: "root.pxar", Target: dst}); err != nil {
		t.Fatalf("restore: %v", err)
	}
	if a, b := describe(t, src), describe(t, dst); a != b {
		t.Fatalf("restored tree differs:\n%s\n---\n%s", a, b)
	}

	// Second backup: every chunk is known from the previous snapshot.
	before := f.uploads.Load()
	res, err = runBackup(t, repo, f.ns, 1700000100, "root.pxar:"+src)
	if err != nil {
		t.Fatalf("second backup: %v", err)
	}
	if up := f.uploads.Load() - before; up != 0 || res.Totals.ChunksReused == 0 {
		t.Fatalf("second backup uploaded %d chunks (engine: new %d reused %d)", up, res.Totals.ChunksNew, res.Totals.ChunksReused)
	}
	dst2 := filepath.Join(t.TempDir(), "dst2")
	if err := restore.Run(context.Background(), restore.Options{Repo: repo, Namespace: f.ns, Snapshot: "host/elsa", Archive: "root.pxar", Target: dst2}); err != nil {
		t.Fatalf("restore 2: %v", err)
	}
	if a, b := describe(t, src), describe(t, dst2); a != b {
		t.Fatal("second restore differs")
	}
	// The server's local view agrees.
	if l, _ := f.ds.ListSnapshots(f.ns, nil); len(l) != 2 {
		t.Fatalf("server has %d snapshots", len(l))
	}
}

func TestImageAndBlobOverNetwork(t *testing.T) {
	isolate(t)
	f := newFakeServer(t)
	repo := openRepo(t, f, nil)
	dir := t.TempDir()
	img := make([]byte, 9<<20+123)
	rand.Read(img)
	os.WriteFile(filepath.Join(dir, "disk.raw"), img, 0o644)
	os.WriteFile(filepath.Join(dir, "vm.conf"), []byte("memory: 2048\n"), 0o644)
	if _, err := runBackup(t, repo, f.ns, 1700000000, "mydata.img:"+filepath.Join(dir, "disk.raw"), "vm.conf:"+filepath.Join(dir, "vm.conf")); err != nil {
		t.Fatalf("backup: %v", err)
	}
	list, err := repo.ListSnapshots(f.ns, nil)
	if err != nil || len(list) != 1 {
		t.Fatalf("list: %+v %v", list, err)
	}
	var names []string
	for _, fi := range list[0].Files {
		names = append(names, fi.Filename)
	}
	// No catalog: the backup has no pxar archive.
	if got := strings.Join(names, " "); got != "mydata.img.fidx vm.conf.blob index.json.blob" {
		t.Fatalf("files: %s", got)
	}
	out := filepath.Join(dir, "disk.out")
	if err := restore.Run(context.Background(), restore.Options{Repo: repo, Namespace: f.ns, Snapshot: "host/elsa", Archive: "mydata.img", Target: out}); err != nil {
		t.Fatal(err)
	}
	got, _ := os.ReadFile(out)
	if !bytes.Equal(got, img) {
		t.Fatal("image differs after restore")
	}
	var conf bytes.Buffer
	if err := restore.Run(context.Background(), restore.Options{Repo: repo, Namespace: f.ns, Snapshot: "host/elsa", Archive: "vm.conf", Target: "-", Stdout: &conf}); err != nil {
		t.Fatal(err)
	}
	if conf.String() != "memory: 2048\n" {
		t.Fatalf("conf %q", conf.String())
	}
}

// A chunk upload fails after UploadChunk has returned: the backup fails with
// the server's message and leaves no snapshot.
func TestFailedChunkUploadFailsBackup(t *testing.T) {
	isolate(t)
	f := newFakeServer(t)
	repo := openRepo(t, f, nil)
	dir := t.TempDir()
	img := make([]byte, 13<<20)
	rand.Read(img)
	os.WriteFile(filepath.Join(dir, "disk.raw"), img, 0o644)
	f.failChunk.Store(f.chunkNo.Load() + 2)
	_, err := runBackup(t, repo, f.ns, 1700000000, "disk.img:"+filepath.Join(dir, "disk.raw"))
	if err == nil || !strings.Contains(err.Error(), "injected chunk failure") {
		t.Fatalf("want the injected failure, got %v", err)
	}
	for deadline := time.Now().Add(5 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		if l, _ := f.ds.ListSnapshots(f.ns, nil); len(l) == 0 {
			break
		} else if time.Now().After(deadline) {
			t.Fatalf("snapshots left: %+v", l)
		}
	}
}

func TestWrongPasswordIs401(t *testing.T) {
	isolate(t)
	f := newFakeServer(t)
	repo := openRepo(t, f, func(o *Options) { o.Password = []byte("wrong") })
	_, err := repo.ListGroups(f.ns)
	if err == nil || !IsAuthError(err) || !strings.Contains(err.Error(), "password") {
		t.Fatalf("want auth error, got %v", err)
	}
}

func TestFingerprintChecks(t *testing.T) {
	isolate(t)
	f := newFakeServer(t)
	// Explicit and right.
	if _, err := openRepo(t, f, nil).ListGroups(f.ns); err != nil {
		t.Fatal(err)
	}
	// Explicit and wrong, no terminal: refused, naming the real fingerprint.
	bad := strings.Repeat("00:", 31) + "00"
	_, err := openRepo(t, f, func(o *Options) { o.Fingerprint = bad }).ListGroups(f.ns)
	var fe *FingerprintError
	if !errors.As(err, &fe) || fe.Fingerprint != f.fp || !strings.Contains(err.Error(), "fingerprint") {
		t.Fatalf("want fingerprint error, got %v", err)
	}
	// Unknown, no terminal: refused.
	_, err = openRepo(t, f, func(o *Options) { o.Fingerprint = "" }).ListGroups(f.ns)
	if !errors.As(err, &fe) || !strings.Contains(err.Error(), f.fp) {
		t.Fatalf("want fingerprint error, got %v", err)
	}
	// Unknown, confirmed on the "terminal": accepted and remembered.
	asked := 0
	r := openRepo(t, f, func(o *Options) {
		o.Fingerprint = ""
		o.Confirm = func(fp string) (bool, error) { asked++; return fp == f.fp, nil }
	})
	if _, err := r.ListGroups(f.ns); err != nil {
		t.Fatal(err)
	}
	if fp, ok := LoadFingerprint(f.spec("").Host); !ok || fp != f.fp {
		t.Fatalf("fingerprint not stored: %q", fp)
	}
	// Next time the cache is enough (also for the upgraded connections).
	r2 := openRepo(t, f, func(o *Options) { o.Fingerprint = "" })
	if _, err := r2.ListGroups(f.ns); err != nil {
		t.Fatal(err)
	}
	if asked != 1 {
		t.Fatalf("asked %d times", asked)
	}
	// Declined.
	_, err = openRepo(t, f, func(o *Options) {
		o.Fingerprint = ""
		o.NoFingerprintCache = true
		o.Confirm = func(string) (bool, error) { return false, nil }
	}).ListGroups(f.ns)
	if !errors.As(err, &fe) {
		t.Fatalf("want refusal, got %v", err)
	}
}

func TestTicketCacheLoginLogout(t *testing.T) {
	isolate(t)
	f := newFakeServer(t)
	spec := f.spec("alice@pbs")
	c, err := New(Options{Spec: spec, Password: []byte("alice-pw"), Fingerprint: f.fp, Log: quiet{}})
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Login(context.Background()); err != nil {
		t.Fatal(err)
	}
	c.Close()
	e, ok := LoadTicket(spec.Host, "alice@pbs")
	if !ok || !strings.HasPrefix(e.Ticket, "PBS:alice@pbs:") || e.Token != "csrf-alice@pbs" {
		t.Fatalf("ticket not cached: %+v", e)
	}
	st, err := os.Stat(TicketCachePath())
	if err != nil || st.Mode().Perm() != 0o600 {
		t.Fatalf("cache file: %v %v", st, err)
	}
	// Without a password the cached ticket logs in (renewal).
	r := openRepo(t, f, func(o *Options) { o.Password = nil })
	if _, err := r.ListSnapshots(f.ns, nil); err != nil {
		t.Fatalf("with cached ticket: %v", err)
	}
	// An old ticket is not used.
	now = func() time.Time { return time.Now().Add(2 * time.Hour) }
	if _, ok := LoadTicket(spec.Host, "alice@pbs"); ok {
		t.Fatal("expired ticket used")
	}
	now = time.Now
	// Logout: no password, no terminal → clear error.
	if err := RemoveTicket(spec.Host, "alice@pbs"); err != nil {
		t.Fatal(err)
	}
	r = openRepo(t, f, func(o *Options) { o.Password = nil })
	_, err = r.ListSnapshots(f.ns, nil)
	if !errors.Is(err, ErrNoPassword) || !strings.Contains(err.Error(), "password") {
		t.Fatalf("want no-password error, got %v", err)
	}
	// A prompt answers.
	r = openRepo(t, f, func(o *Options) {
		o.Password = nil
		o.Prompt = func(p string) ([]byte, error) {
			if !strings.Contains(p, "alice@pbs") {
				t.Errorf("prompt %q", p)
			}
			return []byte("alice-pw"), nil
		}
	})
	if _, err := r.ListSnapshots(f.ns, nil); err != nil {
		t.Fatal(err)
	}
}

func TestNotFoundMapsToCore(t *testing.T) {
	isolate(t)
	f := newFakeServer(t)
	repo := openRepo(t, f, nil)
	_, err := repo.OpenSnapshot(context.Background(), f.ns, core.Snapshot{Group: core.Group{Type: core.TypeHost, ID: "nope"}, Time: 1})
	if !errors.Is(err, core.ErrNotFound) {
		t.Fatalf("want ErrNotFound, got %v", err)
	}
}

func TestParseProxy(t *testing.T) {
	for in, want := range map[string]string{
		"proxy.example":                  "proxy.example:1080",
		"http://u:p@proxy.example:3128/": "proxy.example:3128",
		"10.0.0.1":                       "10.0.0.1:1080",
	} {
		p, err := parseProxy(in)
		if err != nil || p.addr != want {
			t.Errorf("%s: %+v %v", in, p, err)
		}
	}
	if p, _ := parseProxy("http://u:p@h"); p.auth != "u:p" {
		t.Errorf("auth %q", p.auth)
	}
	if _, err := parseProxy("socks5://h"); err == nil {
		t.Error("socks accepted")
	}
}

func TestStripTimestamp(t *testing.T) {
	for in, want := range map[string]string{
		"2025-01-01T10:00:00+01:00: starting garbage collection": "starting garbage collection",
		"2025-01-01T10:00:00Z: TASK OK":                          "TASK OK",
		"plain line":                                             "plain line",
	} {
		if got := stripTimestamp(in); got != want {
			t.Errorf("%q → %q", in, got)
		}
	}
}
