package views

import (
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"cairn/core"
	"cairn/core/backup"
	"cairn/ui/uitest"
)

// Browse tests over split archives (root.mpxar + root.ppxar, no stored
// catalog): the group host/anna has the elsa tree's three versions, the
// first backed up unified (legacy), the others split in metadata mode,
// the third reusing the second's payload.

var brAnna = core.Group{Type: core.TypeHost, ID: "anna"}

func newBrSplitEnv(t *testing.T) *brEnv {
	t.Helper()
	e := newBrEnv(t)
	e.snaps = nil
	for v, mode := range []string{backup.ModeLegacy, backup.ModeMetadata, backup.ModeMetadata} {
		brWriteTree(t, e.src, brTree(v))
		sp, err := backup.ParseSpec("root.pxar:" + e.src)
		if err != nil {
			t.Fatal(err)
		}
		snap := core.Snapshot{Group: brAnna, Time: brT0 + int64(v)*brDay}
		if _, err := backup.Run(t.Context(), backup.Options{Repo: e.ds, Snapshot: snap, Owner: "root@pam",
			Specs: []backup.Spec{sp}, ChangeDetection: mode}); err != nil {
			t.Fatalf("backup %s: %v", snap, err)
		}
		e.snaps = append(e.snaps, snap)
	}
	return e
}

func TestSplitSnapshotsAndArchives(t *testing.T) {
	e := newBrSplitEnv(t)
	s := NewSnapshots(e.c, "", brAnna)
	s.SetSize(80, 21)
	uitest.Pump(t, s, s.Init(), nil)
	var archives []string
	for _, r := range s.list.Rows() {
		archives = append(archives, r.Cells[2])
	}
	if want := []string{"root.mpxar", "root.mpxar", "root.pxar"}; !reflect.DeepEqual(archives, want) {
		t.Fatalf("archive cells %q, want %q", archives, want)
	}

	a := NewArchives(e.c, "", brInfo(t, e, e.newest()))
	a.SetSize(80, 21)
	uitest.Pump(t, a, a.Init(), nil)
	rows := a.list.Rows()
	if len(rows) != 1 || rows[0].Cells[0] != "root.mpxar" || rows[0].Cells[1] != "pxar" {
		t.Fatalf("archive rows %q, want one pxar row root.mpxar", brCells(a.list))
	}
	var total uint64
	for _, f := range brInfo(t, e, e.newest()).Files {
		if strings.Contains(f.Filename, "pxar") {
			total += f.Size
		}
	}
	if rows[0].Cells[3] != size(total) {
		t.Errorf("size cell %q, want both streams %s", rows[0].Cells[3], size(total))
	}
	_, cmd := a.Update(uitest.Press(e.c.Keys.Open))
	tr, ok := brPushed(t, cmd).(*Tree)
	if !ok {
		t.Fatal("enter on a split archive does not push *Tree")
	}
	if tr.archive != "root.mpxar.didx" || tr.Title() != "root.mpxar" {
		t.Errorf("tree of %q, title %q", tr.archive, tr.Title())
	}
}

func brLoadedSplitTree(t *testing.T, e *brEnv) *Tree {
	t.Helper()
	tr := NewTree(e.c, "", e.newest(), "root.mpxar.didx")
	tr.SetSize(80, 21)
	uitest.Pump(t, tr, tr.Init(), nil)
	if tr.loading || tr.err != nil {
		t.Fatalf("catalog not loaded: %v", tr.err)
	}
	return tr
}

// The tree of a split archive browses, finds, marks and restores as the
// tree of a unified one does.
func TestSplitTreeFindAndRestore(t *testing.T) {
	e := newBrSplitEnv(t)
	tr := brLoadedSplitTree(t, e)
	k := e.c.Keys
	if want := []string{"etc/", "home/", "var/", "README"}; !reflect.DeepEqual(brCells(tr.list), want) {
		t.Fatalf("root %q, want %q", brCells(tr.list), want)
	}
	if readme := tr.list.Rows()[3]; readme.Cells[1] != "f" || readme.Cells[2] != "16 B" || readme.Cells[3] != "2023-10-03 12:00:00" {
		t.Errorf("README row %q", readme.Cells)
	}
	brSelect(t, tr.list, "etc/")
	uitest.Send(t, tr, uitest.Press(k.Mark))
	brFind(t, tr, tr, "notes")
	uitest.Send(t, tr, uitest.Press(k.Open))
	if brSelected(tr.list) != "notes.txt" || strings.Join(tr.dir, "/") != "home/elsa" {
		t.Fatalf("find notes selected %q in %q", brSelected(tr.list), tr.dir)
	}
	uitest.Send(t, tr, uitest.Press(k.Mark))
	uitest.Send(t, tr, uitest.Press(k.Restore))
	uitest.Send(t, tr, uitest.Press(k.Clear))
	target := filepath.Join(e.dir, "restored")
	uitest.Type(t, tr, target)
	_, cmd := tr.Update(uitest.Press(k.Open))
	msgs := uitest.Pump(t, tr, cmd, brIsRestoreDone)
	if st := brStatuses(msgs); len(st) == 0 || st[len(st)-1].Err || !strings.HasPrefix(st[len(st)-1].Text, "restored 2 entries to "+target) {
		t.Fatalf("statuses %+v", st)
	}
	var got []string
	filepath.WalkDir(target, func(p string, d os.DirEntry, err error) error {
		if err == nil && !d.IsDir() {
			rel, _ := filepath.Rel(target, p)
			got = append(got, rel)
		}
		return err
	})
	if want := []string{"etc/app/config.yaml", "etc/hostname", "etc/hosts", "home/elsa/notes.txt"}; !reflect.DeepEqual(got, want) {
		t.Errorf("restored files %q, want %q", got, want)
	}
	for _, f := range brTree(2) {
		p := filepath.Join(target, f.path)
		if data, err := os.ReadFile(p); err == nil && string(data) != f.data {
			t.Errorf("%s: %q, want %q", f.path, data, f.data)
		}
		if st, err := os.Stat(p); err == nil && st.ModTime().Unix() != f.mtime {
			t.Errorf("%s: mtime %d, want %d", f.path, st.ModTime().Unix(), f.mtime)
		}
	}
}

