package views

// Shared helpers of the browse tests (groups, snapshots, archives, tree,
// find, history, restore): a real local datastore with fixed snapshots, a
// command pump and key presses by keymap name. Names start with "br" so
// they stay apart from the prune, GC and backup tests' helpers.

import (
	"context"
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

// init makes goldens hold plain text and fixed local times (idempotent, so
// it may coexist with the other test files' inits).
func init() {
	lipgloss.SetColorProfile(termenv.Ascii)
	time.Local = time.UTC
}

// brT0 is 2024-01-01 12:00:00 UTC; the elsa snapshots are a day apart.
const (
	brT0  = 1704110400
	brDay = 86400
)

var brElsa = core.Group{Type: core.TypeHost, ID: "elsa"}

// brEnv is a real datastore holding:
//
//	host/elsa   three snapshots (brT0, +1 day, +2 days) of root.pxar,
//	            disk.img and app.conf; home/elsa/todo.txt appears in the
//	            second, home/elsa/notes.txt changes in the third
//	host/olaf   one snapshot
//	ns site1    ct/200, one snapshot
type brEnv struct {
	dir   string
	ds    *datastore.Datastore
	c     *ui.Common
	src   string
	snaps []core.Snapshot // host/elsa, oldest first
}

// brFile is one file of the source tree with its fixed mtime.
type brFile struct {
	path  string
	data  string
	mtime int64
}

func brTree(version int) []brFile {
	files := []brFile{
		{"README", "cairn test tree\n", brT0 - 90*brDay},
		{"etc/hostname", "elsa\n", brT0 - 60*brDay},
		{"etc/hosts", "127.0.0.1 localhost\n::1 localhost\n127.0.1.1 elsa\n", brT0 - 60*brDay},
		{"etc/app/config.yaml", "listen: :8080\nworkers: 4\nlog: /var/log/app.log\n", brT0 - 30*brDay},
		{"home/elsa/notes.txt", "first notes\n", brT0 - 10*brDay},
		{"home/elsa/photos/cat.jpg", strings.Repeat("\xff\xd8 meow ", 400), brT0 - 20*brDay},
		{"var/log/syslog", strings.Repeat("Jan  1 12:00:00 elsa kernel: hello\n", 30), brT0 - brDay},
		// Glob characters in a name: restoring this one must not take app1.log.
		{"var/log/app[1].log", "bracketed\n", brT0 - 2*brDay},
		{"var/log/app1.log", "plain\n", brT0 - 2*brDay},
	}
	if version >= 1 {
		files = append(files, brFile{"home/elsa/todo.txt", "- buy milk\n- back up\n", brT0 + brDay - 3600})
	}
	if version >= 2 {
		files[4] = brFile{"home/elsa/notes.txt", "second notes, longer than the first\n", brT0 + 2*brDay - 3600}
	}
	return files
}

// brWriteTree replaces root with version of the tree, every mtime fixed.
func brWriteTree(t *testing.T, root string, files []brFile) {
	t.Helper()
	if err := os.RemoveAll(root); err != nil {
		t.Fatal(err)
	}
	tree := testutil.Tree{}
	for _, f := range files {
		tree[f.path] = testutil.File(f.data).MTime(time.Unix(f.mtime, 0))
	}
	testutil.WriteTree(t, root, tree, time.Unix(brT0-100*brDay, 0))
}

func brWriteFile(t *testing.T, p, data string) {
	t.Helper()
	if err := os.WriteFile(p, []byte(data), 0o644); err != nil {
		t.Fatal(err)
	}
	mt := time.Unix(brT0-5*brDay, 0)
	if err := os.Chtimes(p, mt, mt); err != nil {
		t.Fatal(err)
	}
}

func brBackup(t *testing.T, ds core.Repository, ns core.Namespace, g core.Group, at int64, specs ...string) core.Snapshot {
	t.Helper()
	var list []backup.Spec
	for _, s := range specs {
		sp, err := backup.ParseSpec(s)
		if err != nil {
			t.Fatal(err)
		}
		list = append(list, sp)
	}
	snap := core.Snapshot{Group: g, Time: at}
	if _, err := backup.Run(context.Background(), backup.Options{Repo: ds, Namespace: ns, Snapshot: snap, Owner: "root@pam", Specs: list}); err != nil {
		t.Fatalf("backup %s: %v", snap, err)
	}
	return snap
}

func newBrEnv(t *testing.T) *brEnv {
	t.Helper()
	dir := testutil.TempDir(t)
	// The views read and write the datastore only through its API: an
	// in-memory one (no fsyncs) serves them as a directory would.
	ds := datastoretest.Memory(t)
	e := &brEnv{dir: dir, ds: ds, src: filepath.Join(dir, "src")}
	img := filepath.Join(dir, "disk.img")
	brWriteFile(t, img, strings.Repeat("disk block ", 6000))
	conf := filepath.Join(dir, "app.conf")
	brWriteFile(t, conf, "# app\nkey = value\n")
	for v := 0; v < 3; v++ {
		brWriteTree(t, e.src, brTree(v))
		// The image and config come first on the command line; the archive
		// list must still put root.pxar first.
		e.snaps = append(e.snaps, brBackup(t, ds, "", brElsa, brT0+int64(v)*brDay, "disk.img:"+img, "app.conf:"+conf, "root.pxar:"+e.src))
	}
	small := filepath.Join(dir, "small")
	brWriteTree(t, small, []brFile{{"hello.txt", "hi\n", brT0 - brDay}})
	brBackup(t, ds, "", core.Group{Type: core.TypeHost, ID: "olaf"}, brT0+3600, "root.pxar:"+small)
	if err := ds.CreateNamespace("site1"); err != nil {
		t.Fatal(err)
	}
	brBackup(t, ds, "site1", core.Group{Type: core.TypeCT, ID: "200"}, brT0+7200, "root.pxar:"+small)
	e.c = &ui.Common{Repo: ds, RepoName: "store", Keys: ui.NewKeyMap(), Styles: ui.NewStyles(true), Owner: "root@pam"}
	return e
}

// newest is the newest elsa snapshot.
func (e *brEnv) newest() core.Snapshot { return e.snaps[len(e.snaps)-1] }

// brPushed finds the view a command pushes.
func brPushed(t *testing.T, cmd tea.Cmd) ui.View {
	t.Helper()
	for _, m := range uitest.Run(t, cmd) {
		if p, ok := m.(ui.PushMsg); ok {
			return p.View
		}
	}
	t.Fatal("the command pushes no view")
	return nil
}

func brStatuses(msgs []tea.Msg) []ui.StatusMsg {
	var out []ui.StatusMsg
	for _, m := range msgs {
		if s, ok := m.(ui.StatusMsg); ok {
			out = append(out, s)
		}
	}
	return out
}

// brCells returns the first cell of every row of a list.
func brCells[T any](l *ui.List[T]) []string {
	var out []string
	for _, r := range l.Rows() {
		out = append(out, r.Cells[0])
	}
	return out
}

// brSelected is the first cell of the selected row ("" when none).
func brSelected[T any](l *ui.List[T]) string {
	r, ok := l.Selected()
	if !ok {
		return ""
	}
	return r.Cells[0]
}

// brSelect moves a list's cursor to the row whose first cell is name.
func brSelect[T any](t *testing.T, l *ui.List[T], name string) {
	t.Helper()
	if !l.SelectWhere(func(r ui.Row[T]) bool { return r.Cells[0] == name }) {
		t.Fatalf("no row %q in %q", name, brCells(l))
	}
}

// brGolden compares got with testdata/<test>/<name>.golden; -update rewrites it.
func brGolden(t *testing.T, name, got string, w, h int) {
	t.Helper()
	lines := strings.Split(got, "\n")
	if len(lines) != h {
		t.Errorf("%s: %d lines, want %d", name, len(lines), h)
	}
	for i, l := range lines {
		if lw := lipgloss.Width(l); lw > w {
			t.Errorf("%s: line %d is %d cells wide, more than %d", name, i+1, lw, w)
		}
	}
	path := filepath.Join("testdata", strings.SplitN(t.Name(), "/", 2)[0], name+".golden")
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
		t.Fatalf("%v (run go test ./views/ -run %s -update to create it)", err, t.Name())
	}
	if string(want) != got {
		t.Errorf("%s differs (run with -update to accept):\n--- got\n%s\n--- want\n%s", path, got, want)
	}
}
