//go:build reliability

package reliability

import (
	"fmt"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"cairn/internal/hostile"
)

// Resource exhaustion (issue 16 items 2 and 5) against `cairn serve`: one
// user with backup rights attacks the server's memory and its file
// descriptors. Memory: each attack of hostile.MemoryAttacks against a fresh
// server, whose peak RSS (VmHWM, sampled every 5 ms) must stay under
// memBound. File descriptors: one user opens 300 idle sessions against a
// server limited to 400 descriptors; the caps refuse most, another user
// backs up meanwhile, and the idle timeout closes the rest.

const (
	memBound   = 512 << 20
	memCeiling = 2 << 30 // a server past this is killed: a failing row, not a dead machine
)

func TestResourceExhaustion(t *testing.T) {
	c := &checks{t: t}
	var figures []string
	var worst int64
	for _, a := range hostile.MemoryAttacks {
		store := filepath.Join(tmpDir(t, "exstore"), "ds")
		s := newServer(t, store)
		pid := s.cmd.Process.Pid
		base, _ := hostile.ProcStatus(pid, "VmRSS")
		cl, err := hostile.Login(hostile.Target{Addr: s.addr, User: "bob@pbs", Password: s.users["bob@pbs"], Store: "store1"})
		if err != nil {
			t.Fatal(err)
		}
		smp := hostile.Watch(pid, memCeiling, func(int64) { s.cmd.Process.Signal(syscall.SIGKILL) })
		t0 := time.Now()
		res, err := a.Run(cl)
		peak, killed := smp.Stop()
		took := time.Since(t0)
		worst = max(worst, peak)
		alive := s.alive()
		_, aerr := hostile.Login(hostile.Target{Addr: s.addr, User: "alice@pbs", Password: s.users["alice@pbs"], Store: "store1"})
		t.Logf("%s: RSS %s at the start, peak %s; %s; %v (err %v)", a.Name, hostile.MiB(base), hostile.MiB(peak), res, took.Round(time.Millisecond), err)
		figures = append(figures, fmt.Sprintf("%s: %s", a.Name, hostile.MiB(peak)))
		c.add(a.Name+": peak RSS under the bound", !killed && peak <= memBound, fmt.Sprintf("peak %s (bound %s), %s", hostile.MiB(peak), hostile.MiB(memBound), res))
		c.add(a.Name+": server alive and serving another user", alive && aerr == nil, fmt.Sprint(aerr))
		s.stop()
	}
	report(t, "resource exhaustion: server memory", len(hostile.MemoryAttacks),
		"one user with backup rights, each attack against a fresh cairn serve: "+attackNames(),
		fmt.Sprintf("the server's peak RSS (VmHWM, sampled every 5 ms) stays ≤ %s under each attack; it still serves another user", hostile.MiB(memBound)),
		c.outcome(fmt.Sprintf("server RSS under each attack ≤ %s (%s)", hostile.MiB(worst), strings.Join(figures, "; "))))
}

func attackNames() string {
	var n []string
	for _, a := range hostile.MemoryAttacks {
		n = append(n, a.Name)
	}
	return strings.Join(n, "; ")
}

