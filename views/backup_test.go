package views

import (
	"errors"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	tea "github.com/charmbracelet/bubbletea"
	"github.com/charmbracelet/lipgloss"
	"github.com/muesli/termenv"

	"cairn/core"
	"cairn/core/backup"
	"cairn/core/datastore"
	"cairn/core/datastore/datastoretest"
	"cairn/internal/testutil"
	"cairn/ui"
	"cairn/ui/uitest"
)

// update rewrites the golden files: go test ./views/ -run Golden -update
var update = flag.Bool("update", false, "rewrite golden files")

func init() { lipgloss.SetColorProfile(termenv.Ascii) }

// backupEnv is a Backup view over a real local datastore.
type backupEnv struct {
	b   *Backup
	ds  *datastore.Datastore
	src string // a small source tree
}

func newBackupEnv(t *testing.T) *backupEnv {
	t.Helper()
	dir := testutil.TempDir(t)
	ds := datastoretest.Memory(t)
	src := filepath.Join(dir, "src")
	writeBackupTree(t, src)
	c := &ui.Common{Repo: ds, RepoName: filepath.Join(dir, "store"), Keys: ui.NewKeyMap(), Styles: ui.NewStyles(false), Owner: "root@pam"}
	b := NewBackup(c, "")
	b.dir, b.host = src, "testhost"
	b.SetSize(80, 21)
	b.Init()
	return &backupEnv{b: b, ds: ds, src: src}
}

// writeBackupTree makes a few files of deterministic data.
func writeBackupTree(t *testing.T, root string) {
	t.Helper()
	tree := testutil.Tree{}
	for i, name := range []string{"a.bin", "sub/b.bin", "sub/deeper/c.txt", "etc.conf"} {
		tree[name] = testutil.File(testutil.SeededBytes(uint64(i+1), 40<<10*(i+1)))
	}
	testutil.WriteTree(t, root, tree, time.Time{})
}

func backupKey(b *Backup, km tea.KeyMsg) tea.Cmd {
	_, cmd := b.Update(km)
	return cmd
}

func backupType(b *Backup, s string) {
	backupKey(b, uitest.Runes(s))
}

// backupEnter clears the prompt, types line and presses enter.
func backupEnter(b *Backup, line string) tea.Cmd {
	backupKey(b, uitest.Key("ctrl+u"))
	backupType(b, line)
	return backupKey(b, uitest.Key("enter"))
}

func isBackupDone(m tea.Msg) bool { _, ok := m.(BackupDoneMsg); return ok }

// isBackupFinished accepts the job's last report.
func isBackupFinished(m tea.Msg) bool { jm, ok := m.(ui.JobMsg); return ok && jm.Done }

func snapshotsOf(t *testing.T, ds *datastore.Datastore, id string) []core.SnapshotInfo {
	t.Helper()
	list, err := ds.ListSnapshots("", &core.Group{Type: core.TypeHost, ID: id})
	if err != nil && !errors.Is(err, core.ErrNotFound) {
		t.Fatal(err)
	}
	return list
}

