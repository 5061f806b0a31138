package ui

import (
	"github.com/charmbracelet/bubbles/key"
	"github.com/charmbracelet/bubbles/textinput"
	tea "github.com/charmbracelet/bubbletea"
)

// Prompt asks for one line of text, prefilled with a default: ctrl+u
// clears, enter confirms, esc cancels.
type Prompt struct {
	c      *Common
	label  string
	input  textinput.Model
	active bool
}

// PromptResult tells what happened to a prompt after a key.
type PromptResult int

const (
	// PromptTyping: still editing.
	PromptTyping PromptResult = iota
	// PromptConfirmed: enter was pressed; Value holds the answer.
	PromptConfirmed
	// PromptCancelled: esc was pressed.
	PromptCancelled
)

// NewPrompt makes an inactive prompt.
func NewPrompt(c *Common) *Prompt {
	in := textinput.New()
	in.Prompt = "> "
	in.CharLimit = 4096
	return &Prompt{c: c, input: in}
}

// Open shows the prompt with a label and a prefilled value.
func (p *Prompt) Open(label, value string) tea.Cmd {
	p.label = label
	p.active = true
	p.input.SetValue(value)
	p.input.CursorEnd()
	p.input.Focus()
	return textinput.Blink
}

// Active reports whether the prompt is open.
func (p *Prompt) Active() bool { return p.active }

// Value is the text typed.
func (p *Prompt) Value() string { return p.input.Value() }

// SetWidth limits the input's width.
func (p *Prompt) SetWidth(w int) { p.input.Width = max(w-4, 10) }

// Update handles a key while the prompt is open.
func (p *Prompt) Update(msg tea.Msg) (PromptResult, tea.Cmd) {
	if km, ok := msg.(tea.KeyMsg); ok {
		switch {
		case km.Type == tea.KeyEnter:
			p.active = false
			p.input.Blur()
			return PromptConfirmed, nil
		case km.Type == tea.KeyEsc:
			p.active = false
			p.input.Blur()
			return PromptCancelled, nil
		case key.Matches(km, p.c.Keys.Clear):
			p.input.SetValue("")
			return PromptTyping, nil
		}
	}
	var cmd tea.Cmd
	p.input, cmd = p.input.Update(msg)
	return PromptTyping, cmd
}

// View draws the label and the input.
func (p *Prompt) View() string {
	return p.c.Styles.Title.Render(p.label) + "\n" + p.input.View() + "\n" + p.c.Styles.Dim.Render("enter confirm · esc cancel · ctrl+u clear")
}
