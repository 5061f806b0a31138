package ui

import (
	"context"
	"sort"
	"sync"
	"sync/atomic"
	"time"

	tea "github.com/charmbracelet/bubbletea"
)

// A Job runs one long operation (a backup, a restore, a garbage collection)
// for the view that started it, the one way every screen runs them
// (STYLE.md "Engine → UI progress"):
//
//   - it owns the operation's context; Cancel stops it, and the root cancels
//     every job before the program quits;
//   - the work reports through a Reporter: events in order, none lost
//     (warnings, an archive done), and progress, of which only the newest
//     counts, so a screen that falls behind gets the latest figures, never
//     a queue of stale ones;
//   - the view reads the reports with Wait, one JobMsg at a time, and issues
//     Wait again after each until the JobMsg that says Done;
//   - every JobMsg names its job, and a view acts only on its own (Owns).
//
// All methods are for the view's Update goroutine, except Reporter's.
type Job struct {
	id     JobID
	name   string
	ctx    context.Context
	cancel context.CancelFunc
	jobs   *Jobs

	progress chan any      // the newest progress only
	events   chan any      // in order; the work waits when it is full
	done     chan struct{} // closed when the work returned
	result   any
	err      error

	cancelled atomic.Bool
}

// JobID names a job; IDs are never reused within a process.
type JobID int64

var jobIDs atomic.Int64

// JobMsg is what a job reports to the view that started it: the events
// that happened since the last JobMsg, in order, and the newest progress
// (nil when there was none). The last one has Done set, with the work's
// result and error.
type JobMsg struct {
	Job      JobID
	Events   []any
	Progress any
	Done     bool
	Result   any
	Err      error
}

const (
	jobEvents = 64  // events the work may be ahead of the screen
	jobBatch  = 256 // events one JobMsg carries at most
)

// Work is what a job runs. It must return soon after ctx is done, and
// reports through r.
type Work func(ctx context.Context, r Reporter) (any, error)

// StartJob starts work as a job named name ("backup", "restore", …) and
// returns it with the command to return from Update: it runs the work and
// waits for the first report.
func (c *Common) StartJob(name string, work Work) (*Job, tea.Cmd) {
	ctx, cancel := context.WithCancel(context.Background())
	j := &Job{
		id: JobID(jobIDs.Add(1)), name: name, ctx: ctx, cancel: cancel, jobs: c.JobList(),
		progress: make(chan any, 1), events: make(chan any, jobEvents), done: make(chan struct{}),
	}
	j.jobs.add(j)
	run := func() tea.Msg {
		defer j.jobs.remove(j)
		defer close(j.done)
		j.result, j.err = work(ctx, Reporter{j})
		j.cancel()
		return nil
	}
	return j, tea.Batch(run, j.Wait())
}

// ID names the job.
func (j *Job) ID() JobID { return j.id }

// Name is what the job does, as given to StartJob.
func (j *Job) Name() string { return j.name }

// Owns reports whether msg is a report of j; a nil job owns nothing.
func (j *Job) Owns(msg JobMsg) bool { return j != nil && msg.Job == j.id }

// Cancel asks the work to stop; its last JobMsg still comes.
func (j *Job) Cancel() {
	if j != nil {
		j.cancelled.Store(true)
		j.cancel()
	}
}

// Cancelled reports whether Cancel was called.
func (j *Job) Cancelled() bool { return j != nil && j.cancelled.Load() }

// Running reports whether the work has not returned yet.
func (j *Job) Running() bool {
	if j == nil {
		return false
	}
	select {
	case <-j.done:
		return false
	default:
		return true
	}
}

// Wait is the command that receives the job's next JobMsg: it blocks until
// there is an event, a progress report or the end, then takes whatever
// else is already queued, so a burst of events costs one redraw.
func (j *Job) Wait() tea.Cmd {
	return func() tea.Msg {
		msg := JobMsg{Job: j.id}
		select {
		case ev := <-j.events:
			msg.Events = append(msg.Events, ev)
		case p := <-j.progress:
			msg.Progress = p
		case <-j.done:
		}
	more:
		for len(msg.Events) < jobBatch {
			select {
			case ev := <-j.events:
				msg.Events = append(msg.Events, ev)
			default:
				break more
			}
		}
		select {
		case p := <-j.progress:
			msg.Progress = p
		default:
		}
		if !j.Running() && len(j.events) == 0 && len(j.progress) == 0 {
			msg.Done, msg.Result, msg.Err = true, j.result, j.err
		}
		return msg
	}
}

// Reporter is how a job's work reports. Its methods may be called from any
// goroutine.
type Reporter struct{ j *Job }

// Progress reports the current figures; an older report not yet read is
// replaced, so it never waits.
func (r Reporter) Progress(p any) {
	for {
		select {
		case r.j.progress <- p:
			return
		default:
		}
		select {
		case <-r.j.progress: // stale: drop it
		default:
		}
	}
}

// Event reports something that must not be lost (a warning, an archive
// done). It waits while the screen is behind, unless the job is cancelled.
func (r Reporter) Event(ev any) {
	select {
	case r.j.events <- ev:
	case <-r.j.ctx.Done():
	}
}

// Jobs are the jobs running in the program, so the root can ask before
// quitting and stop them cleanly. Safe for concurrent use.
type Jobs struct {
	mu      sync.Mutex
	running map[JobID]*Job
}

// NewJobs makes an empty list.
func NewJobs() *Jobs { return &Jobs{running: map[JobID]*Job{}} }

// JobList is the program's list of jobs, made on first use.
func (c *Common) JobList() *Jobs {
	if c.Jobs == nil {
		c.Jobs = NewJobs()
	}
	return c.Jobs
}

func (js *Jobs) add(j *Job) {
	js.mu.Lock()
	js.running[j.id] = j
	js.mu.Unlock()
}

func (js *Jobs) remove(j *Job) {
	js.mu.Lock()
	delete(js.running, j.id)
	js.mu.Unlock()
}

// Running names the jobs still running, oldest first.
func (js *Jobs) Running() []string {
	js.mu.Lock()
	defer js.mu.Unlock()
	list := make([]*Job, 0, len(js.running))
	for _, j := range js.running {
		list = append(list, j)
	}
	sort.Slice(list, func(a, b int) bool { return list[a].id < list[b].id })
	names := make([]string, len(list))
	for i, j := range list {
		names[i] = j.name
	}
	return names
}

// CancelAll asks every running job to stop.
func (js *Jobs) CancelAll() {
	js.mu.Lock()
	defer js.mu.Unlock()
	for _, j := range js.running {
		j.Cancel()
	}
}

// Wait waits until no job runs or timeout passes, and reports whether
// they all ended. A cancelled job ends once its work has cleaned up (a
// backup has removed its unfinished snapshot).
func (js *Jobs) Wait(timeout time.Duration) bool {
	deadline := time.After(timeout)
	for {
		js.mu.Lock()
		var one *Job
		for _, j := range js.running {
			one = j
			break
		}
		js.mu.Unlock()
		if one == nil {
			return true
		}
		select {
		case <-one.done:
			// Removed right after; give the deferred remove its moment.
			js.mu.Lock()
			delete(js.running, one.id)
			js.mu.Unlock()
		case <-deadline:
			return false
		}
	}
}
