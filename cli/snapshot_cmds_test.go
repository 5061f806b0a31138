package cli

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// Each test runs against a path repository and a server: the commands must
// mean the same on both.
func forBothRepos(t *testing.T, f func(t *testing.T, repo string)) {
	t.Run("local", func(t *testing.T) {
		isolateClient(t)
		f(t, localRepo(t))
	})
	t.Run("server", func(t *testing.T) {
		isolateClient(t)
		_, repo := remoteRepo(t)
		f(t, repo)
	})
}

func TestSnapshotNotes(t *testing.T) {
	forBothRepos(t, func(t *testing.T, repo string) {
		src := sourceTree(t)
		mustRun(t, "backup", "root.pxar:"+src, "--repository", repo, "--backup-id", "elsa")
		snap := lastSnapshot(t, repo)
		if r := mustRun(t, "snapshot", "notes", "show", snap, "--repository", repo); r.stdout != "\n" {
			t.Fatalf("notes of a new snapshot: %q", r.stdout)
		}
		mustRun(t, "snapshot", "notes", "update", snap, "first line\nsecond \"line\"", "--repository", repo)
		if r := mustRun(t, "snapshot", "notes", "show", snap, "--repository", repo); r.stdout != "first line\nsecond \"line\"\n" {
			t.Fatalf("notes text: %q", r.stdout)
		}
		if r := mustRun(t, "snapshot", "notes", "show", snap, "--repository", repo, "--output-format", "json"); r.stdout != `{"notes":"first line\nsecond \"line\""}`+"\n" {
			t.Fatalf("notes json: %q", r.stdout)
		}
		// The notes are the first line of the snapshot's comment.
		if r := mustRun(t, "snapshot", "list", "--repository", repo, "--output-format", "json"); !strings.Contains(r.stdout, `"comment":"first line"`) {
			t.Fatalf("snapshot list after notes: %s", r.stdout)
		}
		for _, bad := range [][]string{
			{"snapshot", "notes", "show", "host/elsa", "--repository", repo},
			{"snapshot", "notes", "update", "host/elsa/2000-01-01T00:00:00Z", "x", "--repository", repo},
			{"snapshot", "notes", "show", "host/../x/2000-01-01T00:00:00Z", "--repository", repo},
		} {
			if r := cairnRun(t, bad...); r.code == 0 || strings.Count(r.stderr, "\n") != 1 {
				t.Errorf("%q: exit %d, stderr %q", bad, r.code, r.stderr)
			}
		}
	})
}

func TestSnapshotUploadLog(t *testing.T) {
	forBothRepos(t, func(t *testing.T, repo string) {
		dir := t.TempDir()
		src := sourceTree(t)
		mustRun(t, "backup", "root.pxar:"+src, "--repository", repo, "--backup-id", "elsa")
		snap := lastSnapshot(t, repo)
		logText := strings.Repeat("backup log line\n", 1000)
		logFile := filepath.Join(dir, "backup.log")
		os.WriteFile(logFile, []byte(logText), 0o644)
		mustRun(t, "snapshot", "upload-log", snap, logFile, "--repository", repo)
		files := mustRun(t, "snapshot", "files", snap, "--repository", repo).stdout
		if !strings.Contains(files, "client.log.blob") {
			t.Fatalf("files after upload-log:\n%s", files)
		}
		for _, cmd := range [][]string{{"snapshot", "list"}, {"list"}} {
			if out := mustRun(t, append(cmd, "--repository", repo)...).stdout; !strings.Contains(out, "client.log") {
				t.Errorf("%s after upload-log does not show the log:\n%s", cmd, out)
			}
		}
		out := filepath.Join(dir, "restored.log")
		mustRun(t, "restore", snap, "client.log.blob", out, "--repository", repo)
		sameFile(t, logFile, out)
		// A snapshot keeps its first log; the alias does the same thing.
		r := cairnRun(t, "upload-log", snap, logFile, "--repository", repo)
		if r.code == 0 || !strings.Contains(r.stderr, "already contains a log") {
			t.Fatalf("second upload-log: exit %d, %s", r.code, r.stderr)
		}
		if r := cairnRun(t, "snapshot", "upload-log", snap, filepath.Join(dir, "missing.log"), "--repository", repo); r.code == 0 {
			t.Fatal("upload-log of a missing file succeeded")
		}
	})
}

