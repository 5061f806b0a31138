package uitest

import (
	"testing"

	"github.com/charmbracelet/bubbles/key"
	tea "github.com/charmbracelet/bubbletea"
)

func TestKeyNames(t *testing.T) {
	for name, want := range map[string]tea.KeyMsg{
		"enter":     {Type: tea.KeyEnter},
		"esc":       {Type: tea.KeyEsc},
		"tab":       {Type: tea.KeyTab},
		"shift+tab": {Type: tea.KeyShiftTab},
		"ctrl+u":    {Type: tea.KeyCtrlU},
		"ctrl+c":    {Type: tea.KeyCtrlC},
		"pgdown":    {Type: tea.KeyPgDown},
		"backspace": {Type: tea.KeyBackspace},
		"up":        {Type: tea.KeyUp},
		"f5":        {Type: tea.KeyF5},
		" ":         {Type: tea.KeySpace, Runes: []rune{' '}},
		"q":         {Type: tea.KeyRunes, Runes: []rune("q")},
		"alt+x":     {Type: tea.KeyRunes, Runes: []rune("x"), Alt: true},
	} {
		got := Key(name)
		if got.String() != want.String() || got.Type != want.Type {
			t.Errorf("Key(%q) = %#v (%q), want %#v", name, got, got.String(), want)
		}
		// What a key.Binding of that name matches.
		if name != " " && !key.Matches(got, key.NewBinding(key.WithKeys(name))) {
			t.Errorf("Key(%q) does not match a binding of %q (it reads %q)", name, name, got.String())
		}
	}
	if k := Press(key.NewBinding(key.WithKeys("/", "ctrl+f"))); k.String() != "/" {
		t.Errorf("Press takes the first key: %q", k.String())
	}
	if ks := Keys("a b"); len(ks) != 3 || ks[1].Type != tea.KeySpace {
		t.Errorf("Keys: %v", ks)
	}
}

// counter counts to n through commands: each message asks for the next.
type counter struct {
	n, got int
	typed  string
}

type tickMsg int

func (c *counter) Init() tea.Cmd { return nil }
func (c *counter) View() string  { return "" }
func (c *counter) Update(msg tea.Msg) (tea.Model, tea.Cmd) {
	switch msg := msg.(type) {
	case tickMsg:
		c.got = int(msg)
		if int(msg) < c.n {
			next := msg + 1
			return c, tea.Batch(func() tea.Msg { return next }, nil)
		}
	case tea.KeyMsg:
		c.typed += msg.String()
	}
	return c, nil
}

func TestPumps(t *testing.T) {
	start := func() tea.Msg { return tickMsg(1) }
	c := &counter{n: 5}
	if msgs := Pump(t, c, start, nil); len(msgs) != 5 || c.got != 5 {
		t.Errorf("Pump: %v, got %d", Types(msgs), c.got)
	}
	c = &counter{n: 5}
	if msgs := PumpUntil(t, c, start, func(m tea.Msg) bool { return m == tickMsg(3) }); len(msgs) != 3 {
		t.Errorf("PumpUntil: %v", msgs)
	}
	c = &counter{n: 4}
	if msgs := Drive(t, c, start); len(msgs) != 4 || msgs[3] != tickMsg(4) {
		t.Errorf("Drive: %v", msgs)
	}
	if msgs := Run(t, tea.Batch(start, start)); len(msgs) != 2 {
		t.Errorf("Run: %v", msgs)
	}
	c = &counter{}
	Type(t, c, "hi there")
	if c.typed != "hi there" {
		t.Errorf("Type: %q", c.typed)
	}
}
