package views

import (
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/charmbracelet/bubbles/key"
	tea "github.com/charmbracelet/bubbletea"
	"github.com/charmbracelet/lipgloss"

	"cairn/core"
	"cairn/core/prune"
	"cairn/ui"
)

// pruneLoadedMsg carries one group's snapshot list; seq tags the load so a
// late answer to an earlier load is dropped.
type pruneLoadedMsg struct {
	owner *Prune
	seq   int
	snaps []core.SnapshotInfo
	err   error
}

// prunedMsg is the outcome of the real prune the user confirmed.
type prunedMsg struct {
	owner *Prune
	opts  core.KeepOptions
	res   []core.PruneResult
	err   error
}

// pruneDigits matches the digits typed into a keep-* field. It is a view
// detail, not one of DESIGN.md's keys, so it lives here and not in ui.KeyMap.
var pruneDigits = key.NewBinding(
	key.WithKeys("0", "1", "2", "3", "4", "5", "6", "7", "8", "9"),
	key.WithHelp("0-9", "type a count"),
)

// pruneBackspace is backspace while a count is typed; otherwise it is
// ui.KeyMap.Back. Help only: the view matches tea.KeyBackspace.
var pruneBackspace = key.NewBinding(key.WithKeys("backspace"), key.WithHelp("backspace", "delete digit"))

// pruneMaxCount bounds a keep-* count: four digits are more than any policy needs.
const pruneMaxCount = 9999

// Prune is the prune preview of one group: the keep-* counts are editable
// and every change re-runs prune.Select — the pure selection the datastore's
// prune (and so the CLI) applies — over the group's snapshots, showing each
// snapshot's decision and the rule that made it. y, then y again, prunes for
// real.
type Prune struct {
	c     *ui.Common
	ns    core.Namespace
	group core.Group

	width, height int

	// counts are keep-last … keep-yearly in core.KeepOptions.Counts order.
	// They start at 0, "keep everything", as the CLI does without options:
	// opening the preview must never suggest removing anything the user did
	// not ask to remove, and confirming an untouched preview is a no-op.
	counts  [6]int
	field   int
	editing bool
	editBuf string
	editOld int

	seq     int
	loading bool
	err     error
	snaps   []prune.Snapshot
	results []prune.Result // newest first

	confirming bool
	pruning    bool
	note       string // outcome of the last real prune
	noteErr    bool

	cursor, offset int
}

// NewPrune makes the prune preview for group g in namespace ns.
func NewPrune(c *ui.Common, ns core.Namespace, g core.Group) *Prune {
	return &Prune{c: c, ns: ns, group: g, width: 80, height: 20}
}

// Init loads the group's snapshots.
func (p *Prune) Init() tea.Cmd { return p.loadCmd() }

func (p *Prune) loadCmd() tea.Cmd {
	p.seq++
	p.loading = true
	seq, repo, ns, g := p.seq, p.c.Repo, p.ns, p.group
	return func() tea.Msg {
		list, err := repo.ListSnapshots(ns, &g)
		return pruneLoadedMsg{owner: p, seq: seq, snaps: list, err: err}
	}
}

func (p *Prune) pruneCmd() tea.Cmd {
	p.pruning = true
	repo, ns, g, opts := p.c.Repo, p.ns, p.group, p.Options()
	return func() tea.Msg {
		res, err := repo.Prune(ns, g, opts, false)
		return prunedMsg{owner: p, opts: opts, res: res, err: err}
	}
}

// Options are the keep-* counts as shown.
func (p *Prune) Options() core.KeepOptions {
	c := p.counts
	return core.KeepOptions{KeepLast: c[0], KeepHourly: c[1], KeepDaily: c[2], KeepWeekly: c[3], KeepMonthly: c[4], KeepYearly: c[5]}
}

// Results are the current decisions, newest first.
func (p *Prune) Results() []prune.Result { return p.results }

// Counts sums the decisions: kept (keep and keep-partial), removed, protected.
func (p *Prune) Counts() (keep, remove, protected int) {
	for _, r := range p.results {
		switch r.Mark {
		case prune.Remove:
			remove++
		case prune.Protected:
			protected++
		default:
			keep++
		}
	}
	return
}

// recompute re-runs the selection; it is pure and instant, so it runs on
// every edit. Buckets use the local time zone, as the CLI's prune does.
func (p *Prune) recompute() {
	res := prune.Select(p.snaps, p.Options(), time.Local)
	for i, j := 0, len(res)-1; i < j; i, j = i+1, j-1 {
		res[i], res[j] = res[j], res[i]
	}
	p.results = res
	p.clamp()
}

