package ui

import (
	"strings"
	"time"

	"github.com/charmbracelet/bubbles/key"
	tea "github.com/charmbracelet/bubbletea"
)

// rootLife is the root's state beyond the view stack: the quit question,
// polling, status expiry and dialogs (quit.go, refresh.go, status.go).
type rootLife struct {
	quitAsk  []string // the running jobs the quit question names; nil when not asking
	stopping bool     // the user said quit: jobs are being stopped
	polling  bool     // a poll tick is pending
	status   int      // numbers status lines, so only the current one expires
	dialog   dialog   // a long error or a question, drawn instead of the body
}

// StopTimeout bounds how long quitting waits for cancelled jobs to clean up
// (a backup removing its unfinished snapshot).
const StopTimeout = 30 * time.Second

// jobsStoppedMsg says every job ended after the quit; the program ends.
type jobsStoppedMsg struct{}

// quit is q or ctrl+c: at once when nothing runs, otherwise a question
// first. Leaving a backup behind half-written is never a side effect of a
// key.
func (r *Root) quit() tea.Cmd {
	running := r.c.JobList().Running()
	if len(running) == 0 {
		return tea.Quit
	}
	r.life.quitAsk = running
	return nil
}

// quitKey answers the quit question: y (or ctrl+c again) stops the jobs and
// quits once they have cleaned up; any other key keeps them running.
func (r *Root) quitKey(km tea.KeyMsg) tea.Cmd {
	r.life.quitAsk = nil
	if !key.Matches(km, r.c.Keys.Confirm) && km.String() != "ctrl+c" {
		return nil
	}
	r.life.stopping = true
	jobs := r.c.JobList()
	jobs.CancelAll()
	return func() tea.Msg {
		jobs.Wait(StopTimeout)
		return jobsStoppedMsg{}
	}
}

// Stopping reports that the user chose to quit and jobs are being stopped.
func (r *Root) Stopping() bool { return r.life.stopping }

// Asking reports whether the quit question is open (for tests).
func (r *Root) Asking() bool { return r.life.quitAsk != nil }

// lifeKey takes the keys the root's own state wants first: the quit
// question, a key while stopping, a key that closes a dialog.
func (r *Root) lifeKey(km tea.KeyMsg) (tea.Cmd, bool) {
	switch {
	case r.life.stopping:
		if km.String() == "ctrl+c" {
			// A second ctrl+c does not wait here; the program still
			// stops the jobs before it exits (cli/tui.go).
			return tea.Quit, true
		}
		return nil, true
	case r.life.quitAsk != nil:
		return r.quitKey(km), true
	case r.life.dialog.text != "":
		r.life.dialog = dialog{}
		return nil, true
	}
	// Any other key ends the status line's time: it was read.
	r.status, r.statusErr = "", false
	return nil, false
}

// lifeMsg handles the root's own messages.
func (r *Root) lifeMsg(msg tea.Msg) (tea.Cmd, bool) {
	switch msg := msg.(type) {
	case jobsStoppedMsg:
		return tea.Quit, true
	case statusExpiredMsg:
		if msg.seq == r.life.status {
			r.status, r.statusErr = "", false
		}
		return nil, true
	case pollMsg:
		return r.poll(), true
	}
	return nil, false
}

// quitView is the quit question, or the note that jobs are stopping.
func (r *Root) quitView() string {
	s := r.c.Styles
	switch {
	case r.life.stopping:
		return r.box("Stopping", "Stopping "+strings.Join(r.c.JobList().Running(), ", ")+"…\nThe unfinished work is cleaned up before cairn ends.", "")
	case r.life.quitAsk != nil:
		what := strings.Join(r.life.quitAsk, " and ")
		verb := "is"
		if len(r.life.quitAsk) > 1 {
			verb = "are"
		}
		return r.box("Quit?", "A "+what+" "+verb+" running.\nQuitting stops it cleanly: a backup's unfinished snapshot is removed.",
			s.Warn.Render("y stop and quit")+s.Dim.Render(" · any other key keeps it running"))
	}
	return ""
}
