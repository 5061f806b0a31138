package ui

import (
	"strconv"

	tea "github.com/charmbracelet/bubbletea"
)

// WheelRows is how far one turn of the mouse wheel moves the cursor.
const WheelRows = 3

// mouse moves the cursor with the wheel and to the row clicked; Y counts
// from the list's header row.
func (l *List[T]) mouse(m tea.MouseMsg) bool {
	switch {
	case m.Button == tea.MouseButtonWheelUp:
		l.cursor -= WheelRows
	case m.Button == tea.MouseButtonWheelDown:
		l.cursor += WheelRows
	case m.Button == tea.MouseButtonLeft && m.Action == tea.MouseActionPress:
		row := m.Y - 1
		if row < 0 || row >= l.pageRows() || l.offset+row >= len(l.visible) {
			return false
		}
		l.cursor = l.offset + row
	default:
		return false
	}
	l.clamp()
	return true
}

// Position is "cursor/rows" with thousands separated: 123/3,000.
func Position(cursor, n int) string {
	return Thousands(min(cursor+1, n)) + "/" + Thousands(n)
}

// Thousands writes n with a comma every three digits.
func Thousands(n int) string {
	s := strconv.Itoa(n)
	if n < 0 {
		return "-" + Thousands(-n)
	}
	for i := len(s) - 3; i > 0; i -= 3 {
		s = s[:i] + "," + s[i:]
	}
	return s
}
