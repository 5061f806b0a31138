package ui

import (
	"strings"
	"time"

	tea "github.com/charmbracelet/bubbletea"
	"github.com/charmbracelet/lipgloss"
	"github.com/charmbracelet/x/ansi"
)

// How long a status line stays (unless a key ends it sooner): long enough
// to read, short enough that an old message is not taken for news.
const (
	StatusTimeout = 5 * time.Second
	ErrorTimeout  = 10 * time.Second
)

// statusExpiredMsg ends status line seq.
type statusExpiredMsg struct{ seq int }

// dialog is a box drawn instead of the body: a long error, read whole.
type dialog struct {
	title, text string
}

// setStatus shows a status line until it expires or a key is pressed. An
// error too long for the line opens in a dialog instead, wrapped, so no
// part of it is cut.
func (r *Root) setStatus(msg StatusMsg) tea.Cmd {
	r.life.status++
	if msg.Err && lipgloss.Width(msg.Text) > r.width {
		r.status, r.statusErr = "", false
		r.life.dialog = dialog{title: "Error", text: msg.Text}
		return nil
	}
	r.status, r.statusErr = msg.Text, msg.Err
	if msg.Text == "" {
		return nil
	}
	d, seq := StatusTimeout, r.life.status
	if msg.Err {
		d = ErrorTimeout
	}
	return tea.Tick(d, func(time.Time) tea.Msg { return statusExpiredMsg{seq: seq} })
}

// Dialog is the text of the open dialog, "" when none (for tests).
func (r *Root) Dialog() string { return r.life.dialog.text }

// dialogView draws what the root shows instead of the body: the quit
// question, or a dialog; "" when the body shows.
func (r *Root) dialogView() string {
	if q := r.quitView(); q != "" {
		return q
	}
	if d := r.life.dialog; d.text != "" {
		return r.box(d.title, d.text, r.c.Styles.Dim.Render("press any key to close"))
	}
	return ""
}

// box draws a titled box of wrapped text with a footer line, as wide as
// the screen allows.
func (r *Root) box(title, text, footer string) string {
	s := r.c.Styles
	inner := max(min(r.width-4, 100), 10)
	var lines []string
	for _, l := range strings.Split(text, "\n") {
		lines = append(lines, strings.Split(ansi.Wrap(l, inner, " /,"), "\n")...)
	}
	body := s.Title.Render(title) + "\n\n" + strings.Join(lines, "\n")
	if footer != "" {
		body += "\n\n" + footer
	}
	return "\n" + s.Box.Render(body)
}
