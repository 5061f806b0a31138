package ui

import (
	"strings"

	"github.com/charmbracelet/bubbles/key"
	"github.com/charmbracelet/bubbles/textinput"
	tea "github.com/charmbracelet/bubbletea"
	"github.com/mattn/go-runewidth"
	"github.com/sahilm/fuzzy"
)

// Column describes one column of a List; Width 0 takes the remaining space.
type Column struct {
	Title string
	Width int
	Right bool
}

// Row is one line of a List. Cells[0] is what the filter matches; Data is
// what the row stands for, typed by its list.
type Row[T any] struct {
	Cells []string
	Data  T
	// Dir draws the first cell in the directory style.
	Dir bool
	// Dim draws the row in the dim style.
	Dim bool
	// Note is drawn dim after the first cell, inside its column; the
	// filter does not match it.
	Note string
}

// List is a scrolling table with a cursor and an incremental fuzzy filter
// (sahilm/fuzzy) on the first column. T is what each row carries.
type List[T any] struct {
	c       *Common
	cols    []Column
	rows    []Row[T]
	visible []int
	matched map[int][]int
	cursor  int
	offset  int
	width   int
	height  int

	filtering bool
	input     textinput.Model
	saved     int // cursor before the filter opened

	// IsMarked, when set, draws a mark before rows it reports.
	IsMarked func(Row[T]) bool
	// Empty is shown when there are no rows.
	Empty string
}

// NewList makes a list with the given columns whose rows carry a T.
func NewList[T any](c *Common, cols []Column) *List[T] {
	in := textinput.New()
	in.Prompt = "/"
	return &List[T]{c: c, cols: cols, input: in, Empty: "(empty)"}
}

// SetSize sets the area the list draws in (header row included).
func (l *List[T]) SetSize(w, h int) { l.width, l.height = w, h; l.clamp() }

// SetColumns replaces the columns (the rows keep their cells).
func (l *List[T]) SetColumns(cols []Column) { l.cols = cols }

// SetRows replaces the rows, keeping the cursor on the same first cell.
func (l *List[T]) SetRows(rows []Row[T]) {
	cur := ""
	if r, ok := l.Selected(); ok {
		cur = r.Cells[0]
	}
	l.rows = rows
	l.refilter()
	if cur != "" {
		l.SelectWhere(func(r Row[T]) bool { return r.Cells[0] == cur })
	}
	l.clamp()
}

// Rows returns all rows.
func (l *List[T]) Rows() []Row[T] { return l.rows }

// Len is the number of visible rows.
func (l *List[T]) Len() int { return len(l.visible) }

// Cursor is the index of the selected row among the visible ones.
func (l *List[T]) Cursor() int { return l.cursor }

// Selected returns the row under the cursor.
func (l *List[T]) Selected() (Row[T], bool) {
	if l.cursor < 0 || l.cursor >= len(l.visible) {
		return Row[T]{}, false
	}
	return l.rows[l.visible[l.cursor]], true
}

// SelectWhere moves the cursor to the first visible row f accepts.
func (l *List[T]) SelectWhere(f func(Row[T]) bool) bool {
	for i, idx := range l.visible {
		if f(l.rows[idx]) {
			l.cursor = i
			l.clamp()
			return true
		}
	}
	return false
}

// Filtering reports whether the filter input is open.
func (l *List[T]) Filtering() bool { return l.filtering }

// Filter returns the current filter text.
func (l *List[T]) Filter() string { return l.input.Value() }

func (l *List[T]) refilter() {
	l.visible = l.visible[:0]
	l.matched = nil
	q := l.input.Value()
	if !l.filtering || q == "" {
		for i := range l.rows {
			l.visible = append(l.visible, i)
		}
		return
	}
	keys := make([]string, len(l.rows))
	for i, r := range l.rows {
		keys[i] = r.Cells[0]
	}
	l.matched = map[int][]int{}
	for _, m := range fuzzy.Find(q, keys) {
		l.visible = append(l.visible, m.Index)
		l.matched[m.Index] = m.MatchedIndexes
	}
	l.cursor = 0
}