func TestBackupRunsIntoDatastore(t *testing.T) {
	e := newBackupEnv(t)
	b := e.b
	if !b.Capturing() {
		t.Fatal("prompt not open after Init")
	}
	if got := b.prompt.Value(); got != "root.pxar:"+e.src+" --backup-id testhost" {
		t.Fatalf("prefilled %q", got)
	}
	line := "root.pxar:" + e.src + " etc.conf:" + filepath.Join(e.src, "etc.conf") + " --backup-id web1"
	// The status and the done message come from one batch, in any order.
	var gotStatus, gotDone bool
	msgs := uitest.PumpUntil(t, b, backupEnter(b, line), func(m tea.Msg) bool {
		switch m.(type) {
		case ui.StatusMsg:
			gotStatus = true
		case BackupDoneMsg:
			gotDone = true
		}
		return gotStatus && gotDone
	})

	snaps := snapshotsOf(t, e.ds, "web1")
	if len(snaps) != 1 || !snaps[0].Finished {
		t.Fatalf("snapshots after backup: %+v", snaps)
	}
	files := map[string]bool{}
	for _, f := range snaps[0].Files {
		files[f.Filename] = true
	}
	for _, want := range []string{"root.pxar.didx", "etc.conf.blob", "catalog.pcat1.didx", "index.json.blob"} {
		if !files[want] {
			t.Errorf("snapshot lacks %s: %v", want, files)
		}
	}
	var done BackupDoneMsg
	for _, m := range msgs {
		if d, ok := m.(BackupDoneMsg); ok {
			done = d
		}
	}
	if done.Snapshot != snaps[0].Snapshot || done.Namespace != "" {
		t.Errorf("BackupDoneMsg %+v, snapshot %v", done, snaps[0].Snapshot)
	}
	var status string
	for _, m := range msgs {
		if s, ok := m.(ui.StatusMsg); ok {
			status = s.Text
		}
	}
	if !strings.Contains(status, "finished") {
		t.Errorf("status %q", status)
	}
	v := b.View()
	for _, want := range []string{"✓ Snapshot " + snaps[0].Snapshot.String(), "finished", "✓ root.pxar", "✓ etc.conf"} {
		if !strings.Contains(v, want) {
			t.Errorf("view lacks %q:\n%s", want, v)
		}
	}
	if b.Capturing() || b.running() {
		t.Error("view still capturing or running after the backup")
	}

	// b starts another one with the same line; unchanged data is reused.
	cmd := backupKey(b, uitest.Runes("b"))
	if !b.Capturing() || b.prompt.Value() != line {
		t.Fatalf("b did not reopen the prompt with the last line: %q", b.prompt.Value())
	}
	_ = cmd
	uitest.PumpUntil(t, b, backupKey(b, uitest.Key("enter")), isBackupDone)
	if snaps := snapshotsOf(t, e.ds, "web1"); len(snaps) != 2 {
		t.Fatalf("want 2 snapshots, got %d", len(snaps))
	}
	if b.result.Totals.ChunksReused == 0 || !strings.Contains(b.View(), "dedup 100.0%") {
		t.Errorf("second backup reused nothing:\n%s", b.View())
	}

	// esc goes back.
	if msg := backupKey(b, uitest.Key("esc"))(); msg != (ui.PopMsg{}) {
		t.Errorf("esc after the backup gave %#v", msg)
	}
}

func TestBackupBadSpec(t *testing.T) {
	for _, tc := range []struct {
		name, line, want string
		engine           bool // the error comes from the job (source check)
	}{
		{name: "syntax", line: "nonsense", want: `invalid backup specification "nonsense"`},
		{name: "type", line: "root.zip:/tmp", want: "invalid backup specification"},
		{name: "option", line: "root.pxar:/tmp --frobnicate", want: `unknown flag: --frobnicate`},
		{name: "id", line: "root.pxar:/tmp --backup-id 'a b'", want: `invalid backup id "a b"`},
		{name: "twice", line: "root.pxar:/tmp root.pxar:/var", want: "got target twice: 'root.pxar'"},
		{name: "ns", line: "root.pxar:/tmp --ns a//b", want: "namespace"},
		{name: "mode", line: "root.pxar:/tmp --change-detection-mode sometimes", want: `invalid change detection mode "sometimes"`},
		{name: "crypt", line: "root.pxar:/tmp --crypt-mode loud", want: `invalid crypt mode "loud"`},
		{name: "keyfile", line: "root.pxar:SRC --keyfile /does/not/exist.json", want: "/does/not/exist.json", engine: true},
		{name: "empty", line: "", want: "no archive given"},
		{name: "missing", line: "root.pxar:/does/not/exist", want: "does not exist", engine: true},
		{name: "notdir", line: "root.pxar:SRC/a.bin", want: "is not a directory", engine: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := newBackupEnv(t)
			b := e.b
			line := strings.ReplaceAll(tc.line, "SRC", e.src)
			cmd := backupEnter(b, line)
			if tc.engine {
				uitest.PumpUntil(t, b, cmd, isBackupFinished)
			} else {
				msgs := uitest.PumpUntil(t, b, cmd, func(m tea.Msg) bool { _, ok := m.(ui.StatusMsg); return ok })
				if s := msgs[len(msgs)-1].(ui.StatusMsg); !s.Err || !strings.Contains(s.Text, "see the error in the form") {
					t.Errorf("status %+v", s)
				}
			}
			if !b.Capturing() || b.prompt.Value() != line {
				t.Errorf("prompt not reopened with the text: active %v, %q", b.Capturing(), b.prompt.Value())
			}
			// Long errors wrap: compare words.
			if v := strings.Join(strings.Fields(b.View()), " "); !strings.Contains(v, tc.want) {
				t.Errorf("view lacks %q:\n%s", tc.want, v)
			}
			groups, err := e.ds.ListGroups("")
			if err != nil || len(groups) != 0 {
				t.Errorf("groups after a bad spec: %v %v", groups, err)
			}
		})
	}
}

