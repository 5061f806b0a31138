package views

import (
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/charmbracelet/lipgloss"
	"github.com/mattn/go-runewidth"

	"cairn/core"
	"cairn/ui"
)

// The backup screen's drawing: the form (backup_form.go), or the run with
// a headline, one block per archive, warnings and the outcome.

// View draws the form, or the run: a headline, one block per archive,
// warnings and the outcome.
func (b *Backup) View() string {
	if b.prompt.Active() {
		return b.promptView()
	}
	s := b.c.Styles
	head := []string{b.headline(), b.cut(b.overall(), s.Normal), ""}
	body := b.archiveLines()
	var tail []string
	switch {
	case b.confirming:
		tail = append(tail, "", b.cut("Stop the backup? The unfinished snapshot is removed.  y stop · esc keep running", s.Warn))
	case b.running() && b.info != "":
		tail = append(tail, "", b.cut(b.info, s.Dim))
	case b.err != nil:
		tail = append(tail, "", b.wrap("✗ Backup failed: "+b.err.Error(), s.Error))
	case b.cancelled:
		tail = append(tail, "", b.cut("■ Backup stopped; the unfinished snapshot was removed.", s.Warn))
	case b.result != nil:
		tail = append(tail, "")
		tail = append(tail, b.summary()...)
	}
	room := b.height - len(head) - len(body) - len(tail)
	lines := append(head, body...)
	lines = append(lines, b.warningLines(room)...)
	lines = append(lines, tail...)
	return strings.Join(lines, "\n")
}

func (b *Backup) headline() string {
	s := b.c.Styles
	name := b.group.String() + " (starting…)"
	if b.started {
		name = b.snap.String()
	}
	var mark, verb string
	st := s.Title
	switch {
	case b.result != nil:
		mark, verb, st = "✓", "finished", s.OK
	case b.err != nil:
		mark, verb, st = "✗", "failed", s.Error
	case b.cancelled:
		mark, verb, st = "■", "stopped", s.Warn
	case b.stopping:
		mark, verb = backupFrames[b.ticks%len(backupFrames)], "stopping…"
	default:
		mark, verb = backupFrames[b.ticks%len(backupFrames)], "running"
	}
	// The breadcrumb names the repository already.
	extra := " · " + nsName(b.target)
	if b.encrypted {
		extra += " · encrypted"
	}
	text := mark + " Backup " + name + " " + verb
	return b.cut(text, st) + b.cutRest(extra, b.width-runewidth.StringWidth(text), s.Dim)
}

// sized reports whether the sources have been measured.
func (b *Backup) sized() bool { return b.estimate != nil }

// estimateTotal is the measured size of all sources, when every one is known.
func (b *Backup) estimateTotal() (uint64, bool) { return b.estimate.Total() }

func (b *Backup) overall() string {
	p := b.total
	of := " of ? (sizing…)"
	if b.sized() {
		of = " of ?"
	}
	tot, known := b.estimateTotal()
	if known {
		of = " of ~" + backupBytes(tot)
	}
	line := "Total " + backupBytes(p.BytesRead) + " read" + of + " · " + backupRate(p.BytesRead, p.Elapsed) +
		" · elapsed " + backupDur(p.Elapsed)
	if b.running() && known {
		line += " · ETA " + backupETA(p.BytesRead, tot, p.Elapsed)
	}
	return line
}

// backupETA is the time left at the average rate so far.
func backupETA(read, total uint64, elapsed time.Duration) string {
	if read == 0 || elapsed <= 0 {
		return "–"
	}
	if read >= total {
		return "0s"
	}
	left := time.Duration(float64(total-read) / float64(read) * float64(elapsed)).Round(time.Second)
	if left < time.Minute {
		return fmt.Sprintf("%ds", int(left/time.Second))
	}
	return backupDur(left)
}

// sumDone adds up the figures of the archives already finished.
func (b *Backup) sumDone() core.Progress {
	var t core.Progress
	for _, d := range b.done {
		t.BytesRead += d.BytesRead
		t.BytesNew += d.BytesNew
		t.BytesWritten += d.BytesWritten
		t.BytesReused += d.BytesReused
		t.ChunksNew += d.ChunksNew
		t.ChunksReused += d.ChunksReused
		t.Files += d.Files
		t.Elapsed += d.Elapsed
	}
	return t
}