// pageRows is how many rows fit: the header and the filter line take
// one each, and so does the position line of a list longer than that.
func (l *List[T]) pageRows() int {
	n := max(l.height-1-l.filterLines(), 1)
	if len(l.visible) > n && n > 1 {
		n--
	}
	return n
}

// scrolls tells whether the rows do not fit, so the position is shown.
func (l *List[T]) scrolls() bool { return len(l.visible) > max(l.height-1-l.filterLines(), 1) }

func (l *List[T]) filterLines() int {
	if l.filtering {
		return 1
	}
	return 0
}

func (l *List[T]) clamp() {
	if l.cursor >= len(l.visible) {
		l.cursor = len(l.visible) - 1
	}
	if l.cursor < 0 {
		l.cursor = 0
	}
	n := l.pageRows()
	if l.cursor < l.offset {
		l.offset = l.cursor
	}
	if l.cursor >= l.offset+n {
		l.offset = l.cursor - n + 1
	}
	if l.offset < 0 {
		l.offset = 0
	}
}

// Update handles navigation and the filter. handled is false for keys the
// list does not use, so the view can act on them.
func (l *List[T]) Update(msg tea.Msg) (handled bool, cmd tea.Cmd) {
	if mm, ok := msg.(tea.MouseMsg); ok {
		return l.mouse(mm), nil
	}
	km, ok := msg.(tea.KeyMsg)
	if !ok {
		return false, nil
	}
	k := l.c.Keys
	if l.filtering {
		switch {
		case km.Type == tea.KeyEnter:
			// Keep the match selected, show the whole list again.
			sel, ok := l.Selected()
			l.filtering = false
			l.input.Blur()
			l.refilter()
			if ok {
				l.SelectWhere(func(r Row[T]) bool { return sameRow(r, sel) })
			}
			return true, nil
		case km.Type == tea.KeyEsc:
			l.filtering = false
			l.input.Blur()
			l.refilter()
			l.cursor = l.saved
			l.clamp()
			return true, nil
		case km.Type == tea.KeyUp || km.Type == tea.KeyDown:
			if km.Type == tea.KeyUp {
				l.cursor--
			} else {
				l.cursor++
			}
			l.clamp()
			return true, nil
		case key.Matches(km, k.Clear):
			l.input.SetValue("")
			l.refilter()
			return true, nil
		}
		var c tea.Cmd
		l.input, c = l.input.Update(km)
		l.refilter()
		l.clamp()
		return true, c
	}
	if key.Matches(km, k.Find) {
		l.filtering = true
		l.saved = l.cursor
		l.input.SetValue("")
		l.input.Focus()
		l.refilter()
		return true, textinput.Blink
	}
	c, moved := MoveCursor(k, km, l.cursor, len(l.visible), l.pageRows())
	if !moved {
		return false, nil
	}
	l.cursor = c
	l.clamp()
	return true, nil
}

func sameRow[T any](a, b Row[T]) bool {
	if len(a.Cells) != len(b.Cells) {
		return false
	}
	for i := range a.Cells {
		if a.Cells[i] != b.Cells[i] {
			return false
		}
	}
	return true
}

// widths resolves column widths for the current size.
func (l *List[T]) widths() []int {
	w := make([]int, len(l.cols))
	used, flex := 0, -1
	for i, c := range l.cols {
		if c.Width == 0 && flex < 0 {
			flex = i
			continue
		}
		w[i] = c.Width
		used += c.Width + 1
	}
	mark := 0
	if l.IsMarked != nil {
		mark = 2
	}
	if flex >= 0 {
		w[flex] = max(l.width-used-mark, 8)
	}
	return w
}

