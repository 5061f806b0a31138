package ui

import (
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"cairn/ui/uitest"

	"github.com/charmbracelet/bubbles/key"
	tea "github.com/charmbracelet/bubbletea"
	"github.com/charmbracelet/lipgloss"
	"github.com/muesli/termenv"
)

// update rewrites the golden files: go test ./ui/ -update
var update = flag.Bool("update", false, "rewrite golden files")

func init() { lipgloss.SetColorProfile(termenv.Ascii) }

func testCommon() *Common {
	return &Common{RepoName: "store", Keys: NewKeyMap(), Styles: NewStyles(true), Owner: "root@pam"}
}

func hasQuit(msgs []tea.Msg) bool {
	for _, m := range msgs {
		if _, ok := m.(tea.QuitMsg); ok {
			return true
		}
	}
	return false
}

// fakeView records what the root gives it.
type fakeView struct {
	c         *Common
	name      string
	w, h      int
	sized     int
	capturing bool
	keys      []string
	msgs      []tea.Msg
	body      string
}

type fakeInitMsg struct{ name string }
type fakeMsg struct{}

var explode = key.NewBinding(key.WithKeys("x"), key.WithHelp("x", "explode the view"))

func newFake(c *Common, name string) *fakeView { return &fakeView{c: c, name: name} }

func (v *fakeView) Init() tea.Cmd {
	name := v.name
	return func() tea.Msg { return fakeInitMsg{name} }
}

func (v *fakeView) Update(msg tea.Msg) (tea.Model, tea.Cmd) {
	if k, ok := msg.(tea.KeyMsg); ok {
		v.keys = append(v.keys, k.String())
	} else {
		v.msgs = append(v.msgs, msg)
	}
	return v, nil
}

func (v *fakeView) View() string {
	if v.body != "" {
		return v.body
	}
	return "view " + v.name
}

func (v *fakeView) SetSize(w, h int) { v.w, v.h = w, h; v.sized++ }
func (v *fakeView) Title() string    { return v.name }
func (v *fakeView) Capturing() bool  { return v.capturing }
func (v *fakeView) ShortHelp() []key.Binding {
	return []key.Binding{v.c.Keys.Open, v.c.Keys.Back}
}
func (v *fakeView) FullHelp() [][]key.Binding {
	k := v.c.Keys
	return [][]key.Binding{{k.Up, k.Down}, {k.Open, explode}}
}

func TestRootPushSizesAndInits(t *testing.T) {
	c := testCommon()
	a, b := newFake(c, "a"), newFake(c, "b")
	r := NewRoot(c, a)
	if msgs := uitest.Run(t, r.Init()); len(msgs) != 1 || msgs[0] != (fakeInitMsg{"a"}) {
		t.Errorf("Init yields %v, want the first view's Init", msgs)
	}
	r.Update(tea.WindowSizeMsg{Width: 100, Height: 30})
	if a.w != 100 || a.h != 27 {
		t.Errorf("first view sized %dx%d, want 100x27 (header, status and hint take a line each)", a.w, a.h)
	}
	r.Update(StatusMsg{Text: "old news"})
	_, cmd := r.Update(PushMsg{View: b})
	if r.Depth() != 2 || r.Active() != View(b) {
		t.Fatalf("depth %d, active %v", r.Depth(), r.Active())
	}
	if b.w != 100 || b.h != 27 {
		t.Errorf("pushed view sized %dx%d, want 100x27", b.w, b.h)
	}
	if msgs := uitest.Run(t, cmd); len(msgs) != 1 || msgs[0] != (fakeInitMsg{"b"}) {
		t.Errorf("push yields %v, want the pushed view's Init", msgs)
	}
	if strings.Contains(r.View(), "old news") {
		t.Error("push kept the previous view's status")
	}
	if first := strings.SplitN(r.View(), "\n", 2)[0]; !strings.HasPrefix(first, "cairn store › a › b") {
		t.Errorf("breadcrumb %q", first)
	}
	// The Push helper yields the same message.
	if msgs := uitest.Run(t, Push(a)); len(msgs) != 1 || msgs[0].(PushMsg).View != View(a) {
		t.Errorf("Push yields %v", msgs)
	}
}

