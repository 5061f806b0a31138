package ui

import (
	"context"
	"reflect"
	"runtime"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"cairn/ui/uitest"

	tea "github.com/charmbracelet/bubbletea"
)

// TestRootQuitAsksWhileAJobRuns pins issue 17 item 2: q during a backup
// quit at once and left the unfinished snapshot behind. Now q (and ctrl+c)
// ask first; any other key keeps the job; y cancels it and quits only
// once the job has cleaned up.
func TestRootQuitAsksWhileAJobRuns(t *testing.T) {
	for _, press := range []tea.KeyMsg{uitest.Press(testCommon().Keys.Quit), {Type: tea.KeyCtrlC}} {
		t.Run(press.String(), func(t *testing.T) {
			c := testCommon()
			a := newFake(c, "a")
			r := NewRoot(c, a)
			r.Update(tea.WindowSizeMsg{Width: 80, Height: 24})
			var cleaned atomic.Bool
			_, cmd := c.StartJob("backup", func(ctx context.Context, rep Reporter) (any, error) {
				<-ctx.Done()
				time.Sleep(100 * time.Millisecond) // the unfinished snapshot is removed
				cleaned.Store(true)
				return nil, ctx.Err()
			})
			go cmd().(tea.BatchMsg)[0]()

			_, cmd = r.Update(press)
			if hasQuit(uitest.Run(t, cmd)) || !r.Asking() {
				t.Fatalf("%s quit while a backup runs (asking %v)", press, r.Asking())
			}
			v := r.View()
			for _, want := range []string{"Quit?", "A backup is running", "y stop and quit"} {
				if !strings.Contains(v, want) {
					t.Errorf("the question lacks %q:\n%s", want, v)
				}
			}
			// Any other key keeps it running, and reaches no view.
			r.Update(uitest.Runes("n"))
			if r.Asking() || r.Stopping() || len(a.keys) != 0 || len(c.JobList().Running()) != 1 {
				t.Fatalf("n: asking %v stopping %v view keys %q jobs %v", r.Asking(), r.Stopping(), a.keys, c.JobList().Running())
			}
			r.Update(press)
			_, cmd = r.Update(uitest.Press(c.Keys.Confirm))
			if !r.Stopping() || !strings.Contains(r.View(), "Stopping backup") {
				t.Fatalf("y did not stop:\n%s", r.View())
			}
			// The command waits for the job, then the root quits.
			done := make(chan tea.Msg, 1)
			go func() { done <- cmd() }()
			var msg tea.Msg
			select {
			case msg = <-done:
			case <-time.After(10 * time.Second):
				t.Fatal("the jobs did not stop")
			}
			if !cleaned.Load() {
				t.Fatal("quit before the job cleaned up")
			}
			_, cmd = r.Update(msg)
			if !hasQuit(uitest.Run(t, cmd)) {
				t.Error("no quit once the jobs stopped")
			}
		})
	}
}

// TestRootQuitAtOnceWithoutJobs keeps q quick when nothing runs.
func TestRootQuitAtOnceWithoutJobs(t *testing.T) {
	c := testCommon()
	r := NewRoot(c, newFake(c, "a"))
	_, cmd := r.Update(uitest.Press(c.Keys.Quit))
	if !hasQuit(uitest.Run(t, cmd)) || r.Asking() {
		t.Error("q with no job running did not quit at once")
	}
}

// TestRootStatusClears pins issue 17 item 13: status lines stayed forever
// ("history is for files" on the main list). They now end after a few
// seconds or at the next key.
func TestRootStatusClears(t *testing.T) {
	c := testCommon()
	a := newFake(c, "a")
	r := NewRoot(c, a)
	r.Update(tea.WindowSizeMsg{Width: 80, Height: 24})
	status := func() string {
		lines := strings.Split(r.View(), "\n")
		return strings.TrimSpace(lines[len(lines)-2])
	}
	_, expire := r.Update(StatusMsg{Text: "history is for files: select a file"})
	if status() != "history is for files: select a file" || expire == nil {
		t.Fatalf("status %q, expiry %v", status(), expire != nil)
	}
	if !strings.Contains(cmdNames(expire), "bubbletea.Tick") {
		t.Fatalf("the status line has no timer: %s", cmdNames(expire))
	}
	first := statusExpiredMsg{seq: r.life.status} // what the timer sends
	// A newer line is not ended by the older one's timer.
	r.Update(StatusMsg{Text: "newer"})
	r.Update(first)
	if status() != "newer" {
		t.Fatalf("the old timer ended the newer line: %q", status())
	}
	r.Update(statusExpiredMsg{seq: r.life.status})
	if status() != "" {
		t.Errorf("status %q after its time", status())
	}
	// The next key ends it too, and still reaches the view.
	r.Update(StatusMsg{Text: "restored 2 entries"})
	r.Update(uitest.Runes("j"))
	if status() != "" || len(a.keys) != 1 {
		t.Errorf("after a key: status %q, view keys %q", status(), a.keys)
	}
}

