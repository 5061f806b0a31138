package ui

import (
	"fmt"
	"reflect"
	"strings"
	"testing"

	"cairn/ui/uitest"

	"github.com/charmbracelet/bubbles/key"
	tea "github.com/charmbracelet/bubbletea"
	"github.com/charmbracelet/lipgloss"
)

// Issue 17 items 8, 12, 14, 15 and 17 at the root and in the list.

// Item 8: Bubble Tea v1 delivers keys typed at once as one KeyMsg with
// several runes; the view must get them one by one.
func TestRootBurstIsItsKeys(t *testing.T) {
	c := testCommon()
	a := newFake(c, "a")
	r := NewRoot(c, a)
	r.Update(uitest.Runes("jjk"))
	if want := []string{"j", "j", "k"}; !reflect.DeepEqual(a.keys, want) {
		t.Errorf("burst jjk reached the view as %q, want %q", a.keys, want)
	}
	// A paste stays whole: an input takes it in one piece.
	a.keys = nil
	r.Update(tea.KeyMsg{Type: tea.KeyRunes, Runes: []rune("/srv/x"), Paste: true})
	if len(a.keys) != 1 || a.keys[0] != "[/srv/x]" {
		t.Errorf("paste reached the view as %q", a.keys)
	}
	// The root's own keys inside a burst act too: q quits.
	a.keys = nil
	_, cmd := r.Update(uitest.Runes("jq"))
	if !hasQuit(uitest.Run(t, cmd)) || !reflect.DeepEqual(a.keys, []string{"j"}) {
		t.Errorf("burst jq: view got %q, quit %v", a.keys, hasQuit(uitest.Run(t, cmd)))
	}
}

// titled is a fake view with its own title and help.
type titled struct {
	*fakeView
	title string
	help  [][]key.Binding
}

func (v *titled) Title() string { return v.title }
func (v *titled) FullHelp() [][]key.Binding {
	if v.help != nil {
		return v.help
	}
	return v.fakeView.FullHelp()
}

// Item 12: a breadcrumb wider than the screen is cut in its middle, so
// the current directory stays on screen.
func TestRootBreadcrumbCutInMiddle(t *testing.T) {
	c := testCommon()
	r := NewRoot(c, newFake(c, "host/elsa"))
	r.Update(PushMsg{View: &titled{fakeView: newFake(c, "s"), title: "2024-01-03T12:00:00Z"}})
	r.Update(PushMsg{View: &titled{fakeView: newFake(c, "t"), title: "root.pxar › usr/share/locale/de/LC_MESSAGES/very-long-directory-name/current-dir"}})
	r.Update(tea.WindowSizeMsg{Width: 80, Height: 24})
	head := strings.SplitN(r.View(), "\n", 2)[0]
	if w := lipgloss.Width(head); w > 80 {
		t.Fatalf("breadcrumb is %d cells wide", w)
	}
	if !strings.HasPrefix(head, "cairn store › host/elsa") || !strings.HasSuffix(strings.TrimRight(head, " "), "very-long-directory-name/current-dir") || !strings.Contains(head, "…") {
		t.Errorf("breadcrumb %q: want its start and its end, cut in the middle", head)
	}
	// One that fits is left alone.
	r.Update(tea.WindowSizeMsg{Width: 200, Height: 24})
	if head := strings.SplitN(r.View(), "\n", 2)[0]; strings.Contains(head, "…") {
		t.Errorf("breadcrumb cut although it fits: %q", head)
	}
}

// Item 14: the help lists every key once, even when the view lists one
// of the root's own (esc back).
func TestRootHelpListsKeysOnce(t *testing.T) {
	c := testCommon()
	k := c.Keys
	v := &titled{fakeView: newFake(c, "a"), title: "a", help: [][]key.Binding{{k.Up, k.Down}, {k.Open, k.Back}}}
	r := NewRoot(c, v)
	r.Update(tea.WindowSizeMsg{Width: 80, Height: 24})
	r.Update(uitest.Press(k.Help))
	view := r.View()
	if n := strings.Count(view, "esc back"); n != 1 {
		t.Errorf("help lists esc back %d times:\n%s", n, view)
	}
	for _, want := range []string{"? help", "q quit"} {
		if !strings.Contains(view, strings.Replace(want, " ", "   ", 1)) && !strings.Contains(view, want) {
			t.Errorf("help lacks %q:\n%s", want, view)
		}
	}
}