func TestSnapshotUploadLogEncrypted(t *testing.T) {
	isolateClient(t)
	dir := t.TempDir()
	key := filepath.Join(dir, "k.json")
	mustRun(t, "key", "create", key, "--kdf", "none")
	repo := localRepo(t)
	src := sourceTree(t)
	mustRun(t, "backup", "root.pxar:"+src, "--repository", repo, "--keyfile", key)
	snap := lastSnapshot(t, repo)
	secret := "the secret log text, never in clear"
	logFile := filepath.Join(dir, "l.log")
	os.WriteFile(logFile, []byte(secret), 0o644)
	mustRun(t, "snapshot", "upload-log", snap, logFile, "--repository", repo, "--keyfile", key)
	var found bool
	filepath.Walk(repo, func(p string, info os.FileInfo, err error) error {
		if err == nil && info.Name() == "client.log.blob" {
			found = true
			data, _ := os.ReadFile(p)
			if strings.Contains(string(data), "secret log") {
				t.Errorf("%s holds the log in clear", p)
			}
		}
		return nil
	})
	if !found {
		t.Fatal("no client.log.blob in the datastore")
	}
	out := filepath.Join(dir, "out.log")
	mustRun(t, "restore", snap, "client.log.blob", out, "--repository", repo, "--keyfile", key)
	sameFile(t, logFile, out)
}

func TestSnapshotAliases(t *testing.T) {
	isolateClient(t)
	repo := localRepo(t)
	src := sourceTree(t)
	mustRun(t, "backup", "root.pxar:"+src, "--repository", repo, "--backup-id", "a")
	snap := lastSnapshot(t, repo)
	if a, b := mustRun(t, "snapshots", "--repository", repo).stdout, mustRun(t, "snapshot", "list", "--repository", repo).stdout; a != b || a == "" {
		t.Fatalf("snapshots %q != snapshot list %q", a, b)
	}
	if a, b := mustRun(t, "files", snap, "--repository", repo, "--output-format", "json").stdout, mustRun(t, "snapshot", "files", snap, "--repository", repo, "--output-format", "json").stdout; a != b || a == "" {
		t.Fatalf("files %q != snapshot files %q", a, b)
	}
	mustRun(t, "forget", snap, "--repository", repo)
	if names := snapshotNames(t, repo); len(names) != 0 {
		t.Fatalf("after forget: %v", names)
	}
}

func TestPruneMaxDepth(t *testing.T) {
	isolateClient(t)
	repo := localRepo(t)
	src := sourceTree(t)
	mustRun(t, "backup", "root.pxar:"+src, "--repository", repo, "--backup-id", "a")
	if r := cairnRun(t, "prune", "host/a", "--keep-last", "1", "--max-depth", "8", "--repository", repo); r.code != 2 || !strings.Contains(r.stderr, "--max-depth 8") {
		t.Fatalf("--max-depth 8: exit %d, %s", r.code, r.stderr)
	}
	r := mustRun(t, "prune", "host/a", "--keep-last", "1", "--max-depth", "0", "--dry-run", "--repository", repo, "--output-format", "json")
	if !strings.Contains(r.stdout, `"keep":true`) {
		t.Fatalf("prune --max-depth 0: %s", r.stdout)
	}
}

func TestBenchmarkKeyfileIsRead(t *testing.T) {
	isolateClient(t)
	dir := t.TempDir()
	bad := filepath.Join(dir, "bad.json")
	os.WriteFile(bad, []byte("{not a key"), 0o600)
	for _, k := range []string{bad, filepath.Join(dir, "missing.json")} {
		if r := cairnRun(t, "benchmark", "--keyfile", k); r.code == 0 || !strings.Contains(r.stderr, k) {
			t.Errorf("benchmark --keyfile %s: exit %d, %s", k, r.code, r.stderr)
		}
	}
}

