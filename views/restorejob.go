package views

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	tea "github.com/charmbracelet/bubbletea"

	"cairn/core"
	"cairn/core/restore"
	"cairn/pxar"
	"cairn/pxar/pattern"
	"cairn/ui"
)

// restoreProgressMsg reports bytes of the archive stream consumed so far,
// and a warning when one occurred.
type restoreProgressMsg struct {
	id      int
	done    uint64
	total   uint64
	warning string
}

// restoreDoneMsg ends a restore job.
type restoreDoneMsg struct {
	id     int
	target string
	err    error
}

var restoreJobs atomic.Int64

// restoreJob restores a whole archive, or only some of its paths, in a
// goroutine and reports through a channel that a re-issued command reads.
type restoreJob struct {
	c      *ui.Common
	ns     core.Namespace
	snap   core.Snapshot
	file   string   // stored name, e.g. root.pxar.didx
	target string   // directory (pxar) or file
	paths  []string // archive-relative paths to restore; nil: everything

	id       int
	ch       chan tea.Msg
	ctx      context.Context
	cancelFn context.CancelFunc

	done, total uint64
	warnings    []string
	err         error
	finished    bool
	started     time.Time
}

func newRestoreJob(c *ui.Common, ns core.Namespace, snap core.Snapshot, file, target string, paths []string) *restoreJob {
	ctx, cancel := context.WithCancel(context.Background())
	return &restoreJob{c: c, ns: ns, snap: snap, file: file, target: target, paths: paths,
		id: int(restoreJobs.Add(1)), ch: make(chan tea.Msg, 16), ctx: ctx, cancelFn: cancel}
}

// defaultTarget is where a restore goes unless the user says otherwise:
// a new directory in the current one, named after the snapshot.
func defaultTarget(s core.Snapshot, name string) string {
	cwd, err := os.Getwd()
	if err != nil {
		cwd = os.TempDir()
	}
	t := strings.ReplaceAll(s.TimeString(), ":", "")
	return filepath.Join(cwd, fmt.Sprintf("restore-%s-%s-%s", s.ID, t, name))
}

// escapeGlob makes a path match itself literally as a pattern.
func escapeGlob(p string) string {
	var b strings.Builder
	for _, r := range p {
		if strings.ContainsRune(`\*?[]`, r) {
			b.WriteByte('\\')
		}
		b.WriteRune(r)
	}
	return b.String()
}

func (j *restoreJob) send(m tea.Msg) {
	select {
	case j.ch <- m:
	case <-j.ctx.Done():
	}
}

// start launches the restore and returns the command that reads its reports.
func (j *restoreJob) start() tea.Cmd {
	j.started = time.Now()
	go j.run()
	return j.wait()
}

func (j *restoreJob) wait() tea.Cmd {
	ch := j.ch
	return func() tea.Msg {
		m, ok := <-ch
		if !ok {
			return nil
		}
		return m
	}
}

func (j *restoreJob) run() {
	defer close(j.ch)
	err := j.restore()
	// The done message must arrive even after a cancel.
	j.ch <- restoreDoneMsg{id: j.id, target: j.target, err: err}
}

func (j *restoreJob) restore() error {
	if !restore.IsPxarName(j.file) {
		return restore.Run(j.ctx, restore.Options{Repo: j.c.Repo, Namespace: j.ns, Snapshot: j.snap.String(),
			Archive: j.file, Target: j.target, Key: j.c.Key, KeyExplicit: j.c.KeyExplicit})
	}
	s, err := openSnapshot(j.ctx, j.c, j.ns, j.snap)
	if err != nil {
		return err
	}
	defer s.Close()
	a, err := s.FindPxar(j.file)
	if err != nil {
		return err
	}
	var pats pattern.List
	for _, p := range j.paths {
		pat, err := pattern.Parse("/" + escapeGlob(p))
		if err != nil {
			return fmt.Errorf("path %q: %w", p, err)
		}
		pats = append(pats, pat)
	}
	// Progress counts the bytes read of the archive's streams (both of a
	// split archive).
	var n atomic.Uint64
	total := a.Size
	var wg sync.WaitGroup
	stop := make(chan struct{})
	wg.Add(1)
	go func() {
		defer wg.Done()
		t := time.NewTicker(100 * time.Millisecond)
		defer t.Stop()
		for {
			select {
			case <-stop:
				return
			case <-t.C:
				j.send(restoreProgressMsg{id: j.id, done: n.Load(), total: total})
			}
		}
	}()
	err = s.ExtractPxar(j.ctx, a, j.target, pxar.ExtractOptions{
		AllowExistingDirs: true,
		Patterns:          pats,
		OnWarning: func(msg string) {
			j.send(restoreProgressMsg{id: j.id, done: n.Load(), total: total, warning: msg})
		},
	}, &n)
	close(stop)
	wg.Wait()
	return err
}

func (j *restoreJob) cancel() { j.cancelFn() }

// update takes a message of this job; done reports the job ended.
func (j *restoreJob) update(msg tea.Msg) (done bool, cmd tea.Cmd) {
	switch m := msg.(type) {
	case restoreProgressMsg:
		if m.id != j.id {
			return false, nil
		}
		j.done, j.total = m.done, m.total
		if m.warning != "" {
			j.warnings = append(j.warnings, m.warning)
		}
		return false, j.wait()
	case restoreDoneMsg:
		if m.id != j.id {
			return false, nil
		}
		j.finished, j.err = true, m.err
		j.cancelFn()
		if m.err != nil {
			return true, ui.Error(fmt.Errorf("restore failed: %w", m.err))
		}
		what := "archive"
		if len(j.paths) > 0 {
			what = plural(len(j.paths), "entry", "entries")
		}
		return true, tea.Batch(ui.Status(fmt.Sprintf("restored %s to %s in %s", what, m.target, time.Since(j.started).Round(time.Millisecond))), func() tea.Msg { return RestoredMsg{Target: m.target} })
	}
	return false, nil
}

// RestoredMsg tells views a restore finished into Target.
type RestoredMsg struct{ Target string }

// view draws the running job.
func (j *restoreJob) view() string {
	s := j.c.Styles
	pct := 0.0
	if j.total > 0 {
		pct = float64(j.done) / float64(j.total)
	}
	out := s.Title.Render("Restoring to "+j.target) + "\n" + bar(s, pct, 40) + fmt.Sprintf(" %s / %s", size(j.done), size(j.total))
	for i, w := range j.warnings {
		if i >= 5 {
			out += "\n" + s.Dim.Render(fmt.Sprintf("… %d more warnings", len(j.warnings)-5))
			break
		}
		out += "\n" + s.Warn.Render(w)
	}
	return out + "\n" + s.Dim.Render("esc cancels")
}

// bar draws a progress bar of width cells.
func bar(s *ui.Styles, frac float64, width int) string {
	frac = min(max(frac, 0), 1)
	full := int(frac * float64(width))
	return s.BarFull.Render(strings.Repeat("█", full)) + s.BarEmpty.Render(strings.Repeat("░", width-full)) + fmt.Sprintf(" %3.0f%%", frac*100)
}