// Update handles loads, the prune's outcome and keys.
func (p *Prune) Update(msg tea.Msg) (tea.Model, tea.Cmd) {
	switch msg := msg.(type) {
	case pruneLoadedMsg:
		if msg.owner != p || msg.seq != p.seq {
			return p, nil
		}
		p.loading = false
		if msg.err != nil {
			p.err = fmt.Errorf("list snapshots of %s: %w", p.group, msg.err)
			return p, ui.Error(p.err)
		}
		p.err = nil
		p.snaps = p.snaps[:0]
		for _, s := range msg.snaps {
			p.snaps = append(p.snaps, prune.Snapshot{Snapshot: s.Snapshot, Finished: s.Finished, Protected: s.Protected})
		}
		p.recompute()
		return p, nil
	case prunedMsg:
		if msg.owner != p {
			return p, nil
		}
		return p, p.pruned(msg)
	case tea.KeyMsg:
		if keys := ui.SplitKeys(msg); keys != nil {
			// A burst or a paste ("12") is the keys it holds.
			cmds := make([]tea.Cmd, len(keys))
			for i, k := range keys {
				cmds[i] = p.handleKey(k)
			}
			return p, tea.Batch(cmds...)
		}
		return p, p.handleKey(msg)
	case tea.MouseMsg:
		p.mouse(msg)
	}
	return p, nil
}

// mouse moves the cursor with the wheel and to the snapshot clicked.
func (p *Prune) mouse(m tea.MouseMsg) {
	switch {
	case m.Button == tea.MouseButtonWheelUp:
		p.cursor -= ui.WheelRows
	case m.Button == tea.MouseButtonWheelDown:
		p.cursor += ui.WheelRows
	case m.Button == tea.MouseButtonLeft && m.Action == tea.MouseActionPress:
		row := m.Y - p.headerLines()
		if row < 0 || row >= p.pageRows() || p.offset+row >= len(p.results) {
			return
		}
		p.cursor = p.offset + row
	default:
		return
	}
	p.clamp()
}

// pruned reports the real prune and reloads: even a failed prune may have
// removed some snapshots before it stopped.
func (p *Prune) pruned(msg prunedMsg) tea.Cmd {
	p.pruning = false
	removed, kept := 0, 0
	for _, r := range msg.res {
		if r.Keep {
			kept++
		} else {
			removed++
		}
	}
	p.note = fmt.Sprintf("pruned %s with %s: removed %s, kept %d", p.group, pruneOptString(msg.opts), pruneSnapshots(removed), kept)
	status := ui.Status(p.note)
	p.noteErr = msg.err != nil
	if msg.err != nil {
		p.note = fmt.Sprintf("prune %s: %v", p.group, msg.err)
		status = ui.Error(fmt.Errorf("prune %s: %w", p.group, msg.err))
	}
	return tea.Batch(status, p.loadCmd())
}

func (p *Prune) handleKey(km tea.KeyMsg) tea.Cmd {
	k := p.c.Keys
	if p.confirming {
		switch {
		case key.Matches(km, k.Confirm):
			p.confirming = false
			return p.pruneCmd()
		case key.Matches(km, k.Back):
			p.confirming = false
		}
		return nil
	}
	if p.editing && p.editKey(km) {
		return nil
	}
	switch {
	case key.Matches(km, pruneDigits):
		p.editing, p.editOld, p.editBuf = true, p.counts[p.field], ""
		p.editKey(km)
	case key.Matches(km, k.Back):
		return ui.Pop()
	case key.Matches(km, k.NextField):
		p.field = (p.field + 1) % len(p.counts)
	case key.Matches(km, k.PrevField):
		p.field = (p.field + len(p.counts) - 1) % len(p.counts)
	case key.Matches(km, k.Inc):
		p.set(p.counts[p.field] + 1)
	case key.Matches(km, k.Dec):
		p.set(p.counts[p.field] - 1)
	case key.Matches(km, k.Confirm):
		return p.askConfirm()
	default:
		p.moveCursor(km)
	}
	return nil
}

// editKey handles a key while a count is being typed; false means the edit
// ended and the key still has to act (tab moves on, + counts up, …).
func (p *Prune) editKey(km tea.KeyMsg) bool {
	switch {
	case key.Matches(km, pruneDigits):
		if len(p.editBuf) < len(strconv.Itoa(pruneMaxCount)) {
			p.editBuf += km.String()
		}
	case km.Type == tea.KeyBackspace:
		if p.editBuf != "" {
			p.editBuf = p.editBuf[:len(p.editBuf)-1]
		}
	case km.Type == tea.KeyEsc:
		p.editing = false
		p.set(p.editOld)
		return true
	case km.Type == tea.KeyEnter:
		p.editing = false
		return true
	default:
		p.editing = false
		return false
	}
	n, _ := strconv.Atoi(p.editBuf)
	p.set(n)
	return true
}

