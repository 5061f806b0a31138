//go:build reliability

package reliability

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io/fs"
	mrand "math/rand/v2"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"cairn/core/index"
)

var (
	cairnBin string
	workRoot string
	short    bool
)

func TestMain(m *testing.M) {
	short = os.Getenv("RELIABILITY_SHORT") == "1"
	base := "/dev/shm"
	if st, err := os.Stat(base); err != nil || !st.IsDir() {
		base = os.TempDir()
	}
	var err error
	workRoot, err = os.MkdirTemp(base, "cairn-rel-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	cairnBin = filepath.Join(workRoot, "cairn")
	if b := os.Getenv("CAIRN"); b != "" {
		cairnBin = b
	} else {
		cmd := exec.Command("go", "build", "-o", cairnBin, "cairn")
		cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
		if err := cmd.Run(); err != nil {
			fmt.Fprintln(os.Stderr, "build:", err)
			os.Exit(1)
		}
	}
	code := m.Run()
	os.RemoveAll(workRoot)
	os.Exit(code)
}

// runs picks the run count of a scenario: RELIABILITY_RUNS overrides both.
func runs(shortN, fullN int) int {
	if v := os.Getenv("RELIABILITY_RUNS"); v != "" {
		var n int
		fmt.Sscan(v, &n)
		if n > 0 {
			return n
		}
	}
	if short {
		return shortN
	}
	return fullN
}

var reportMu sync.Mutex

// report records one row of the result table (scenario, runs, injected,
// checked, outcome) in $RELIABILITY_RESULTS and the test log.
func report(t *testing.T, scenario string, n int, injected, checked, outcome string) {
	t.Helper()
	t.Logf("RESULT %s | %d | %s | %s | %s", scenario, n, injected, checked, outcome)
	p := os.Getenv("RELIABILITY_RESULTS")
	if p == "" {
		return
	}
	reportMu.Lock()
	defer reportMu.Unlock()
	f, err := os.OpenFile(p, os.O_APPEND|os.O_CREATE|os.O_WRONLY, 0o644)
	if err != nil {
		t.Errorf("results: %v", err)
		return
	}
	defer f.Close()
	clean := func(s string) string { return strings.NewReplacer("\t", " ", "\n", " ").Replace(s) }
	fmt.Fprintf(f, "%s\t%d\t%s\t%s\t%s\n", clean(scenario), n, clean(injected), clean(checked), clean(outcome))
}

func tmpDir(t *testing.T, name string) string {
	t.Helper()
	d, err := os.MkdirTemp(workRoot, name+"-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(d) })
	return d
}

// cairnCmd builds a command of the binary with extra environment.
func cairnCmd(ctx context.Context, env []string, args ...string) *exec.Cmd {
	cmd := exec.CommandContext(ctx, cairnBin, args...)
	cmd.Env = append(append(os.Environ(), "HOME="+workRoot, "XDG_CONFIG_HOME="+filepath.Join(workRoot, ".config"),
		"XDG_CACHE_HOME="+filepath.Join(workRoot, ".cache")), env...)
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	return cmd
}

// run runs the binary to completion (2 minutes at most) and returns its
// combined output and error.
func run(env []string, args ...string) (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := cairnCmd(ctx, env, args...)
	out, err := cmd.CombinedOutput()
	return string(out), err
}

func mustRun(t *testing.T, env []string, args ...string) string {
	t.Helper()
	out, err := run(env, args...)
	if err != nil {
		t.Fatalf("cairn %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return out
}

// mkSource writes a tree: small text files in subdirectories, a symlink, an
// empty file and one random file of bigMB MiB (incompressible, so a backup
// of it takes measurable time).
func mkSource(t *testing.T, dir string, seed uint64, bigMB int) {
	t.Helper()
	r := mrand.New(mrand.NewChaCha8([32]byte{byte(seed), byte(seed >> 8), byte(seed >> 16), 7}))
	for d := 0; d < 4; d++ {
		sub := filepath.Join(dir, fmt.Sprintf("dir%d", d), "nested")
		if err := os.MkdirAll(sub, 0o755); err != nil {
			t.Fatal(err)
		}
		for f := 0; f < 10; f++ {
			n := r.IntN(20000)
			b := make([]byte, n)
			for i := range b {
				b[i] = "abcdefgh \n"[r.IntN(10)]
			}
			if err := os.WriteFile(filepath.Join(sub, fmt.Sprintf("f%d.txt", f)), b, 0o644); err != nil {
				t.Fatal(err)
			}
		}
	}
	os.WriteFile(filepath.Join(dir, "empty"), nil, 0o600)
	os.Symlink("dir0/nested/f0.txt", filepath.Join(dir, "link"))
	if bigMB > 0 {
		f, err := os.Create(filepath.Join(dir, "big.bin"))
		if err != nil {
			t.Fatal(err)
		}
		cr := mrand.NewChaCha8([32]byte{byte(seed), 1, 2, 3})
		buf := make([]byte, 1<<20)
		for i := 0; i < bigMB; i++ {
			cr.Read(buf)
			if _, err := f.Write(buf); err != nil {
				t.Fatal(err)
			}
		}
		f.Close()
	}
}

// treeListing describes a tree: path, type, mode, size, content hash or link target.
func treeListing(dir string) (map[string]string, error) {
	out := map[string]string{}
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(dir, p)
		info, err := d.Info()
		if err != nil {
			return err
		}
		switch {
		case d.Type()&fs.ModeSymlink != 0:
			l, _ := os.Readlink(p)
			out[rel] = "l " + l
		case d.IsDir():
			out[rel] = fmt.Sprintf("d %o", info.Mode().Perm())
		default:
			b, err := os.ReadFile(p)
			if err != nil {
				return err
			}
			h := sha256.Sum256(b)
			out[rel] = fmt.Sprintf("f %o %d %x", info.Mode().Perm(), len(b), h[:8])
		}
		return nil
	})
	return out, err
}

// sameTree reports the first difference between two trees, nil if equal.
func sameTree(a, b string) error {
	la, err := treeListing(a)
	if err != nil {
		return err
	}
	lb, err := treeListing(b)
	if err != nil {
		return err
	}
	var keys []string
	for k := range la {
		keys = append(keys, k)
	}
	for k := range lb {
		if _, ok := la[k]; !ok {
			keys = append(keys, k)
		}
	}
	sort.Strings(keys)
	for _, k := range keys {
		if la[k] != lb[k] {
			return fmt.Errorf("%s: source %q, restored %q", k, la[k], lb[k])
		}
	}
	return nil
}

type snapInfo struct {
	Type  string `json:"backup-type"`
	ID    string `json:"backup-id"`
	Time  int64  `json:"backup-time"`
	Files []struct {
		Filename string `json:"filename"`
	} `json:"files"`
	Verification *struct {
		State string `json:"state"`
	} `json:"verification"`
}

// finished: the listing names a manifest, so the snapshot looks complete.
func (s snapInfo) finished() bool {
	for _, f := range s.Files {
		if f.Filename == "index.json.blob" {
			return true
		}
	}
	return false
}

func (s snapInfo) Name() string {
	return fmt.Sprintf("%s/%s/%s", s.Type, s.ID, time.Unix(s.Time, 0).UTC().Format("2006-01-02T15:04:05Z"))
}

func listSnaps(env []string, repo string) ([]snapInfo, error) {
	out, err := runStdout(env, "snapshot", "list", "--repository", repo, "--output-format", "json")
	if err != nil {
		return nil, fmt.Errorf("snapshot list: %v: %s", err, out)
	}
	var s []snapInfo
	if err := json.Unmarshal([]byte(out), &s); err != nil {
		return nil, fmt.Errorf("snapshot list: %v: %q", err, out)
	}
	return s, nil
}

func runStdout(env []string, args ...string) (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := cairnCmd(ctx, env, args...)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return string(out) + stderr.String(), err
	}
	return string(out), nil
}

// checkSnapshots verifies and restores every finished snapshot of repo and
// compares it with the source srcOf returns for it. It returns the number of
// snapshots checked and a description of each bad one.
func checkSnapshots(t *testing.T, env []string, repo string, srcOf func(snapInfo) string) (int, []string) {
	t.Helper()
	snaps, err := listSnaps(env, repo)
	if err != nil {
		return 0, []string{err.Error()}
	}
	var bad []string
	n := 0
	for _, s := range snaps {
		if !s.finished() {
			// Must not restore: a clear refusal is expected.
			dst := filepath.Join(workRoot, fmt.Sprintf("restore-%d", mrand.Int64()))
			if out, err := run(env, "restore", s.Name(), "root.pxar", dst, "--repository", repo); err == nil {
				bad = append(bad, fmt.Sprintf("%s: unfinished snapshot restores without error: %s", s.Name(), lastLines(out, 2)))
			}
			os.RemoveAll(dst)
			continue
		}
		n++
		if out, err := run(env, "verify", s.Name(), "--repository", repo); err != nil {
			bad = append(bad, fmt.Sprintf("%s: verify: %v: %s", s.Name(), err, lastLines(out, 3)))
			continue
		}
		dst := filepath.Join(workRoot, fmt.Sprintf("restore-%d", mrand.Int64()))
		out, err := run(env, "restore", s.Name(), "root.pxar", dst, "--repository", repo)
		if err != nil {
			bad = append(bad, fmt.Sprintf("%s: restore: %v: %s", s.Name(), err, lastLines(out, 3)))
			os.RemoveAll(dst)
			continue
		}
		if err := sameTree(srcOf(s), dst); err != nil {
			bad = append(bad, fmt.Sprintf("%s: restored tree differs: %v", s.Name(), err))
		}
		os.RemoveAll(dst)
	}
	return n, bad
}

func lastLines(s string, n int) string {
	l := strings.Split(strings.TrimSpace(s), "\n")
	if len(l) > n {
		l = l[len(l)-n:]
	}
	return strings.Join(l, " / ")
}

// staleLocks returns the files of a datastore (outside .chunks) that are
// still flocked; call it when no cairn process uses the datastore.
func staleLocks(store string) []string {
	var held []string
	filepath.WalkDir(store, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return nil
		}
		if d.IsDir() && d.Name() == ".chunks" {
			return filepath.SkipDir
		}
		if !d.Type().IsRegular() {
			return nil
		}
		f, err := os.Open(p)
		if err != nil {
			return nil
		}
		defer f.Close()
		if unix.Flock(int(f.Fd()), unix.LOCK_EX|unix.LOCK_NB) != nil {
			held = append(held, p)
		} else {
			unix.Flock(int(f.Fd()), unix.LOCK_UN)
		}
		return nil
	})
	return held
}

