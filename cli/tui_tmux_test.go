package cli

import (
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"cairn/internal/testutil"
)

// tmuxTUI is `cairn tui` running in a detached tmux session of fixed size,
// driven by keys and read from its pane (STYLE.md, testing layer 3). The
// test binary stands in for cairn (TestMain).
type tmuxTUI struct {
	t    *testing.T
	sock string
}

func startTmuxTUI(t *testing.T, repo string) *tmuxTUI {
	t.Helper()
	if testing.Short() {
		t.Skip("tmux end-to-end test")
	}
	if _, err := exec.LookPath("tmux"); err != nil {
		t.Skip("no tmux")
	}
	m := &tmuxTUI{t: t, sock: filepath.Join(t.TempDir(), "tmux.sock")}
	m.run("new-session", "-d", "-s", "w", "-x", "120", "-y", "40",
		"-e", "CAIRN_TEST_AS_MAIN=1", "-e", "CAIRN_TEST_ARGS=tui\n--repository\n"+repo, "-e", "TERM=xterm-256color",
		"exec '"+os.Args[0]+"'")
	t.Cleanup(func() { exec.Command("tmux", "-S", m.sock, "kill-server").Run() })
	return m
}

func (m *tmuxTUI) run(args ...string) string {
	m.t.Helper()
	out, err := exec.Command("tmux", append([]string{"-S", m.sock}, args...)...).CombinedOutput()
	if err != nil {
		m.t.Fatalf("tmux %q: %v: %s", args, err, out)
	}
	return string(out)
}

// keys sends tmux key names (Enter, Escape, C-u …), one at a time.
func (m *tmuxTUI) keys(keys ...string) {
	m.t.Helper()
	for _, k := range keys {
		m.run("send-keys", "-t", "w", k)
		time.Sleep(150 * time.Millisecond)
	}
}

// typeText types text literally.
func (m *tmuxTUI) typeText(s string) {
	m.t.Helper()
	m.run("send-keys", "-t", "w", "-l", s)
	time.Sleep(150 * time.Millisecond)
}

func (m *tmuxTUI) screen() string {
	out, _ := exec.Command("tmux", "-S", m.sock, "capture-pane", "-p", "-t", "w").CombinedOutput()
	return string(out)
}

// waitFor polls the pane until re matches, up to d.
func (m *tmuxTUI) waitFor(re string, d time.Duration) bool {
	m.t.Helper()
	rx := regexp.MustCompile(re)
	for end := time.Now().Add(d); time.Now().Before(end); time.Sleep(100 * time.Millisecond) {
		if rx.MatchString(m.screen()) {
			return true
		}
	}
	return false
}

func (m *tmuxTUI) mustSee(re string, d time.Duration) {
	m.t.Helper()
	if !m.waitFor(re, d) {
		m.t.Fatalf("the screen never showed /%s/ in %v:\n%s", re, d, m.screen())
	}
}

// alive reports whether the TUI still runs.
func (m *tmuxTUI) alive() bool {
	return exec.Command("tmux", "-S", m.sock, "has-session", "-t", "w").Run() == nil
}

// groupSnapshots lists a group's snapshots as `snapshot list` shows them,
// unfinished ones included.
func groupSnapshots(t *testing.T, repo, id string) []string {
	t.Helper()
	r := mustRun(t, "snapshot", "list", "--repository", repo, "--output-format", "json")
	var items []struct {
		ID   string `json:"backup-id"`
		Time int64  `json:"backup-time"`
	}
	if err := json.Unmarshal([]byte(r.stdout), &items); err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, it := range items {
		if it.ID == id {
			out = append(out, it.ID)
		}
	}
	return out
}

// tmuxBackupEnv is a repository with one group and a huge sparse source,
// and the TUI open on it.
func tmuxBackupEnv(t *testing.T) (m *tmuxTUI, repo, big string) {
	t.Helper()
	isolateClient(t)
	dir := testutil.TempDir(t)
	repo = filepath.Join(dir, "store")
	mustRun(t, "backup", "root.pxar:"+sourceTree(t), "--repository", repo, "--backup-id", "first")
	big = filepath.Join(dir, "big")
	if err := os.MkdirAll(big, 0o755); err != nil {
		t.Fatal(err)
	}
	f, err := os.Create(filepath.Join(big, "disk.raw"))
	if err != nil {
		t.Fatal(err)
	}
	f.Truncate(64 << 30) // sparse: minutes to read
	f.Close()
	m = startTmuxTUI(t, repo)
	m.mustSee(`host/first`, 15*time.Second)
	return m, repo, big
}

// startBackup starts a backup of big from the group list.
func (m *tmuxTUI) startBackup(big, id string) {
	m.t.Helper()
	m.keys("b")
	m.mustSee(`New backup into`, 5*time.Second)
	m.keys("C-u")
	m.typeText("big.pxar:" + big + " --backup-id " + id)
	m.keys("Enter")
	m.mustSee(`Backup host/`+id+`/\S+ running`, 15*time.Second)
	m.mustSee(`GiB read`, 15*time.Second)
}

// TestTUIStopAndRefreshInTmux drives the real TUI as a user would: a
// backup made on the command line shows up in the open group list (issue
// 17 item 5), and esc, y stops a backup of a huge file within seconds and
// keeps no snapshot (item 1).
func TestTUIStopAndRefreshInTmux(t *testing.T) {
	m, repo, big := tmuxBackupEnv(t)
	mustRun(t, "backup", "root.pxar:"+sourceTree(t), "--repository", repo, "--backup-id", "fromcli")
	if !m.waitFor(`host/fromcli`, 15*time.Second) {
		t.Errorf("a backup made on the command line never showed in the open list:\n%s", m.screen())
	}
	m.startBackup(big, "stopme")
	m.keys("Escape")
	m.mustSee(`Stop the backup\?`, 5*time.Second)
	m.keys("y")
	m.mustSee(`Backup stopped`, 10*time.Second)
	if got := groupSnapshots(t, repo, "stopme"); len(got) != 0 {
		t.Errorf("snapshots after stopping: %v", got)
	}
}

// TestTUIQuitDuringBackupInTmux: q during a backup asks, y stops it and
// quits, and no listing shows a snapshot without files (issue 17 item 2).
func TestTUIQuitDuringBackupInTmux(t *testing.T) {
	m, repo, big := tmuxBackupEnv(t)
	m.startBackup(big, "quitme")
	m.keys("q")
	if !m.waitFor(`Quit\?`, 5*time.Second) || !strings.Contains(m.screen(), "A backup is running") {
		t.Errorf("q did not ask:\n%s", m.screen())
	}
	m.keys("y")
	for end := time.Now().Add(30 * time.Second); m.alive() && time.Now().Before(end); {
		time.Sleep(100 * time.Millisecond)
	}
	if m.alive() {
		t.Fatalf("the TUI did not quit:\n%s", m.screen())
	}
	if got := groupSnapshots(t, repo, "quitme"); len(got) != 0 {
		t.Errorf("snapshot list after quitting during a backup: %v", got)
	}
	if out := mustRun(t, "list", "--repository", repo).stdout; strings.Contains(out, "quitme") {
		t.Errorf("list after quitting during a backup:\n%s", out)
	}
	snaps, _ := os.ReadDir(filepath.Join(repo, "host", "quitme"))
	for _, s := range snaps {
		if s.IsDir() {
			t.Errorf("snapshot directory %s left behind", s.Name())
		}
	}
}