// Item 15: a list longer than the screen shows where the cursor is.
func TestListPosition(t *testing.T) {
	var names []string
	for i := 0; i < 3000; i++ {
		names = append(names, fmt.Sprintf("row%04d", i))
	}
	l, c := newTestList(names...)
	l.SetSize(40, 20)
	for i := 0; i < 122; i++ {
		press(l, uitest.Press(c.Keys.Down))
	}
	lines := strings.Split(l.View(), "\n")
	if len(lines) != 20 || strings.TrimSpace(lines[19]) != "123/3,000" {
		t.Errorf("last line %q of %d, want 123/3,000:\n%s", lines[len(lines)-1], len(lines), l.View())
	}
	if !strings.Contains(l.View(), "row0122") {
		t.Error("the selected row is not drawn")
	}
	// A list that fits shows no position.
	short, _ := newTestList("alpha", "beta")
	if strings.Contains(short.View(), "/2") {
		t.Errorf("a short list shows a position:\n%s", short.View())
	}
	for n, want := range map[int]string{0: "0", 999: "999", 1000: "1,000", 1234567: "1,234,567"} {
		if got := Thousands(n); got != want {
			t.Errorf("Thousands(%d) = %q, want %q", n, got, want)
		}
	}
}

// Item 17: the wheel moves the cursor, a click selects the row under it.
func TestListMouse(t *testing.T) {
	var names []string
	for i := 0; i < 50; i++ {
		names = append(names, fmt.Sprintf("row%02d", i))
	}
	l, _ := newTestList(names...)
	l.SetSize(40, 10)
	l.Update(tea.MouseMsg{Button: tea.MouseButtonWheelDown, Action: tea.MouseActionPress})
	l.Update(tea.MouseMsg{Button: tea.MouseButtonWheelDown, Action: tea.MouseActionPress})
	if l.Cursor() != 2*WheelRows {
		t.Errorf("two wheel turns down: cursor %d, want %d", l.Cursor(), 2*WheelRows)
	}
	l.Update(tea.MouseMsg{Button: tea.MouseButtonWheelUp, Action: tea.MouseActionPress})
	if l.Cursor() != WheelRows {
		t.Errorf("a wheel turn up: cursor %d, want %d", l.Cursor(), WheelRows)
	}
	// Line 0 is the header; line 3 is the third row shown.
	if handled, _ := l.Update(tea.MouseMsg{Button: tea.MouseButtonLeft, Action: tea.MouseActionPress, Y: 3}); !handled || selected(l) != "row02" {
		t.Errorf("click on line 3: handled %v, selected %q, want row02", handled, selected(l))
	}
	if handled, _ := l.Update(tea.MouseMsg{Button: tea.MouseButtonLeft, Action: tea.MouseActionPress, Y: 0}); handled || selected(l) != "row02" {
		t.Errorf("click on the header: handled %v, selected %q", handled, selected(l))
	}
}

// Item 17: the root gives mouse events to the view on top only, with Y
// counted from the view's first line.
func TestRootMouseToTopView(t *testing.T) {
	c := testCommon()
	a, b := newFake(c, "a"), newFake(c, "b")
	r := NewRoot(c, a)
	r.Update(PushMsg{View: b})
	a.msgs, b.msgs = nil, nil
	r.Update(tea.MouseMsg{Button: tea.MouseButtonLeft, Action: tea.MouseActionPress, X: 4, Y: 5})
	if len(a.msgs) != 0 {
		t.Errorf("the view below got %v", a.msgs)
	}
	if len(b.msgs) != 1 || b.msgs[0].(tea.MouseMsg).Y != 4 {
		t.Errorf("the top view got %v, want one click at Y 4", b.msgs)
	}
	// Not while the help covers it.
	r.Update(uitest.Press(c.Keys.Help))
	r.Update(tea.MouseMsg{Button: tea.MouseButtonWheelDown, Action: tea.MouseActionPress})
	if len(b.msgs) != 1 {
		t.Errorf("the view got a wheel turn under the help: %v", b.msgs)
	}
}
