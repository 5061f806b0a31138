package testutil

import (
	"bytes"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// MinIO is a real MinIO server on loopback for the S3 tests: the binary
// from CAIRN_MINIO, or $(go env GOPATH)/bin/minio as .ci/minio.sh builds it.
// Tests skip when there is none.
type MinIO struct {
	Addr     string // host:port of the S3 API
	User     string
	Password string

	tb   testing.TB
	bin  string
	data string
	cmd  *exec.Cmd
	done chan struct{}
}

// StartMinIO starts a server with the given root credentials and a temp
// data dir; it is killed when the test ends.
func StartMinIO(tb testing.TB, user, password string) *MinIO {
	tb.Helper()
	m := &MinIO{Addr: freePort(tb), User: user, Password: password, tb: tb, bin: minioBinary(tb), data: tb.TempDir()}
	m.Start()
	tb.Cleanup(m.Stop)
	return m
}

func minioBinary(tb testing.TB) string {
	if p := os.Getenv("CAIRN_MINIO"); p != "" {
		if _, err := os.Stat(p); err == nil {
			return p
		}
		tb.Skipf("CAIRN_MINIO=%s does not exist", p)
	}
	gopath := os.Getenv("GOPATH")
	if gopath == "" {
		if out, err := exec.Command("go", "env", "GOPATH").Output(); err == nil {
			gopath = strings.TrimSpace(string(out))
		}
	}
	for _, dir := range filepath.SplitList(gopath) {
		p := filepath.Join(dir, "bin", "minio")
		if _, err := os.Stat(p); err == nil {
			return p
		}
	}
	tb.Skip("no MinIO binary: run .ci/minio.sh (or set CAIRN_MINIO) to run the S3 tests")
	return ""
}

func freePort(tb testing.TB) string {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}

// Start (re)starts the server on its address and data dir and waits until
// it is ready.
func (m *MinIO) Start() {
	m.tb.Helper()
	console := freePort(m.tb)
	cmd := exec.Command(m.bin, "server", "--quiet", "--address", m.Addr, "--console-address", console, m.data)
	cmd.Env = append(os.Environ(), "MINIO_ROOT_USER="+m.User, "MINIO_ROOT_PASSWORD="+m.Password,
		"MINIO_BROWSER=off", "MINIO_UPDATE=off")
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		m.tb.Fatal(err)
	}
	m.cmd, m.done = cmd, make(chan struct{})
	go func() { cmd.Wait(); close(m.done) }()
	deadline := time.Now().Add(60 * time.Second)
	for time.Now().Before(deadline) {
		resp, err := http.Get("http://" + m.Addr + "/minio/health/ready")
		if err == nil {
			resp.Body.Close()
			// "ready" can come before the object layer is up, which
			// answers S3 calls with 503 "Server not initialized yet".
			if resp.StatusCode == 200 && m.answersS3() {
				return
			}
		}
		select {
		case <-m.done:
			m.tb.Fatalf("minio exited: %s", out.String())
		case <-time.After(100 * time.Millisecond):
		}
	}
	m.Stop()
	m.tb.Fatalf("minio did not become ready: %s", out.String())
}

// answersS3 reports whether an (unsigned) S3 call gets a real answer: 403,
// not 503.
func (m *MinIO) answersS3() bool {
	resp, err := http.Get("http://" + m.Addr + "/")
	if err != nil {
		return false
	}
	resp.Body.Close()
	return resp.StatusCode != http.StatusServiceUnavailable
}

// Stop kills the server (a crash, as far as clients can tell).
func (m *MinIO) Stop() {
	if m.cmd == nil {
		return
	}
	m.cmd.Process.Signal(syscall.SIGKILL)
	<-m.done
	m.cmd = nil
}
