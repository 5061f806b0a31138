package ui

import (
	"fmt"
	"reflect"
	"strings"
	"testing"

	"cairn/ui/uitest"

	tea "github.com/charmbracelet/bubbletea"
)

func rowsOf(names ...string) []Row[string] {
	out := make([]Row[string], len(names))
	for i, n := range names {
		out[i] = Row[string]{Cells: []string{n, fmt.Sprint(len(n))}, Data: n}
	}
	return out
}

func newTestList(names ...string) (*List[string], *Common) {
	c := testCommon()
	l := NewList[string](c, []Column{{Title: "name"}, {Title: "len", Width: 4, Right: true}})
	l.SetSize(40, 10)
	l.SetRows(rowsOf(names...))
	return l, c
}

func selected(l *List[string]) string {
	r, ok := l.Selected()
	if !ok {
		return ""
	}
	return r.Cells[0]
}

func visibleNames(l *List[string]) []string {
	var out []string
	for _, i := range l.visible {
		out = append(out, l.rows[i].Cells[0])
	}
	return out
}

// press sends a key and reports whether the list took it.
func press(l *List[string], km tea.KeyMsg) bool {
	handled, _ := l.Update(km)
	return handled
}

func TestListFilter(t *testing.T) {
	l, c := newTestList("alpha", "beta", "gamma", "delta", "epsilon")
	press(l, uitest.Press(c.Keys.Down))
	press(l, uitest.Press(c.Keys.Down)) // gamma
	if !press(l, uitest.Press(c.Keys.Find)) || !l.Filtering() {
		t.Fatal("/ did not open the filter")
	}
	for _, k := range uitest.Keys("ta") {
		l.Update(k)
	}
	if l.Filter() != "ta" {
		t.Fatalf("filter %q", l.Filter())
	}
	if got := visibleNames(l); !reflect.DeepEqual(got, []string{"beta", "delta"}) && !reflect.DeepEqual(got, []string{"delta", "beta"}) {
		t.Fatalf("filter ta shows %q, want beta and delta", got)
	}
	if l.Cursor() != 0 {
		t.Errorf("filtering left the cursor at %d", l.Cursor())
	}
	// Keys that mean something else are text while filtering; arrows move.
	press(l, uitest.Key("down"))
	second := selected(l)
	if second != visibleNames(l)[1] {
		t.Errorf("down selected %q", second)
	}
	if !strings.Contains(l.View(), "/ta") {
		t.Errorf("the filter input is not drawn:\n%s", l.View())
	}
	// Enter keeps the match selected and shows every row again.
	press(l, uitest.Press(c.Keys.Open))
	if l.Filtering() || l.Len() != 5 || selected(l) != second {
		t.Errorf("enter: filtering %v, %d rows, selected %q, want %q", l.Filtering(), l.Len(), selected(l), second)
	}
	// Esc puts the cursor back where it was before the filter opened.
	press(l, uitest.Press(c.Keys.Find))
	for _, k := range uitest.Keys("eps") {
		l.Update(k)
	}
	if selected(l) != "epsilon" {
		t.Errorf("eps selected %q", selected(l))
	}
	press(l, uitest.Press(c.Keys.Cancel))
	if l.Filtering() || l.Len() != 5 || selected(l) != second {
		t.Errorf("esc: filtering %v, %d rows, selected %q, want %q", l.Filtering(), l.Len(), selected(l), second)
	}
	// ctrl+u clears the filter text.
	press(l, uitest.Press(c.Keys.Find))
	for _, k := range uitest.Keys("zzz") {
		l.Update(k)
	}
	if l.Len() != 0 || !strings.Contains(l.View(), "(empty)") {
		t.Errorf("zzz matches %d rows:\n%s", l.Len(), l.View())
	}
	press(l, uitest.Press(c.Keys.Clear))
	if l.Filter() != "" || l.Len() != 5 {
		t.Errorf("ctrl+u: filter %q, %d rows", l.Filter(), l.Len())
	}
	// Enter with nothing matched selects nothing but still closes.
	for _, k := range uitest.Keys("zzz") {
		l.Update(k)
	}
	press(l, uitest.Press(c.Keys.Open))
	if l.Filtering() || l.Len() != 5 {
		t.Errorf("enter on no match: filtering %v, %d rows", l.Filtering(), l.Len())
	}
}

