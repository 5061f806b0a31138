package views

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	tea "github.com/charmbracelet/bubbletea"
	"github.com/charmbracelet/lipgloss"
	"github.com/muesli/termenv"

	"cairn/core"
	"cairn/core/prune"
	"cairn/ui"
	"cairn/ui/uitest"
)

// update (-update, rewrite goldens) is defined in backup_test.go; these tests use it.

// init makes goldens hold plain text and fixed local times. It is an init,
// not a TestMain, so other test files of the package may add their own
// TestMain; both settings are idempotent.
func init() {
	lipgloss.SetColorProfile(termenv.Ascii)
	time.Local = time.UTC
}

// pgBase is 2024-01-01 12:00:00 UTC, a Monday.
const pgBase = 1704110400

var pgGroup = core.Group{Type: "host", ID: "elsa"}

// pgRepo is an in-memory repository with what the prune and GC screens
// use; every other method panics through the nil embedded interface.
type pgRepo struct {
	core.Repository
	mu         sync.Mutex
	snaps      []core.SnapshotInfo
	listErr    error
	pruneErr   error
	pruneCalls []pgPruneCall
	gc         func(ctx context.Context, events core.Sink) (*core.GCStatus, error)
	gcCalls    int
}

type pgPruneCall struct {
	ns     core.Namespace
	group  core.Group
	opts   core.KeepOptions
	dryRun bool
}

func (r *pgRepo) Name() string { return "/srv/store1" }

func (r *pgRepo) ListSnapshots(ns core.Namespace, g *core.Group) ([]core.SnapshotInfo, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.listErr != nil {
		return nil, r.listErr
	}
	return append([]core.SnapshotInfo(nil), r.snaps...), nil
}

// Prune applies the same selection the datastore does and drops what it removes.
func (r *pgRepo) Prune(ns core.Namespace, g core.Group, opts core.KeepOptions, dryRun bool) ([]core.PruneResult, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.pruneCalls = append(r.pruneCalls, pgPruneCall{ns, g, opts, dryRun})
	if r.pruneErr != nil {
		return nil, r.pruneErr
	}
	var list []prune.Snapshot
	for _, s := range r.snaps {
		list = append(list, prune.Snapshot{Snapshot: s.Snapshot, Finished: s.Finished, Protected: s.Protected})
	}
	res := prune.Results(prune.Select(list, opts, time.Local))
	if !dryRun {
		var kept []core.SnapshotInfo
		for i, s := range r.snaps {
			for _, pr := range res {
				if pr.Snapshot == s.Snapshot && pr.Keep {
					kept = append(kept, r.snaps[i])
				}
			}
		}
		r.snaps = kept
	}
	return res, nil
}

func (r *pgRepo) GarbageCollect(ctx context.Context, events core.Sink) (*core.GCStatus, error) {
	r.mu.Lock()
	r.gcCalls++
	gc := r.gc
	r.mu.Unlock()
	return gc(ctx, events)
}

// pgSnapshots: one finished snapshot a day at noon for 14 days (the third
// protected), a second one on the last day at 18:00 and an unfinished one
// at 20:00 that day.
func pgSnapshots() []core.SnapshotInfo {
	var out []core.SnapshotInfo
	add := func(t int64, finished, protected bool) {
		out = append(out, core.SnapshotInfo{Snapshot: core.Snapshot{Group: pgGroup, Time: t}, Finished: finished, Protected: protected})
	}
	for d := int64(0); d < 14; d++ {
		add(pgBase+d*86400, true, d == 2)
	}
	add(pgBase+13*86400+6*3600, true, false)
	add(pgBase+13*86400+8*3600, false, false)
	return out
}

func pgCommon(repo core.Repository) *ui.Common {
	return &ui.Common{Repo: repo, RepoName: "/srv/store1", Keys: ui.NewKeyMap(), Styles: ui.NewStyles(false)}
}

func pgStatuses(msgs []tea.Msg) []ui.StatusMsg {
	var out []ui.StatusMsg
	for _, m := range msgs {
		if s, ok := m.(ui.StatusMsg); ok {
			out = append(out, s)
		}
	}
	return out
}

// pgScreen draws v as the root shows it at w×h: header, body, status, hint.
func pgScreen(c *ui.Common, v ui.View, w, h int) string {
	r := ui.NewRoot(c, v)
	r.Update(tea.WindowSizeMsg{Width: w, Height: h})
	return r.View()
}

// pgGolden compares got with testdata/<test>/<name>.golden; -update rewrites it.
func pgGolden(t *testing.T, name, got string) {
	t.Helper()
	path := filepath.Join("testdata", strings.SplitN(t.Name(), "/", 2)[0], name+".golden")
	if *update {
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test -update to create it)", err)
	}
	if string(want) != got {
		t.Errorf("%s differs (run go test -update to accept):\n--- got\n%s\n--- want\n%s", path, got, want)
	}
	for i, l := range strings.Split(got, "\n") {
		if w := lipgloss.Width(l); w > pgWidth(name) {
			t.Errorf("%s line %d is %d cells wide", name, i+1, w)
		}
	}
}

