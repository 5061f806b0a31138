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
	"cairn/ui/uitest"
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
		ev.GCInfo("Start GC phase1 (mark used chunks)", core.GCPhaseMark, 0)
		ev.GCInfo("marked 50% (1 of 2 index files)", core.GCPhaseMark, 50)
		ev.Warn(`warning: unable to access non-existent chunk 00ff, required by "host/elsa/2024-01-01T12:00:00Z/root.pxar.didx"`)
		ev.GCInfo("marked 100% (2 of 2 index files)", core.GCPhaseMark, 100)
		ev.GCInfo("Start GC phase2 (sweep unused chunks)", core.GCPhaseSweep, 0)
		for pct := 1; pct <= 100; pct++ {
			ev.GCInfo(fmt.Sprintf("percentage done: %d, chunk count: %d", pct, pct/10), core.GCPhaseSweep, pct)
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
	_, cmd := g.Update(uitest.Press(c.Keys.Open))
	if g.State() != "running" {
		t.Fatalf("state %s after enter", g.State())
	}
	msgs := uitest.Pump(t, g, cmd, nil)
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
	_, cmd = g.Update(uitest.Press(c.Keys.Confirm))
	uitest.Pump(t, g, cmd, nil)
	if repo.gcCalls != 2 || g.State() != "done" {
		t.Errorf("second run: %d calls, state %s", repo.gcCalls, g.State())
	}
}

// TestGCPhasesAndPercent pins the GC screen on the engine's structured
// progress (issue 17, "one job runner"): the phase and bar come from
// Event.GC, never from reading numbers out of log lines.
func TestGCPhasesAndPercent(t *testing.T) {
	g, c := newTestGC(&pgRepo{gc: func(ctx context.Context, ev core.Sink) (*core.GCStatus, error) {
		<-ctx.Done()
		return nil, ctx.Err()
	}})
	g.startCmd()
	defer g.job.Cancel()
	id := g.job.ID()
	step := func(ev core.Event, phase, pct int) {
		t.Helper()
		g.Update(ui.JobMsg{Job: id, Events: []any{ev}})
		if g.phase != phase || g.pct != pct {
			t.Errorf("after %q: phase %d pct %d, want %d %d", ev.Message, g.phase, g.pct, phase, pct)
		}
	}
	gcEv := func(msg string, phase, pct int) core.Event {
		return core.Event{Kind: core.EventInfo, Message: msg, GC: &core.GCProgress{Phase: phase, Percent: pct}}
	}
	step(core.Event{Kind: core.EventInfo, Message: "starting garbage collection on store s"}, 0, 0)
	step(gcEv("Start GC phase1 (mark used chunks)", core.GCPhaseMark, 0), 1, 0)
	step(gcEv("marked 37% (3 of 8 index files)", core.GCPhaseMark, 37), 1, 37)
	step(gcEv("Start GC phase2 (sweep unused chunks)", core.GCPhaseSweep, 0), 2, 0)
	step(gcEv("percentage done: 64, chunk count: 9", core.GCPhaseSweep, 64), 2, 64)
	// A line that looks like progress but says nothing structured is only
	// a log line.
	step(core.Event{Kind: core.EventInfo, Message: "percentage done: 99, chunk count: 1"}, 2, 64)
	// Progress is read from JobMsg.Progress as well.
	g.Update(ui.JobMsg{Job: id, Progress: gcEv("percentage done: 70, chunk count: 12", core.GCPhaseSweep, 70)})
	if g.pct != 70 {
		t.Errorf("progress report: pct %d", g.pct)
	}
	// A report of another job changes nothing.
	g.Update(ui.JobMsg{Job: id + 1000, Events: []any{gcEv("percentage done: 98, chunk count: 1", core.GCPhaseSweep, 98)}})
	if g.pct != 70 {
		t.Errorf("another job's report applied: pct %d", g.pct)
	}
	// In the log: the structured 64% line, the plain line, then the 70%
	// line (a progress line replaces only the progress line just before).
	if n := strings.Count(g.View(), "percentage done:"); n != 3 {
		t.Errorf("%d percentage lines in the log, want 3:\n%s", n, g.View())
	}
	_ = c
}

