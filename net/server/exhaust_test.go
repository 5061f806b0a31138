package server

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"cairn/core/datastore"
	"cairn/internal/hostile"
	"cairn/internal/testutil"
	"cairn/net/server/config"
)

// Resource-exhaustion attacks (issue 16, item 2) against a real server in
// its own process, so its resident memory can be read from /proc: each
// attack runs against a fresh server and the server's peak RSS (VmHWM)
// must stay under memoryBound.

// memoryBound is the stated bound on the server's resident memory under
// every attack below.
const memoryBound = 512 << 20

// memoryCeiling: a server past this is killed at once (a regression must
// fail the test, not take the machine down).
const memoryCeiling = 2 << 30

// writeServerConfig makes a config dir with store1 (on tmpfs) and the users
// alice@pbs and bob@pbs (DatastoreBackup, password "<user>-pw").
func writeServerConfig(t testing.TB) (cfgDir, store string) {
	t.Helper()
	cfgDir = t.TempDir()
	store = testutil.TempDir(t)
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
			c.ACLs = append(c.ACLs, config.ACL{Path: "/datastore/store1", Role: "DatastoreBackup", AuthID: u, Propagate: true})
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return cfgDir, store
}

// serverProcess is a server running in a child process (this test binary
// in helper mode, TestHelperServerProcess).
type serverProcess struct {
	cmd  *exec.Cmd
	addr string
	pid  int
	log  *strings.Builder
}

// startServerProcess starts a server on cfgDir in a child process; env
// adds settings (CAIRN_TEST_* variables read by the helper).
func startServerProcess(t testing.TB, cfgDir string, env ...string) *serverProcess {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^TestHelperServerProcess$")
	cmd.Env = append(append(os.Environ(), "CAIRN_TEST_SERVE="+cfgDir), env...)
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	var logb strings.Builder
	cmd.Stderr = &lockedWriter{w: &logb}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	p := &serverProcess{cmd: cmd, pid: cmd.Process.Pid, log: &logb}
	t.Cleanup(func() {
		stdin.Close()
		p.kill()
	})
	sc := bufio.NewScanner(stdout)
	for sc.Scan() {
		if a, ok := strings.CutPrefix(sc.Text(), "LISTEN "); ok {
			p.addr = a
			break
		}
	}
	if p.addr == "" {
		p.kill()
		t.Fatalf("server process did not start: %s", logb.String())
	}
	go io.Copy(io.Discard, stdout)
	return p
}

func (p *serverProcess) kill() {
	if p.cmd.ProcessState == nil {
		p.cmd.Process.Signal(syscall.SIGKILL)
		p.cmd.Wait()
	}
}

func (p *serverProcess) alive() bool {
	if p.cmd.ProcessState != nil {
		return false
	}
	c, err := net.DialTimeout("tcp", p.addr, 2*time.Second)
	if err != nil {
		return false
	}
	c.Close()
	return true
}

type lockedWriter struct {
	mu sync.Mutex
	w  io.Writer
}

func (l *lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(p)
}

// TestHelperServerProcess is the child of startServerProcess: it serves
// until its stdin closes.
func TestHelperServerProcess(t *testing.T) {
	cfgDir := os.Getenv("CAIRN_TEST_SERVE")
	if cfgDir == "" {
		t.Skip("helper process for the exhaustion tests")
	}
	opts := Options{ConfigDir: cfgDir, Log: io.Discard, AuthFailDelay: -1, PermFailDelay: -1}
	if os.Getenv("CAIRN_TEST_SERVE_LOG") != "" {
		opts.Log = os.Stderr
	}
	applyTestLimits(&opts)
	srv, err := New(opts)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	fmt.Printf("LISTEN %s\n", ln.Addr())
	go srv.Serve(ln)
	io.Copy(io.Discard, os.Stdin)
	os.Exit(0)
}

// TestServerMemoryUnderAttack runs each attack against a fresh server
// process and checks its peak resident memory stays under memoryBound, and
// that it still serves afterwards.
func TestServerMemoryUnderAttack(t *testing.T) {
	if testing.Short() {
		t.Skip("runs a server process per attack")
	}
	for _, a := range hostile.MemoryAttacks {
		t.Run(a.Name, func(t *testing.T) {
			cfgDir, _ := writeServerConfig(t)
			p := startServerProcess(t, cfgDir)
			base, _ := hostile.ProcStatus(p.pid, "VmRSS")
			c, err := hostile.Login(hostile.Target{Addr: p.addr, User: "bob@pbs", Password: "bob@pbs-pw", Store: "store1"})
			if err != nil {
				t.Fatal(err)
			}
			smp := hostile.Watch(p.pid, memoryCeiling, func(int64) { p.cmd.Process.Signal(syscall.SIGKILL) })
			res, err := a.Run(c)
			peak, killed := smp.Stop()
			t.Logf("server RSS: %s before, peak %s; %s (err %v)", hostile.MiB(base), hostile.MiB(peak), res, err)
			if killed {
				t.Fatalf("server passed %s and was killed", hostile.MiB(memoryCeiling))
			}
			if peak > memoryBound {
				t.Errorf("server peak RSS %s exceeds the bound %s", hostile.MiB(peak), hostile.MiB(memoryBound))
			}
			if !p.alive() {
				t.Fatalf("server died: %s", p.log.String())
			}
			if _, err := hostile.Login(hostile.Target{Addr: p.addr, User: "alice@pbs", Password: "alice@pbs-pw", Store: "store1"}); err != nil {
				t.Errorf("server does not serve others afterwards: %v", err)
			}
		})
	}
}

// applyTestLimits sets the helper server's limits from CAIRN_TEST_*
// variables, and its file-descriptor limit from CAIRN_TEST_NOFILE.
func applyTestLimits(o *Options) {
	num := func(k string) int64 {
		v, _ := strconv.ParseInt(os.Getenv(k), 10, 64)
		return v
	}
	o.Limits.MaxSessions = int(num("CAIRN_TEST_MAX_SESSIONS"))
	o.Limits.MaxSessionsPerUser = int(num("CAIRN_TEST_MAX_SESSIONS_PER_USER"))
	if d, err := time.ParseDuration(os.Getenv("CAIRN_TEST_SESSION_IDLE")); err == nil {
		o.Limits.SessionIdleTimeout = d
	}
	if n := num("CAIRN_TEST_NOFILE"); n > 0 {
		var rl syscall.Rlimit
		syscall.Getrlimit(syscall.RLIMIT_NOFILE, &rl)
		rl.Cur = uint64(n)
		if err := syscall.Setrlimit(syscall.RLIMIT_NOFILE, &rl); err != nil {
			fmt.Fprintln(os.Stderr, "setrlimit:", err)
		}
	}
}
