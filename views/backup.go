package views

import (
	"context"
	"errors"
	"fmt"
	"os"

	"github.com/charmbracelet/bubbles/key"
	tea "github.com/charmbracelet/bubbletea"

	"cairn/core"
	"cairn/core/backup"
	"cairn/internal/backupflags"
	"cairn/keys"
	"cairn/ui"
)

// The backup screen is three files: the model and its job here, the form
// (backup_form.go: the command line, its parser and defaults) and the
// drawing (backup_render.go).

// BackupDoneMsg is sent (to every open view) when a backup started from the
// TUI has finished. Lists reload anyway after every job (the root sees to
// it); this names the new snapshot.
type BackupDoneMsg struct {
	Namespace core.Namespace
	Snapshot  core.Snapshot
}

// backupStarted is the job's first event: the snapshot it writes.
type backupStarted struct {
	snap      core.Snapshot
	encrypted bool
}

// backupInputError is a job's error about what the user typed (a missing
// source, a key file that cannot be read): the form opens again with it.
type backupInputError struct{ err error }

func (e backupInputError) Error() string { return e.err.Error() }
func (e backupInputError) Unwrap() error { return e.err }

var backupFrames = []string{"⠋", "⠙", "⠹", "⠸", "⠼", "⠴", "⠦", "⠧", "⠇", "⠏"}

// Backup runs one backup and shows it live: it asks for the archive specs
// and options (the form), then draws per-archive progress, warnings and a
// summary. It captures keys while its form is open.
type Backup struct {
	c      *ui.Common
	ns     core.Namespace // where the cursor was: the form's default --ns
	width  int
	height int
	prompt *ui.Prompt

	// Defaults of the form, set by NewBackup; tests pin them.
	dir, host string
	line      string // what was last confirmed, for a retry
	inputErr  string
	preview   backupPreview // what the form's line says, parsed as typed
	storeDir  string        // the local datastore's directory, "" for a server

	job        *ui.Job
	active     bool // the job runs: from start until its last report is read
	stopping   bool
	confirming bool

	specs     []backup.Spec
	target    core.Namespace // where the running backup goes
	group     core.Group
	snap      core.Snapshot
	started   bool
	encrypted bool
	estimate  *core.Estimate
	total     core.Progress
	ticks     int
	done      []core.Progress
	warnings  []string
	info      string
	result    *backup.Result
	err       error
	cancelled bool

	kStart, kStop, kStopYes, kKeep, kAgain key.Binding
}

// NewBackup makes the backup screen; ns is the namespace the form proposes.
func NewBackup(c *ui.Common, ns core.Namespace) *Backup {
	b := &Backup{c: c, ns: ns, prompt: ui.NewPrompt(c), width: 80, height: 21}
	// The default source is the directory cairn was started in: the one
	// the user most likely means ("back up this"), shown in the form to
	// change. A datastore inside it is left out by the engine. The home
	// directory (then /) is the fallback.
	if wd, err := os.Getwd(); err == nil {
		b.dir = wd
	} else if home, err := os.UserHomeDir(); err == nil {
		b.dir = home
	} else {
		b.dir = "/"
	}
	b.host = backup.HostName()
	b.kStart = c.Keys.Open
	b.kStart.SetHelp("enter", "start backup")
	b.kStop = c.Keys.Cancel
	b.kStop.SetHelp("esc", "stop backup")
	b.kStopYes = c.Keys.Confirm
	b.kStopYes.SetHelp("y", "stop")
	b.kKeep = c.Keys.Cancel
	b.kKeep.SetHelp("esc", "keep running")
	b.kAgain = c.Keys.Backup
	b.kAgain.SetHelp("b", "new backup")
	return b
}

// Init opens the form and looks up where the datastore lives.
func (b *Backup) Init() tea.Cmd {
	repo := b.c.Repo
	return tea.Batch(b.openForm(b.defaultLine()), func() tea.Msg { return backupStoreMsg{dir: backup.StoreDir(repo)} })
}