// unfinishedSnapshots lists snapshot directories without a manifest.
func unfinishedSnapshots(store string) []string {
	var out []string
	dirs, _ := filepath.Glob(filepath.Join(store, "*", "*", "*T*Z"))
	for _, d := range dirs {
		if _, err := os.Stat(filepath.Join(d, "index.json.blob")); err != nil {
			out = append(out, d)
		}
	}
	return out
}

// chunkFiles lists the chunk files of a datastore by digest.
func chunkFiles(store string) map[string]string {
	out := map[string]string{}
	filepath.WalkDir(filepath.Join(store, ".chunks"), func(p string, d fs.DirEntry, err error) error {
		if err == nil && d.Type().IsRegular() && len(d.Name()) == 64 {
			out[d.Name()] = p
		}
		return nil
	})
	return out
}

// referencedChunks reads the indexes of the finished snapshots of a store.
func referencedChunks(t *testing.T, store string) map[string]bool {
	t.Helper()
	ref := map[string]bool{}
	idx, _ := filepath.Glob(filepath.Join(store, "*", "*", "*T*Z", "*.?idx"))
	more, _ := filepath.Glob(filepath.Join(store, "ns", "*", "*", "*", "*T*Z", "*.?idx"))
	for _, p := range append(idx, more...) {
		if _, err := os.Stat(filepath.Join(filepath.Dir(p), "index.json.blob")); err != nil {
			continue // unfinished
		}
		b, err := os.ReadFile(p)
		if err != nil {
			t.Errorf("read %s: %v", p, err)
			continue
		}
		ix, err := index.Open(b)
		if err != nil {
			t.Errorf("index %s: %v", p, err)
			continue
		}
		for i := 0; i < ix.Count(); i++ {
			d := ix.ChunkDigest(i)
			ref[hex.EncodeToString(d[:])] = true
		}
	}
	return ref
}

