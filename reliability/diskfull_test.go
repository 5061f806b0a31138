//go:build reliability

package reliability

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func mountTmpfs(t *testing.T, size string) string {
	t.Helper()
	d := filepath.Join(workRoot, fmt.Sprintf("small-%d", time.Now().UnixNano()))
	os.MkdirAll(d, 0o755)
	if out, err := exec.Command("mount", "-t", "tmpfs", "-o", "size="+size, "tmpfs", d).CombinedOutput(); err != nil {
		t.Skipf("cannot mount a tmpfs (%v: %s): disk-full scenario skipped", err, strings.TrimSpace(string(out)))
	}
	t.Cleanup(func() { exec.Command("umount", "-l", d).Run(); os.RemoveAll(d) })
	return d
}

// TestDiskFull: a datastore on a 64 MiB tmpfs; a backup of 96 MiB of random
// data fills it. Local and over the network.
func TestDiskFull(t *testing.T) {
	small := tmpDir(t, "dfsmall")
	mkSource(t, small, 700, 8)
	large := tmpDir(t, "dflarge")
	mkSource(t, large, 701, 96)
	medium := tmpDir(t, "dfmed")
	mkSource(t, medium, 702, 24)
	var problems []string
	modes := []string{"local", "server"}
	clearErr, consistent, recovered := 0, 0, 0
	for _, mode := range modes {
		mnt := mountTmpfs(t, "64m")
		store := filepath.Join(mnt, "ds")
		var env []string
		repo := store
		var srv *server
		if mode == "server" {
			srv = newServer(t, store)
			env, repo = srv.env("admin@pbs"), srv.repo("admin@pbs")
		}
		srcs := map[int64]string{}
		base := time.Now().Add(-time.Hour).Unix()
		bk := func(src string, tm int64) (string, error) {
			return run(env, "backup", "root.pxar:"+src, "--repository", repo, "--backup-id", "df", "--backup-time", fmt.Sprint(tm))
		}
		if out, err := bk(small, base); err != nil {
			t.Fatalf("%s: first backup: %v\n%s", mode, err, out)
		}
		srcs[base] = small
		out, err := bk(large, base+10)
		switch {
		case err == nil:
			problems = append(problems, mode+": a 96 MiB backup into a 64 MiB tmpfs reports success")
			srcs[base+10] = large
		case strings.Contains(strings.ToLower(out), "no space left"):
			clearErr++
			t.Logf("%s: disk full error: %s", mode, lastLines(out, 1))
		default:
			problems = append(problems, fmt.Sprintf("%s: disk full error does not say so: %s", mode, lastLines(out, 2)))
		}
		// Consistency while full: the old snapshot verifies and restores,
		// the failed one is not a finished snapshot, no lock is held.
		total, bad := checkSnapshots(t, env, repo, func(s snapInfo) string { return srcs[s.Time] })
		if srv != nil {
			srv.stop()
		}
		locks := staleLocks(store)
		if srv != nil {
			srv.start()
		}
		if len(bad) == 0 && len(locks) == 0 && total == len(srcs) {
			consistent++
		} else {
			problems = append(problems, fmt.Sprintf("%s: inconsistent while full: %d/%d finished snapshots (want %d), bad %v, locks %v", mode, total-len(bad), total, len(srcs), bad, locks))
		}
		// Free space: an aged GC removes the chunks of the failed backup.
		removed, orphans, gcErr := gcAged(t, env, repo, store)
		if gcErr != nil {
			problems = append(problems, fmt.Sprintf("%s: GC on the full datastore: %v", mode, gcErr))
		}
		t.Logf("%s: GC removed %d chunks, %d orphans left", mode, removed, orphans)
		if out, err := bk(medium, base+20); err != nil {
			problems = append(problems, fmt.Sprintf("%s: backup after freeing space: %v: %s", mode, err, lastLines(out, 2)))
		} else {
			srcs[base+20] = medium
			recovered++
		}
		if _, bad := checkSnapshots(t, env, repo, func(s snapInfo) string { return srcs[s.Time] }); len(bad) > 0 {
			problems = append(problems, fmt.Sprintf("%s: after recovery: %v", mode, bad))
		}
		if srv != nil && !srv.alive() {
			problems = append(problems, mode+": server died")
		}
	}
	for _, p := range problems {
		t.Error(p)
	}
	outcome := fmt.Sprintf("ENOSPC reported clearly %d/%d; datastore consistent while full %d/%d; next backup after an aged GC freed space %d/%d", clearErr, len(modes), consistent, len(modes), recovered, len(modes))
	if len(problems) > 0 {
		outcome = "FAIL: " + outcome
	} else {
		outcome = "PASS: " + outcome
	}
	report(t, "disk full: 64 MiB tmpfs datastore", len(modes),
		"96 MiB random-data backup into a 64 MiB tmpfs datastore holding one 8 MiB snapshot (local client, then cairn serve)",
		"error names ENOSPC, old snapshot verifies+restores, no finished snapshot from the failed run, no stale lock, GC frees space, a 24 MiB backup then succeeds", outcome)
}