func (p *Prune) set(n int) {
	p.counts[p.field] = min(max(n, 0), pruneMaxCount)
	p.note = ""
	p.recompute()
}

func (p *Prune) askConfirm() tea.Cmd {
	if p.loading || p.pruning || p.err != nil {
		return nil
	}
	if _, remove, _ := p.Counts(); remove == 0 {
		return ui.Status("nothing to remove with " + pruneOptString(p.Options()))
	}
	p.confirming = true
	return nil
}

func (p *Prune) moveCursor(km tea.KeyMsg) {
	if c, ok := ui.MoveCursor(p.c.Keys, km, p.cursor, len(p.results), p.pageRows()); ok {
		p.cursor = c
		p.clamp()
	}
}

func (p *Prune) clamp() {
	p.cursor = min(p.cursor, len(p.results)-1)
	p.cursor = max(p.cursor, 0)
	n := p.pageRows()
	if p.cursor < p.offset {
		p.offset = p.cursor
	}
	if p.cursor >= p.offset+n {
		p.offset = p.cursor - n + 1
	}
	p.offset = max(min(p.offset, len(p.results)-n), 0)
}

// Capturing is true while a count is typed or the prune awaits its second
// y: then q, ? and esc belong to this view.
func (p *Prune) Capturing() bool { return p.editing || p.confirming }

// SetSize sets the area the view draws in.
func (p *Prune) SetSize(w, h int) {
	p.width, p.height = w, h
	p.clamp()
}

// Title is the breadcrumb part.
func (p *Prune) Title() string { return "prune " + p.group.String() }

// ShortHelp is the one-line hint; it follows the sub-state.
func (p *Prune) ShortHelp() []key.Binding {
	k := p.c.Keys
	switch {
	case p.confirming:
		return []key.Binding{pruneHelp(k.Confirm, "prune now"), k.Cancel}
	case p.editing:
		return []key.Binding{pruneDigits, pruneBackspace, pruneHelp(k.Open, "done"), pruneHelp(k.Cancel, "undo")}
	}
	return []key.Binding{k.NextField, k.Inc, k.Dec, pruneHelp(k.Confirm, "prune"), k.Back}
}

// FullHelp lists every key of the view.
func (p *Prune) FullHelp() [][]key.Binding {
	k := p.c.Keys
	return [][]key.Binding{
		{k.NextField, k.PrevField, k.Inc, k.Dec, pruneDigits, pruneBackspace},
		{k.Up, k.Down, k.PageUp, k.PageDown, k.Home, k.End},
		{pruneHelp(k.Confirm, "prune (asks once more)"), k.Back},
	}
}

// pruneHelp is b with other help text, so a hint says what the key does here.
func pruneHelp(b key.Binding, desc string) key.Binding {
	b.SetHelp(b.Help().Key, desc)
	return b
}

func pruneOptString(o core.KeepOptions) string {
	if o.KeepsAll() {
		return "no keep option"
	}
	return o.String()
}

func pruneSnapshots(n int) string {
	if n == 1 {
		return "1 snapshot"
	}
	return strconv.Itoa(n) + " snapshots"
}

// View draws the keep fields, the totals, a prompt line and the snapshots.
func (p *Prune) View() string {
	lines := p.fieldLines()
	lines = append(lines, p.summaryLine(), p.promptLine())
	lines = append(lines, p.table()...)
	return strings.Join(lines, "\n")
}

// fieldLines draws the six counts on one line, or on two when narrow.
func (p *Prune) fieldLines() []string {
	s := p.c.Styles
	var parts []string
	for i, c := range p.Options().Counts() {
		val := strconv.Itoa(p.counts[i])
		if p.editing && i == p.field {
			val = p.editBuf + "_"
		}
		text := strings.TrimPrefix(c.Name, "keep-") + " " + val
		if i == p.field {
			parts = append(parts, s.Selected.Render("["+text+"]"))
		} else {
			parts = append(parts, " "+text+" ")
		}
	}
	head := s.Title.Render("keep")
	one := head + " " + strings.Join(parts, " ")
	if lipgloss.Width(one) <= p.width {
		return []string{one}
	}
	return []string{head + " " + strings.Join(parts[:3], " "), "     " + strings.Join(parts[3:], " ")}
}

func (p *Prune) summaryLine() string {
	s := p.c.Styles
	if p.loading && p.results == nil {
		return s.Dim.Render("loading snapshots…")
	}
	keep, remove, protected := p.Counts()
	line := s.Keep.Render(fmt.Sprintf("keep %d", keep)) + s.Dim.Render(" · ") +
		s.Remove.Render(fmt.Sprintf("remove %d", remove)) + s.Dim.Render(" · ") +
		s.Protected.Render(fmt.Sprintf("protected %d", protected))
	policy := "no keep option set: prune keeps everything"
	if o := p.Options(); !o.KeepsAll() {
		policy = o.String()
	}
	return line + s.Dim.Render("   "+policy)
}