// pgWidth reads the width from a case name like "80x24-…".
func pgWidth(name string) int {
	var w int
	for _, r := range name {
		if r < '0' || r > '9' {
			break
		}
		w = w*10 + int(r-'0')
	}
	return w
}

// newLoadedPrune opens the preview over the fixture and runs its load.
func newLoadedPrune(t *testing.T) (*Prune, *pgRepo, *ui.Common) {
	t.Helper()
	repo := &pgRepo{snaps: pgSnapshots()}
	c := pgCommon(repo)
	p := NewPrune(c, "", pgGroup)
	p.SetSize(80, 21)
	uitest.Drive(t, p, p.Init())
	if len(p.Results()) != 16 {
		t.Fatalf("loaded %d snapshots, want 16", len(p.Results()))
	}
	return p, repo, c
}

// pgSetField moves to field i (0 keep-last … 5 keep-yearly) with NextField
// and types n.
func pgSetField(t *testing.T, p *Prune, i int, n string) {
	t.Helper()
	for p.field != i {
		p.Update(uitest.Press(p.c.Keys.NextField))
	}
	for _, d := range n {
		p.Update(uitest.Runes(string(d)))
	}
	p.Update(uitest.Press(p.c.Keys.Open))
}

func TestPruneStartsKeepingEverything(t *testing.T) {
	p, repo, c := newLoadedPrune(t)
	keep, remove, protected := p.Counts()
	if keep != 15 || remove != 0 || protected != 1 {
		t.Fatalf("counts keep %d remove %d protected %d, want 15 0 1", keep, remove, protected)
	}
	if !strings.Contains(p.View(), "no keep option set: prune keeps everything") {
		t.Errorf("view does not say that nothing is removed:\n%s", p.View())
	}
	if p.Title() != "prune host/elsa" {
		t.Errorf("title %q", p.Title())
	}
	msgs := uitest.Drive(t, p, func() tea.Msg { _, cmd := p.Update(uitest.Press(c.Keys.Confirm)); return cmd() })
	if p.confirming || len(repo.pruneCalls) != 0 {
		t.Fatalf("confirm with nothing to remove: confirming %v, prune calls %d", p.confirming, len(repo.pruneCalls))
	}
	if st := pgStatuses(msgs); len(st) != 1 || !strings.Contains(st[0].Text, "nothing to remove") {
		t.Errorf("status %+v", st)
	}
}

func TestPruneKeepDailyDecisions(t *testing.T) {
	p, _, c := newLoadedPrune(t)
	pgSetField(t, p, 2, "7")
	if got := p.Options(); got != (core.KeepOptions{KeepDaily: 7}) {
		t.Fatalf("options %+v", got)
	}
	keep, remove, protected := p.Counts()
	// unfinished newest: keep-partial; 7 days keep; day 13 noon loses its
	// bucket to 18:00; day 2 protected; days 0, 1, 3, 4, 5 and 6 go.
	if keep != 8 || remove != 7 || protected != 1 {
		t.Fatalf("counts keep %d remove %d protected %d, want 8 7 1", keep, remove, protected)
	}
	byTime := map[int64]prune.Result{}
	for _, r := range p.Results() {
		byTime[r.Snapshot.Snapshot.Time] = r
	}
	check := func(t0 int64, mark prune.Mark, rule string) {
		t.Helper()
		r := byTime[t0]
		if r.Mark != mark || r.Rule != rule {
			t.Errorf("%s: %s/%q, want %s/%q", time.Unix(t0, 0).UTC(), r.Mark, r.Rule, mark, rule)
		}
	}
	check(pgBase+13*86400+8*3600, prune.KeepPartial, "partial")
	check(pgBase+13*86400+6*3600, prune.Keep, "daily")
	check(pgBase+13*86400, prune.Remove, "daily")
	check(pgBase+7*86400, prune.Keep, "daily")
	check(pgBase+6*86400, prune.Remove, "")
	check(pgBase+2*86400, prune.Protected, "protected")
	// Newest first on screen.
	if r := p.Results(); r[0].Snapshot.Snapshot.Time < r[len(r)-1].Snapshot.Snapshot.Time {
		t.Error("results are not newest first")
	}

	// + and - change the focused count and re-run the selection.
	p.Update(uitest.Press(c.Keys.Inc))
	if p.Options().KeepDaily != 8 {
		t.Fatalf("after +: %+v", p.Options())
	}
	if _, remove, _ := p.Counts(); remove != 6 {
		t.Errorf("after +: remove %d, want 6", remove)
	}
	p.Update(uitest.Press(c.Keys.Dec))
	p.Update(uitest.Press(c.Keys.Dec))
	if p.Options().KeepDaily != 6 {
		t.Fatalf("after - -: %+v", p.Options())
	}
	// Weekly on top: 2024-01-01 is a Monday, so the fixture spans weeks 1 and 2.
	p.Update(uitest.Press(c.Keys.NextField))
	p.Update(uitest.Press(c.Keys.Inc))
	p.Update(uitest.Press(c.Keys.Inc))
	if got := p.Options(); got != (core.KeepOptions{KeepDaily: 6, KeepWeekly: 2}) {
		t.Fatalf("options %+v", got)
	}
	if r := byTimeOf(p)[pgBase+6*86400]; r.Mark != prune.Keep || r.Rule != "weekly" {
		t.Errorf("Sunday of week 1: %s/%q, want keep/weekly", r.Mark, r.Rule)
	}
}