func TestProtectedShowJSON(t *testing.T) {
	forBothRepos(t, func(t *testing.T, repo string) {
		mustRun(t, "backup", "root.pxar:"+sourceTree(t), "--repository", repo)
		snap := lastSnapshot(t, repo)
		if r := mustRun(t, "snapshot", "protected", "show", snap, "--repository", repo, "--output-format", "json"); r.stdout != `{"protected":false}`+"\n" {
			t.Fatalf("protected show json: %q", r.stdout)
		}
		mustRun(t, "snapshot", "protected", "update", snap, "true", "--repository", repo)
		if r := mustRun(t, "snapshot", "protected", "show", snap, "--repository", repo); r.stdout != "true\n" {
			t.Fatalf("protected show text: %q", r.stdout)
		}
	})
}

// On a server, garbage-collect --output-format json prints the task's UPID
// at once, as upstream does; text follows the task log.
func TestGarbageCollectJSONOnServer(t *testing.T) {
	isolateClient(t)
	_, repo := remoteRepo(t)
	mustRun(t, "backup", "root.pxar:"+sourceTree(t), "--repository", repo)
	r := mustRun(t, "garbage-collect", "--repository", repo, "--output-format", "json")
	if !strings.HasPrefix(r.stdout, `"UPID:`) || !strings.HasSuffix(r.stdout, "\"\n") {
		t.Fatalf("gc json: %q", r.stdout)
	}
	upid := strings.Trim(strings.TrimSpace(r.stdout), `"`)
	log := mustRun(t, "task", "log", upid, "--repository", repo)
	if !strings.Contains(log.stdout+log.stderr, "TASK OK") {
		t.Fatalf("task log of the GC: %q %q", log.stdout, log.stderr)
	}
	// The store is named as configured, not by its directory.
	if !strings.Contains(log.stdout+log.stderr, "starting garbage collection on store store1") || !strings.Contains(upid, ":garbage_collection:store1:") {
		t.Fatalf("GC task does not name store1: %s %q", upid, log.stdout+log.stderr)
	}
}

// On a server, garbage-collect in text prints the task's log and nothing
// after it, as upstream's client does (issue 19: its figures are in the
// log; printing them again made the output differ from upstream's).
func TestGarbageCollectTextOnServer(t *testing.T) {
	isolateClient(t)
	_, repo := remoteRepo(t)
	mustRun(t, "backup", "root.pxar:"+sourceTree(t), "--repository", repo)
	r := mustRun(t, "garbage-collect", "--repository", repo)
	out := r.stdout + r.stderr
	if !strings.HasSuffix(out, "TASK OK\n") || strings.Count(out, "Removed chunks:") != 1 {
		t.Fatalf("gc text on a server:\n%s", out)
	}
}

// Boolean options take upstream's separate value: `--dry-run true`,
// `--delete-groups 0`.
func TestBoolOptionValues(t *testing.T) {
	isolateClient(t)
	repo := localRepo(t)
	mustRun(t, "backup", "root.pxar:"+sourceTree(t), "--repository", repo, "--backup-id", "a")
	mustRun(t, "backup", "root.pxar:"+sourceTree(t), "--repository", repo, "--backup-id", "a")
	r := mustRun(t, "prune", "host/a", "--keep-last", "1", "--dry-run", "true", "--repository", repo, "--output-format", "json")
	if strings.Count(r.stdout, `"keep":false`) != 1 {
		t.Fatalf("prune --dry-run true: %s", r.stdout)
	}
	if n := len(snapshotNames(t, repo)); n != 2 {
		t.Fatalf("a dry run removed snapshots: %d left", n)
	}
	mustRun(t, "prune", "host/a", "--keep-last", "1", "--dry-run", "false", "--repository", repo)
	if n := len(snapshotNames(t, repo)); n != 1 {
		t.Fatalf("prune --dry-run false kept %d snapshots, want 1", n)
	}
	mustRun(t, "namespace", "create", "x", "--repository", repo)
	mustRun(t, "backup", "root.pxar:"+sourceTree(t), "--repository", repo, "--ns", "x")
	if r := cairnRun(t, "namespace", "delete", "x", "--delete-groups", "0", "--repository", repo); r.code == 0 {
		t.Fatal("namespace delete --delete-groups 0 deleted a namespace with groups")
	}
	mustRun(t, "namespace", "delete", "x", "--delete-groups", "yes", "--repository", repo)
}
