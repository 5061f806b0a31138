package views

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	tea "github.com/charmbracelet/bubbletea"

	"cairn/core"
	"cairn/ui"
)

// gcFixtureStats is what the fake collection reports.
var gcFixtureStats = &core.GCStatus{
	UPID:           "UPID:node:00000001:00000002:00000000:659289C0:garbage_collection:store1:root@pam:",
	IndexFileCount: 2, IndexDataBytes: 4 << 20, DiskBytes: 1 << 20, DiskChunks: 4,
	RemovedBytes: 12345, RemovedChunks: 3, PendingBytes: 678, PendingChunks: 1,
}

// gcFixtureRun emits what the datastore's GC emits, then returns st.
func gcFixtureRun(st *core.GCStatus) func(context.Context, core.Sink) (*core.GCStatus, error) {
	return func(ctx context.Context, ev core.Sink) (*core.GCStatus, error) {
		ev.Info("starting garbage collection on store store1")
		ev.Info("Start GC phase1 (mark used chunks)")
		ev.Info("marked 50% (1 of 2 index files)")
		ev.Warn(`warning: unable to access non-existent chunk 00ff, required by "host/elsa/2024-01-01T12:00:00Z/root.pxar.didx"`)
		ev.Info("marked 100% (2 of 2 index files)")
		ev.Info("Start GC phase2 (sweep unused chunks)")
		for pct := 1; pct <= 100; pct++ {
			ev.Info(fmt.Sprintf("percentage done: %d, chunk count: %d", pct, pct/10))
		}
		return st, nil
	}
}

func newTestGC(repo *pgRepo) (*GC, *ui.Common) {
	c := pgCommon(repo)
	g := NewGC(c)
	g.tickEvery = 0
	clock := time.Unix(pgBase, 0)
	g.now = func() time.Time { clock = clock.Add(time.Second); return clock }
	g.SetSize(80, 21)
	return g, c
}

func TestGCRunShowsStats(t *testing.T) {
	repo := &pgRepo{gc: gcFixtureRun(gcFixtureStats)}
	g, c := newTestGC(repo)
	if g.Init() != nil {
		t.Fatal("GC starts without being asked")
	}
	if !strings.Contains(g.View(), "press enter/y to start") || g.Title() != "garbage collection" {
		t.Fatalf("idle screen:\n%s", g.View())
	}
	_, cmd := g.Update(pgKey(c.Keys.Open))
	if g.State() != "running" {
		t.Fatalf("state %s after enter", g.State())
	}
	msgs := pgDrive(t, g, cmd)
	if g.State() != "done" || g.Stats() != gcFixtureStats {
		t.Fatalf("state %s, stats %+v", g.State(), g.Stats())
	}
	v := g.View()
	for _, want := range []string{
		"Removed bytes: 12345", "Removed chunks: 3", "Pending removals: 678 bytes (in 1 chunks)",
		"Original data bytes: 4194304", "Disk bytes: 1048576 (25 %)", "Disk chunks: 4",
		"Average chunk size: 262144", "phase 2 of 2: sweep unused chunks", " 100%",
		"percentage done: 100, chunk count: 10", "unable to access non-existent chunk",
	} {
		if !strings.Contains(v, want) {
			t.Errorf("view lacks %q:\n%s", want, v)
		}
	}
	// Progress lines replace each other instead of filling the log.
	if n := strings.Count(v, "percentage done:"); n != 1 {
		t.Errorf("%d progress lines in the log, want 1", n)
	}
	st := pgStatuses(msgs)
	if len(st) != 2 || st[0].Text != "garbage collection started" ||
		st[1].Text != "garbage collection done: removed 3 chunks (12345 bytes)" || st[1].Err {
		t.Errorf("statuses %+v", st)
	}
	// y runs it again.
	_, cmd = g.Update(pgKey(c.Keys.Confirm))
	pgDrive(t, g, cmd)
	if repo.gcCalls != 2 || g.State() != "done" {
		t.Errorf("second run: %d calls, state %s", repo.gcCalls, g.State())
	}
}

func TestGCPhasesAndPercent(t *testing.T) {
	g, _ := newTestGC(&pgRepo{})
	g.state, g.run = gcRunning, 1
	step := func(msg string, phase, pct int) {
		t.Helper()
		g.Update(gcProgressMsg{owner: g, run: 1, events: []core.Event{{Kind: core.EventInfo, Message: msg}}})
		if g.phase != phase || g.pct != pct {
			t.Errorf("after %q: phase %d pct %d, want %d %d", msg, g.phase, g.pct, phase, pct)
		}
	}
	step("starting garbage collection on store s", 0, 0)
	step("Start GC phase1 (mark used chunks)", 1, 0)
	step("marked 37% (3 of 8 index files)", 1, 37)
	step("Start GC phase2 (sweep unused chunks)", 2, 0)
	step("percentage done: 64, chunk count: 9", 2, 64)
	step("percentage done: garbage", 2, 64)
	// A message for an earlier run, or another screen, changes nothing.
	g.Update(gcProgressMsg{owner: g, run: 0, events: []core.Event{{Kind: core.EventInfo, Message: "percentage done: 99, chunk count: 1"}}})
	g.Update(gcProgressMsg{owner: NewGC(g.c), run: 1, events: []core.Event{{Kind: core.EventInfo, Message: "percentage done: 98, chunk count: 1"}}})
	if g.pct != 64 {
		t.Errorf("stale message applied: pct %d", g.pct)
	}
}