func TestRootPopNeverLast(t *testing.T) {
	c := testCommon()
	a, b := newFake(c, "a"), newFake(c, "b")
	r := NewRoot(c, a)
	r.Update(PushMsg{View: b})
	if msgs := uitest.Run(t, Pop()); len(msgs) != 1 || msgs[0] != (PopMsg{}) {
		t.Fatalf("Pop yields %v", msgs)
	}
	r.Update(PopMsg{})
	if r.Depth() != 1 || r.Active() != View(a) {
		t.Fatalf("after pop: depth %d, active %v", r.Depth(), r.Active())
	}
	r.Update(PopMsg{})
	r.Update(PopMsg{})
	if r.Depth() != 1 || r.Active() != View(a) {
		t.Errorf("popping the last view: depth %d, active %v", r.Depth(), r.Active())
	}
}

func TestRootQuitOnlyWhenNotCapturing(t *testing.T) {
	c := testCommon()
	a := newFake(c, "a")
	r := NewRoot(c, a)
	_, cmd := r.Update(uitest.Press(c.Keys.Quit))
	if !hasQuit(uitest.Run(t, cmd)) {
		t.Error("q did not quit")
	}
	if len(a.keys) != 0 {
		t.Errorf("q reached the view: %q", a.keys)
	}
	a.capturing = true
	_, cmd = r.Update(uitest.Press(c.Keys.Quit))
	if hasQuit(uitest.Run(t, cmd)) {
		t.Error("q quit while the view was typing")
	}
	if len(a.keys) != 1 || a.keys[0] != "q" {
		t.Errorf("the typing view got %q, want q", a.keys)
	}
	// ? and esc are the view's too while it types.
	r.Update(uitest.Press(c.Keys.Help))
	if r.showHelp || a.keys[len(a.keys)-1] != "?" {
		t.Errorf("? while typing: help %v, view got %q", r.showHelp, a.keys)
	}
	// ctrl+c always quits.
	_, cmd = r.Update(uitest.Key("ctrl+c"))
	if !hasQuit(uitest.Run(t, cmd)) {
		t.Error("ctrl+c did not quit while typing")
	}
}

func TestRootHelpFromFullHelp(t *testing.T) {
	c := testCommon()
	a := newFake(c, "a")
	r := NewRoot(c, a)
	r.Update(tea.WindowSizeMsg{Width: 80, Height: 24})
	r.Update(uitest.Press(c.Keys.Help))
	v := r.View()
	for _, want := range []string{"Keys", "explode the view", "↑/k", "press any key to close", "quit", "back"} {
		if !strings.Contains(v, want) {
			t.Errorf("help lacks %q:\n%s", want, v)
		}
	}
	if strings.Contains(v, "view a") {
		t.Error("help drawn with the view's body")
	}
	// Any key closes it and is not passed on.
	r.Update(uitest.Runes("j"))
	if r.showHelp || len(a.keys) != 0 {
		t.Errorf("after a key: help %v, view got %q", r.showHelp, a.keys)
	}
	if !strings.Contains(r.View(), "view a") {
		t.Error("view not drawn after the help closed")
	}
	// q closes the help; it does not quit.
	r.Update(uitest.Press(c.Keys.Help))
	_, cmd := r.Update(uitest.Press(c.Keys.Quit))
	if hasQuit(uitest.Run(t, cmd)) || r.showHelp {
		t.Error("q on the help quit or left it open")
	}
}

