package cli

import (
	"bufio"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"cairn/internal/testutil"
)

// TestBackupCtrlCStopsAndRemovesSnapshot pins issue 17 item 1 for the CLI:
// Ctrl-C during a backup of one large archive used to be noticed only
// between archives, so the archive was read to its end and the snapshot
// kept. Now the command stops at once, says so, and leaves no snapshot, on
// a local datastore and on a server.
func TestBackupCtrlCStopsAndRemovesSnapshot(t *testing.T) {
	for _, where := range []string{"local", "server"} {
		t.Run(where, func(t *testing.T) {
			isolateClient(t)
			var repo string
			if where == "local" {
				repo = localRepo(t)
			} else {
				_, repo = remoteRepo(t)
			}
			// 16 GiB, sparse: minutes to read, nothing to store.
			src := filepath.Join(testutil.TempDir(t), "src")
			if err := os.MkdirAll(src, 0o755); err != nil {
				t.Fatal(err)
			}
			f, err := os.Create(filepath.Join(src, "disk.raw"))
			if err != nil {
				t.Fatal(err)
			}
			if err := f.Truncate(16 << 30); err != nil {
				t.Fatal(err)
			}
			f.Close()

			args := []string{"backup", "root.pxar:" + src, "--repository", repo, "--backup-id", "ctrlc"}
			cmd := exec.Command(os.Args[0])
			cmd.Env = append(os.Environ(), "CAIRN_TEST_AS_MAIN=1", "CAIRN_TEST_ARGS="+strings.Join(args, "\n"))
			stderr, err := cmd.StderrPipe()
			if err != nil {
				t.Fatal(err)
			}
			if err := cmd.Start(); err != nil {
				t.Fatal(err)
			}
			var out strings.Builder
			lines := bufio.NewScanner(stderr)
			for lines.Scan() {
				out.WriteString(lines.Text() + "\n")
				if strings.HasPrefix(lines.Text(), "Upload directory") {
					break
				}
			}
			time.Sleep(300 * time.Millisecond) // well into the file
			began := time.Now()
			if err := cmd.Process.Signal(os.Interrupt); err != nil {
				t.Fatal(err)
			}
			for lines.Scan() {
				out.WriteString(lines.Text() + "\n")
			}
			err = cmd.Wait()
			var exit *exec.ExitError
			if !errors.As(err, &exit) || exit.ExitCode() != 1 {
				t.Fatalf("cairn backup after Ctrl-C: %v, want exit code 1\n%s", err, out.String())
			}
			if !strings.Contains(out.String(), "interrupted") {
				t.Errorf("no word of the interruption:\n%s", out.String())
			}
			// Reading 16 GiB takes far longer than this generous bound.
			if d := time.Since(began); d > 30*time.Second {
				t.Errorf("the backup took %v to stop", d)
			}
			if ws, ok := cmd.ProcessState.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
				t.Errorf("killed by the signal instead of stopping: %v", ws)
			}
			// A server removes the snapshot when the session ends.
			deadline := time.Now().Add(10 * time.Second)
			for {
				names := snapshotNames(t, repo)
				if len(names) == 0 {
					break
				}
				if time.Now().After(deadline) {
					t.Fatalf("snapshots after Ctrl-C: %v", names)
				}
				time.Sleep(100 * time.Millisecond)
			}
		})
	}
}

// TestBackupLeavesOutItsOwnDatastore pins issue 17 item 3 for the CLI: the
// README's flow (a ./demo-store in the directory backed up) wrote the
// datastore into itself. The datastore is left out, and the output says so.
func TestBackupLeavesOutItsOwnDatastore(t *testing.T) {
	isolateClient(t)
	home := filepath.Join(testutil.TempDir(t), "home")
	if err := os.MkdirAll(filepath.Join(home, "etc"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(home, "etc/hostname"), []byte("elsa\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	repo := filepath.Join(home, "demo-store")
	r := mustRun(t, "backup", "root.pxar:"+home, "--repository", repo, "--backup-id", "demo")
	if !strings.Contains(r.stderr, "Leaving out '"+repo+"' of root.pxar: it is the datastore this backup writes to") {
		t.Errorf("no word of the datastore left out:\n%s", r.stderr)
	}
	out := filepath.Join(testutil.TempDir(t), "out")
	mustRun(t, "restore", "host/demo", "root.pxar", out, "--repository", repo)
	if _, err := os.Stat(filepath.Join(out, "demo-store")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("the datastore is in its own backup: %v", err)
	}
	if data, err := os.ReadFile(filepath.Join(out, "etc/hostname")); err != nil || string(data) != "elsa\n" {
		t.Errorf("etc/hostname: %q %v", data, err)
	}
}