// current is the running archive's share of the totals.
func (b *Backup) current() core.Progress {
	d, p := b.sumDone(), b.total
	sub := func(a, b uint64) uint64 {
		if a < b {
			return 0
		}
		return a - b
	}
	return core.Progress{
		Path:         p.Path,
		BytesRead:    sub(p.BytesRead, d.BytesRead),
		BytesNew:     sub(p.BytesNew, d.BytesNew),
		BytesWritten: sub(p.BytesWritten, d.BytesWritten),
		BytesReused:  sub(p.BytesReused, d.BytesReused),
		ChunksNew:    sub(p.ChunksNew, d.ChunksNew),
		ChunksReused: sub(p.ChunksReused, d.ChunksReused),
		Files:        sub(p.Files, d.Files),
		Elapsed:      max(p.Elapsed-d.Elapsed, 0),
	}
}

func (b *Backup) archiveLines() []string {
	s := b.c.Styles
	nameW := 0
	for _, sp := range b.specs {
		nameW = max(nameW, runewidth.StringWidth(sp.Name))
	}
	nameW = min(nameW, 24)
	// Chunk counts of finished archives only when every line has room:
	// the other figures matter more, and the columns stay aligned.
	withChunks := true
	doneLine := func(name string, d core.Progress, chunks bool) string {
		line := "✓ " + name + "  " + backupBytes(d.BytesRead) + " read · " + backupBytes(d.BytesNew) + " new · " +
			backupDedup(d) + " · " + backupDur(d.Elapsed)
		if chunks {
			line += " · " + backupChunks(d)
		}
		return line
	}
	for i, d := range b.done {
		if i < len(b.specs) && runewidth.StringWidth(doneLine(ui.Pad(b.specs[i].Name, nameW), d, true)) > b.width {
			withChunks = false
		}
	}
	var lines []string
	for i, sp := range b.specs {
		name := ui.Pad(sp.Name, nameW)
		switch {
		case i < len(b.done):
			lines = append(lines, b.cut(doneLine(name, b.done[i], withChunks), s.Normal))
		case i == len(b.done) && b.running():
			lines = append(lines, b.currentLines(i, name)...)
		case i == len(b.done) && b.err != nil:
			lines = append(lines, b.cut("✗ "+name+"  "+sp.Path+"  failed", s.Error))
		case i == len(b.done) && b.cancelled:
			lines = append(lines, b.cut("■ "+name+"  "+sp.Path+"  stopped", s.Warn))
		default:
			lines = append(lines, b.cut("· "+name+"  "+sp.Path+"  waiting", s.Dim))
		}
	}
	if b.running() && len(b.done) >= len(b.specs) && len(b.specs) > 0 {
		lines = append(lines, b.cut("  writing catalog and manifest…", s.Dim))
	}
	return lines
}

func backupChunks(p core.Progress) string {
	return fmt.Sprintf("chunks %d new / %d reused", p.ChunksNew, p.ChunksReused)
}

// currentLines draws the running archive: bar, figures, current file.
func (b *Backup) currentLines(i int, name string) []string {
	s := b.c.Styles
	sp := b.specs[i]
	p := b.current()
	size := int64(-1)
	if b.sized() && i < len(b.estimate.Sizes) {
		size = b.estimate.Sizes[i]
	}
	barW := min(max(b.width-34, 10), 60)
	var bar, pct, of string
	if size >= 0 {
		frac := 1.0
		if size > 0 {
			frac = min(float64(p.BytesRead)/float64(size), 1)
		}
		full := int(frac * float64(barW))
		bar = s.BarFull.Render(strings.Repeat("█", full)) + s.BarEmpty.Render(strings.Repeat("░", barW-full))
		pct = ui.PadLeft(fmt.Sprintf("%d%%", int(frac*100)), 4)
		of = " / ~" + backupBytes(uint64(size))
	} else {
		// Size unknown (still scanning, or a device): a block that moves
		// with each progress report.
		pos := b.ticks % barW
		var sb strings.Builder
		for c := range barW {
			if (c-pos+barW)%barW < 6 {
				sb.WriteString(s.BarFull.Render("▓"))
			} else {
				sb.WriteString(s.BarEmpty.Render("░"))
			}
		}
		bar, pct = sb.String(), "   ?"
	}
	eta := "–"
	if size >= 0 {
		eta = backupETA(p.BytesRead, uint64(size), p.Elapsed)
	}
	lines := []string{
		b.cut("▶ "+name+"  "+sp.Path, s.Title),
		"  [" + bar + "]" + pct + "  " + backupBytes(p.BytesRead) + of,
		b.cut("  "+backupBytes(p.BytesRead)+" read · "+backupRate(p.BytesRead, p.Elapsed)+" · "+backupChunks(p)+" · "+backupDedup(p), s.Normal),
		b.cut(fmt.Sprintf("  elapsed %s · ETA %s · %d files", backupDur(p.Elapsed), eta, p.Files), s.Normal),
	}
	if sp.Type == "pxar" {
		lines = append(lines, s.Dim.Render("  file: ")+b.cutRest(backupTail(p.Path, b.width-8), b.width-8, s.Normal))
	}
	return lines
}