func TestBackupCancel(t *testing.T) {
	e := newBackupEnv(t)
	b := e.b
	cmd := backupEnter(b, "root.pxar:"+e.src)
	if !b.running() {
		t.Fatal("not running after enter")
	}
	// esc asks first; another key keeps it running.
	backupKey(b, uitest.Key("esc"))
	if !b.confirming || !strings.Contains(b.View(), "Stop the backup?") {
		t.Fatalf("esc did not ask:\n%s", b.View())
	}
	backupType(b, "n")
	if b.confirming || b.stopping {
		t.Fatal("n did not keep the backup running")
	}
	backupKey(b, uitest.Key("esc"))
	backupType(b, "y")
	if !b.stopping {
		t.Fatal("y did not stop")
	}
	uitest.PumpUntil(t, b, cmd, isBackupFinished)
	if b.running() || !b.cancelled {
		t.Fatalf("running %v cancelled %v err %v", b.running(), b.cancelled, b.err)
	}
	if v := b.View(); !strings.Contains(v, "Backup stopped") {
		t.Errorf("view:\n%s", v)
	}
	if snaps := snapshotsOf(t, e.ds, "testhost"); len(snaps) != 0 {
		t.Errorf("snapshots after cancel: %+v", snaps)
	}
}

func TestBackupPromptEscPops(t *testing.T) {
	e := newBackupEnv(t)
	cmd := backupKey(e.b, uitest.Key("esc"))
	if cmd == nil || cmd() != (ui.PopMsg{}) {
		t.Fatal("esc in the prompt did not go back")
	}
}

func TestBackupParseLine(t *testing.T) {
	b := NewBackup(&ui.Common{Keys: ui.NewKeyMap(), Styles: ui.NewStyles(true)}, "")
	b.host = "h"
	for _, tc := range []struct {
		line  string
		specs []backup.Spec
		group core.Group
		ns    core.Namespace
	}{
		{"root.pxar:/", []backup.Spec{{Name: "root.pxar", Type: "pxar", Path: "/"}}, core.Group{Type: "host", ID: "h"}, ""},
		{`data.pxar:'/my files' disk.img:/dev/sda --backup-type=vm --backup-id 100`,
			[]backup.Spec{{Name: "data.pxar", Type: "pxar", Path: "/my files"}, {Name: "disk.img", Type: "img", Path: "/dev/sda"}},
			core.Group{Type: "vm", ID: "100"}, ""},
		{`a.conf:/x\ y --backup-id=web --ns site1/rack2`, []backup.Spec{{Name: "a.conf", Type: "conf", Path: "/x y"}}, core.Group{Type: "host", ID: "web"}, "site1/rack2"},
	} {
		l, err := b.parseLine(tc.line)
		if err != nil || l.Group != tc.group || l.Namespace != tc.ns || len(l.Specs) != len(tc.specs) {
			t.Errorf("%q: %+v %v", tc.line, l, err)
			continue
		}
		for i := range l.Specs {
			if l.Specs[i] != tc.specs[i] {
				t.Errorf("%q: spec %d = %+v", tc.line, i, l.Specs[i])
			}
		}
	}
	if _, err := b.parseLine(`root.pxar:"/open`); err == nil {
		t.Error("unclosed quote accepted")
	}
}

// backupGoldenFixture is a Backup in a root model with fixed defaults, so
// nothing about this machine or the clock reaches the screen.
func backupGoldenFixture(w, h int) (*ui.Root, *Backup) {
	c := &ui.Common{RepoName: "/srv/backup", Keys: ui.NewKeyMap(), Styles: ui.NewStyles(false), Owner: "root@pam"}
	b := NewBackup(c, "")
	b.dir, b.host = "/home/alice", "alice-laptop"
	r := ui.NewRoot(c, b)
	r.Init()
	r.Update(tea.WindowSizeMsg{Width: w, Height: h})
	return r, b
}