func TestListCursorClamp(t *testing.T) {
	l, c := newTestList("a", "b", "c")
	press(l, uitest.Press(c.Keys.Up))
	if l.Cursor() != 0 {
		t.Errorf("up at the top: cursor %d", l.Cursor())
	}
	for i := 0; i < 5; i++ {
		press(l, uitest.Press(c.Keys.Down))
	}
	if l.Cursor() != 2 || selected(l) != "c" {
		t.Errorf("down past the end: cursor %d", l.Cursor())
	}
	// Rows shrinking under the cursor clamp it.
	l.SetRows(rowsOf("x", "y"))
	if l.Cursor() != 1 || selected(l) != "y" {
		t.Errorf("after shrinking: cursor %d (%q)", l.Cursor(), selected(l))
	}
	l.SetRows(nil)
	if _, ok := l.Selected(); ok || l.Cursor() != 0 {
		t.Errorf("empty list: cursor %d, selected %v", l.Cursor(), ok)
	}
	press(l, uitest.Press(c.Keys.Down))
	press(l, uitest.Press(c.Keys.End))
	if l.Cursor() != 0 {
		t.Errorf("keys on an empty list moved the cursor to %d", l.Cursor())
	}
	if !strings.Contains(l.View(), "(empty)") {
		t.Errorf("empty list view:\n%s", l.View())
	}
	// k and j work like the arrows; unknown keys are not handled.
	l.SetRows(rowsOf("a", "b"))
	press(l, uitest.Runes("j"))
	if selected(l) != "b" {
		t.Errorf("j selected %q", selected(l))
	}
	press(l, uitest.Runes("k"))
	if selected(l) != "a" {
		t.Errorf("k selected %q", selected(l))
	}
	if press(l, uitest.Runes("z")) || press(l, uitest.Press(c.Keys.Open)) {
		t.Error("the list claims keys it does not use")
	}
	if handled, _ := l.Update(tea.WindowSizeMsg{}); handled {
		t.Error("the list claims non-key messages")
	}
}

func TestListSetRowsKeepsSelection(t *testing.T) {
	l, c := newTestList("alpha", "beta", "gamma")
	press(l, uitest.Press(c.Keys.End))
	l.SetRows(rowsOf("new", "alpha", "beta", "other", "gamma", "zeta"))
	if selected(l) != "gamma" || l.Cursor() != 4 {
		t.Errorf("after a reload: selected %q at %d, want gamma at 4", selected(l), l.Cursor())
	}
	// A vanished row leaves the cursor where it was, clamped.
	l.SetRows(rowsOf("new", "alpha"))
	if l.Cursor() != 1 {
		t.Errorf("selected row gone: cursor %d, want 1", l.Cursor())
	}
	if !l.SelectWhere(func(r Row[string]) bool { return r.Data == "new" }) || selected(l) != "new" {
		t.Error("SelectWhere did not select new")
	}
	if l.SelectWhere(func(Row[string]) bool { return false }) || selected(l) != "new" {
		t.Error("a failed SelectWhere moved the cursor")
	}
}

func TestListPageKeys(t *testing.T) {
	var names []string
	for i := 0; i < 20; i++ {
		names = append(names, fmt.Sprintf("row%02d", i))
	}
	l, c := newTestList(names...)
	l.SetSize(40, 6) // a header, 4 rows and the position
	k := c.Keys
	steps := []struct {
		key  tea.KeyMsg
		want int
	}{
		{uitest.Press(k.PageDown), 4},
		{uitest.Press(k.PageDown), 8},
		{uitest.Press(k.PageUp), 4},
		{uitest.Press(k.PageUp), 0},
		{uitest.Press(k.PageUp), 0},
		{uitest.Press(k.End), 19},
		{uitest.Press(k.PageDown), 19},
		{uitest.Press(k.Home), 0},
		{uitest.Key("ctrl+f"), 4},
		{tea.KeyMsg{Type: tea.KeyCtrlB}, 0},
	}
	for i, s := range steps {
		press(l, s.key)
		if l.Cursor() != s.want {
			t.Fatalf("step %d (%s): cursor %d, want %d", i, s.key, l.Cursor(), s.want)
		}
	}
	// The selected row is always drawn, and only a page of rows is.
	press(l, uitest.Press(k.End))
	v := l.View()
	lines := strings.Split(v, "\n")
	if len(lines) != 6 || !strings.HasPrefix(lines[4], "row19") || !strings.HasPrefix(lines[1], "row16") || strings.TrimSpace(lines[5]) != "20/20" {
		t.Errorf("view at the end:\n%s", v)
	}
	press(l, uitest.Press(k.Home))
	if lines := strings.Split(l.View(), "\n"); !strings.HasPrefix(lines[1], "row00") || strings.TrimSpace(lines[5]) != "1/20" {
		t.Errorf("view at the top:\n%s", l.View())
	}
	// With the filter open, the input takes a line: 3 rows a page.
	press(l, uitest.Press(k.Find))
	press(l, uitest.Press(k.PageDown)) // not text: the input ignores it
	if lines := strings.Split(l.View(), "\n"); len(lines) != 6 || lines[5] != "/" && !strings.HasPrefix(lines[5], "/") {
		t.Errorf("filter view:\n%s", l.View())
	}
}