func (p *Prune) promptLine() string {
	s := p.c.Styles
	_, remove, _ := p.Counts()
	switch {
	case p.confirming:
		return s.Warn.Render(fmt.Sprintf("remove %s of %s for good? y prune · esc cancel", pruneSnapshots(remove), p.group))
	case p.pruning:
		return s.Warn.Render("pruning " + p.group.String() + "…")
	case p.err != nil:
		return s.Error.Render(p.err.Error())
	case p.note != "" && p.noteErr:
		return s.Error.Render(p.note)
	case p.note != "":
		return s.OK.Render(p.note)
	}
	return s.Dim.Render(pruneSnapshots(len(p.results))+" · ") + s.Keep.Render("● keep") + " " + s.Remove.Render("○ remove") + " " +
		s.Protected.Render("◆ protected") + " " + s.Keep.Render("◐ partial") + s.Dim.Render(" · 0-9 types a count")
}

// pruneCols are the table's column widths for the current width; the
// timeline takes what the others leave, within bounds.
type pruneCols struct{ time, line, mark, rule int }

func (p *Prune) cols() pruneCols {
	c := pruneCols{time: 23, mark: 12, rule: 9}
	if p.width < 76 {
		c.time = 16 // drop seconds and weekday
	}
	rest := p.width - 2 - c.time - c.mark - c.rule - len("unfinished") - 4
	c.line = min(max(rest, 8), 60)
	return c
}

func (p *Prune) headerLines() int { return len(p.fieldLines()) + 3 }

func (p *Prune) pageRows() int { return max(p.height-p.headerLines(), 1) }

func (p *Prune) table() []string {
	s := p.c.Styles
	c := p.cols()
	head := "  " + ui.Pad("time", c.time) + " " + ui.Pad("old → new", c.line) + " " +
		ui.Pad("decision", c.mark) + " " + ui.Pad("rule", c.rule)
	lines := []string{s.Title.Render(strings.TrimRight(head, " "))}
	if len(p.results) == 0 {
		if !p.loading && p.err == nil {
			lines = append(lines, s.Dim.Render("no snapshots in "+p.group.String()))
		}
		return lines
	}
	oldest, newest := p.results[len(p.results)-1].Snapshot.Snapshot.Time, p.results[0].Snapshot.Snapshot.Time
	end := min(p.offset+p.pageRows(), len(p.results))
	for i := p.offset; i < end; i++ {
		lines = append(lines, p.row(p.results[i], i == p.cursor, c, oldest, newest))
	}
	return lines
}

func (p *Prune) row(r prune.Result, selected bool, c pruneCols, oldest, newest int64) string {
	s := p.c.Styles
	t := time.Unix(r.Snapshot.Snapshot.Time, 0).In(time.Local)
	when := t.Format("2006-01-02 15:04:05 Mon")
	if c.time < 23 {
		when = t.Format("2006-01-02 15:04")
	}
	style, marker := s.Keep, "●"
	switch r.Mark {
	case prune.Remove:
		style, marker = s.Remove, "○"
	case prune.Protected:
		style, marker = s.Protected, "◆"
	case prune.KeepPartial:
		marker = "◐"
	}
	// The marker sits where the snapshot falls between the oldest and the
	// newest one, so gaps and clusters show at a glance.
	pos := c.line - 1
	if newest > oldest {
		pos = int((r.Snapshot.Snapshot.Time - oldest) * int64(c.line-1) / (newest - oldest))
	}
	rule := r.Rule
	if rule == "" {
		rule = "-"
	}
	note := ""
	if !r.Finished {
		note = "unfinished"
	}
	before, after := strings.Repeat("·", pos), strings.Repeat("·", c.line-1-pos)
	if selected {
		plain := ui.Pad(when, c.time) + " " + before + marker + after + " " + ui.Pad(r.Mark.String(), c.mark) + " " + ui.Pad(rule, c.rule) + " " + note
		return "▸ " + s.Selected.Render(strings.TrimRight(plain, " "))
	}
	line := "  " + ui.Pad(when, c.time) + " " + s.Dim.Render(before) + style.Render(marker) + s.Dim.Render(after) + " " +
		style.Render(ui.Pad(r.Mark.String(), c.mark)) + " " + ui.Pad(rule, c.rule)
	if note != "" {
		line += " " + s.Dim.Render(note)
	}
	return strings.TrimRight(line, " ")
}
