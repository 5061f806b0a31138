package ui

import (
	"strings"

	"github.com/charmbracelet/x/ansi"
	"github.com/mattn/go-runewidth"
)

// cutANSI cuts a line with escape codes to w cells, ending with "…".
func cutANSI(s string, w int) string {
	if w <= 0 {
		return ""
	}
	return ansi.Truncate(s, w, "…")
}

// Pad fills plain text to w cells, cutting it with "…" when longer.
func Pad(s string, w int) string {
	if w <= 0 {
		return ""
	}
	n := runewidth.StringWidth(s)
	if n > w {
		return runewidth.FillRight(runewidth.Truncate(s, w, "…"), w)
	}
	return s + strings.Repeat(" ", w-n)
}

// PadLeft right-aligns plain text in w cells.
func PadLeft(s string, w int) string {
	n := runewidth.StringWidth(s)
	if n >= w {
		return Pad(s, w)
	}
	return strings.Repeat(" ", w-n) + s
}