func TestListView(t *testing.T) {
	l, _ := newTestList("alpha", "beta")
	l.IsMarked = func(r Row[string]) bool { return r.Data == "beta" }
	lines := strings.Split(l.View(), "\n")
	want := []string{
		"  name" + strings.Repeat(" ", 29) + " " + " len",
		"  alpha" + strings.Repeat(" ", 28) + " " + "   5",
		"✓ beta" + strings.Repeat(" ", 29) + " " + "   4",
	}
	if !reflect.DeepEqual(lines, want) {
		t.Errorf("view:\n%s\nwant:\n%s", strings.Join(lines, "\n"), strings.Join(want, "\n"))
	}
	// Long cells are cut with an ellipsis to their column.
	l.SetRows(rowsOf(strings.Repeat("x", 60)))
	if line := strings.Split(l.View(), "\n")[1]; !strings.Contains(line, "x…") || len([]rune(line)) != 40 {
		t.Errorf("long cell: %q", line)
	}
}

func TestHighlight(t *testing.T) {
	s := NewStyles(true)
	got := Highlight("héllo", []int{1, 2}, s.Normal, brackets{})
	if got != "h[él]lo" {
		t.Errorf("Highlight = %q", got)
	}
}

type brackets struct{}

func (brackets) Render(s ...string) string { return "[" + strings.Join(s, "") + "]" }

func TestPadAndTruncate(t *testing.T) {
	if got := Pad("abc", 5); got != "abc  " {
		t.Errorf("Pad = %q", got)
	}
	if got := Pad("abcdef", 4); got != "abc…" {
		t.Errorf("Pad cut = %q", got)
	}
	if got := PadLeft("7", 3); got != "  7" {
		t.Errorf("PadLeft = %q", got)
	}
	// Cutting wide runes must still fill the column, or the next
	// column shifts left (regression: Pad returned "日…", 3 cells).
	if got := Pad("日本語", 4); got != "日… " {
		t.Errorf("Pad wide = %q, want %q", got, "日… ")
	}
	if got := Pad("日本語xx", 5); got != "日本…" {
		t.Errorf("Pad wide = %q", got)
	}
}

func TestPrompt(t *testing.T) {
	c := testCommon()
	p := NewPrompt(c)
	p.SetWidth(60)
	if p.Active() {
		t.Fatal("a new prompt is active")
	}
	if cmd := p.Open("Restore to:", "/var/restore"); cmd == nil {
		t.Error("Open returns no blink command")
	}
	if !p.Active() || p.Value() != "/var/restore" {
		t.Fatalf("open: active %v, value %q", p.Active(), p.Value())
	}
	v := p.View()
	for _, want := range []string{"Restore to:", "> /var/restore", "ctrl+u clear"} {
		if !strings.Contains(v, want) {
			t.Errorf("view lacks %q:\n%s", want, v)
		}
	}
	// Typing appends at the end of the prefilled value.
	for _, k := range uitest.Keys("/x") {
		p.Update(k)
	}
	if p.Value() != "/var/restore/x" {
		t.Errorf("typed: %q", p.Value())
	}
	if res, _ := p.Update(uitest.Press(c.Keys.Clear)); res != PromptTyping || p.Value() != "" {
		t.Errorf("ctrl+u: %v, %q", res, p.Value())
	}
	for _, k := range uitest.Keys("/tmp/q") {
		p.Update(k)
	} // q is text here
	if res, _ := p.Update(uitest.Key("enter")); res != PromptConfirmed || p.Value() != "/tmp/q" || p.Active() {
		t.Errorf("enter: %v, %q, active %v", res, p.Value(), p.Active())
	}
	p.Open("Again:", "x")
	if res, _ := p.Update(uitest.Key("esc")); res != PromptCancelled || p.Active() {
		t.Errorf("esc: %v, active %v", res, p.Active())
	}
	// Reopening replaces the old value with the new default.
	p.Open("Third:", "/default")
	if p.Value() != "/default" {
		t.Errorf("reopened with %q", p.Value())
	}
}
