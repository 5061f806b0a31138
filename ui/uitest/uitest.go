// Package uitest drives Bubble Tea models in tests: key presses by name or
// by binding, and command pumps that run a model's commands and feed the
// messages back into its Update, as Bubble Tea's loop would, without a
// terminal or a tea.Program.
package uitest

import (
	"fmt"
	"reflect"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/charmbracelet/bubbles/key"
	tea "github.com/charmbracelet/bubbletea"
)

// Idle is how long a pump waits for a command before dropping it as one
// that blocks (a timer, a job's reader that has nothing more to say).
const Idle = 2 * time.Second

// Settle is how long a pump may run before the test fails.
const Settle = 60 * time.Second

// keyTypes maps Bubble Tea's key names ("enter", "ctrl+u", "shift+tab",
// "f5" …) to their key types.
var keyTypes = func() map[string]tea.KeyType {
	m := map[string]tea.KeyType{}
	for k := tea.KeyType(-200); k < 256; k++ {
		if s := k.String(); s != "" {
			if _, dup := m[s]; !dup {
				m[s] = k
			}
		}
	}
	return m
}()

// Key is the key press named as Bubble Tea and key.Binding name it: a
// special key ("enter", "esc", "ctrl+c", "shift+tab", "pgdown", " "),
// optionally "alt+"-prefixed, or one rune ("q", "/", "?"). A name of
// several runes that is no key name would be a burst of keys: it panics.
func Key(name string) tea.KeyMsg {
	alt := false
	if rest, ok := strings.CutPrefix(name, "alt+"); ok && rest != "" {
		alt, name = true, rest
	}
	if name == " " || name == "space" {
		return tea.KeyMsg{Type: tea.KeySpace, Runes: []rune{' '}, Alt: alt}
	}
	if t, ok := keyTypes[name]; ok && t != tea.KeyRunes {
		return tea.KeyMsg{Type: t, Alt: alt}
	}
	if r := []rune(name); len(r) == 1 {
		return tea.KeyMsg{Type: tea.KeyRunes, Runes: r, Alt: alt}
	}
	panic(fmt.Sprintf("uitest.Key: %q is neither a key name nor one rune", name))
}

// Press is the press of a binding's first key: tests press keys by their
// keymap name, as DESIGN.md's keys are a contract.
func Press(b key.Binding) tea.KeyMsg {
	ks := b.Keys()
	if len(ks) == 0 {
		panic("uitest.Press: a binding without keys")
	}
	return Key(ks[0])
}

// Runes is one message carrying all of s, as a fast typist's burst or a
// paste arrives.
func Runes(s string) tea.KeyMsg { return tea.KeyMsg{Type: tea.KeyRunes, Runes: []rune(s)} }

// Keys is s typed one key per rune (a space as the space key).
func Keys(s string) []tea.KeyMsg {
	var out []tea.KeyMsg
	for _, r := range s {
		out = append(out, Key(string(r)))
	}
	return out
}

// IsTimer tells commands that only wait for a timer (the cursor's blink,
// tea.Tick) by their function's name, so pumps skip them instead of
// waiting for each.
func IsTimer(c tea.Cmd) bool {
	name := runtime.FuncForPC(reflect.ValueOf(c).Pointer()).Name()
	return strings.HasPrefix(name, "github.com/charmbracelet/bubbles/cursor.") ||
		strings.HasPrefix(name, "github.com/charmbracelet/bubbletea.Tick")
}

// IsBlink tells messages that must not be fed back: cursor blinks
// schedule the next blink forever.
func IsBlink(msg tea.Msg) bool {
	return strings.HasPrefix(fmt.Sprintf("%T", msg), "cursor.")
}

// within runs c in a goroutine and returns its message, or false when it
// has not returned after d (it is left running).
func within(c tea.Cmd, d time.Duration) (tea.Msg, bool) {
	ch := make(chan tea.Msg, 1)
	go func() { ch <- c() }()
	select {
	case msg := <-ch:
		return msg, true
	case <-time.After(d):
		return nil, false
	}
}

