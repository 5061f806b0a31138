package views

import (
	"fmt"
	"testing"

	tea "github.com/charmbracelet/bubbletea"
	"cairn/ui"
)

func TestZZExplore(t *testing.T) {
	e := newBrEnv(t)
	g := NewGroups(e.c)
	r := ui.NewRoot(e.c, g)
	r.Update(tea.WindowSizeMsg{Width: 80, Height: 24})
	brPump(t, r, r.Init(), nil)
	fmt.Println(r.View())
	brSelect(t, g.list, "  host/elsa")
	brPress(t, r, brKey(e.c.Keys.Open))
	fmt.Println(r.View())
	brPress(t, r, brKey(e.c.Keys.Open))
	fmt.Println(r.View())
	brPress(t, r, brKey(e.c.Keys.Open))
	fmt.Println(r.View())
}
