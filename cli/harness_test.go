package cli

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"cairn/internal/testserver"
	"cairn/internal/testutil"
)

// result is what one cairn command line did.
type result struct {
	code           int
	stdout, stderr string
}

// cairnRun runs one command line in-process, as main would, and captures
// what it prints. Tests using it must not run in parallel (stdout is a
// package variable).
func cairnRun(t *testing.T, args ...string) result {
	t.Helper()
	var out, errw bytes.Buffer
	saved := stdout
	stdout = &out
	defer func() { stdout = saved }()
	code := run(context.Background(), args, &errw)
	return result{code: code, stdout: out.String(), stderr: errw.String()}
}

// mustRun is cairnRun that fails the test unless the command succeeds.
func mustRun(t *testing.T, args ...string) result {
	t.Helper()
	r := cairnRun(t, args...)
	if r.code != 0 {
		t.Fatalf("cairn %q: exit %d\nstderr: %s", args, r.code, r.stderr)
	}
	return r
}

// isolateClient gives the test its own client configuration and cache
// directories (keys, tickets, fingerprints) and no inherited PBS_* settings.
func isolateClient(t *testing.T) string {
	t.Helper()
	home := t.TempDir()
	t.Setenv("HOME", home)
	t.Setenv("XDG_CONFIG_HOME", filepath.Join(home, ".config"))
	t.Setenv("XDG_RUNTIME_DIR", filepath.Join(home, "run"))
	t.Setenv("XDG_CACHE_HOME", filepath.Join(home, ".cache"))
	for _, v := range []string{"PBS_REPOSITORY", "PBS_PASSWORD", "PBS_FINGERPRINT", "PBS_ENCRYPTION_PASSWORD",
		"PROXMOX_OUTPUT_FORMAT", "PROXMOX_OUTPUT_NO_BORDER", "PROXMOX_OUTPUT_NO_HEADER"} {
		t.Setenv(v, "")
		os.Unsetenv(v)
	}
	return home
}

// localRepo is a fresh path repository (created by the first backup).
func localRepo(t *testing.T) string {
	return filepath.Join(testutil.TempDir(t), "repo")
}

// remoteRepo starts a server and points PBS_* at it as alice.
func remoteRepo(t *testing.T) (*testserver.Server, string) {
	srv := testserver.Start(t, nil)
	t.Setenv("PBS_PASSWORD", testserver.Users["alice@pbs"])
	t.Setenv("PBS_FINGERPRINT", srv.FP)
	return srv, srv.Repository("alice@pbs")
}

// sourceTree makes a small directory to back up.
func sourceTree(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	testutil.WriteTree(t, dir, testutil.Files(map[string]string{
		"etc/hostname": "elsa\n", "home/a.txt": "alpha\n", "big": strings.Repeat("0123456789", 50000),
	}), time.Time{})
	return dir
}