// Run runs cmd alone (nothing is fed back) and returns its messages,
// batches flattened. Timers, blinks and commands that have not answered
// within Idle are dropped.
func Run(t testing.TB, cmd tea.Cmd) []tea.Msg {
	t.Helper()
	if cmd == nil || IsTimer(cmd) {
		return nil
	}
	msg, ok := within(cmd, Idle)
	if !ok {
		return nil
	}
	if b, ok := msg.(tea.BatchMsg); ok {
		var out []tea.Msg
		for _, c := range b {
			out = append(out, Run(t, c)...)
		}
		return out
	}
	if msg == nil || IsBlink(msg) {
		return nil
	}
	return []tea.Msg{msg}
}

// Pump runs cmd and every command the fed-back messages lead to, each in
// its own goroutine as Bubble Tea does, feeds the messages to m's Update
// in the order they arrive and returns them. It returns when no command is
// left, or when the ones left have not answered for Idle (dropped). When
// until is set, a message it accepts must come first (within Settle), or
// the test fails.
func Pump(t testing.TB, m tea.Model, cmd tea.Cmd, until func(tea.Msg) bool) []tea.Msg {
	t.Helper()
	return pump(t, m, cmd, until, false)
}

// PumpUntil is Pump that returns as soon as until accepts a message (fed
// to m first); commands still running are abandoned.
func PumpUntil(t testing.TB, m tea.Model, cmd tea.Cmd, until func(tea.Msg) bool) []tea.Msg {
	t.Helper()
	return pump(t, m, cmd, until, true)
}

func pump(t testing.TB, m tea.Model, cmd tea.Cmd, until func(tea.Msg) bool, early bool) []tea.Msg {
	t.Helper()
	results := make(chan tea.Msg)
	stop := make(chan struct{})
	defer close(stop)
	pending := 0
	run := func(c tea.Cmd) {
		if c == nil || IsTimer(c) {
			return
		}
		pending++
		go func() {
			msg := c()
			select {
			case results <- msg:
			case <-stop:
			}
		}()
	}
	run(cmd)
	var seen []tea.Msg
	found := until == nil
	deadline := time.After(Settle)
	for pending > 0 {
		select {
		case msg := <-results:
			pending--
			switch msg := msg.(type) {
			case nil:
				continue
			case tea.BatchMsg:
				for _, c := range msg {
					run(c)
				}
				continue
			}
			if IsBlink(msg) {
				continue
			}
			seen = append(seen, msg)
			var next tea.Cmd
			m, next = m.Update(msg)
			run(next)
			if !found && until(msg) {
				found = true
				if early {
					return seen
				}
			}
		case <-time.After(Idle):
			if found {
				return seen
			}
		case <-deadline:
			t.Fatalf("commands did not settle in %v; got %v", Settle, Types(seen))
		}
	}
	if !found {
		t.Fatalf("awaited message never came; got %v", Types(seen))
	}
	return seen
}

// Drive runs cmd and every command that follows one at a time, first in
// first out, feeding each message back into m: a deterministic order for
// models whose commands all return (timers and blinks are skipped). A
// command that does not return within Settle fails the test.
func Drive(t testing.TB, m tea.Model, cmd tea.Cmd) []tea.Msg {
	t.Helper()
	var msgs []tea.Msg
	queue := []tea.Cmd{cmd}
	for steps := 0; len(queue) > 0; steps++ {
		if steps > 10000 {
			t.Fatal("commands do not settle")
		}
		c := queue[0]
		queue = queue[1:]
		if c == nil || IsTimer(c) {
			continue
		}
		msg, ok := within(c, Settle)
		if !ok {
			t.Fatal("command did not return")
		}
		if batch, ok := msg.(tea.BatchMsg); ok {
			queue = append(queue, batch...)
			continue
		}
		if msg == nil || IsBlink(msg) {
			continue
		}
		msgs = append(msgs, msg)
		_, next := m.Update(msg)
		queue = append(queue, next)
	}
	return msgs
}

// Send gives m one message and pumps what follows (Pump without until).
func Send(t testing.TB, m tea.Model, msg tea.Msg) []tea.Msg {
	t.Helper()
	_, cmd := m.Update(msg)
	return Pump(t, m, cmd, nil)
}

// Type types s one key per rune, pumping after each, as a user would.
func Type(t testing.TB, m tea.Model, s string) {
	t.Helper()
	for _, k := range Keys(s) {
		Send(t, m, k)
	}
}

// Types names the messages' types, for failure messages.
func Types(msgs []tea.Msg) []string {
	var out []string
	for _, m := range msgs {
		out = append(out, fmt.Sprintf("%T", m))
	}
	return out
}
