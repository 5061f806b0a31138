package ui

import tea "github.com/charmbracelet/bubbletea"

// mouse gives a wheel turn or a click to the view on top only, its Y made
// relative to the view's area (the header line above it is the root's).
// Nothing reacts while the help or a dialog covers the view.
func (r *Root) mouse(msg tea.MouseMsg) tea.Cmd {
	if r.showHelp || r.dialogView() != "" {
		return nil
	}
	msg.Y -= headerLines
	m, cmd := r.top().Update(msg)
	r.stack[len(r.stack)-1] = m.(View)
	return cmd
}

// headerLines is the breadcrumb above the views.
const headerLines = 1

// MouseAt returns msg with Y counted from line top of a view: views whose
// list starts below a line of their own pass the list its own Y.
func MouseAt(msg tea.MouseMsg, top int) tea.MouseMsg {
	msg.Y -= top
	return msg
}