func TestGCCancelWithEsc(t *testing.T) {
	repo := &pgRepo{gc: func(ctx context.Context, ev core.Sink) (*core.GCStatus, error) {
		ev.GCInfo("Start GC phase1 (mark used chunks)", core.GCPhaseMark, 0)
		<-ctx.Done()
		return nil, ctx.Err()
	}}
	g, c := newTestGC(repo)
	_, cmd := g.Update(uitest.Press(c.Keys.Confirm))
	// Runs until the phase line arrives; the collection then waits (no need
	// to wait for the pump to go idle).
	uitest.PumpUntil(t, g, cmd, func(m tea.Msg) bool { jm, ok := m.(ui.JobMsg); return ok && len(jm.Events) > 0 })
	if g.phase != core.GCPhaseMark || g.State() != "running" {
		t.Fatalf("phase %d, state %s", g.phase, g.State())
	}
	_, cmd = g.Update(uitest.Press(c.Keys.Cancel))
	if g.State() != "cancelling" {
		t.Fatalf("state %s after esc", g.State())
	}
	if s, ok := cmd().(ui.StatusMsg); !ok || !strings.Contains(s.Text, "cancelling") {
		t.Errorf("esc status %+v", s)
	}
	st := pgStatuses(uitest.Pump(t, g, g.job.Wait(), nil))
	if g.State() != "cancelled" {
		t.Fatalf("state %s after the engine stopped", g.State())
	}
	if len(st) != 1 || st[0].Err || st[0].Text != "garbage collection cancelled" {
		t.Errorf("statuses %+v", st)
	}
	// Now esc goes back.
	_, cmd = g.Update(uitest.Press(c.Keys.Back))
	if _, ok := cmd().(ui.PopMsg); !ok {
		t.Error("esc after the run does not go back")
	}
}

func TestGCErrorStaysUsable(t *testing.T) {
	repo := &pgRepo{gc: func(ctx context.Context, ev core.Sink) (*core.GCStatus, error) {
		return nil, fmt.Errorf("garbage collection already running on this datastore: %w", core.ErrLocked)
	}}
	g, c := newTestGC(repo)
	_, cmd := g.Update(uitest.Press(c.Keys.Open))
	st := pgStatuses(uitest.Pump(t, g, cmd, nil))
	if g.State() != "failed" {
		t.Fatalf("state %s", g.State())
	}
	// The screen shows the error whole (wrapped); the status line says it failed.
	if len(st) != 2 || !st[1].Err || !strings.Contains(st[1].Text, "failed") {
		t.Errorf("statuses %+v", st)
	}
	if v := strings.Join(strings.Fields(g.View()), " "); !strings.Contains(v, "already running on this datastore: locked by another operation") || !strings.Contains(v, "failed") {
		t.Errorf("error not shown:\n%s", v)
	}
	repo.gc = gcFixtureRun(gcFixtureStats)
	_, cmd = g.Update(uitest.Press(c.Keys.Open))
	uitest.Pump(t, g, cmd, nil)
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
	_, cmd := g.Update(uitest.Press(c.Keys.Open))
	msgs := uitest.Pump(t, g, cmd, nil)
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
		g.state, g.start = gcRunning, time.Unix(pgBase, 0)
		g.now = func() time.Time { return time.Unix(pgBase+83, 0) }
		for _, m := range []struct {
			text       string
			phase, pct int
		}{
			{"starting garbage collection on store store1", 0, 0},
			{"Start GC phase1 (mark used chunks)", core.GCPhaseMark, 0},
			{"marked 100% (2 of 2 index files)", core.GCPhaseMark, 100},
			{"Start GC phase2 (sweep unused chunks)", core.GCPhaseSweep, 0},
			{"percentage done: 42, chunk count: 1234", core.GCPhaseSweep, 42},
		} {
			ev := core.Event{Kind: core.EventInfo, Message: m.text}
			if m.phase != 0 {
				ev.GC = &core.GCProgress{Phase: m.phase, Percent: m.pct}
			}
			g.apply(ev)
		}
		g.apply(core.Event{Kind: core.EventWarning, Message: "warning: unable to access non-existent chunk 00ff, required by \"host/elsa/2024-01-01T12:00:00Z/root.pxar.didx\""})
	}
	done := func(g *GC) {
		running(g)
		g.apply(core.Event{Kind: core.EventInfo, Message: "percentage done: 100, chunk count: 2000", GC: &core.GCProgress{Phase: core.GCPhaseSweep, Percent: 100}})
		g.finish(gcFixtureStats, nil)
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
			g.finish(nil, fmt.Errorf("read chunk dir: %w", core.ErrCorrupt))
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
