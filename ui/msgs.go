package ui

import tea "github.com/charmbracelet/bubbletea"

// PushMsg asks the root to open a view on top of the stack.
type PushMsg struct{ View View }

// PopMsg asks the root to close the active view.
type PopMsg struct{}

// StatusMsg is a line for the status bar; Err marks it as an error.
type StatusMsg struct {
	Text string
	Err  bool
}

// Push returns a command that opens v.
func Push(v View) tea.Cmd { return func() tea.Msg { return PushMsg{View: v} } }

// Pop returns a command that closes the active view.
func Pop() tea.Cmd { return func() tea.Msg { return PopMsg{} } }

// Status returns a command that shows text in the status bar.
func Status(text string) tea.Cmd { return func() tea.Msg { return StatusMsg{Text: text} } }

// Error returns a command that shows err in the status bar.
func Error(err error) tea.Cmd {
	return func() tea.Msg { return StatusMsg{Text: err.Error(), Err: true} }
}