func TestGCCancelWithEsc(t *testing.T) {
	started := make(chan struct{})
	repo := &pgRepo{gc: func(ctx context.Context, ev core.Sink) (*core.GCStatus, error) {
		ev.Info("Start GC phase1 (mark used chunks)")
		close(started)
		<-ctx.Done()
		return nil, ctx.Err()
	}}
	g, c := newTestGC(repo)
	_, cmd := g.Update(pgKey(c.Keys.Confirm))
	<-started
	// Run the start batch by hand: status, then the first wait.
	var wait tea.Cmd
	for _, sub := range pgExec(t, cmd).(tea.BatchMsg) {
		if sub == nil {
			continue
		}
		if m, ok := pgExec(t, sub).(gcProgressMsg); ok {
			_, wait = g.Update(m)
		}
	}
	if g.phase != 1 || wait == nil {
		t.Fatalf("phase %d, wait %v", g.phase, wait != nil)
	}
	_, cmd = g.Update(pgKey(c.Keys.Cancel))
	if g.State() != "cancelling" {
		t.Fatalf("state %s after esc", g.State())
	}
	if s, ok := cmd().(ui.StatusMsg); !ok || !strings.Contains(s.Text, "cancelling") {
		t.Errorf("esc status %+v", s)
	}
	st := pgStatuses(pgDrive(t, g, wait))
	if g.State() != "cancelled" {
		t.Fatalf("state %s after the engine stopped", g.State())
	}
	if len(st) != 1 || st[0].Err || st[0].Text != "garbage collection cancelled" {
		t.Errorf("statuses %+v", st)
	}
	// Now esc goes back.
	_, cmd = g.Update(pgKey(c.Keys.Back))
	if _, ok := cmd().(ui.PopMsg); !ok {
		t.Error("esc after the run does not go back")
	}
}

func TestGCErrorStaysUsable(t *testing.T) {
	repo := &pgRepo{gc: func(ctx context.Context, ev core.Sink) (*core.GCStatus, error) {
		return nil, fmt.Errorf("garbage collection already running on this datastore: %w", core.ErrLocked)
	}}
	g, c := newTestGC(repo)
	_, cmd := g.Update(pgKey(c.Keys.Open))
	st := pgStatuses(pgDrive(t, g, cmd))
	if g.State() != "failed" {
		t.Fatalf("state %s", g.State())
	}
	if len(st) != 2 || !st[1].Err || !strings.Contains(st[1].Text, "already running") {
		t.Errorf("statuses %+v", st)
	}
	if v := g.View(); !strings.Contains(v, "locked by another operation") || !strings.Contains(v, "failed") {
		t.Errorf("error not shown:\n%s", v)
	}
	repo.gc = gcFixtureRun(gcFixtureStats)
	_, cmd = g.Update(pgKey(c.Keys.Open))
	pgDrive(t, g, cmd)
	if g.State() != "done" || strings.Contains(g.View(), "locked") {
		t.Errorf("retry: state %s\n%s", g.State(), g.View())
	}
}

// TestGCEventFloodDoesNotBlock pins that an engine far ahead of the screen
// still finishes: events are batched, and none is lost before the result.
func TestGCEventFloodDoesNotBlock(t *testing.T) {
	repo := &pgRepo{gc: func(ctx context.Context, ev core.Sink) (*core.GCStatus, error) {
		for i := 0; i < 5000; i++ {
			ev.Warn(fmt.Sprintf("warning %d", i))
		}
		return &core.GCStatus{}, nil
	}}
	g, c := newTestGC(repo)
	_, cmd := g.Update(pgKey(c.Keys.Open))
	msgs := pgDrive(t, g, cmd)
	if g.State() != "done" {
		t.Fatalf("state %s", g.State())
	}
	if last := g.log[len(g.log)-1].text; last != "warning 4999" {
		t.Errorf("last log line %q", last)
	}
	if len(msgs) > 1000 {
		t.Errorf("%d messages for 5000 events: not batched", len(msgs))
	}
}

func TestGCGolden(t *testing.T) {
	running := func(g *GC) {
		g.state, g.run, g.start = gcRunning, 1, time.Unix(pgBase, 0)
		g.now = func() time.Time { return time.Unix(pgBase+83, 0) }
		for _, m := range []string{
			"starting garbage collection on store store1",
			"Start GC phase1 (mark used chunks)",
			"marked 100% (2 of 2 index files)",
			"Start GC phase2 (sweep unused chunks)",
			"percentage done: 42, chunk count: 1234",
		} {
			g.apply(core.Event{Kind: core.EventInfo, Message: m})
		}
		g.apply(core.Event{Kind: core.EventWarning, Message: "warning: unable to access non-existent chunk 00ff, required by \"host/elsa/2024-01-01T12:00:00Z/root.pxar.didx\""})
	}
	done := func(g *GC) {
		running(g)
		g.apply(core.Event{Kind: core.EventInfo, Message: "percentage done: 100, chunk count: 2000"})
		g.cancel = func() {}
		g.finish(gcResult{st: gcFixtureStats})
	}
	for _, tc := range []struct {
		name  string
		w, h  int
		setup func(g *GC)
	}{
		{"80x24-idle", 80, 24, func(*GC) {}},
		{"80x24-running", 80, 24, running},
		{"80x24-cancelling", 80, 24, func(g *GC) { running(g); g.cancelling = true }},
		{"80x24-done", 80, 24, done},
		{"80x24-failed", 80, 24, func(g *GC) {
			running(g)
			g.cancel = func() {}
			g.finish(gcResult{err: fmt.Errorf("read chunk dir: %w", core.ErrCorrupt)})
		}},
		{"140x40-running", 140, 40, running},
		{"140x40-done", 140, 40, done},
	} {
		t.Run(tc.name, func(t *testing.T) {
			g, c := newTestGC(&pgRepo{})
			tc.setup(g)
			pgGolden(t, tc.name, pgScreen(c, g, tc.w, tc.h))
		})
	}
}
