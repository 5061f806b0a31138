//go:build reliability

package reliability

import (
	"context"
	"fmt"
	mrand "math/rand/v2"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// crashRun is one scenario of kills: kill(i) is called after the random delay.
type crashCfg struct {
	name  string
	env   []string
	repo  string
	store string
	kill  func(cmd *cairnProc) // the injection
	after func()               // restart what was killed
	idle  func() func()        // stop everything using the store; returns resume
	bigMB int
}

type cairnProc struct {
	cancel context.CancelFunc
	done   chan error
	out    *strings.Builder
	pid    int
}

func startBackup(env []string, repo, src, id string, tm int64) (*cairnProc, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	cmd := cairnCmd(ctx, env, "backup", "root.pxar:"+src, "--repository", repo, "--backup-id", id, "--backup-time", fmt.Sprint(tm))
	var out strings.Builder
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		cancel()
		return nil, err
	}
	p := &cairnProc{cancel: cancel, done: make(chan error, 1), out: &out, pid: cmd.Process.Pid}
	go func() { p.done <- cmd.Wait(); cancel() }()
	return p, nil
}

func runCrashes(t *testing.T, c crashCfg, n int) {
	srcs := map[int64]string{}
	srcOf := func(s snapInfo) string { return srcs[s.Time] }
	base := time.Now().Add(-time.Hour).Unix()

	// Baseline: how long a backup of a fresh source takes.
	src0 := tmpDir(t, "src")
	mkSource(t, src0, 1000, c.bigMB)
	srcs[base] = src0
	t0 := time.Now()
	if out, err := run(c.env, "backup", "root.pxar:"+src0, "--repository", c.repo, "--backup-id", "crash", "--backup-time", fmt.Sprint(base)); err != nil {
		t.Fatalf("baseline backup: %v\n%s", err, out)
	}
	dur := time.Since(t0)
	t.Logf("baseline backup of %d MiB: %v", c.bigMB, dur)

	killed, finishedBeforeKill, clearErr, badSnaps, stale, retryFail := 0, 0, 0, 0, 0, 0
	var problems []string
	for i := 1; i <= n; i++ {
		src := tmpDir(t, "src")
		mkSource(t, src, uint64(i), c.bigMB)
		tm := base + int64(i)*10
		srcs[tm] = src
		p, err := startBackup(c.env, c.repo, src, "crash", tm)
		if err != nil {
			t.Fatal(err)
		}
		delay := time.Duration(mrand.Int64N(int64(dur)))
		var werr error
		killedNow := false
		select {
		case werr = <-p.done:
			finishedBeforeKill++
		case <-time.After(delay):
			killedNow = true
			c.kill(p)
			werr = <-p.done
			killed++
		}
		if werr == nil {
			finishedBeforeKill += 0
		} else if c.name == "server" {
			// The client survives a server kill: its error must say what happened.
			msg := strings.ToLower(p.out.String())
			if !strings.Contains(msg, "signal: killed") {
				if connErrorClear(msg) {
					clearErr++
				} else {
					problems = append(problems, fmt.Sprintf("run %d: unclear client error: %s", i, lastLines(p.out.String(), 2)))
				}
				t.Logf("run %d: client error after server kill: %s", i, lastLines(p.out.String(), 1))
			}
		}
		if werr != nil || killedNow {
			c.after()
		}

		// No lock left behind: nothing in the store is flocked once nobody runs.
		resume := c.idle()
		if l := staleLocks(c.store); len(l) > 0 {
			stale++
			problems = append(problems, fmt.Sprintf("run %d: stale locks %v", i, l))
		}
		resume()

		// The snapshot of this run, if it looks finished, must be whole.
		snaps, err := listSnaps(c.env, c.repo)
		if err != nil {
			t.Fatal(err)
		}
		for _, s := range snaps {
			if s.Time == tm && s.finished() {
				_, bad := checkOne(t, c.env, c.repo, s, src)
				if bad != "" {
					badSnaps++
					problems = append(problems, fmt.Sprintf("run %d: %s", i, bad))
				}
			}
		}
		// The next backup into the same group succeeds (of the baseline
		// source, so the chunks of a killed run become orphans for GC).
		srcs[tm+1] = src0
		if out, err := run(c.env, "backup", "root.pxar:"+src0, "--repository", c.repo, "--backup-id", "crash", "--backup-time", fmt.Sprint(tm+1)); err != nil {
			retryFail++
			problems = append(problems, fmt.Sprintf("run %d: next backup failed: %v: %s", i, err, lastLines(out, 2)))
		}
	}

	// Every finished snapshot verifies and restores byte-identical.
	total, bad := checkSnapshots(t, c.env, c.repo, srcOf)
	resume := c.idle()
	unfinished := unfinishedSnapshots(c.store)
	resume()
	// GC after the grace period removes the orphans, keeps everything else.
	removed, orphans, gcErr := gcAged(t, c.env, c.repo, c.store)
	if gcErr != nil {
		problems = append(problems, gcErr.Error())
	}
	total2, bad2 := checkSnapshots(t, c.env, c.repo, srcOf)
	problems = append(problems, bad...)
	problems = append(problems, bad2...)
	for _, p := range problems {
		t.Error(p)
	}
	outcome := fmt.Sprintf("%d/%d runs killed mid-backup (%d finished first); %d bad snapshots; %d stale locks; %d failed next backups; %d/%d snapshots verify+restore identical before GC, %d/%d after; GC removed %d orphan chunks, %d unreferenced left; %d unfinished snapshot dirs left",
		killed, n, finishedBeforeKill, badSnaps+len(bad)+len(bad2), stale, retryFail, total-len(bad), total, total2-len(bad2), total2, removed, orphans, len(unfinished))
	if c.name == "server" {
		outcome += fmt.Sprintf("; client error clear in %d/%d killed runs", clearErr, killed)
	}
	if len(problems) > 0 {
		outcome = "FAIL: " + outcome
	} else {
		outcome = "PASS: " + outcome
	}
	if orphans > 0 {
		t.Errorf("%d orphan chunks survive an aged GC", orphans)
	}
	report(t, "crash: kill -9 "+c.name, n, fmt.Sprintf("SIGKILL of the %s at a uniform random delay in [0, %v] of a %d MiB backup", c.name, dur.Round(time.Millisecond), c.bigMB),
		"stale flocks, finished snapshots verify+restore identical, next backup same group, aged GC removes orphans", outcome)
}

