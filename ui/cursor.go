package ui

import (
	"github.com/charmbracelet/bubbles/key"
	tea "github.com/charmbracelet/bubbletea"
)

// MoveCursor is where a navigation key (up, down, page up, page down,
// home, end) moves a cursor in a list of n rows, page of them to a page;
// ok is false for any other key. The caller clamps the result.
func MoveCursor(k *KeyMap, km tea.KeyMsg, cursor, n, page int) (next int, ok bool) {
	switch {
	case key.Matches(km, k.Up):
		return cursor - 1, true
	case key.Matches(km, k.Down):
		return cursor + 1, true
	case key.Matches(km, k.PageUp):
		return cursor - page, true
	case key.Matches(km, k.PageDown):
		return cursor + page, true
	case key.Matches(km, k.Home):
		return 0, true
	case key.Matches(km, k.End):
		return n - 1, true
	}
	return cursor, false
}
