package ui

import (
	"time"

	"github.com/charmbracelet/bubbles/key"
	tea "github.com/charmbracelet/bubbletea"
)

// Reloader is a view that shows repository data and can load it again.
// The root reloads it after every job, when it comes back on top, and on
// ctrl+r, so no list stays stale.
type Reloader interface {
	Reload() tea.Cmd
}

// Poller is a view that checks for changes made elsewhere (a backup from
// the command line, another client) while it is on top. Poll must be cheap
// and reload only when something changed.
type Poller interface {
	Poll() tea.Cmd
}

// PollEvery is how often the top view is polled while it is a Poller.
const PollEvery = 4 * time.Second

// pollMsg is the poll tick.
type pollMsg struct{}

// armPoll schedules the next poll while the top view wants one; polling
// stops by itself when a view that does not poll is on top, and starts
// again when one comes back.
func (r *Root) armPoll() tea.Cmd {
	if r.life.polling {
		return nil
	}
	if _, ok := r.top().(Poller); !ok {
		return nil
	}
	r.life.polling = true
	return tea.Tick(PollEvery, func(time.Time) tea.Msg { return pollMsg{} })
}

// poll asks the top view to check for changes, and re-arms.
func (r *Root) poll() tea.Cmd {
	r.life.polling = false
	var cmd tea.Cmd
	if p, ok := r.top().(Poller); ok {
		cmd = p.Poll()
	}
	return tea.Batch(cmd, r.armPoll())
}

// shown is called when the view below comes back on top: it may have
// missed changes (a prune, a backup) while it was hidden.
func (r *Root) shown() tea.Cmd {
	var cmd tea.Cmd
	if rl, ok := r.top().(Reloader); ok {
		cmd = rl.Reload()
	}
	return tea.Batch(cmd, r.armPoll())
}

// reloadAll reloads every open view that shows repository data (after a
// job ended).
func (r *Root) reloadAll() tea.Cmd {
	var cmds []tea.Cmd
	for _, v := range r.stack {
		if rl, ok := v.(Reloader); ok {
			cmds = append(cmds, rl.Reload())
		}
	}
	return tea.Batch(cmds...)
}

// reloadTop is ctrl+r.
func (r *Root) reloadTop() (tea.Cmd, bool) {
	rl, ok := r.top().(Reloader)
	if !ok {
		return nil, false
	}
	return tea.Batch(rl.Reload(), Status("reloading…")), true
}

// globalKeys adds ctrl+r to the help's global keys where it reloads.
func (r *Root) globalKeys(keys []key.Binding) []key.Binding {
	if _, ok := r.top().(Reloader); ok {
		keys = append(keys, r.c.Keys.Reload)
	}
	return keys
}
