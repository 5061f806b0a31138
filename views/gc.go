package views

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/charmbracelet/bubbles/key"
	tea "github.com/charmbracelet/bubbletea"
	"github.com/mattn/go-runewidth"

	"cairn/core"
	"cairn/ui"
)

// gcTickMsg redraws the elapsed time of a running collection.
type gcTickMsg struct {
	job ui.JobID
}

// gcState is where the screen is.
type gcState int

const (
	gcIdle gcState = iota
	gcRunning
	gcFinished
	gcFailed
	gcCancelled
)

const gcLogKeep = 200 // log lines kept for the screen

// gcLine is one line of the task log.
type gcLine struct {
	text string
	warn bool
	// progress lines replace the previous progress line of the same phase
	// instead of piling up.
	progress bool
}

// GC runs a garbage collection on an explicit key and draws it: phase,
// progress bar, the last log lines, elapsed time and, at the end, the
// statistics with the CLI's labels. It starts on enter or y rather than on
// opening, so arriving at the screen by mistake costs nothing; esc while it
// runs cancels it, which is safe (GC only removes chunks after marking).
type GC struct {
	c             *ui.Common
	width, height int

	state      gcState
	job        *ui.Job
	cancelling bool

	phase int // 0 before phase 1, then core.GCPhaseMark or core.GCPhaseSweep
	pct   int
	log   []gcLine
	stats *core.GCStatus
	err   error

	start, end time.Time
	// now and tickEvery are seams for tests: a fixed clock, and no ticker.
	now       func() time.Time
	tickEvery time.Duration
}

// NewGC makes the garbage collection screen.
func NewGC(c *ui.Common) *GC {
	return &GC{c: c, width: 80, height: 20, now: time.Now, tickEvery: time.Second}
}

// Init does nothing: the collection starts on a key.
func (g *GC) Init() tea.Cmd { return nil }

// startCmd runs GarbageCollect as a job. The lines that start a phase are
// events, as are warnings and other lines; the percentage lines within a
// phase are progress, of which the screen needs only the newest.
func (g *GC) startCmd() tea.Cmd {
	g.state, g.cancelling, g.phase, g.pct, g.log, g.stats, g.err = gcRunning, false, 0, 0, nil, nil, nil
	g.start, g.end = g.now(), time.Time{}
	repo := g.c.Repo
	var cmd tea.Cmd
	g.job, cmd = g.c.StartJob("garbage collection", func(ctx context.Context, r ui.Reporter) (any, error) {
		phase := 0
		return repo.GarbageCollect(ctx, func(ev core.Event) {
			if ev.GC != nil && ev.GC.Phase == phase {
				r.Progress(ev)
				return
			}
			if ev.GC != nil {
				phase = ev.GC.Phase
			}
			r.Event(ev)
		})
	})
	return tea.Batch(ui.Status("garbage collection started"), cmd, g.tickCmd())
}

func (g *GC) tickCmd() tea.Cmd {
	if g.tickEvery <= 0 || g.job == nil {
		return nil
	}
	id := g.job.ID()
	return tea.Tick(g.tickEvery, func(time.Time) tea.Msg { return gcTickMsg{job: id} })
}

// Update handles the job's reports, ticks and keys.
func (g *GC) Update(msg tea.Msg) (tea.Model, tea.Cmd) {
	switch msg := msg.(type) {
	case ui.JobMsg:
		if !g.job.Owns(msg) || g.state != gcRunning {
			return g, nil
		}
		for _, ev := range msg.Events {
			g.apply(ev.(core.Event))
		}
		if ev, ok := msg.Progress.(core.Event); ok {
			g.apply(ev)
		}
		if msg.Done {
			st, _ := msg.Result.(*core.GCStatus)
			return g, g.finish(st, msg.Err)
		}
		return g, g.job.Wait()
	case gcTickMsg:
		if g.job == nil || msg.job != g.job.ID() || g.state != gcRunning {
			return g, nil
		}
		return g, g.tickCmd()
	case tea.KeyMsg:
		return g, g.handleKey(msg)
	}
	return g, nil
}