// backupFeed plays the job's part: its reports, as JobMsgs of the
// current job.
func backupFeed(r *ui.Root, b *Backup, reports ...any) {
	for _, m := range reports {
		msg := ui.JobMsg{Job: b.job.ID()}
		switch m := m.(type) {
		case backupEnd:
			msg.Done, msg.Result, msg.Err = true, m.res, m.err
			_, cmd := r.Update(msg)
			// Show the status line the finish sets.
			for _, s := range backupStatuses(cmd) {
				r.Update(s)
			}
			continue
		case core.Event:
			if m.Kind == core.EventProgress {
				msg.Progress = m
			} else {
				msg.Events = []any{m}
			}
		default:
			msg.Events = []any{m}
		}
		r.Update(msg)
	}
}

// backupStatuses runs cmd (the instant commands of a finish) and returns
// the status lines it yields.
func backupStatuses(cmd tea.Cmd) []ui.StatusMsg {
	if cmd == nil {
		return nil
	}
	switch m := cmd().(type) {
	case tea.BatchMsg:
		var out []ui.StatusMsg
		for _, c := range m {
			out = append(out, backupStatuses(c)...)
		}
		return out
	case ui.StatusMsg:
		return []ui.StatusMsg{m}
	}
	return nil
}

// backupEnd is the job's end in a feed.
type backupEnd struct {
	res *backup.Result
	err error
}

// backupStartFixture types a line and presses enter without running the
// engine: the test plays the engine's part.
func backupStartFixture(r *ui.Root, b *Backup) {
	r.Update(uitest.Key("ctrl+u"))
	r.Update(uitest.Runes("root.pxar:/home/alice etc.conf:/etc/hosts data.pxar:/srv/data/with/a/rather/long/path"))
	r.Update(uitest.Key("enter"))
}

func backupProgress(read, newB, reused, cnew, creused, files uint64, path string, elapsed time.Duration) core.Event {
	return core.Event{Kind: core.EventProgress, Progress: core.Progress{
		Path: path, BytesRead: read, BytesNew: newB, BytesWritten: newB / 2, BytesReused: reused,
		ChunksNew: cnew, ChunksReused: creused, Files: files, Elapsed: elapsed,
	}}
}

