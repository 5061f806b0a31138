package cli

import (
	"bytes"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// upstreamClient is the real proxmox-backup-client 3.2.4, kept beside the
// project (../shared/peers from the repository root); "" when missing.
func upstreamClient(t *testing.T) string {
	t.Helper()
	p, err := filepath.Abs(filepath.Join("..", "..", "shared", "peers", "proxmox-backup-client"))
	if err == nil {
		if st, err := os.Stat(p); err == nil && st.Mode()&0o111 != 0 {
			return p
		}
	}
	t.Logf("!!! UPSTREAM CLIENT MISSING (%s): output parity with proxmox-backup-client NOT TESTED !!!", p)
	return ""
}

// upstreamRun runs the upstream client with the test's environment and
// returns its stdout and exit status.
func upstreamRun(t *testing.T, peer string, args ...string) (string, int) {
	t.Helper()
	cmd := exec.Command(peer, args...)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	code := 0
	if ee, ok := err.(*exec.ExitError); ok {
		code = ee.ExitCode()
	} else if err != nil {
		t.Fatalf("upstream %q: %v", args, err)
	}
	return out.String(), code
}

// TestUpstreamParity prints the same listings with both clients against
// the same server and compares them byte for byte, in text (box drawing,
// ASCII, without borders) and both JSON forms.
func TestUpstreamParity(t *testing.T) {
	peer := upstreamClient(t)
	if peer == "" {
		t.Skip("upstream client missing")
	}
	outputEnv(t)
	// The machine's locales, as upstream's glibc sees them.
	os.Unsetenv("LOCPATH")
	srv, repo := remoteRepo(t)
	t.Setenv("PBS_REPOSITORY", repo)
	backupListingFixture(t, repo)
	stdoutOf(t, "namespace", "create", "a")
	stdoutOf(t, "namespace", "create", "a/b")
	src := sourceTree(t)
	if out, code := upstreamRun(t, peer, "backup", "root.pxar:"+src, "etc.pxar:"+filepath.Join(src, "etc"), "--backup-id", "up1", "--ns", "a/b"); code != 0 {
		t.Fatalf("upstream backup: %d %s", code, out)
	}
	key := filepath.Join(t.TempDir(), "k.json")
	if _, code := upstreamRun(t, peer, "key", "create", key, "--kdf", "none"); code != 0 {
		t.Fatal("upstream key create failed")
	}
	_ = srv

	commands := [][]string{
		{"list"}, {"list", "--ns", "a/b"},
		{"snapshot", "list"}, {"snapshot", "list", "host/b"}, {"snapshot", "list", "--ns", "a/b"},
		{"snapshot", "files", "vm/100/2023-11-14T22:18:20Z"},
		{"namespace", "list"}, {"namespace", "list", "a"}, {"namespace", "list", "--max-depth", "1"},
		{"task", "list"}, {"task", "list", "--all"}, {"task", "list", "--all", "--limit", "3"},
		{"key", "show", key},
	}
	envs := []struct {
		name string
		set  map[string]string
	}{
		{"utf8", map[string]string{"LC_ALL": "C.UTF-8"}},
		{"C", map[string]string{"LC_ALL": "C"}},
		{"no-border", map[string]string{"LC_ALL": "C.UTF-8", "PROXMOX_OUTPUT_NO_BORDER": ""}},
		{"no-header", map[string]string{"LC_ALL": "C", "PROXMOX_OUTPUT_NO_HEADER": "1"}},
	}
	for _, env := range envs {
		for k, v := range env.set {
			t.Setenv(k, v)
		}
		for i, args := range commands {
			// The border variants on a few tables are enough.
			if env.name != "utf8" && i%3 != 2 {
				continue
			}
			for _, f := range []string{"text", "json", "json-pretty"} {
				if f != "text" && env.name != "utf8" || f == "json-pretty" && i%3 != 0 {
					continue
				}
				a := append(append([]string{}, args...), "--output-format", f)
				want, code := upstreamRun(t, peer, a...)
				r := cairnRun(t, a...)
				if (code == 0) != (r.code == 0) || r.stdout != want {
					t.Errorf("[%s] %q: upstream (exit %d):\n%s\ncairn (exit %d, %s):\n%s", env.name, a, code, want, r.code, r.stderr, r.stdout)
				}
			}
		}
		for k := range env.set {
			os.Unsetenv(k)
		}
	}

	// status: the numbers move with the file system, the form must not.
	t.Setenv("LC_ALL", "C.UTF-8")
	digits := regexp.MustCompile(`[0-9]+ +\(`)
	for _, f := range []string{"text", "json"} {
		want, _ := upstreamRun(t, peer, "status", "--output-format", f)
		got := stdoutOf(t, "status", "--output-format", f)
		if f == "json" {
			var a, b map[string]any
			if json.Unmarshal([]byte(want), &a) != nil || json.Unmarshal([]byte(got), &b) != nil || len(a) != len(b) {
				t.Errorf("status json: upstream %s cairn %s", want, got)
			}
			continue
		}
		norm := func(s string) []string {
			var lines []string
			for _, l := range strings.Split(s, "\n") {
				lines = append(lines, strings.Join(strings.Fields(digits.ReplaceAllString(l, "N (")), " "))
			}
			return lines
		}
		if a, b := norm(want), norm(got); strings.Join(a, "\n") != strings.Join(b, "\n") {
			t.Errorf("status text:\nupstream:\n%s\ncairn:\n%s", want, got)
		}
	}

	// version: the server line is the same.
	want, _ := upstreamRun(t, peer, "version")
	got := stdoutOf(t, "version")
	if wl, gl := strings.Split(want, "\n"), strings.Split(got, "\n"); len(wl) < 2 || len(gl) < 2 || wl[1] != gl[1] {
		t.Errorf("version: upstream %q cairn %q", want, got)
	}
}