// ageChunks sets the atime of every chunk 3 days into the past, as the
// walkthrough's gc section does, so GC's grace period has passed.
func ageChunks(t *testing.T, store string) {
	t.Helper()
	old := time.Now().Add(-72 * time.Hour)
	for _, p := range chunkFiles(store) {
		st, err := os.Stat(p)
		if err != nil {
			continue
		}
		os.Chtimes(p, old, st.ModTime())
	}
}

var removedRe = regexp.MustCompile(`Removed chunks: (\d+)`)

// gcAged ages the chunks, runs garbage-collect and returns what it removed
// and the orphans (unreferenced chunk files) left afterwards.
func gcAged(t *testing.T, env []string, repo, store string) (removed int, orphansLeft int, err error) {
	t.Helper()
	ageChunks(t, store)
	out, err := run(env, "garbage-collect", "--repository", repo)
	if err != nil {
		return 0, 0, fmt.Errorf("garbage-collect: %v: %s", err, lastLines(out, 3))
	}
	if m := removedRe.FindStringSubmatch(out); m != nil {
		fmt.Sscan(m[1], &removed)
	}
	ref := referencedChunks(t, store)
	for d := range chunkFiles(store) {
		if !ref[d] {
			orphansLeft++
		}
	}
	return removed, orphansLeft, nil
}