// checkOne verifies and restores one snapshot against its source.
func checkOne(t *testing.T, env []string, repo string, s snapInfo, src string) (bool, string) {
	if out, err := run(env, "verify", s.Name(), "--repository", repo); err != nil {
		return false, fmt.Sprintf("%s looks finished but fails verify: %s", s.Name(), lastLines(out, 3))
	}
	dst := filepath.Join(workRoot, fmt.Sprintf("r-%d", mrand.Int64()))
	defer removeAll(dst)
	if out, err := run(env, "restore", s.Name(), "root.pxar", dst, "--repository", repo); err != nil {
		return false, fmt.Sprintf("%s looks finished but fails restore: %s", s.Name(), lastLines(out, 3))
	}
	if err := sameTree(src, dst); err != nil {
		return false, fmt.Sprintf("%s restores wrong data: %v", s.Name(), err)
	}
	return true, ""
}

func TestCrashClient(t *testing.T) {
	store := filepath.Join(tmpDir(t, "crashstore"), "ds")
	c := crashCfg{name: "client", repo: store, store: store, bigMB: 48,
		kill:  func(p *cairnProc) { syscall.Kill(-p.pid, syscall.SIGKILL) },
		after: func() {},
		idle:  func() func() { return func() {} },
	}
	runCrashes(t, c, runs(5, 20))
}

func TestCrashServer(t *testing.T) {
	store := filepath.Join(tmpDir(t, "crashsrv"), "ds")
	s := newServer(t, store)
	c := crashCfg{name: "server", env: s.env("admin@pbs"), repo: s.repo("admin@pbs"), store: store, bigMB: 48,
		kill:  func(p *cairnProc) { s.kill9() },
		after: func() { s.start() },
		idle:  func() func() { s.stop(); return s.start },
	}
	runCrashes(t, c, runs(5, 20))
}
