package server

import (
	"testing"
	"time"

	"cairn/internal/hostile"
)

// TestSessionCapsKeepServerUsable is issue 16 item 5: one user opens
// hundreds of idle sessions against a server limited to 400 file
// descriptors. The per-user cap refuses most of them, another user still
// backs up, the idle timeout closes the idle ones, and the server's file
// descriptors stay bounded throughout.
func TestSessionCapsKeepServerUsable(t *testing.T) {
	if testing.Short() {
		t.Skip("runs a server process")
	}
	const perUser, global, idle = 16, 24, 2 * time.Second
	cfgDir, _ := writeServerConfig(t)
	p := startServerProcess(t, cfgDir, "CAIRN_TEST_NOFILE=400", "CAIRN_TEST_MAX_SESSIONS_PER_USER=16",
		"CAIRN_TEST_MAX_SESSIONS=24", "CAIRN_TEST_SESSION_IDLE=2s")
	bob, err := hostile.Login(hostile.Target{Addr: p.addr, User: "bob@pbs", Password: "bob@pbs-pw", Store: "store1"})
	if err != nil {
		t.Fatal(err)
	}
	alice, err := hostile.Login(hostile.Target{Addr: p.addr, User: "alice@pbs", Password: "alice@pbs-pw", Store: "store1"})
	if err != nil {
		t.Fatal(err)
	}
	fd0, _ := hostile.OpenFDs(p.pid)
	start := time.Now()
	sessions, res := hostile.IdleSessions(bob, "idle", 300)
	fd1, _ := hostile.OpenFDs(p.pid)
	t.Logf("bob's 300 upgrades: %s; server fds %d before, %d with bob's sessions open (%v)", res, fd0, fd1, time.Since(start).Round(time.Millisecond))
	if len(sessions) != perUser {
		t.Errorf("bob holds %d sessions, want the per-user cap %d", len(sessions), perUser)
	}
	if res.Codes[429] != 300-perUser {
		t.Errorf("refusals: %s, want %d × 429", res, 300-perUser)
	}
	if err := hostile.GoodBackup(alice, "alice", time.Now().Unix()); err != nil {
		t.Errorf("alice's backup while bob holds his sessions: %v", err)
	}
	// The global cap: alice's idle sessions fill the rest.
	aliceIdle, ares := hostile.IdleSessions(alice, "alice-idle", 16)
	if len(aliceIdle) != global-perUser || ares.Codes[503] != 16-(global-perUser) {
		t.Errorf("alice's 16 upgrades with bob holding %d: %s, want %d accepted and the rest 503", perUser, ares, global-perUser)
	}
	fd2, _ := hostile.OpenFDs(p.pid)
	if fd2-fd0 > global*fdsPerSession {
		t.Errorf("server holds %d more fds with %d sessions open", fd2-fd0, global)
	}
	// Idle sessions are closed after the timeout.
	deadline := time.Now().Add(idle + 10*time.Second)
	for time.Now().Before(deadline) {
		alive := 0
		for _, s := range append(sessions, aliceIdle...) {
			if !s.Closed() {
				alive++
			}
		}
		if alive == 0 {
			break
		}
		time.Sleep(500 * time.Millisecond)
	}
	closedAfter := time.Since(start)
	for _, s := range append(sessions, aliceIdle...) {
		if !s.Closed() {
			t.Errorf("a session is still open %v after the idle timeout", closedAfter.Round(time.Millisecond))
			break
		}
		s.Close()
	}
	time.Sleep(200 * time.Millisecond)
	fd3, _ := hostile.OpenFDs(p.pid)
	t.Logf("server fds %d with %d sessions open, %d after the idle timeout closed them (%v after they opened)", fd2, len(sessions)+len(aliceIdle), fd3, closedAfter.Round(time.Millisecond))
	if fd3 > fd0+4 {
		t.Errorf("server holds %d fds after the sessions closed, %d before", fd3, fd0)
	}
	if err := hostile.GoodBackup(bob, "bob", time.Now().Unix()); err != nil {
		t.Errorf("bob's backup after his idle sessions closed: %v", err)
	}
}