// ---- server ----

type server struct {
	t     *testing.T
	cfg   string
	store string
	addr  string
	fp    string
	cmd   *exec.Cmd
	log   *os.File
	users map[string]string
	extra []string // more `cairn serve` arguments (newServerWith)
}

func freePort(t *testing.T) string {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	a := ln.Addr().String()
	ln.Close()
	return a
}

// newServer configures a datastore store1 in store, users alice, bob
// (DatastoreBackup) and admin (DatastoreAdmin), and starts `cairn serve`.
func newServer(t *testing.T, store string) *server {
	t.Helper()
	return newServerWith(t, store)
}

// newServerWith is newServer with more `cairn serve` arguments.
func newServerWith(t *testing.T, store string, extra ...string) *server {
	t.Helper()
	s := &server{t: t, cfg: tmpDir(t, "srvcfg"), store: store, addr: freePort(t), extra: extra,
		users: map[string]string{"alice@pbs": "alice-pw-1", "bob@pbs": "bob-pw-1", "admin@pbs": "admin-pw-1"}}
	mustRun(t, nil, "manager", "--config-dir", s.cfg, "datastore", "create", "store1", store)
	for u, pw := range s.users {
		mustRun(t, nil, "manager", "--config-dir", s.cfg, "user", "create", u, "--password", pw)
		role := "DatastoreBackup"
		if u == "admin@pbs" {
			role = "DatastoreAdmin"
		}
		mustRun(t, nil, "manager", "--config-dir", s.cfg, "acl", "update", "/datastore/store1", role, "--auth-id", u)
	}
	out := mustRun(t, nil, "manager", "--config-dir", s.cfg, "cert", "info")
	s.fp = regexp.MustCompile(`(?i)([0-9a-f]{2}:){31}[0-9a-f]{2}`).FindString(out)
	if s.fp == "" {
		t.Fatalf("no fingerprint in %q", out)
	}
	s.start()
	t.Cleanup(s.stop)
	return s
}

func (s *server) start() {
	s.t.Helper()
	if s.alive() {
		return // never start a second server on the port
	}
	lf, err := os.OpenFile(filepath.Join(s.cfg, "serve.log"), os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o644)
	if err != nil {
		s.t.Fatal(err)
	}
	s.log = lf
	s.cmd = cairnCmd(context.Background(), nil, append([]string{"serve", "--config-dir", s.cfg, "--listen", s.addr}, s.extra...)...)
	s.cmd.Stdout, s.cmd.Stderr = lf, lf
	if err := s.cmd.Start(); err != nil {
		s.t.Fatal(err)
	}
	for i := 0; i < 100; i++ {
		c, err := net.DialTimeout("tcp", s.addr, time.Second)
		if err == nil {
			c.Close()
			return
		}
		time.Sleep(50 * time.Millisecond)
	}
	s.t.Fatalf("server did not come up on %s", s.addr)
}

func (s *server) kill9() {
	if s.cmd != nil && s.cmd.Process != nil {
		s.cmd.Process.Signal(syscall.SIGKILL)
		s.cmd.Wait()
		s.cmd = nil
		s.log.Close()
	}
}

func (s *server) stop() {
	if s.cmd != nil && s.cmd.Process != nil {
		s.cmd.Process.Signal(syscall.SIGTERM)
		done := make(chan struct{})
		go func() { s.cmd.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			s.cmd.Process.Signal(syscall.SIGKILL)
			<-done
		}
		s.cmd = nil
		s.log.Close()
	}
}

// alive reports whether the server process still runs.
func (s *server) alive() bool {
	return s.cmd != nil && s.cmd.Process != nil && s.cmd.Process.Signal(syscall.Signal(0)) == nil && s.cmd.ProcessState == nil
}

func (s *server) env(user string) []string {
	return []string{"PBS_PASSWORD=" + s.users[user], "PBS_FINGERPRINT=" + s.fp}
}

func (s *server) repo(user string) string { return user + "@" + s.addr + ":store1" }

func (s *server) repoVia(user, addr string) string { return user + "@" + addr + ":store1" }

func removeAll(p string) { os.RemoveAll(p) }

func mkdirAll(d string) error { return os.MkdirAll(d, 0o755) }