// History follows a file across snapshots whose archive is split in some
// and unified in others, and restores a version of either form.
func TestSplitHistoryAcrossForms(t *testing.T) {
	e := newBrSplitEnv(t)
	changes := func(p string) ([]string, *History) {
		h := NewHistory(e.c, "", e.newest(), "root.mpxar.didx", p)
		h.SetSize(80, 21)
		uitest.Pump(t, h, h.Init(), nil)
		var out []string
		for _, r := range h.list.Rows() {
			out = append(out, r.Cells[0]+" "+r.Cells[3])
		}
		return out, h
	}
	got, h := changes("home/elsa/notes.txt")
	if want := []string{"2024-01-03 12:00:00 changed", "2024-01-02 12:00:00 unchanged", "2024-01-01 12:00:00 new"}; !reflect.DeepEqual(got, want) {
		t.Errorf("notes.txt: %q, want %q", got, want)
	}
	got, _ = changes("home/elsa/todo.txt")
	if want := []string{"2024-01-03 12:00:00 unchanged", "2024-01-02 12:00:00 new", "2024-01-01 12:00:00 absent"}; !reflect.DeepEqual(got, want) {
		t.Errorf("todo.txt: %q, want %q", got, want)
	}
	got, _ = changes("home/elsa/notes.txt/below")
	if want := []string{"2024-01-03 12:00:00 absent", "2024-01-02 12:00:00 absent", "2024-01-01 12:00:00 absent"}; !reflect.DeepEqual(got, want) {
		t.Errorf("path below a file: %q, want %q", got, want)
	}
	restoreRow := func(end bool, target string) string {
		h.Update(uitest.Press(e.c.Keys.Home))
		if end {
			h.Update(uitest.Press(e.c.Keys.End))
		}
		uitest.Send(t, h, uitest.Press(e.c.Keys.Restore))
		uitest.Send(t, h, uitest.Press(e.c.Keys.Clear))
		uitest.Type(t, h, target)
		_, cmd := h.Update(uitest.Press(e.c.Keys.Open))
		uitest.Pump(t, h, cmd, brIsRestoreDone)
		data, err := os.ReadFile(filepath.Join(target, "home/elsa/notes.txt"))
		if err != nil {
			t.Fatal(err)
		}
		return string(data)
	}
	if got := restoreRow(true, filepath.Join(e.dir, "old")); got != brTree(0)[4].data {
		t.Errorf("oldest (unified) version: %q", got)
	}
	if got := restoreRow(false, filepath.Join(e.dir, "new")); got != brTree(2)[4].data {
		t.Errorf("newest (split) version: %q", got)
	}
}

// Restoring a whole split archive from the archive list gives the tree.
func TestSplitArchiveRestoreAll(t *testing.T) {
	e := newBrSplitEnv(t)
	a := NewArchives(e.c, "", brInfo(t, e, e.newest()))
	a.SetSize(80, 21)
	uitest.Pump(t, a, a.Init(), nil)
	uitest.Send(t, a, uitest.Press(e.c.Keys.Restore))
	if !a.restore.prompt.Active() || !strings.HasSuffix(a.restore.prompt.Value(), "restore-anna-2024-01-03T120000Z-root.mpxar") {
		t.Fatalf("prompt %v %q", a.restore.prompt.Active(), a.restore.prompt.Value())
	}
	target := filepath.Join(e.dir, "all")
	uitest.Send(t, a, uitest.Press(e.c.Keys.Clear))
	uitest.Type(t, a, target)
	_, cmd := a.Update(uitest.Press(e.c.Keys.Open))
	msgs := uitest.Pump(t, a, cmd, brIsRestoreDone)
	if st := brStatuses(msgs); len(st) == 0 || st[len(st)-1].Err {
		t.Fatalf("statuses %+v", st)
	}
	for _, f := range brTree(2) {
		data, err := os.ReadFile(filepath.Join(target, f.path))
		if err != nil || string(data) != f.data {
			t.Errorf("%s: %q %v", f.path, data, err)
		}
	}
}