func byTimeOf(p *Prune) map[int64]prune.Result {
	m := map[int64]prune.Result{}
	for _, r := range p.Results() {
		m[r.Snapshot.Snapshot.Time] = r
	}
	return m
}

func TestPruneTypingDigits(t *testing.T) {
	p, _, c := newLoadedPrune(t)
	p.Update(uitest.Runes("1"))
	if !p.Capturing() {
		t.Fatal("typing a digit does not capture keys")
	}
	p.Update(uitest.Runes("2"))
	if p.Options().KeepLast != 12 {
		t.Fatalf("typed 12: %+v", p.Options())
	}
	if !strings.Contains(p.View(), "[last 12_]") {
		t.Errorf("edit not shown:\n%s", p.View())
	}
	// backspace deletes a digit while typing, and must not leave the screen.
	_, cmd := p.Update(uitest.Key("backspace"))
	if cmd != nil {
		t.Fatal("backspace while typing returned a command")
	}
	if p.Options().KeepLast != 1 {
		t.Fatalf("after backspace: %+v", p.Options())
	}
	// esc undoes the edit.
	p.Update(uitest.Press(c.Keys.Cancel))
	if p.Capturing() || p.Options().KeepLast != 0 {
		t.Fatalf("after esc: capturing %v, %+v", p.Capturing(), p.Options())
	}
	// Typing, then tab: the value stays and the focus moves on.
	p.Update(uitest.Runes("3"))
	p.Update(uitest.Press(c.Keys.NextField))
	if p.Capturing() || p.Options().KeepLast != 3 || p.field != 1 {
		t.Fatalf("after tab: capturing %v, field %d, %+v", p.Capturing(), p.field, p.Options())
	}
	if _, remove, _ := p.Counts(); remove != 11 {
		t.Errorf("keep-last 3: remove %d, want 11", remove)
	}
	// Not typing: backspace is DESIGN.md's back.
	_, cmd = p.Update(uitest.Key("backspace"))
	if cmd == nil {
		t.Fatal("backspace does not go back")
	}
	if _, ok := cmd().(ui.PopMsg); !ok {
		t.Error("backspace does not pop the view")
	}
}

func TestPruneConfirmRunsPrune(t *testing.T) {
	p, repo, c := newLoadedPrune(t)
	pgSetField(t, p, 2, "7")
	p.Update(uitest.Press(c.Keys.NextField))
	p.Update(uitest.Press(c.Keys.Inc))
	_, remove, _ := p.Counts()

	_, cmd := p.Update(uitest.Press(c.Keys.Confirm))
	if cmd != nil || !p.confirming || !p.Capturing() {
		t.Fatalf("first y: cmd %v, confirming %v", cmd != nil, p.confirming)
	}
	if v := p.View(); !strings.Contains(v, "remove "+pruneSnapshots(remove)+" of host/elsa for good?") {
		t.Errorf("confirmation not shown:\n%s", v)
	}
	if len(repo.pruneCalls) != 0 {
		t.Fatal("pruned before the second y")
	}
	_, cmd = p.Update(uitest.Press(c.Keys.Confirm))
	if cmd == nil || !p.pruning {
		t.Fatal("second y does not prune")
	}
	msgs := uitest.Drive(t, p, cmd)
	want := pgPruneCall{ns: "", group: pgGroup, opts: core.KeepOptions{KeepDaily: 7, KeepWeekly: 1}, dryRun: false}
	if len(repo.pruneCalls) != 1 || repo.pruneCalls[0] != want {
		t.Fatalf("prune calls %+v, want %+v", repo.pruneCalls, want)
	}
	st := pgStatuses(msgs)
	if len(st) != 1 || st[0].Err || !strings.Contains(st[0].Text, "removed "+pruneSnapshots(remove)) {
		t.Errorf("status %+v", st)
	}
	// Reloaded: what is left all stays under the same policy.
	if got := len(p.Results()); got != 16-remove {
		t.Errorf("after prune %d snapshots, want %d", got, 16-remove)
	}
	if _, remove, _ := p.Counts(); remove != 0 {
		t.Errorf("after prune the preview still removes %d", remove)
	}
	if p.pruning || p.confirming {
		t.Error("still pruning or confirming")
	}
}