func (g *GC) handleKey(km tea.KeyMsg) tea.Cmd {
	k := g.c.Keys
	if g.state == gcRunning {
		if key.Matches(km, k.Cancel) && !g.cancelling {
			g.cancelling = true
			g.job.Cancel()
			return ui.Status("cancelling garbage collection…")
		}
		return nil
	}
	switch {
	case key.Matches(km, k.Open), key.Matches(km, k.Confirm):
		return g.startCmd()
	case key.Matches(km, k.Back):
		return ui.Pop()
	}
	return nil
}

// apply reads one engine event: a log line and, when the engine says where
// it is (ev.GC), the phase and the bar. A line within the same phase is a
// progress line: it replaces the one before instead of piling up.
func (g *GC) apply(ev core.Event) {
	if ev.Kind != core.EventInfo && ev.Kind != core.EventWarning {
		return
	}
	line := gcLine{text: ev.Message, warn: ev.Kind == core.EventWarning}
	if p := ev.GC; p != nil {
		line.progress = p.Phase == g.phase
		g.phase, g.pct = p.Phase, min(max(p.Percent, 0), 100)
	}
	if n := len(g.log); line.progress && n > 0 && g.log[n-1].progress {
		g.log[n-1] = line
		return
	}
	g.log = append(g.log, line)
	if len(g.log) > gcLogKeep {
		g.log = append(g.log[:0], g.log[len(g.log)-gcLogKeep:]...)
	}
}

func (g *GC) finish(st *core.GCStatus, err error) tea.Cmd {
	g.end = g.now()
	g.cancelling = false
	switch {
	case err == nil && st != nil:
		g.state, g.stats, g.pct = gcFinished, st, 100
		return ui.Status(fmt.Sprintf("garbage collection done: removed %d chunks (%d bytes)", st.RemovedChunks, st.RemovedBytes))
	case errors.Is(err, context.Canceled):
		g.state = gcCancelled
		return ui.Status("garbage collection cancelled")
	default:
		if err == nil {
			err = errors.New("no statistics returned")
		}
		// The screen shows the whole error; the status line only says so.
		g.state, g.err = gcFailed, fmt.Errorf("garbage collection: %w", err)
		return ui.Error(errors.New("garbage collection failed: the reason is on the screen"))
	}
}

// State names where the screen is: idle, running, cancelling, done, failed, cancelled.
func (g *GC) State() string {
	if g.state == gcRunning && g.cancelling {
		return "cancelling"
	}
	return [...]string{"idle", "running", "done", "failed", "cancelled"}[g.state]
}

// Stats is the result of the last finished run, nil before.
func (g *GC) Stats() *core.GCStatus { return g.stats }

// SetSize sets the area the view draws in.
func (g *GC) SetSize(w, h int) { g.width, g.height = w, h }

// Title is the breadcrumb part.
func (g *GC) Title() string { return "garbage collection" }

func (g *GC) startKey() key.Binding {
	k := g.c.Keys
	desc := "start"
	if g.state != gcIdle {
		desc = "run again"
	}
	return key.NewBinding(key.WithKeys(append(k.Open.Keys(), k.Confirm.Keys()...)...),
		key.WithHelp(k.Open.Help().Key+"/"+k.Confirm.Help().Key, desc))
}

// ShortHelp is the one-line hint.
func (g *GC) ShortHelp() []key.Binding {
	if g.state == gcRunning {
		c := g.c.Keys.Cancel
		c.SetEnabled(!g.cancelling)
		return []key.Binding{c}
	}
	return []key.Binding{g.startKey(), g.c.Keys.Back}
}

// FullHelp lists every key of the view.
func (g *GC) FullHelp() [][]key.Binding {
	k := g.c.Keys
	return [][]key.Binding{{g.startKey(), pruneHelp(k.Cancel, "cancel a running collection"), k.Back}}
}