func TestFDExhaustion(t *testing.T) {
	const perUser, global, nofile, attempts = 16, 24, 400, 300
	const idle = 2 * time.Second
	c := &checks{t: t}
	store := filepath.Join(tmpDir(t, "fdstore"), "ds")
	s := newServerWith(t, store, "--max-sessions", fmt.Sprint(global), "--max-sessions-per-user", fmt.Sprint(perUser),
		"--session-idle-timeout", idle.String())
	pid := s.cmd.Process.Pid
	// The server's own limit, as the attack met it (20,000 there).
	if err := unix.Prlimit(pid, unix.RLIMIT_NOFILE, &unix.Rlimit{Cur: nofile, Max: nofile}, nil); err != nil {
		t.Fatalf("prlimit: %v", err)
	}
	bob, err := hostile.Login(hostile.Target{Addr: s.addr, User: "bob@pbs", Password: s.users["bob@pbs"], Store: "store1"})
	if err != nil {
		t.Fatal(err)
	}
	alice, err := hostile.Login(hostile.Target{Addr: s.addr, User: "alice@pbs", Password: s.users["alice@pbs"], Store: "store1"})
	if err != nil {
		t.Fatal(err)
	}
	fd0, _ := hostile.OpenFDs(pid)
	t0 := time.Now()
	sessions, res := hostile.IdleSessions(bob, "idle", attempts)
	fd1, _ := hostile.OpenFDs(pid)
	c.add("bob's idle sessions capped per user", len(sessions) == perUser && res.Codes[429] == attempts-perUser, res.String())
	// alice backs up with the real client while bob holds his sessions.
	src := tmpDir(t, "fdsrc")
	mkSource(t, src, 77, 1)
	out, err := run(s.env("alice@pbs"), "backup", "root.pxar:"+src, "--repository", s.repo("alice@pbs"), "--backup-id", "alice")
	c.add("alice backs up while bob holds his sessions", err == nil, lastLines(out, 1))
	aliceIdle, ares := hostile.IdleSessions(alice, "alice-idle", perUser)
	fd2, _ := hostile.OpenFDs(pid)
	c.add("the server-wide cap: alice gets the sessions left", len(aliceIdle) == global-perUser && ares.Codes[503] == perUser-(global-perUser), ares.String())
	c.add("fds with every session open stay far below the limit", fd2 < nofile/2, fmt.Sprintf("%d of %d", fd2, nofile))
	// The idle timeout closes them all.
	all := append(sessions, aliceIdle...)
	deadline := time.Now().Add(idle + 15*time.Second)
	open := len(all)
	for time.Now().Before(deadline) && open > 0 {
		time.Sleep(250 * time.Millisecond)
		open = 0
		for _, ss := range all {
			if !ss.Closed() {
				open++
			}
		}
	}
	closedIn := time.Since(t0)
	for _, ss := range all {
		ss.Close()
	}
	time.Sleep(300 * time.Millisecond)
	fd3, _ := hostile.OpenFDs(pid)
	c.add("idle sessions closed by the server after the timeout", open == 0, fmt.Sprintf("%d still open after %v", open, closedIn.Round(time.Millisecond)))
	c.add("fds back to the start", fd3 <= fd0+4, fmt.Sprintf("%d at the start, %d after", fd0, fd3))
	out, err = run(s.env("bob@pbs"), "backup", "root.pxar:"+src, "--repository", s.repo("bob@pbs"), "--backup-id", "bob")
	c.add("bob backs up again afterwards", err == nil, lastLines(out, 1))
	_, bad := checkSnapshots(t, s.env("admin@pbs"), s.repo("admin@pbs"), func(snapInfo) string { return src })
	c.add("every finished snapshot verifies and restores", len(bad) == 0, strings.Join(bad, "; "))
	c.add("server alive", s.alive(), "")
	report(t, "fd exhaustion: idle sessions", attempts+perUser,
		fmt.Sprintf("bob opens %d idle backup sessions against cairn serve limited to %d file descriptors (--max-sessions %d --max-sessions-per-user %d --session-idle-timeout %v); alice backs up, then opens %d more", attempts, nofile, global, perUser, idle, perUser),
		"per-user cap answers 429, the server-wide cap 503; another user backs up meanwhile; the server's fds stay bounded; idle sessions are closed after the timeout and the fds return",
		c.outcome(fmt.Sprintf("bob held %d sessions (%d refused 429), alice's backup ok, alice got %d more (%d refused 503); server fds %d at the start, %d with bob's %d sessions, %d with all %d open, %d after the idle timeout closed them (%v after they opened)",
			len(sessions), res.Codes[429], len(aliceIdle), ares.Codes[503], fd0, fd1, len(sessions), fd2, len(all), fd3, closedIn.Round(time.Millisecond))))
}