// TestRootLongErrorOpensDialog pins issue 17 item 13: errors were cut at
// the screen's width. One too long for the status line opens whole in a
// dialog, which the next key closes without passing it on.
func TestRootLongErrorOpensDialog(t *testing.T) {
	c := testCommon()
	a := newFake(c, "a")
	r := NewRoot(c, a)
	r.Update(tea.WindowSizeMsg{Width: 80, Height: 24})
	long := "restore failed: open /srv/backup/restore-elsa-20240101T120000Z-root.pxar/home/elsa/a/rather/deep/path/notes.txt: permission denied (the end of the message)"
	r.Update(StatusMsg{Text: long, Err: true})
	v := r.View()
	if r.Dialog() != long || !strings.Contains(v, "Error") || !strings.Contains(v, "press any key to close") {
		t.Fatalf("no dialog:\n%s", v)
	}
	if !strings.Contains(strings.Join(strings.Fields(strings.ReplaceAll(v, "│", "")), " "), "(the end of the message)") {
		t.Errorf("the dialog cut the error:\n%s", v)
	}
	golden(t, "error_dialog", v, 80, 24)
	r.Update(uitest.Runes("j"))
	if r.Dialog() != "" || len(a.keys) != 0 {
		t.Errorf("after a key: dialog %q, the view got %q", r.Dialog(), a.keys)
	}
	// A short error stays on the status line.
	r.Update(StatusMsg{Text: "boom", Err: true})
	if r.Dialog() != "" || !strings.Contains(r.View(), "boom") {
		t.Error("a short error opened a dialog")
	}
}

// reloadView is a fake view that counts reloads and polls.
type reloadView struct {
	*fakeView
	reloads, polls int
}

type reloadedMsg struct{}

func (v *reloadView) Reload() tea.Cmd {
	v.reloads++
	return func() tea.Msg { return reloadedMsg{} }
}

func (v *reloadView) Poll() tea.Cmd {
	v.polls++
	return nil
}

func (v *reloadView) Update(msg tea.Msg) (tea.Model, tea.Cmd) {
	v.fakeView.Update(msg)
	return v, nil
}

// TestRootReloads pins issue 17 item 5: lists went stale after a prune or
// a backup. A view that shows repository data is reloaded after every job,
// when it comes back on top, and on ctrl+r.
func TestRootReloads(t *testing.T) {
	c := testCommon()
	groups := &reloadView{fakeView: newFake(c, "groups")}
	snaps := &reloadView{fakeView: newFake(c, "snapshots")}
	r := NewRoot(c, groups)
	r.Update(PushMsg{View: snaps})
	r.Update(PushMsg{View: newFake(c, "prune")})
	// A job ends: both lists reload.
	r.Update(JobMsg{Job: 42, Done: true})
	if groups.reloads != 1 || snaps.reloads != 1 {
		t.Fatalf("after a job: reloads %d %d", groups.reloads, snaps.reloads)
	}
	r.Update(JobMsg{Job: 42})
	if groups.reloads != 1 {
		t.Fatal("a progress message reloaded")
	}
	// Back from the prune: the snapshot list reloads.
	r.Update(PopMsg{})
	if snaps.reloads != 2 || groups.reloads != 1 {
		t.Fatalf("after pop: reloads %d %d", groups.reloads, snaps.reloads)
	}
	// ctrl+r reloads the screen on top.
	_, cmd := r.Update(uitest.Press(c.Keys.Reload))
	if snaps.reloads != 3 || len(snaps.keys) != 0 {
		t.Errorf("ctrl+r: reloads %d, view keys %q", snaps.reloads, snaps.keys)
	}
	found := false
	for _, m := range uitest.Run(t, cmd) {
		_, ok := m.(reloadedMsg)
		found = found || ok
	}
	if !found {
		t.Error("ctrl+r's command does not run the reload")
	}
	r.Update(uitest.Press(c.Keys.Help))
	if !strings.Contains(r.View(), "ctrl+r") {
		t.Errorf("help does not list ctrl+r:\n%s", r.View())
	}
}

// TestRootPollsOnlyTheVisibleList pins issue 17 item 5: the group list
// polls while it is on top, and not while another screen covers it.
func TestRootPollsOnlyTheVisibleList(t *testing.T) {
	c := testCommon()
	groups := &reloadView{fakeView: newFake(c, "groups")}
	r := NewRoot(c, groups)
	if !strings.Contains(cmdNames(r.Init()), "bubbletea.Tick") {
		t.Fatal("Init does not arm the poll")
	}
	_, cmd := r.Update(pollMsg{})
	if groups.polls != 1 || cmd == nil {
		t.Fatalf("polls %d, re-armed %v", groups.polls, cmd != nil)
	}
	r.Update(PushMsg{View: newFake(c, "snapshots")})
	_, cmd = r.Update(pollMsg{})
	if groups.polls != 1 || cmd != nil {
		t.Fatalf("polled while covered: polls %d, re-armed %v", groups.polls, cmd != nil)
	}
	// Back on top: reloaded and polled again.
	_, cmd = r.Update(PopMsg{})
	if groups.reloads != 1 || !strings.Contains(cmdNames(cmd), "bubbletea.Tick") {
		t.Errorf("after pop: reloads %d, poll armed %q", groups.reloads, cmdNames(cmd))
	}
}

// cmdNames names the functions behind cmd (a batch's, one by one) without
// running timers.
func cmdNames(cmd tea.Cmd) string {
	if cmd == nil {
		return ""
	}
	name := runtime.FuncForPC(reflect.ValueOf(cmd).Pointer()).Name()
	if strings.Contains(name, "compactCmds") {
		var out []string
		for _, c := range cmd().(tea.BatchMsg) {
			out = append(out, cmdNames(c))
		}
		return strings.Join(out, " ")
	}
	return name
}
