package ui

import (
	"strings"

	"github.com/charmbracelet/bubbles/help"
	"github.com/charmbracelet/bubbles/key"
	tea "github.com/charmbracelet/bubbletea"
	"github.com/charmbracelet/lipgloss"
)

// Root is the top model: header with the breadcrumb, the active view, a
// status line and a one-line key hint. It handles quit, help, resize and
// the view stack; everything else goes to the active view.
type Root struct {
	c         *Common
	stack     []View
	width     int
	height    int
	status    string
	statusErr bool
	showHelp  bool
	help      help.Model
	// life: the quit question, polling, status expiry and dialogs
	// (quit.go, refresh.go, status.go).
	life rootLife
}

// NewRoot starts the UI on the first view.
func NewRoot(c *Common, first View) *Root {
	h := help.New()
	h.ShortSeparator = "  "
	return &Root{c: c, stack: []View{first}, width: 80, height: 24, help: h}
}

// Init starts the first view.
func (r *Root) Init() tea.Cmd { return tea.Batch(r.top().Init(), r.armPoll()) }

func (r *Root) top() View { return r.stack[len(r.stack)-1] }

// Active returns the view on top of the stack (for tests).
func (r *Root) Active() View { return r.top() }

// Depth is the number of open views (for tests).
func (r *Root) Depth() int { return len(r.stack) }

func (r *Root) capturing() bool {
	c, ok := r.top().(Capturer)
	return ok && c.Capturing()
}

// bodyHeight is what is left for views: header, status and hint take a line each.
func (r *Root) bodyHeight() int { return max(r.height-3, 1) }

// Update routes a message.
func (r *Root) Update(msg tea.Msg) (tea.Model, tea.Cmd) {
	if keys := splitBurst(msg); keys != nil {
		return r, r.burst(keys)
	}
	if cmd, ok := r.lifeMsg(msg); ok {
		return r, cmd
	}
	switch msg := msg.(type) {
	case tea.WindowSizeMsg:
		r.width, r.height = msg.Width, msg.Height
		r.help.Width = msg.Width
		for _, v := range r.stack {
			v.SetSize(r.width, r.bodyHeight())
		}
		return r, nil
	case PushMsg:
		msg.View.SetSize(r.width, r.bodyHeight())
		r.stack = append(r.stack, msg.View)
		r.status, r.statusErr = "", false
		return r, msg.View.Init()
	case PopMsg:
		if len(r.stack) > 1 {
			r.stack = r.stack[:len(r.stack)-1]
			return r, r.shown()
		}
		return r, nil
	case StatusMsg:
		return r, r.setStatus(msg)
	case JobMsg:
		// Every screen refreshes after a job.
		_, cmd := r.forward(msg)
		if msg.Done {
			cmd = tea.Batch(cmd, r.reloadAll())
		}
		return r, cmd
	case tea.MouseMsg:
		return r, r.mouse(msg)
	case tea.KeyMsg:
		k := r.c.Keys
		if cmd, ok := r.lifeKey(msg); ok {
			return r, cmd
		}
		if msg.String() == "ctrl+c" {
			return r, r.quit()
		}
		if r.showHelp {
			// Any key closes the help.
			r.showHelp = false
			return r, nil
		}
		if !r.capturing() {
			switch {
			case key.Matches(msg, k.Quit):
				return r, r.quit()
			case key.Matches(msg, k.Help):
				r.showHelp = true
				return r, nil
			case key.Matches(msg, k.Reload):
				if cmd, ok := r.reloadTop(); ok {
					return r, cmd
				}
			}
		}
	}
	return r.forward(msg)
}

func (r *Root) forward(msg tea.Msg) (tea.Model, tea.Cmd) {
	// Results may be for a view below the top one (a load that finished
	// after the user moved on); views check tags and ignore stale ones,
	// so everything not a key goes to every view, keys only to the top.
	if _, isKey := msg.(tea.KeyMsg); isKey {
		m, cmd := r.top().Update(msg)
		r.stack[len(r.stack)-1] = m.(View)
		return r, cmd
	}
	var cmds []tea.Cmd
	for i, v := range r.stack {
		m, cmd := v.Update(msg)
		r.stack[i] = m.(View)
		cmds = append(cmds, cmd)
	}
	return r, tea.Batch(cmds...)
}

// View draws the screen.
func (r *Root) View() string {
	s := r.c.Styles
	var crumbs []string
	crumbs = append(crumbs, s.Header.Render("cairn")+" "+s.Crumb.Render(r.c.RepoName))
	for _, v := range r.stack {
		if t := v.Title(); t != "" {
			crumbs = append(crumbs, s.Crumb.Render(t))
		}
	}
	header := middleCut(strings.Join(crumbs, s.CrumbSep.Render(" › ")), r.width)
	var body string
	if d := r.dialogView(); d != "" {
		body = d
	} else if r.showHelp {
		body = r.helpView()
	} else {
		body = r.top().View()
	}
	body = fit(body, r.width, r.bodyHeight())
	status := r.status
	st := s.Status
	if r.statusErr {
		st = s.Error
	}
	hint := r.help.ShortHelpView(append(r.top().ShortHelp(), r.c.Keys.Help, r.c.Keys.Quit))
	return lipgloss.JoinVertical(lipgloss.Left, header, body, truncate(st.Render(status), r.width), truncate(hint, r.width))
}

func (r *Root) helpView() string {
	groups := r.top().FullHelp()
	groups = append(groups, withoutListed(groups, r.globalKeys([]key.Binding{r.c.Keys.Help, r.c.Keys.Quit, r.c.Keys.Back})))
	h := r.help
	h.ShowAll = true
	return r.c.Styles.Title.Render("Keys") + "\n\n" + h.FullHelpView(groups) + "\n\n" + r.c.Styles.Dim.Render("press any key to close")
}

// fit pads or cuts s to exactly h lines of at most w cells.
func fit(s string, w, h int) string {
	lines := strings.Split(s, "\n")
	if len(lines) > h {
		lines = lines[:h]
	}
	for i, l := range lines {
		lines[i] = truncate(l, w)
	}
	for len(lines) < h {
		lines = append(lines, "")
	}
	return strings.Join(lines, "\n")
}

// truncate cuts a (possibly styled) line to w cells.
func truncate(s string, w int) string {
	if lipgloss.Width(s) <= w {
		return s
	}
	return cutANSI(s, w)
}
