package ui

import (
	"github.com/charmbracelet/lipgloss"
	"github.com/charmbracelet/x/ansi"
)

// middleCut cuts a (possibly styled) line that is wider than w in its
// middle: the start (cairn and the repository) and the end (where you
// are) stay, "…" stands for what was left out.
func middleCut(s string, w int) string {
	total := lipgloss.Width(s)
	if total <= w {
		return s
	}
	if w < 8 {
		return cutANSI(s, w)
	}
	head := w / 3
	tail := w - head - 1
	return ansi.Truncate(s, head, "") + "…" + ansi.TruncateLeft(s, total-tail, "")
}

// CutMiddle cuts plain or styled text wider than w in its middle.
func CutMiddle(s string, w int) string { return middleCut(s, w) }
