package cli

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"cairn/internal/testserver"
)

// ptyRun is cairn running on a pseudo-terminal of 100×30: what it wrote so
// far, and the keyboard.
type ptyRun struct {
	t      *testing.T
	master *os.File
	cmd    *exec.Cmd
	mu     sync.Mutex
	out    bytes.Buffer
	done   chan error
}

func startPTY(t *testing.T, env []string, args ...string) *ptyRun {
	t.Helper()
	master, slave := openPTY(t)
	if err := unix.IoctlSetWinsize(int(slave.Fd()), unix.TIOCSWINSZ, &unix.Winsize{Row: 30, Col: 100}); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(os.Args[0])
	cmd.Env = append(append(os.Environ(), "CAIRN_TEST_AS_MAIN=1", "CAIRN_TEST_ARGS="+strings.Join(args, "\n"), "TERM=xterm-256color", "CI="), env...)
	cmd.Stdin, cmd.Stdout, cmd.Stderr = slave, slave, slave
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true, Setctty: true}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	slave.Close()
	p := &ptyRun{t: t, master: master, cmd: cmd, done: make(chan error, 1)}
	go func() {
		buf := make([]byte, 4096)
		for {
			n, err := master.Read(buf)
			p.mu.Lock()
			p.out.Write(buf[:n])
			p.mu.Unlock()
			if err != nil {
				return
			}
		}
	}()
	go func() { p.done <- cmd.Wait() }()
	t.Cleanup(func() {
		cmd.Process.Kill()
		master.Close()
	})
	return p
}

func (p *ptyRun) output() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.out.String()
}

// waitFor waits (10 s at most) until the output holds s, and returns
// where it starts.
func (p *ptyRun) waitFor(s string) int {
	p.t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		if i := strings.Index(p.output(), s); i >= 0 {
			return i
		}
		time.Sleep(20 * time.Millisecond)
	}
	p.t.Fatalf("no %q on the terminal; it shows:\n%q", s, p.output())
	return -1
}

func (p *ptyRun) typeKeys(s string) {
	if _, err := p.master.Write([]byte(s)); err != nil {
		p.t.Fatal(err)
	}
}

// wait waits for cairn to end and returns its error.
func (p *ptyRun) wait() error {
	p.t.Helper()
	select {
	case err := <-p.done:
		return err
	case <-time.After(15 * time.Second):
		p.t.Fatalf("cairn did not end; the terminal shows:\n%q", p.output())
		return nil
	}
}

// altScreen is what Bubble Tea writes when it takes the screen.
const altScreen = "\x1b[?1049h"

// Issue 17 item 6: with a server repository and neither PBS_FINGERPRINT,
// PBS_PASSWORD nor a cached ticket, the UI asks for both on the terminal
// before it takes the screen, and then shows the groups, logged in.
func TestTUIAsksServerBeforeScreen(t *testing.T) {
	home := isolateClient(t)
	srv := testserver.Start(t, nil)
	env := []string{"HOME=" + home, "XDG_CONFIG_HOME=" + filepath.Join(home, ".config"), "XDG_RUNTIME_DIR=" + filepath.Join(home, "run"), "XDG_CACHE_HOME=" + filepath.Join(home, ".cache")}
	p := startPTY(t, env, "tui", "--repository", srv.Repository("alice@pbs"))
	// The password first (it goes with the first request), then the
	// certificate, as the commands ask.
	ask := p.waitFor(`Password for "alice@pbs":`)
	p.typeKeys(testserver.Users["alice@pbs"] + "\r")
	confirm := p.waitFor("(y/n):")
	if !strings.Contains(p.output(), srv.FP) {
		t.Errorf("the fingerprint was not shown: %q", p.output())
	}
	p.typeKeys("y\r")
	p.waitFor("no backup groups yet")
	out := p.output()
	if screen := strings.Index(out, altScreen); screen < 0 || screen < confirm || screen < ask {
		t.Errorf("the UI took the screen (at %d) before the questions (at %d, %d)", screen, confirm, ask)
	}
	// A 401 as a status, not as part of the random port (…:40145:store1).
	if regexp.MustCompile(`(^|[^0-9:])401([^0-9]|$)`).MatchString(out) || strings.Contains(out, "failed") {
		t.Errorf("the UI shows an error: %q", out)
	}
	p.typeKeys("q")
	if err := p.wait(); err != nil {
		t.Errorf("cairn tui: %v", err)
	}
}

// Issue 17 item 7: a wrong PBS_ENCRYPTION_PASSWORD no longer stops the
// UI: it opens and says the key did not load.
func TestTUIOpensWithWrongKeyPassword(t *testing.T) {
	home := isolateClient(t)
	repo := localRepo(t)
	src := sourceTree(t)
	mustRun(t, "backup", "etc.pxar:"+filepath.Join(src, "etc"), "--repository", repo, "--backup-id", "plain")
	key := filepath.Join(home, "my.key")
	t.Setenv("PBS_ENCRYPTION_PASSWORD", "right horse")
	mustRun(t, "key", "create", key, "--kdf", "pbkdf2")
	mustRun(t, "backup", "etc.pxar:"+filepath.Join(src, "etc"), "--repository", repo, "--backup-id", "secret", "--keyfile", key)
	env := []string{"HOME=" + home, "XDG_CONFIG_HOME=" + filepath.Join(home, ".config"), "PBS_ENCRYPTION_PASSWORD=wrong horse"}
	p := startPTY(t, env, "tui", "--repository", repo, "--keyfile", key)
	p.waitFor("host/plain")
	p.waitFor("cannot be read")
	p.typeKeys("q")
	if err := p.wait(); err != nil {
		t.Errorf("cairn tui: %v\n%q", err, p.output())
	}
}
