package ui

import (
	"context"
	"errors"
	"testing"
	"time"

	tea "github.com/charmbracelet/bubbletea"
)

// runJob runs a job's start command the way Bubble Tea would (the work in
// a goroutine) and returns its JobMsgs until Done, re-arming Wait after
// each, as a view does.
func runJob(t *testing.T, j *Job, start tea.Cmd) []JobMsg {
	t.Helper()
	batch, ok := start().(tea.BatchMsg)
	if !ok || len(batch) != 2 {
		t.Fatalf("StartJob's command is not the work and the first wait: %T", start())
	}
	go batch[0]() // the work
	wait := batch[1]
	var msgs []JobMsg
	deadline := time.After(30 * time.Second)
	for {
		ch := make(chan tea.Msg, 1)
		go func() { ch <- wait() }()
		select {
		case m := <-ch:
			jm := m.(JobMsg)
			if !j.Owns(jm) {
				t.Fatalf("a message of job %d for job %d", jm.Job, j.ID())
			}
			msgs = append(msgs, jm)
			if jm.Done {
				return msgs
			}
			wait = j.Wait()
		case <-deadline:
			t.Fatalf("no Done after 30s; %d messages", len(msgs))
		}
	}
}

func TestJobEventsInOrderProgressNewestOnly(t *testing.T) {
	c := testCommon()
	const events, progress = 2000, 20000
	j, cmd := c.StartJob("backup", func(ctx context.Context, r Reporter) (any, error) {
		for i := range progress {
			r.Progress(i)
			if i%10 == 0 {
				r.Event(i / 10)
			}
		}
		return "result", nil
	})
	if got := c.JobList().Running(); len(got) != 1 || got[0] != "backup" {
		t.Fatalf("running jobs %v", got)
	}
	msgs := runJob(t, j, cmd)
	var got []int
	lastProgress := -1
	for _, m := range msgs {
		for _, ev := range m.Events {
			got = append(got, ev.(int))
		}
		if m.Progress != nil {
			p := m.Progress.(int)
			if p <= lastProgress {
				t.Fatalf("progress went back from %d to %d", lastProgress, p)
			}
			lastProgress = p
		}
	}
	if len(got) != events {
		t.Fatalf("%d events arrived, want %d", len(got), events)
	}
	for i, ev := range got {
		if ev != i {
			t.Fatalf("event %d is %d: out of order", i, ev)
		}
	}
	if lastProgress != progress-1 {
		t.Errorf("last progress %d, want the newest, %d", lastProgress, progress-1)
	}
	if len(msgs) > progress/2 {
		t.Errorf("%d messages for %d progress reports: stale ones were not dropped", len(msgs), progress)
	}
	end := msgs[len(msgs)-1]
	if end.Result != "result" || end.Err != nil {
		t.Errorf("last message %+v", end)
	}
	if got := c.JobList().Running(); len(got) != 0 {
		t.Errorf("still running after Done: %v", got)
	}
}

func TestJobCancelEndsWithTheWorksError(t *testing.T) {
	c := testCommon()
	started := make(chan struct{})
	j, cmd := c.StartJob("restore", func(ctx context.Context, r Reporter) (any, error) {
		close(started)
		<-ctx.Done()
		// Events after the cancel never block the work.
		for i := range 1000 {
			r.Event(i)
		}
		return nil, ctx.Err()
	})
	go func() { <-started; j.Cancel() }()
	msgs := runJob(t, j, cmd)
	end := msgs[len(msgs)-1]
	if !errors.Is(end.Err, context.Canceled) || !j.Cancelled() || j.Running() {
		t.Errorf("after cancel: err %v, cancelled %v, running %v", end.Err, j.Cancelled(), j.Running())
	}
	other := &Job{id: j.ID() + 1000}
	if other.Owns(end) || (*Job)(nil).Owns(end) {
		t.Error("another job owns this job's message")
	}
}

func TestJobsWaitForCancelledWork(t *testing.T) {
	c := testCommon()
	cleaned := make(chan struct{})
	_, cmd := c.StartJob("backup", func(ctx context.Context, r Reporter) (any, error) {
		<-ctx.Done()
		time.Sleep(100 * time.Millisecond) // removing the unfinished snapshot
		close(cleaned)
		return nil, ctx.Err()
	})
	go cmd().(tea.BatchMsg)[0]()
	jobs := c.JobList()
	if jobs.Wait(50 * time.Millisecond) {
		t.Fatal("Wait returned true while the job runs")
	}
	jobs.CancelAll()
	if !jobs.Wait(10 * time.Second) {
		t.Fatal("the cancelled job did not end")
	}
	select {
	case <-cleaned:
	default:
		t.Fatal("Wait returned before the job cleaned up")
	}
}