// warningLines lists the newest warnings that fit in room lines.
func (b *Backup) warningLines(room int) []string {
	s := b.c.Styles
	n := len(b.warnings)
	if n == 0 {
		return nil
	}
	show := min(n, max(room-2, 0))
	title := fmt.Sprintf("Warnings (%d)", n)
	if show < n {
		title = fmt.Sprintf("Warnings (%d, newest %d shown)", n, show)
	}
	lines := []string{"", b.cut(title, s.Warn)}
	for _, w := range b.warnings[n-show:] {
		lines = append(lines, b.cut("  "+w, s.Normal))
	}
	return lines
}

// summary is the outcome of a finished backup: what, how long, how much.
func (b *Backup) summary() []string {
	s := b.c.Styles
	r := b.result
	t := r.Totals
	return []string{
		b.cut(fmt.Sprintf("✓ Snapshot %s done in %s", r.Snapshot, backupDur(r.Duration)), s.OK),
		b.cut(b.fitting(fmt.Sprintf("  %s read · %s new (%s written) · %s", backupBytes(t.BytesRead), backupBytes(t.BytesNew),
			backupBytes(t.BytesWritten), backupDedup(t)), " · "+backupChunks(t)), s.Normal),
	}
}

// fitting appends extra to line when the result fits the width.
func (b *Backup) fitting(line, extra string) string {
	if runewidth.StringWidth(line+extra) <= b.width {
		return line + extra
	}
	return line
}

// cut styles plain text cut to the view's width.
func (b *Backup) cut(text string, st lipgloss.Style) string {
	return b.cutRest(text, b.width, st)
}

// cutRest styles plain text cut to w cells.
func (b *Backup) cutRest(text string, w int, st lipgloss.Style) string {
	if w <= 0 {
		return ""
	}
	return st.Render(runewidth.Truncate(text, w, "…"))
}

// wrap styles plain text wrapped to the view's width (errors name paths
// and must be read whole).
func (b *Backup) wrap(text string, st lipgloss.Style) string { return wrapText(text, b.width, st) }

// backupBytes formats a byte count with binary units.
func backupBytes(n uint64) string {
	const unit = 1024
	if n < unit {
		return fmt.Sprintf("%d B", n)
	}
	v, i := float64(n)/unit, 0
	for v >= unit && i < 5 {
		v /= unit
		i++
	}
	return fmt.Sprintf("%.1f %ciB", v, "KMGTPE"[i])
}

// backupDur formats a duration for humans: 4.2s, 3m05s, 2h07m.
func backupDur(d time.Duration) string {
	switch {
	case d < time.Minute:
		return fmt.Sprintf("%.1fs", d.Seconds())
	case d < time.Hour:
		return fmt.Sprintf("%dm%02ds", int(d/time.Minute), int(d%time.Minute/time.Second))
	}
	return fmt.Sprintf("%dh%02dm", int(d/time.Hour), int(d%time.Hour/time.Minute))
}

// backupRate is bytes per second over d.
func backupRate(n uint64, d time.Duration) string {
	if d <= 0 {
		return "– /s"
	}
	return backupBytes(uint64(float64(n)/d.Seconds())) + "/s"
}

// backupDedup is the share of bytes the store already had.
func backupDedup(p core.Progress) string {
	all := p.BytesNew + p.BytesReused
	if all == 0 {
		return "dedup –"
	}
	return "dedup " + strconv.FormatFloat(float64(p.BytesReused)*100/float64(all), 'f', 1, 64) + "%"
}

// backupTail keeps the end of a path in w cells: the file name matters
// more than where it sits.
func backupTail(s string, w int) string {
	if w <= 0 {
		return ""
	}
	if runewidth.StringWidth(s) <= w {
		return s
	}
	rs := []rune(s)
	n := 1 // the "…"
	i := len(rs)
	for i > 0 && n+runewidth.RuneWidth(rs[i-1]) <= w {
		i--
		n += runewidth.RuneWidth(rs[i])
	}
	return "…" + string(rs[i:])
}
