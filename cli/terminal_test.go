package cli

import (
	"bytes"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"
)

// TestMain lets the test binary stand in for cairn: with CAIRN_TEST_AS_MAIN
// set, it runs the command line in CAIRN_TEST_ARGS (newline-separated) and
// exits, the way main does, package inits and all.
func TestMain(m *testing.M) {
	if os.Getenv("CAIRN_TEST_AS_MAIN") == "1" {
		os.Args = append([]string{"cairn"}, strings.Split(os.Getenv("CAIRN_TEST_ARGS"), "\n")...)
		os.Exit(Execute())
	}
	os.Exit(m.Run())
}

// openPTY opens a pseudo-terminal pair.
func openPTY(t *testing.T) (master, slave *os.File) {
	t.Helper()
	m, err := os.OpenFile("/dev/ptmx", os.O_RDWR|syscall.O_NOCTTY, 0)
	if err != nil {
		t.Skipf("no pseudo-terminals here: %v", err)
	}
	var unlock int32
	if _, _, e := unix.Syscall(unix.SYS_IOCTL, m.Fd(), unix.TIOCSPTLCK, uintptr(unsafe.Pointer(&unlock))); e != 0 {
		t.Fatal(e)
	}
	n, err := unix.IoctlGetInt(int(m.Fd()), unix.TIOCGPTN)
	if err != nil {
		t.Fatal(err)
	}
	s, err := os.OpenFile("/dev/pts/"+strconv.Itoa(n), os.O_RDWR|syscall.O_NOCTTY, 0)
	if err != nil {
		t.Fatal(err)
	}
	return m, s
}

// A command run on a terminal that never answers writes only its output:
// no colour or cursor queries (Bubble Tea's init used to send them, then
// wait 5 s for an answer).
func TestNoTerminalQueries(t *testing.T) {
	master, slave := openPTY(t)
	defer master.Close()
	cmd := exec.Command(os.Args[0])
	cmd.Env = append(os.Environ(), "CAIRN_TEST_AS_MAIN=1", "CAIRN_TEST_ARGS=version", "TERM=xterm-256color", "CI=")
	cmd.Stdin, cmd.Stdout, cmd.Stderr = slave, slave, slave
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true, Setctty: true}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	slave.Close()
	var out bytes.Buffer
	done := make(chan struct{})
	go func() {
		buf := make([]byte, 4096)
		for {
			n, err := master.Read(buf)
			out.Write(buf[:n])
			if err != nil {
				close(done)
				return
			}
		}
	}()
	if err := cmd.Wait(); err != nil {
		t.Fatalf("cairn version on a terminal: %v (%q)", err, out.String())
	}
	select {
	case <-done:
	case <-time.After(10 * time.Second):
	}
	if bytes.ContainsRune(out.Bytes(), 0x1b) {
		t.Fatalf("cairn version wrote escape sequences to the terminal: %q", out.String())
	}
	if !strings.Contains(out.String(), "client version:") {
		t.Fatalf("output %q", out.String())
	}
}