func TestRootRouting(t *testing.T) {
	c := testCommon()
	a, b, d := newFake(c, "a"), newFake(c, "b"), newFake(c, "d")
	r := NewRoot(c, a)
	r.Update(PushMsg{View: b})
	r.Update(PushMsg{View: d})
	r.Update(tea.WindowSizeMsg{Width: 120, Height: 40})
	for _, v := range []*fakeView{a, b, d} {
		if v.w != 120 || v.h != 37 {
			t.Errorf("view %s sized %dx%d after resize, want 120x37", v.name, v.w, v.h)
		}
	}
	// Keys go to the top view only; other messages reach every view.
	r.Update(uitest.Runes("j"))
	r.Update(fakeMsg{})
	if len(d.keys) != 1 || len(a.keys)+len(b.keys) != 0 {
		t.Errorf("keys: a %q b %q d %q", a.keys, b.keys, d.keys)
	}
	for _, v := range []*fakeView{a, b, d} {
		got := 0
		for _, m := range v.msgs {
			if m == (fakeMsg{}) {
				got++
			}
		}
		if got != 1 {
			t.Errorf("view %s got the message %d times", v.name, got)
		}
	}
	// Status lines are the root's.
	r.Update(StatusMsg{Text: "boom", Err: true})
	lines := strings.Split(r.View(), "\n")
	if got := strings.TrimSpace(lines[len(lines)-2]); got != "boom" {
		t.Errorf("status line %q", got)
	}
	if msgs := uitest.Run(t, Status("hi")); len(msgs) != 1 || msgs[0] != (StatusMsg{Text: "hi"}) {
		t.Errorf("Status yields %v", msgs)
	}
	if msgs := uitest.Run(t, Error(os.ErrNotExist)); len(msgs) != 1 || msgs[0] != (StatusMsg{Text: os.ErrNotExist.Error(), Err: true}) {
		t.Errorf("Error yields %v", msgs)
	}
}

func TestRootViewFillsScreen(t *testing.T) {
	c := testCommon()
	a := newFake(c, "a")
	r := NewRoot(c, a)
	for _, sz := range []struct{ w, h int }{{80, 24}, {140, 40}, {20, 5}} {
		r.Update(tea.WindowSizeMsg{Width: sz.w, Height: sz.h})
		for _, body := range []string{
			"short",
			strings.Repeat(strings.Repeat("wide ", 60)+"\n", 100), // too wide and too tall
			"",
		} {
			a.body = body
			for _, status := range []string{"", strings.Repeat("status ", 40)} {
				r.Update(StatusMsg{Text: status})
				lines := strings.Split(r.View(), "\n")
				if len(lines) != sz.h {
					t.Errorf("%dx%d: %d lines", sz.w, sz.h, len(lines))
				}
				// Lines are never wider than the screen; one full-width
				// line makes all of them full width (JoinVertical pads).
				full := status != "" || strings.HasPrefix(body, "wide")
				for i, l := range lines {
					if w := lipgloss.Width(l); w > sz.w || full && w != sz.w {
						t.Errorf("%dx%d body %.10q status %.10q: line %d is %d cells wide", sz.w, sz.h, body, status, i+1, w)
					}
				}
			}
		}
	}
}

// TestRootGolden draws the root over a fake view, and its help.
func TestRootGolden(t *testing.T) {
	for _, sz := range []struct{ w, h int }{{80, 24}, {140, 40}} {
		c := testCommon()
		a := newFake(c, "a")
		a.body = "first line of the view\nsecond line"
		r := NewRoot(c, a)
		r.Update(PushMsg{View: newFake(c, "b")})
		r.Update(PopMsg{})
		r.Update(tea.WindowSizeMsg{Width: sz.w, Height: sz.h})
		r.Update(StatusMsg{Text: "restored 2 entries"})
		golden(t, "view", r.View(), sz.w, sz.h)
		r.Update(uitest.Press(c.Keys.Help))
		golden(t, "help", r.View(), sz.w, sz.h)
	}
}

// golden compares got with testdata/<test>/<name>_<w>x<h>.golden; -update rewrites it.
func golden(t *testing.T, name, got string, w, h int) {
	t.Helper()
	path := filepath.Join("testdata", strings.SplitN(t.Name(), "/", 2)[0], fmt.Sprintf("%s_%dx%d.golden", name, w, h))
	if *update {
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test ./ui/ -update to create it)", err)
	}
	if string(want) != got {
		t.Errorf("%s differs (run with -update to accept):\n--- got\n%s\n--- want\n%s", path, got, want)
	}
}
