package views

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	tea "github.com/charmbracelet/bubbletea"

	"cairn/core"
	"cairn/core/restore"
	"cairn/ui"
)

// restoreJob restores a whole archive, or only some of its paths, as a
// ui.Job: the engine reports the bytes restored and their total (for a
// selection, the selected files' bytes), and warnings as they happen.
type restoreJob struct {
	c      *ui.Common
	ns     core.Namespace
	snap   core.Snapshot
	file   string   // stored name, e.g. root.pxar.didx
	target string   // directory (pxar) or file
	paths  []string // archive-relative paths to restore; nil: everything

	job      *ui.Job
	progress core.Progress
	warnings []string
	err      error
	finished bool
	started  time.Time
}

func newRestoreJob(c *ui.Common, ns core.Namespace, snap core.Snapshot, file, target string, paths []string) *restoreJob {
	return &restoreJob{c: c, ns: ns, snap: snap, file: file, target: target, paths: paths}
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

// start runs the restore and returns the command that reads its reports.
func (j *restoreJob) start() tea.Cmd {
	j.started = time.Now()
	var cmd tea.Cmd
	j.job, cmd = j.c.StartJob("restore", j.work)
	return cmd
}

// work restores through the engine: a selection of a pxar archive reads
// only the chunks the selected entries need; warnings become job events,
// the engine's info lines (the key's fingerprint) are not shown.
func (j *restoreJob) work(ctx context.Context, r ui.Reporter) (any, error) {
	o := restore.Options{Repo: j.c.Repo, Namespace: j.ns, Snapshot: j.snap.String(), Archive: j.file, Target: j.target,
		Key: j.c.Key, KeyExplicit: j.c.KeyExplicit, AllowExistingDirs: true,
		Events: func(ev core.Event) {
			if ev.Kind == core.EventWarning {
				r.Event(ev.Message)
			}
		}}
	return nil, restore.RunPaths(ctx, o, j.paths, func(p core.Progress) { r.Progress(p) })
}

func (j *restoreJob) cancel() { j.job.Cancel() }

// update takes a report of this job; done says the job ended.
func (j *restoreJob) update(msg ui.JobMsg) (done bool, cmd tea.Cmd) {
	if !j.job.Owns(msg) {
		return false, nil
	}
	for _, ev := range msg.Events {
		if w, ok := ev.(string); ok {
			j.warnings = append(j.warnings, w)
		}
	}
	if p, ok := msg.Progress.(core.Progress); ok {
		j.progress = p
	}
	if !msg.Done {
		return false, j.job.Wait()
	}
	j.finished, j.err = true, msg.Err
	switch {
	case errors.Is(msg.Err, context.Canceled):
		return true, ui.Status("restore stopped; what was restored so far stays in " + j.target)
	case msg.Err != nil:
		return true, ui.Error(fmt.Errorf("restore failed: %w", msg.Err))
	}
	what := "archive"
	if len(j.paths) > 0 {
		what = plural(len(j.paths), "entry", "entries")
	}
	target := j.target
	return true, tea.Batch(ui.Status(fmt.Sprintf("restored %s to %s in %s", what, target, time.Since(j.started).Round(time.Millisecond))),
		func() tea.Msg { return RestoredMsg{Target: target} })
}

// RestoredMsg tells views a restore finished into Target.
type RestoredMsg struct{ Target string }

// view draws the running job.
func (j *restoreJob) view() string {
	s := j.c.Styles
	p := j.progress
	pct := 0.0
	if p.BytesTotal > 0 {
		pct = float64(p.BytesRead) / float64(p.BytesTotal)
	}
	out := s.Title.Render("Restoring to "+j.target) + "\n" + bar(s, pct, 40) + fmt.Sprintf(" %s / %s", size(p.BytesRead), size(p.BytesTotal))
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