// backupStoreMsg carries the local datastore's directory.
type backupStoreMsg struct{ dir string }

// Title is the breadcrumb part.
func (b *Backup) Title() string { return "backup" }

// Capturing is true while the form is open.
func (b *Backup) Capturing() bool { return b.prompt.Active() }

// SetSize sets the drawing area.
func (b *Backup) SetSize(w, h int) {
	b.width, b.height = w, h
	b.prompt.SetWidth(w)
}

func (b *Backup) running() bool { return b.active }

// ShortHelp lists the keys of the current state.
func (b *Backup) ShortHelp() []key.Binding {
	switch {
	case b.prompt.Active():
		return []key.Binding{b.kStart, b.c.Keys.Clear, b.c.Keys.Cancel}
	case b.confirming:
		return []key.Binding{b.kStopYes, b.kKeep}
	case b.running():
		return []key.Binding{b.kStop}
	}
	return []key.Binding{b.c.Keys.Back, b.kAgain}
}

// FullHelp is ShortHelp in one column.
func (b *Backup) FullHelp() [][]key.Binding { return [][]key.Binding{b.ShortHelp()} }

// Update handles keys and the job's reports.
func (b *Backup) Update(msg tea.Msg) (tea.Model, tea.Cmd) {
	switch msg := msg.(type) {
	case tea.KeyMsg:
		return b, b.key(msg)
	case backupStoreMsg:
		b.storeDir = msg.dir
		b.reparse()
		return b, nil
	case ui.JobMsg:
		if !b.job.Owns(msg) {
			return b, nil
		}
		for _, ev := range msg.Events {
			b.apply(ev)
		}
		if msg.Progress != nil {
			b.apply(msg.Progress)
		}
		if msg.Done {
			return b, b.finish(msg.Result, msg.Err)
		}
		return b, b.job.Wait()
	}
	if b.prompt.Active() {
		_, cmd := b.prompt.Update(msg)
		return b, cmd
	}
	return b, nil
}

func (b *Backup) key(km tea.KeyMsg) tea.Cmd {
	k := b.c.Keys
	switch {
	case b.prompt.Active():
		before := b.prompt.Value()
		res, cmd := b.prompt.Update(km)
		switch res {
		case ui.PromptConfirmed:
			return b.confirm(b.prompt.Value())
		case ui.PromptCancelled:
			// esc leaves the screen, whether or not a backup ran in it.
			b.inputErr = ""
			return ui.Pop()
		}
		if b.prompt.Value() != before {
			b.inputErr = "" // about the line as it was
		}
		b.reparse()
		return cmd
	case b.confirming:
		b.confirming = false
		if key.Matches(km, k.Confirm) && b.running() {
			b.stopping = true
			b.job.Cancel()
			return ui.Status("Stopping the backup…")
		}
		return nil
	case b.running():
		if key.Matches(km, k.Cancel) {
			b.confirming = true
		}
		return nil
	case key.Matches(km, k.Back):
		return ui.Pop()
	case key.Matches(km, k.Backup):
		line := b.line
		if line == "" {
			line = b.defaultLine()
		}
		return b.openForm(line)
	}
	return nil
}

// confirm parses the line and starts the run, or opens the form again with
// the error.
func (b *Backup) confirm(line string) tea.Cmd {
	b.line = line
	l, err := b.parseLine(line)
	if err != nil {
		b.inputErr = err.Error()
		return tea.Batch(b.openForm(line), backupFormError)
	}
	b.inputErr = ""
	return b.start(l)
}

