package views

import (
	"github.com/charmbracelet/bubbles/key"
	tea "github.com/charmbracelet/bubbletea"

	"cairn/ui"
)

// restorePane is what the archives, tree and history views show below
// their list while restoring: the prompt for a target, then the running
// job with its progress.
type restorePane struct {
	c      *ui.Common
	prompt *ui.Prompt
	job    *restoreJob
	start  func(target string) *restoreJob
}

func newRestorePane(c *ui.Common) restorePane {
	return restorePane{c: c, prompt: ui.NewPrompt(c)}
}

// ask opens the prompt; confirming a target runs start with it.
func (p *restorePane) ask(label, target string, start func(target string) *restoreJob) tea.Cmd {
	if p.job != nil {
		return ui.Status("a restore is running: esc stops it")
	}
	p.start = start
	return p.prompt.Open(label, target)
}

// update takes restore progress and, while the prompt is open or a restore
// runs, the keys meant for them. handled is false for what the view itself
// should handle; finished is the job that has just ended.
func (p *restorePane) update(msg tea.Msg) (handled bool, finished *restoreJob, cmd tea.Cmd) {
	switch msg := msg.(type) {
	case ui.JobMsg:
		if p.job == nil {
			return false, nil, nil
		}
		done, cmd := p.job.update(msg)
		if done {
			finished, p.job = p.job, nil
		}
		return true, finished, cmd
	case tea.KeyMsg:
		if p.prompt.Active() {
			res, cmd := p.prompt.Update(msg)
			if res != ui.PromptConfirmed {
				return true, nil, cmd
			}
			target := p.prompt.Value()
			if target == "" {
				return true, nil, ui.Status("restore cancelled: no target")
			}
			p.job = p.start(target)
			return true, nil, p.job.start()
		}
		if p.job != nil && key.Matches(msg, p.c.Keys.Back) {
			p.job.cancel()
			return true, nil, nil
		}
	}
	return false, nil, nil
}

// rows is how many lines the pane takes from the list.
func (p *restorePane) rows() int {
	if p.prompt.Active() || p.job != nil {
		return 7
	}
	return 0
}

// capturing reports whether text is being typed into the prompt.
func (p *restorePane) capturing() bool { return p.prompt.Active() }

func (p *restorePane) setWidth(w int) { p.prompt.SetWidth(w) }

// view is the pane below the list, empty when idle.
func (p *restorePane) view() string {
	out := ""
	if p.prompt.Active() {
		out += "\n\n" + p.prompt.View()
	}
	if p.job != nil {
		out += "\n\n" + p.job.view()
	}
	return out
}