// View draws the state, phase and bar, the statistics when done, and the
// tail of the log in what height is left.
func (g *GC) View() string {
	s := g.c.Styles
	if g.state == gcIdle {
		return strings.Join([]string{
			s.Title.Render("Garbage collection"),
			"Removes chunks that no snapshot's index references any more.",
			s.Dim.Render("Chunks of backups still running are kept; cancelling with esc is safe."),
			"",
			s.Warn.Render("press enter/y to start"),
		}, "\n")
	}
	lines := []string{g.headLine(), g.phaseLine(), g.bar()}
	switch {
	case g.state == gcFailed:
		lines = append(lines, "", wrapText(g.err.Error(), g.width, s.Error))
	case g.stats != nil:
		lines = append(lines, "", s.Title.Render("Statistics"))
		lines = append(lines, gcStatLines(g.stats)...)
	}
	lines = append(lines, "", s.Title.Render("Log"))
	room := g.height - len(lines)
	if room <= 0 {
		return strings.Join(lines[:max(g.height, 1)], "\n")
	}
	tail := g.log[max(len(g.log)-room, 0):]
	for _, l := range tail {
		text := gcClip(l.text, g.width)
		if l.warn {
			text = s.Warn.Render(text)
		}
		lines = append(lines, text)
	}
	return strings.Join(lines, "\n")
}

func (g *GC) headLine() string {
	s := g.c.Styles
	end := g.end
	if g.state == gcRunning {
		end = g.now()
	}
	elapsed := "elapsed " + gcDuration(end.Sub(g.start))
	switch g.state {
	case gcRunning:
		if g.cancelling {
			return s.Warn.Render("cancelling…") + s.Dim.Render(" · "+elapsed)
		}
		return s.Title.Render("running") + s.Dim.Render(" · "+elapsed+" · esc cancels")
	case gcFinished:
		return s.OK.Render("done") + s.Dim.Render(" · "+elapsed) + s.Dim.Render(gcUPID(g.stats))
	case gcCancelled:
		return s.Warn.Render("cancelled") + s.Dim.Render(" · "+elapsed+" · enter/y runs it again")
	}
	return s.Error.Render("failed") + s.Dim.Render(" · "+elapsed+" · enter/y runs it again")
}

func gcUPID(st *core.GCStatus) string {
	if st == nil || st.UPID == "" {
		return ""
	}
	return " · " + st.UPID
}

func (g *GC) phaseLine() string {
	switch g.phase {
	case core.GCPhaseMark:
		return "phase 1 of 2: mark used chunks"
	case core.GCPhaseSweep:
		return "phase 2 of 2: sweep unused chunks"
	}
	return "starting…"
}

// bar draws the current phase's percentage.
func (g *GC) bar() string {
	s := g.c.Styles
	w := min(max(g.width-6, 10), 50)
	full := g.pct * w / 100
	return s.BarFull.Render(strings.Repeat("█", full)) + s.BarEmpty.Render(strings.Repeat("░", w-full)) +
		fmt.Sprintf(" %3d%%", g.pct)
}

// gcStatLines are the CLI's statistics (cli/prune.go printGCStats), with
// the seed's labels that DESIGN.md fixes.
func gcStatLines(st *core.GCStatus) []string {
	out := []string{
		fmt.Sprintf("Removed bytes: %d", st.RemovedBytes),
		fmt.Sprintf("Removed chunks: %d", st.RemovedChunks),
		fmt.Sprintf("Pending removals: %d bytes (in %d chunks)", st.PendingBytes, st.PendingChunks),
	}
	if st.RemovedBad > 0 {
		out = append(out, fmt.Sprintf("Removed bad chunks: %d", st.RemovedBad))
	}
	if st.StillBad > 0 {
		out = append(out, fmt.Sprintf("Leftover bad chunks: %d", st.StillBad))
	}
	out = append(out, fmt.Sprintf("Original data bytes: %d", st.IndexDataBytes))
	if st.IndexDataBytes > 0 {
		out = append(out, fmt.Sprintf("Disk bytes: %d (%d %%)", st.DiskBytes, st.DiskBytes*100/st.IndexDataBytes))
	} else {
		out = append(out, fmt.Sprintf("Disk bytes: %d", st.DiskBytes))
	}
	out = append(out, fmt.Sprintf("Disk chunks: %d", st.DiskChunks))
	if st.DiskChunks > 0 {
		out = append(out, fmt.Sprintf("Average chunk size: %d", st.DiskBytes/st.DiskChunks))
	}
	return out
}

// gcDuration is d in whole seconds: "0s", "42s", "1m5s".
func gcDuration(d time.Duration) string { return max(d, 0).Round(time.Second).String() }

// gcClip cuts plain text to w cells.
func gcClip(s string, w int) string {
	if w <= 0 || runewidth.StringWidth(s) <= w {
		return s
	}
	return runewidth.Truncate(s, w, "…")
}