// start resets the figures and starts the job.
func (b *Backup) start(l *backupflags.Line) tea.Cmd {
	b.specs, b.target, b.group = l.Specs, l.Namespace, l.Group
	b.active, b.stopping, b.confirming, b.started, b.encrypted = true, false, false, false, false
	b.estimate, b.total, b.ticks = nil, core.Progress{}, 0
	b.done, b.warnings, b.info, b.result, b.err, b.cancelled = nil, nil, "", nil, nil, false
	job := backupJob{
		repo: b.c.Repo, key: b.c.Key, rsaKey: b.c.RSAEncryptedKey, loadKeyFile: b.c.LoadKeyFile, owner: b.c.Owner,
		ns: l.Namespace, group: l.Group, specs: l.Specs, flags: l.Values,
	}
	var cmd tea.Cmd
	b.job, cmd = b.c.StartJob("backup", job.work)
	return cmd
}

// apply takes one report of the job.
func (b *Backup) apply(r any) {
	switch r := r.(type) {
	case backupStarted:
		b.snap, b.started, b.encrypted = r.snap, true, r.encrypted
	case core.Event:
		switch r.Kind {
		case core.EventInfo:
			b.info = r.Message
		case core.EventWarning:
			b.warnings = append(b.warnings, r.Message)
		case core.EventProgress:
			b.total = r.Progress
			b.ticks++
		case core.EventArchiveDone:
			b.done = append(b.done, r.Progress)
		case core.EventEstimate:
			b.estimate = r.Estimate
		}
	}
}

func (b *Backup) finish(res any, err error) tea.Cmd {
	b.active, b.confirming = false, false
	if err != nil {
		var input backupInputError
		if errors.As(err, &input) {
			// Nothing ran: back to the form with the text.
			b.inputErr = input.err.Error()
			return tea.Batch(b.openForm(b.line), backupFormError)
		}
		if errors.Is(err, context.Canceled) {
			b.cancelled = true
			return ui.Status("Backup stopped; the unfinished snapshot was removed")
		}
		// The screen shows the whole error; the status line only says so.
		b.err = err
		return ui.Error(errors.New("backup failed: the reason is on the screen"))
	}
	r := res.(*backup.Result)
	b.result = r
	b.snap = r.Snapshot
	b.total = r.Totals
	done := BackupDoneMsg{Namespace: b.target, Snapshot: r.Snapshot}
	return tea.Batch(
		ui.Status(fmt.Sprintf("Backup %s finished in %s", r.Snapshot, backupDur(r.Duration))),
		func() tea.Msg { return done },
	)
}

// backupFormError is the status line of a line that cannot run: the form
// shows the error itself, whole.
var backupFormError = ui.Error(errors.New("the backup did not start: see the error in the form"))

// backupJob is what the job needs, copied out of the view so the work
// never touches it.
type backupJob struct {
	repo        core.Repository
	key         func() (*keys.CryptConfig, error)
	rsaKey      []byte // the default key sealed with the master key
	loadKeyFile func(string) (*keys.CryptConfig, []byte, error)
	owner       string
	ns          core.Namespace
	group       core.Group
	specs       []backup.Spec
	flags       backupflags.Values
}

// work runs the whole backup. Progress goes out as progress (the newest
// wins), everything else as events, in order.
func (j backupJob) work(ctx context.Context, r ui.Reporter) (any, error) {
	for _, s := range j.specs {
		if err := s.Check(); err != nil {
			return nil, backupInputError{err}
		}
	}
	mode, crypt, rsaKey, err := j.cryptParams()
	if err != nil {
		return nil, backupInputError{err}
	}
	snap := core.Snapshot{Group: j.group, Time: backup.NextTime(ctx, j.repo, j.ns, j.group)}
	r.Event(backupStarted{snap: snap, encrypted: crypt != nil && mode == "encrypt"})
	o := backup.Options{
		Repo: j.repo, Namespace: j.ns, Snapshot: snap, Owner: j.owner, Specs: j.specs,
		Crypt: crypt, CryptMode: mode, RSAEncryptedKey: rsaKey, Estimate: true,
		Events: func(ev core.Event) {
			if ev.Kind == core.EventProgress {
				r.Progress(ev)
				return
			}
			r.Event(ev)
		},
	}
	j.flags.Options(&o)
	return backup.Run(ctx, o)
}