func TestBackupGolden(t *testing.T) {
	const mib = 1 << 20
	snap := core.Snapshot{Group: core.Group{Type: core.TypeHost, ID: "alice-laptop"}, Time: 1700000000}
	first := core.Progress{Archive: "root.pxar.didx", BytesRead: 300 * mib, BytesNew: 100 * mib, BytesWritten: 50 * mib,
		BytesReused: 200 * mib, ChunksNew: 25, ChunksReused: 50, Files: 1200, Elapsed: 12 * time.Second}
	confDone := core.Progress{Archive: "etc.conf.blob", BytesRead: 1024, Elapsed: 10 * time.Millisecond}
	running := func(r *ui.Root, b *Backup, scanned bool) {
		backupStartFixture(r, b)
		feed := []any{
			backupStarted{snap: snap},
			core.Event{Kind: core.EventInfo, Message: "Upload directory '/home/alice' to '/srv/backup' as root.pxar.didx"},
			backupProgress(100*mib, 50*mib, 50*mib, 12, 12, 400, "Documents/report.odt", 4*time.Second),
			core.Event{Kind: core.EventWarning, Message: "skip mount point: /home/alice/mnt"},
			backupProgress(300*mib, 100*mib, 200*mib, 25, 50, 1200, "Music/x.flac", 12*time.Second),
			core.Event{Kind: core.EventArchiveDone, Progress: first},
			core.Event{Kind: core.EventArchiveDone, Progress: confDone},
			core.Event{Kind: core.EventInfo, Message: "Upload directory '/srv/data/with/a/rather/long/path' to '/srv/backup' as data.pxar.didx"},
			backupProgress(300*mib+1024+512*mib, 100*mib+384*mib, 200*mib+128*mib, 25+96, 50+32, 1200+5000,
				"projects/cairn/very/deeply/nested/directory/structure/that/goes/on/and/on/file-with-a-long-name.go", 20*time.Second),
			core.Event{Kind: core.EventWarning, Message: "skip mount point: /srv/data/with/a/rather/long/path/proc"},
		}
		if scanned {
			est := core.Event{Kind: core.EventEstimate, Estimate: &core.Estimate{Sizes: []int64{290 * mib, 1024, 2048 * mib}}}
			feed = append(feed[:1], append([]any{est}, feed[1:]...)...)
		}
		backupFeed(r, b, feed...)
	}
	cases := []struct {
		name  string
		setup func(r *ui.Root, b *Backup)
	}{
		{"prompt", func(r *ui.Root, b *Backup) {}},
		// The namespace under the cursor is in the line and in the target;
		// a datastore inside the source is said to be left out.
		{"prompt_ns", func(r *ui.Root, b *Backup) {
			b.ns = "site1/rack2"
			r.Update(backupStoreMsg{dir: "/home/alice/demo-store"})
			b.openForm(b.defaultLine())
		}},
		{"prompt_error", func(r *ui.Root, b *Backup) {
			r.Update(uitest.Key("ctrl+u"))
			r.Update(uitest.Runes("root.tar:/home/alice"))
			_, cmd := r.Update(uitest.Key("enter"))
			if bm, ok := cmd().(tea.BatchMsg); ok {
				for _, c := range bm {
					if s, ok := c().(ui.StatusMsg); ok {
						r.Update(s)
					}
				}
			}
		}},
		{"progress", func(r *ui.Root, b *Backup) { running(r, b, true) }},
		{"many_warnings", func(r *ui.Root, b *Backup) {
			running(r, b, true)
			for i := range 30 {
				backupFeed(r, b, core.Event{Kind: core.EventWarning, Message: fmt.Sprintf("file vanished: /home/alice/tmp/%02d", i)})
			}
		}},
		{"sizing", func(r *ui.Root, b *Backup) { running(r, b, false) }},
		{"confirm_stop", func(r *ui.Root, b *Backup) {
			running(r, b, true)
			r.Update(uitest.Key("esc"))
		}},
		{"done", func(r *ui.Root, b *Backup) {
			running(r, b, true)
			dataDone := core.Progress{Archive: "data.pxar.didx", BytesRead: 2048 * mib, BytesNew: 1536 * mib, BytesWritten: 800 * mib,
				BytesReused: 512 * mib, ChunksNew: 384, ChunksReused: 128, Files: 20000, Elapsed: 60 * time.Second}
			tot := core.Progress{BytesRead: 2348*mib + 1024, BytesNew: 1636 * mib, BytesWritten: 850 * mib, BytesReused: 712 * mib,
				ChunksNew: 409, ChunksReused: 178, Files: 21200, Elapsed: 73 * time.Second}
			backupFeed(r, b,
				core.Event{Kind: core.EventArchiveDone, Progress: dataDone},
				backupEnd{res: &backup.Result{Snapshot: snap, Totals: tot, Duration: 73 * time.Second}})
		}},
		{"failed", func(r *ui.Root, b *Backup) {
			running(r, b, true)
			backupFeed(r, b, backupEnd{err: errors.New("backup data.pxar: read /srv/data/with/a/rather/long/path/projects/big.iso: input/output error")})
		}},
	}
	for _, tc := range cases {
		for _, size := range [][2]int{{80, 24}, {140, 40}} {
			name := fmt.Sprintf("%s_%dx%d", tc.name, size[0], size[1])
			t.Run(name, func(t *testing.T) {
				r, b := backupGoldenFixture(size[0], size[1])
				tc.setup(r, b)
				backupGolden(t, name, r.View(), size[0], size[1])
			})
		}
	}
}

// backupGolden compares a screen with testdata/TestBackupGolden/<name>.golden
// and checks it fits the terminal.
func backupGolden(t *testing.T, name, got string, w, h int) {
	t.Helper()
	if strings.Contains(got, "\x1b[") {
		t.Errorf("escape codes in the screen:\n%q", got)
	}
	lines := strings.Split(got, "\n")
	if len(lines) != h {
		t.Errorf("%d lines, want %d", len(lines), h)
	}
	for i, l := range lines {
		if lw := lipgloss.Width(l); lw > w {
			t.Errorf("line %d is %d cells wide (max %d): %q", i+1, lw, w, l)
		}
	}
	path := filepath.Join("testdata", "TestBackupGolden", name+".golden")
	if *update {
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run with -update to create)", err)
	}
	if string(want) != got {
		t.Errorf("screen differs from %s:\n--- got\n%s\n--- want\n%s", path, got, want)
	}
}