// View draws the header row, the visible rows and the filter input.
func (l *List[T]) View() string {
	s := l.c.Styles
	w := l.widths()
	var b strings.Builder
	prefix := ""
	if l.IsMarked != nil {
		prefix = "  "
	}
	var head []string
	for i, c := range l.cols {
		if c.Right {
			head = append(head, PadLeft(c.Title, w[i]))
		} else {
			head = append(head, Pad(c.Title, w[i]))
		}
	}
	b.WriteString(s.Title.Render(prefix + strings.Join(head, " ")))
	n := l.pageRows()
	if len(l.visible) == 0 {
		b.WriteString("\n" + s.Dim.Render(l.Empty))
	}
	for i := l.offset; i < len(l.visible) && i < l.offset+n; i++ {
		idx := l.visible[i]
		r := l.rows[idx]
		var cells []string
		for ci, c := range l.cols {
			text := ""
			if ci < len(r.Cells) {
				text = r.Cells[ci]
			}
			if c.Right {
				cells = append(cells, PadLeft(text, w[ci]))
				continue
			}
			if ci == 0 && r.Note != "" {
				cells = append(cells, l.firstWithNote(text, r, w[ci], i == l.cursor, l.matched[idx]))
				continue
			}
			cell := Pad(text, w[ci])
			if ci == 0 && i != l.cursor {
				cell = l.styleFirst(cell, r, l.matched[idx])
			}
			cells = append(cells, cell)
		}
		mark := prefix
		if l.IsMarked != nil && l.IsMarked(r) {
			mark = s.Marked.Render("✓ ")
		}
		line := strings.Join(cells, " ")
		switch {
		case i == l.cursor:
			line = s.Selected.Render(line)
		case r.Dim:
			line = s.Dim.Render(line)
		}
		b.WriteString("\n" + mark + line)
	}
	if l.scrolls() || l.filtering {
		for i := len(l.visible) - l.offset; i < n; i++ {
			if i >= 0 {
				b.WriteString("\n")
			}
		}
	}
	if l.scrolls() {
		b.WriteString("\n" + s.Dim.Render(PadLeft(Position(l.cursor, len(l.visible)), max(l.width-len(prefix), 1))))
	}
	if l.filtering {
		b.WriteString("\n" + l.input.View())
	}
	return b.String()
}

// firstWithNote draws the first cell with the row's note after it, dim,
// cutting the note before the text.
func (l *List[T]) firstWithNote(text string, r Row[T], w int, selected bool, matched []int) string {
	s := l.c.Styles
	tw := runewidth.StringWidth(text)
	if tw+2 >= w {
		cell := Pad(text, w)
		if !selected {
			cell = l.styleFirst(cell, r, matched)
		}
		return cell
	}
	note := Pad("  "+r.Note, w-tw)
	if selected {
		return text + note
	}
	return l.styleFirst(text, r, matched) + s.Dim.Render(note)
}

// styleFirst highlights matched characters and directories in a padded cell.
func (l *List[T]) styleFirst(cell string, r Row[T], matched []int) string {
	s := l.c.Styles
	base := s.Normal
	if r.Dir {
		base = s.Dir
	}
	if len(matched) == 0 {
		return base.Render(cell)
	}
	return Highlight(cell, matched, base, s.Match)
}

// Highlight draws the runes of s at the given positions in the match style.
func Highlight(s string, positions []int, base, match interface{ Render(...string) string }) string {
	set := map[int]bool{}
	for _, p := range positions {
		set[p] = true
	}
	var b strings.Builder
	var run []rune
	inMatch := false
	flush := func() {
		if len(run) == 0 {
			return
		}
		if inMatch {
			b.WriteString(match.Render(string(run)))
		} else {
			b.WriteString(base.Render(string(run)))
		}
		run = run[:0]
	}
	i := 0
	for _, r := range s {
		m := set[i]
		if m != inMatch {
			flush()
			inMatch = m
		}
		run = append(run, r)
		i++
	}
	flush()
	return b.String()
}