func TestPruneConfirmCancelled(t *testing.T) {
	p, repo, c := newLoadedPrune(t)
	pgSetField(t, p, 0, "2")
	p.Update(uitest.Press(c.Keys.Confirm))
	p.Update(uitest.Press(c.Keys.Quit)) // q is ignored while asking, not a quit
	if !p.confirming {
		t.Fatal("a stray key ended the confirmation")
	}
	_, cmd := p.Update(uitest.Press(c.Keys.Cancel))
	if cmd != nil || p.confirming || len(repo.pruneCalls) != 0 {
		t.Fatalf("esc: cmd %v confirming %v calls %d", cmd != nil, p.confirming, len(repo.pruneCalls))
	}
}

func TestPruneErrorsStayUsable(t *testing.T) {
	p, repo, c := newLoadedPrune(t)
	pgSetField(t, p, 0, "2")
	repo.pruneErr = errors.New("snapshot is locked")
	p.Update(uitest.Press(c.Keys.Confirm))
	_, cmd := p.Update(uitest.Press(c.Keys.Confirm))
	st := pgStatuses(uitest.Drive(t, p, cmd))
	if len(st) != 1 || !st[0].Err || !strings.Contains(st[0].Text, "snapshot is locked") {
		t.Fatalf("status %+v", st)
	}
	if !strings.Contains(p.View(), "prune host/elsa: snapshot is locked") {
		t.Errorf("error not in the view:\n%s", p.View())
	}
	// Still editable.
	p.Update(uitest.Press(c.Keys.Inc))
	if p.Options().KeepLast != 3 {
		t.Errorf("not usable after the error: %+v", p.Options())
	}

	repo.listErr = errors.New("permission denied")
	st = pgStatuses(uitest.Drive(t, p, p.loadCmd()))
	if len(st) != 1 || !st[0].Err || !strings.Contains(p.View(), "permission denied") {
		t.Errorf("list error: status %+v, view:\n%s", st, p.View())
	}
}

func TestPruneStaleLoadIgnored(t *testing.T) {
	repo := &pgRepo{snaps: pgSnapshots()[:3]}
	p := NewPrune(pgCommon(repo), "", pgGroup)
	first := p.Init()
	oldMsg := first()
	repo.snaps = pgSnapshots()
	second := p.loadCmd()
	p.Update(second())
	p.Update(oldMsg)
	if len(p.Results()) != 16 {
		t.Fatalf("a stale load replaced the newer one: %d snapshots", len(p.Results()))
	}
	// Another prune screen's answer is not ours either.
	other := NewPrune(pgCommon(repo), "", pgGroup)
	p.Update(pruneLoadedMsg{owner: other, seq: p.seq})
	if len(p.Results()) != 16 {
		t.Fatal("took another view's load")
	}
}

func TestPruneGolden(t *testing.T) {
	for _, tc := range []struct {
		name  string
		w, h  int
		setup func(t *testing.T, p *Prune)
	}{
		{"80x24-default", 80, 24, func(*testing.T, *Prune) {}},
		{"80x24-daily7-weekly2", 80, 24, func(t *testing.T, p *Prune) {
			pgSetField(t, p, 2, "7")
			pgSetField(t, p, 3, "2")
		}},
		{"80x24-editing", 80, 24, func(t *testing.T, p *Prune) {
			pgSetField(t, p, 1, "")
			p.Update(uitest.Runes("4"))
		}},
		{"80x24-confirm", 80, 24, func(t *testing.T, p *Prune) {
			pgSetField(t, p, 0, "3")
			p.Update(uitest.Press(p.c.Keys.Down))
			p.Update(uitest.Press(p.c.Keys.Confirm))
		}},
		{"140x40-daily7-weekly2", 140, 40, func(t *testing.T, p *Prune) {
			pgSetField(t, p, 2, "7")
			pgSetField(t, p, 3, "2")
		}},
		{"140x15-scrolled", 140, 15, func(t *testing.T, p *Prune) {
			pgSetField(t, p, 0, "5")
			p.Update(uitest.Press(p.c.Keys.End))
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p, _, c := newLoadedPrune(t)
			ui.NewRoot(c, p).Update(tea.WindowSizeMsg{Width: tc.w, Height: tc.h})
			tc.setup(t, p)
			pgGolden(t, tc.name, pgScreen(c, p, tc.w, tc.h))
		})
	}
}
