package views

import (
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	tea "github.com/charmbracelet/bubbletea"

	"cairn/core"
	"cairn/ui"
	"cairn/ui/uitest"
)

// Layer 1 of STYLE.md's TUI tests for the browse screens, over a real
// datastore (see newBrEnv), plus the golden screens of the whole root.

func brLoadedGroups(t *testing.T, e *brEnv) *Groups {
	t.Helper()
	g := NewGroups(e.c)
	g.SetSize(80, 21)
	uitest.Pump(t, g, g.Init(), nil)
	if g.loading {
		t.Fatal("groups still loading")
	}
	return g
}

func TestGroupsLoad(t *testing.T) {
	e := newBrEnv(t)
	g := brLoadedGroups(t, e)
	want := []string{"host/elsa", "host/olaf", "▾ ns site1", "  ct/200"}
	if got := brCells(g.list); !reflect.DeepEqual(got, want) {
		t.Fatalf("rows %q, want %q", got, want)
	}
	elsa := g.list.Rows()[0]
	if elsa.Cells[1] != "3" || elsa.Cells[2] != "2024-01-03 12:00:00" {
		t.Errorf("host/elsa row %q: want 3 snapshots, last 2024-01-03 12:00:00", elsa.Cells)
	}
	if ns := g.list.Rows()[2]; ns.Note != "1 group" || ns.Cells[1] != "" || !ns.Dir {
		t.Errorf("namespace row %q note %q (dir %v)", ns.Cells, ns.Note, ns.Dir)
	}
	if g.Capturing() {
		t.Error("capturing without a filter open")
	}
}

func TestGroupsFilterEnterSelects(t *testing.T) {
	e := newBrEnv(t)
	g := brLoadedGroups(t, e)
	uitest.Send(t, g, uitest.Press(e.c.Keys.Find))
	if !g.Capturing() || !g.list.Filtering() {
		t.Fatal("/ did not open the filter")
	}
	uitest.Type(t, g, "olaf")
	if g.list.Len() != 1 || brSelected(g.list) != "host/olaf" {
		t.Fatalf("filter olaf shows %d rows, selected %q", g.list.Len(), brSelected(g.list))
	}
	uitest.Send(t, g, uitest.Press(e.c.Keys.Open))
	if g.Capturing() {
		t.Fatal("enter did not close the filter")
	}
	if g.list.Len() != 4 || brSelected(g.list) != "host/olaf" {
		t.Fatalf("after enter: %d rows, selected %q; want all 4 rows with host/olaf selected", g.list.Len(), brSelected(g.list))
	}
	// q is a filter character while filtering, and esc puts the cursor back.
	uitest.Send(t, g, uitest.Press(e.c.Keys.Find))
	uitest.Type(t, g, "q")
	if g.list.Filter() != "q" {
		t.Errorf("filter %q, want q", g.list.Filter())
	}
	uitest.Send(t, g, uitest.Press(e.c.Keys.Cancel))
	if g.Capturing() || brSelected(g.list) != "host/olaf" {
		t.Errorf("esc: capturing %v, selected %q", g.Capturing(), brSelected(g.list))
	}
	_, cmd := g.Update(uitest.Press(e.c.Keys.Open))
	s, ok := brPushed(t, cmd).(*Snapshots)
	if !ok {
		t.Fatal("enter on a group does not push *Snapshots")
	}
	if s.group != (core.Group{Type: core.TypeHost, ID: "olaf"}) || !s.ns.IsRoot() || s.Title() != "host/olaf" {
		t.Errorf("pushed snapshots of %v in %q, title %q", s.group, s.ns, s.Title())
	}
}

func TestGroupsNamespaceCollapseAndOpen(t *testing.T) {
	e := newBrEnv(t)
	g := brLoadedGroups(t, e)
	brSelect(t, g.list, "▾ ns site1")
	_, cmd := g.Update(uitest.Press(e.c.Keys.Open))
	if cmd != nil {
		t.Error("enter on a namespace returned a command")
	}
	if want := []string{"host/elsa", "host/olaf", "▸ ns site1"}; !reflect.DeepEqual(brCells(g.list), want) {
		t.Fatalf("collapsed: %q, want %q", brCells(g.list), want)
	}
	g.Update(uitest.Press(e.c.Keys.Open))
	brSelect(t, g.list, "  ct/200")
	_, cmd = g.Update(uitest.Press(e.c.Keys.Open))
	s := brPushed(t, cmd).(*Snapshots)
	if s.ns != "site1" || s.group.ID != "200" || s.Title() != "ns site1 › ct/200" {
		t.Errorf("pushed %q %v, title %q", s.ns, s.group, s.Title())
	}
}

func TestSnapshotsNewestFirst(t *testing.T) {
	e := newBrEnv(t)
	s := NewSnapshots(e.c, "", brElsa)
	s.SetSize(80, 21)
	uitest.Pump(t, s, s.Init(), nil)
	want := []string{"2024-01-03 12:00:00", "2024-01-02 12:00:00", "2024-01-01 12:00:00"}
	if got := brCells(s.list); !reflect.DeepEqual(got, want) {
		t.Fatalf("rows %q, want newest first %q", got, want)
	}
	if r := s.list.Rows()[0]; r.Cells[2] != "disk.img app.conf root.pxar" || r.Cells[4] != "none" {
		t.Errorf("archives/crypt cells %q", r.Cells)
	}
	_, cmd := s.Update(uitest.Press(e.c.Keys.Open))
	a, ok := brPushed(t, cmd).(*Archives)
	if !ok {
		t.Fatal("enter on a snapshot does not push *Archives")
	}
	if a.snap.Snapshot != e.newest() || a.Title() != "2024-01-03T12:00:00Z" {
		t.Errorf("pushed archives of %v, title %q", a.snap.Snapshot, a.Title())
	}
	s.Update(uitest.Press(e.c.Keys.Down))
	_, cmd = s.Update(uitest.Press(e.c.Keys.Open))
	if a := brPushed(t, cmd).(*Archives); a.snap.Snapshot != e.snaps[1] {
		t.Errorf("second row opens %v, want %v", a.snap.Snapshot, e.snaps[1])
	}
	_, cmd = s.Update(uitest.Press(e.c.Keys.Back))
	if msgs := uitest.Run(t, cmd); len(msgs) != 1 || msgs[0] != (ui.PopMsg{}) {
		t.Errorf("esc yields %v, want PopMsg", msgs)
	}
}

// brInfo is the SnapshotInfo of snap as the snapshot list has it.
func brInfo(t *testing.T, e *brEnv, snap core.Snapshot) core.SnapshotInfo {
	t.Helper()
	list, err := e.ds.ListSnapshots("", &snap.Group)
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range list {
		if s.Snapshot == snap {
			return s
		}
	}
	t.Fatalf("snapshot %v not listed", snap)
	return core.SnapshotInfo{}
}

func brLoadedArchives(t *testing.T, e *brEnv) *Archives {
	t.Helper()
	a := NewArchives(e.c, "", brInfo(t, e, e.newest()))
	a.SetSize(80, 21)
	uitest.Pump(t, a, a.Init(), nil)
	return a
}

func TestArchivesPxarFirst(t *testing.T) {
	e := newBrEnv(t)
	a := brLoadedArchives(t, e)
	var got [][]string
	for _, r := range a.list.Rows() {
		got = append(got, r.Cells[:2])
	}
	want := [][]string{{"root.pxar", "pxar"}, {"disk.img", "img"}, {"app.conf", "blob"}}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("archives %q, want %q", got, want)
	}
	_, cmd := a.Update(uitest.Press(e.c.Keys.Open))
	tr, ok := brPushed(t, cmd).(*Tree)
	if !ok {
		t.Fatal("enter on root.pxar does not push *Tree")
	}
	if tr.archive != "root.pxar.didx" || tr.snap != e.newest() || tr.Title() != "root.pxar" {
		t.Errorf("tree of %q in %v, title %q", tr.archive, tr.snap, tr.Title())
	}
}

// Enter on an image asks for a target file and restores the image there.
func TestArchivesRestoreImage(t *testing.T) {
	e := newBrEnv(t)
	a := brLoadedArchives(t, e)
	brSelect(t, a.list, "disk.img")
	uitest.Send(t, a, uitest.Press(e.c.Keys.Open))
	if !a.Capturing() || !a.restore.prompt.Active() {
		t.Fatal("enter on an image did not open the restore prompt")
	}
	if !strings.HasSuffix(a.restore.prompt.Value(), "restore-elsa-2024-01-03T120000Z-disk.img") {
		t.Errorf("default target %q", a.restore.prompt.Value())
	}
	target := filepath.Join(e.dir, "out.img")
	uitest.Send(t, a, uitest.Press(e.c.Keys.Clear))
	uitest.Type(t, a, target)
	_, cmd := a.Update(uitest.Press(e.c.Keys.Open))
	msgs := uitest.Pump(t, a, cmd, brIsRestoreDone)
	if st := brStatuses(msgs); len(st) == 0 || st[len(st)-1].Err || !strings.Contains(st[len(st)-1].Text, "restored archive to "+target) {
		t.Errorf("statuses %+v", st)
	}
	got, err := os.ReadFile(target)
	if err != nil {
		t.Fatal(err)
	}
	want, _ := os.ReadFile(filepath.Join(e.dir, "disk.img"))
	if string(got) != string(want) {
		t.Errorf("restored image: %d bytes, differs from the %d-byte source", len(got), len(want))
	}
}

func brIsRestoreDone(m tea.Msg) bool { jm, ok := m.(ui.JobMsg); return ok && jm.Done }

func brLoadedTree(t *testing.T, e *brEnv) *Tree {
	t.Helper()
	tr := NewTree(e.c, "", e.newest(), "root.pxar.didx")
	tr.SetSize(80, 21)
	uitest.Pump(t, tr, tr.Init(), nil)
	if tr.loading || tr.err != nil {
		t.Fatalf("catalog not loaded: %v", tr.err)
	}
	return tr
}

func TestTreeDescendAndBack(t *testing.T) {
	e := newBrEnv(t)
	tr := brLoadedTree(t, e)
	k := e.c.Keys
	if want := []string{"etc/", "home/", "var/", "README"}; !reflect.DeepEqual(brCells(tr.list), want) {
		t.Fatalf("root %q, want dirs first %q", brCells(tr.list), want)
	}
	if readme := tr.list.Rows()[3]; readme.Cells[1] != "f" || readme.Cells[2] != "16 B" || readme.Cells[3] != "2023-10-03 12:00:00" {
		t.Errorf("README row %q", readme.Cells)
	}
	brSelect(t, tr.list, "home/")
	uitest.Send(t, tr, uitest.Press(k.Open))
	uitest.Send(t, tr, uitest.Press(k.Open)) // elsa/, the only entry
	if got := strings.Join(tr.dir, "/"); got != "home/elsa" || tr.Title() != "root.pxar › home/elsa" {
		t.Fatalf("dir %q, title %q", got, tr.Title())
	}
	if want := []string{"photos/", "notes.txt", "todo.txt"}; !reflect.DeepEqual(brCells(tr.list), want) {
		t.Errorf("home/elsa %q, want %q", brCells(tr.list), want)
	}
	brSelect(t, tr.list, "notes.txt")
	uitest.Send(t, tr, uitest.Press(k.Open)) // a file: nothing happens
	if strings.Join(tr.dir, "/") != "home/elsa" {
		t.Errorf("enter on a file moved to %q", tr.dir)
	}
	uitest.Send(t, tr, uitest.Press(k.Back))
	if strings.Join(tr.dir, "/") != "home" || brSelected(tr.list) != "elsa/" {
		t.Errorf("esc: dir %q selected %q, want home with elsa/ selected", tr.dir, brSelected(tr.list))
	}
	uitest.Send(t, tr, uitest.Key("backspace"))
	if len(tr.dir) != 0 || brSelected(tr.list) != "home/" {
		t.Errorf("backspace: dir %q selected %q, want / with home/ selected", tr.dir, brSelected(tr.list))
	}
	_, cmd := tr.Update(uitest.Press(k.Back))
	if msgs := uitest.Run(t, cmd); len(msgs) != 1 || msgs[0] != (ui.PopMsg{}) {
		t.Errorf("esc at the archive root yields %v, want PopMsg", msgs)
	}
}

// brFind opens the whole-archive find and types q, pumping every search.
func brFind(t *testing.T, m tea.Model, tr *Tree, q string) {
	t.Helper()
	uitest.Send(t, m, uitest.Press(tr.c.Keys.Find))
	if !tr.find.active || !tr.Capturing() {
		t.Fatal("/ did not open the find")
	}
	if tr.find.ix == nil {
		t.Fatal("paths not indexed after /")
	}
	uitest.Type(t, m, q)
}

func TestTreeFindJumps(t *testing.T) {
	e := newBrEnv(t)
	tr := brLoadedTree(t, e)
	brFind(t, tr, tr, "cat")
	if tr.find.ix.Len() != 17 {
		t.Errorf("indexed %d paths, want 17", tr.find.ix.Len())
	}
	if tr.find.last == nil || tr.find.last.Query != "cat" || len(tr.find.last.Top) == 0 {
		t.Fatalf("no answer for cat: %+v", tr.find.last)
	}
	if best := tr.find.ix.Path(tr.find.last.Top[0].Index); best != "home/elsa/photos/cat.jpg" {
		t.Errorf("best match %q", best)
	}
	if v := tr.View(); !strings.Contains(v, "find: cat") || !strings.Contains(v, "› home/elsa/photos/cat.jpg") {
		t.Errorf("find view:\n%s", v)
	}
	uitest.Send(t, tr, uitest.Press(e.c.Keys.Open))
	if tr.find.active || tr.Capturing() {
		t.Error("enter did not close the find")
	}
	if strings.Join(tr.dir, "/") != "home/elsa/photos" || brSelected(tr.list) != "cat.jpg" {
		t.Errorf("jumped to %q with %q selected", tr.dir, brSelected(tr.list))
	}
	// Esc closes the find without moving; ctrl+u clears the query.
	brFind(t, tr, tr, "sysl")
	uitest.Send(t, tr, uitest.Press(e.c.Keys.Clear))
	if tr.find.input.Value() != "" || tr.find.last != nil {
		t.Errorf("ctrl+u left %q / %v", tr.find.input.Value(), tr.find.last)
	}
	uitest.Type(t, tr, "sysl")
	uitest.Send(t, tr, uitest.Press(e.c.Keys.Cancel))
	if tr.find.active || strings.Join(tr.dir, "/") != "home/elsa/photos" {
		t.Errorf("esc: active %v, dir %q", tr.find.active, tr.dir)
	}
	// Down moves to the second hit, and enter jumps there.
	brFind(t, tr, tr, "host")
	if tr.find.last == nil || len(tr.find.last.Top) < 2 {
		t.Fatalf("host: %+v", tr.find.last)
	}
	second := tr.find.ix.Path(tr.find.last.Top[1].Index)
	uitest.Send(t, tr, uitest.Key("down"))
	uitest.Send(t, tr, uitest.Press(e.c.Keys.Open))
	dir, base := filepath.Split(second)
	if strings.Join(tr.dir, "/") != strings.TrimSuffix(dir, "/") || strings.TrimSuffix(brSelected(tr.list), "/") != base {
		t.Errorf("jumped to %q with %q selected, want %s", tr.dir, brSelected(tr.list), second)
	}
}

// brTreeSize is the size of the files of version v of the tree below prefix.
func brTreeSize(v int, prefix string) uint64 {
	var n uint64
	for _, f := range brTree(v) {
		if strings.HasPrefix(f.path, prefix) {
			n += uint64(len(f.data))
		}
	}
	return n
}

func TestTreeMarksSurviveAndRestore(t *testing.T) {
	e := newBrEnv(t)
	tr := brLoadedTree(t, e)
	k := e.c.Keys

	// A mark below a directory is covered by marking the directory.
	brSelect(t, tr.list, "etc/")
	uitest.Send(t, tr, uitest.Press(k.Open))
	brSelect(t, tr.list, "hostname")
	uitest.Send(t, tr, uitest.Press(k.Mark))
	if _, ok := tr.marks["etc/hostname"]; !ok || brSelected(tr.list) != "hosts" {
		t.Fatalf("space: marks %v, selected %q (the cursor moves down)", tr.marks, brSelected(tr.list))
	}
	uitest.Send(t, tr, uitest.Press(k.Back))
	uitest.Send(t, tr, uitest.Press(k.Mark)) // etc/ is selected after coming back
	if want := map[string]mark{"etc": {dir: true, size: brTreeSize(2, "etc/")}}; !reflect.DeepEqual(tr.marks, want) {
		t.Fatalf("marks %v, want %v", tr.marks, want)
	}
	// Space on a marked entry unmarks it, and marks it again.
	brSelect(t, tr.list, "README")
	uitest.Send(t, tr, uitest.Press(k.Mark))
	brSelect(t, tr.list, "README")
	uitest.Send(t, tr, uitest.Press(k.Mark))
	if _, ok := tr.marks["README"]; ok {
		t.Fatal("second space did not unmark README")
	}

	// Jump with the find and mark there: marks survive find and navigation.
	brFind(t, tr, tr, "notes")
	uitest.Send(t, tr, uitest.Press(k.Open))
	if brSelected(tr.list) != "notes.txt" {
		t.Fatalf("find notes selected %q in %q", brSelected(tr.list), tr.dir)
	}
	uitest.Send(t, tr, uitest.Press(k.Mark))
	uitest.Send(t, tr, uitest.Press(k.Back))
	uitest.Send(t, tr, uitest.Press(k.Back))
	brSelect(t, tr.list, "etc/")
	uitest.Send(t, tr, uitest.Press(k.Open))
	if !strings.Contains(tr.View(), "✓ hostname") {
		t.Errorf("entries under a marked directory are not drawn marked:\n%s", tr.View())
	}
	uitest.Send(t, tr, uitest.Press(k.Back))
	total := brTreeSize(2, "etc/") + brTreeSize(2, "home/elsa/notes.txt")
	wantStatus := "2 entries marked, " + size(total)
	if !strings.Contains(tr.View(), wantStatus) {
		t.Errorf("view lacks %q:\n%s", wantStatus, tr.View())
	}
	if got := tr.markedPaths(); !reflect.DeepEqual(got, []string{"etc", "home/elsa/notes.txt"}) {
		t.Fatalf("marked %q", got)
	}

	// r opens the prompt prefilled; ctrl+u clears; enter restores the marks.
	uitest.Send(t, tr, uitest.Press(k.Restore))
	if !tr.restore.prompt.Active() || !tr.Capturing() {
		t.Fatal("r did not open the prompt")
	}
	cwd, _ := os.Getwd()
	if want := filepath.Join(cwd, "restore-elsa-2024-01-03T120000Z-root.pxar"); tr.restore.prompt.Value() != want {
		t.Errorf("prefilled %q, want %q", tr.restore.prompt.Value(), want)
	}
	if want := "Restore 2 marked entries (" + size(total) + ") to directory:"; !strings.Contains(tr.View(), want) {
		t.Errorf("prompt lacks %q:\n%s", want, tr.View())
	}
	uitest.Send(t, tr, uitest.Press(k.Clear))
	if tr.restore.prompt.Value() != "" {
		t.Fatalf("ctrl+u left %q", tr.restore.prompt.Value())
	}
	target := filepath.Join(e.dir, "restored")
	uitest.Type(t, tr, target)
	_, cmd := tr.Update(uitest.Press(k.Open))
	if tr.restore.prompt.Active() || tr.restore.job == nil {
		t.Fatal("enter did not start a restore")
	}
	msgs := uitest.Pump(t, tr, cmd, brIsRestoreDone)
	st := brStatuses(msgs)
	if len(st) == 0 || st[len(st)-1].Err || !strings.HasPrefix(st[len(st)-1].Text, "restored 2 entries to "+target+" in ") {
		t.Errorf("statuses %+v", st)
	}
	if tr.restore.job != nil || len(tr.marks) != 0 {
		t.Errorf("after the restore: job %v, marks %v (want none)", tr.restore.job, tr.marks)
	}

	// Exactly the marked entries are on disk, with their bytes.
	var got []string
	err := filepath.WalkDir(target, func(p string, d os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if !d.IsDir() {
			rel, _ := filepath.Rel(target, p)
			got = append(got, rel)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"etc/app/config.yaml", "etc/hostname", "etc/hosts", "home/elsa/notes.txt"}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("restored files %q, want %q", got, want)
	}
	for _, f := range brTree(2) {
		p := filepath.Join(target, f.path)
		data, err := os.ReadFile(p)
		if err != nil {
			continue
		}
		if string(data) != f.data {
			t.Errorf("%s: %q, want %q", f.path, data, f.data)
		}
		if st, err := os.Stat(p); err == nil && st.ModTime().Unix() != f.mtime {
			t.Errorf("%s: mtime %d, want %d", f.path, st.ModTime().Unix(), f.mtime)
		}
	}
}

// A marked name with glob characters restores itself only, not the names
// its pattern would match (app[1].log is not a class matching app1.log).
func TestTreeRestoreGlobNameLiterally(t *testing.T) {
	e := newBrEnv(t)
	tr := brLoadedTree(t, e)
	k := e.c.Keys
	brFind(t, tr, tr, "app[1]")
	uitest.Send(t, tr, uitest.Press(k.Open))
	if strings.Join(tr.dir, "/") != "var/log" || brSelected(tr.list) != "app[1].log" {
		t.Fatalf("find app[1] jumped to %q, %q", tr.dir, brSelected(tr.list))
	}
	uitest.Send(t, tr, uitest.Press(k.Mark))
	uitest.Send(t, tr, uitest.Press(k.Restore))
	uitest.Send(t, tr, uitest.Press(k.Clear))
	target := filepath.Join(e.dir, "glob")
	uitest.Type(t, tr, target)
	_, cmd := tr.Update(uitest.Press(k.Open))
	uitest.Pump(t, tr, cmd, brIsRestoreDone)
	entries, err := os.ReadDir(filepath.Join(target, "var/log"))
	if err != nil {
		t.Fatal(err)
	}
	if len(entries) != 1 || entries[0].Name() != "app[1].log" {
		t.Errorf("restored %v, want only app[1].log", entries)
	}
	if data, _ := os.ReadFile(filepath.Join(target, "var/log/app[1].log")); string(data) != "bracketed\n" {
		t.Errorf("app[1].log holds %q", data)
	}
}

func TestTreeRestoreNeedsMarks(t *testing.T) {
	e := newBrEnv(t)
	tr := brLoadedTree(t, e)
	msgs := uitest.Send(t, tr, uitest.Press(e.c.Keys.Restore))
	if tr.restore.prompt.Active() {
		t.Error("r with nothing marked opened the prompt")
	}
	if st := brStatuses(msgs); len(st) != 1 || !strings.HasPrefix(st[0].Text, "nothing marked") {
		t.Errorf("statuses %+v", st)
	}
	// Esc in the prompt cancels it and restores nothing.
	uitest.Send(t, tr, uitest.Press(e.c.Keys.Mark))
	uitest.Send(t, tr, uitest.Press(e.c.Keys.Restore))
	uitest.Send(t, tr, uitest.Press(e.c.Keys.Cancel))
	if tr.restore.prompt.Active() || tr.restore.job != nil || len(tr.marks) != 1 {
		t.Errorf("esc: prompt %v job %v marks %v", tr.restore.prompt.Active(), tr.restore.job, tr.marks)
	}
}

func brChanges(t *testing.T, e *brEnv, p string) ([]string, *History) {
	t.Helper()
	h := NewHistory(e.c, "", e.newest(), "root.pxar.didx", p)
	h.SetSize(80, 21)
	uitest.Pump(t, h, h.Init(), nil)
	var out []string
	for _, r := range h.list.Rows() {
		out = append(out, r.Cells[0]+" "+r.Cells[3])
	}
	return out, h
}

func TestHistoryVersions(t *testing.T) {
	e := newBrEnv(t)
	got, h := brChanges(t, e, "home/elsa/notes.txt")
	want := []string{"2024-01-03 12:00:00 changed", "2024-01-02 12:00:00 unchanged", "2024-01-01 12:00:00 new"}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("notes.txt: %q, want %q", got, want)
	}
	if r := h.list.Rows()[0]; r.Cells[1] != size(brTreeSize(2, "home/elsa/notes.txt")) || r.Cells[2] != "2024-01-03 11:00:00" {
		t.Errorf("newest version row %q", r.Cells)
	}
	if row, _ := h.list.Selected(); row.Data.snap != e.newest() {
		t.Errorf("selected %v, want the snapshot the user came from", row.Data.snap)
	}
	got, _ = brChanges(t, e, "home/elsa/todo.txt")
	want = []string{"2024-01-03 12:00:00 unchanged", "2024-01-02 12:00:00 new", "2024-01-01 12:00:00 absent"}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("todo.txt: %q, want %q", got, want)
	}

	// Restoring the oldest version brings back its bytes.
	h.Update(uitest.Press(e.c.Keys.End))
	uitest.Send(t, h, uitest.Press(e.c.Keys.Restore))
	if !h.restore.prompt.Active() {
		t.Fatal("r did not open the prompt")
	}
	target := filepath.Join(e.dir, "old")
	uitest.Send(t, h, uitest.Press(e.c.Keys.Clear))
	uitest.Type(t, h, target)
	_, cmd := h.Update(uitest.Press(e.c.Keys.Open))
	uitest.Pump(t, h, cmd, brIsRestoreDone)
	data, err := os.ReadFile(filepath.Join(target, "home/elsa/notes.txt"))
	if err != nil || string(data) != brTree(0)[4].data {
		t.Errorf("restored old notes: %q, %v", data, err)
	}
}

// h on a file of the tree opens its history; on a directory it says why not.
func TestTreeHistoryKey(t *testing.T) {
	e := newBrEnv(t)
	tr := brLoadedTree(t, e)
	msgs := uitest.Send(t, tr, uitest.Press(e.c.Keys.History)) // etc/ is selected
	if st := brStatuses(msgs); len(st) != 1 || !strings.HasPrefix(st[0].Text, "history is for files") {
		t.Errorf("h on a directory: %+v", st)
	}
	brSelect(t, tr.list, "README")
	_, cmd := tr.Update(uitest.Press(e.c.Keys.History))
	h, ok := brPushed(t, cmd).(*History)
	if !ok || h.path != "README" || h.Title() != "history README" {
		t.Fatalf("pushed %#v", h)
	}
}

// brRoot builds the UI as cli/tui.go does, at w×h, with the groups loaded.
func brRoot(t *testing.T, e *brEnv, w, h int) *ui.Root {
	t.Helper()
	r := ui.NewRoot(e.c, NewGroups(e.c))
	r.Update(tea.WindowSizeMsg{Width: w, Height: h})
	uitest.Pump(t, r, r.Init(), nil)
	return r
}

// The whole flow through the root, as a user drives it.
func TestBrowseThroughRoot(t *testing.T) {
	e := newBrEnv(t)
	r := brRoot(t, e, 80, 24)
	k := e.c.Keys
	uitest.Send(t, r, uitest.Press(k.Open))
	uitest.Send(t, r, uitest.Press(k.Open))
	uitest.Send(t, r, uitest.Press(k.Open))
	tr, ok := r.Active().(*Tree)
	if !ok || r.Depth() != 4 {
		t.Fatalf("after three enters: depth %d, active %T", r.Depth(), r.Active())
	}
	if tr.loading {
		t.Fatal("catalog not loaded through the root")
	}
	// q while finding is text; the root does not quit.
	uitest.Send(t, r, uitest.Press(k.Find))
	_, cmd := r.Update(uitest.Runes("q"))
	for _, m := range uitest.Run(t, cmd) {
		if _, ok := m.(tea.QuitMsg); ok {
			t.Fatal("q quit while the find was open")
		}
	}
	uitest.Pump(t, r, cmd, nil)
	if tr.find.input.Value() != "q" {
		t.Errorf("find query %q, want q", tr.find.input.Value())
	}
	uitest.Send(t, r, uitest.Press(k.Cancel))
	for i := 0; i < 3; i++ {
		uitest.Send(t, r, uitest.Press(k.Back))
	}
	if r.Depth() != 1 {
		t.Errorf("three esc: depth %d, want 1", r.Depth())
	}
}

// TestBrowseGolden draws every browse screen through the root (breadcrumb
// and key hint included) at two sizes.
func TestBrowseGolden(t *testing.T) {
	for _, sz := range []struct{ w, h int }{{80, 24}, {140, 40}} {
		e := newBrEnv(t)
		k := e.c.Keys
		r := brRoot(t, e, sz.w, sz.h)
		name := func(s string) string { return fmt.Sprintf("%s_%dx%d", s, sz.w, sz.h) }
		shot := func(s string) { t.Helper(); brGolden(t, name(s), r.View(), sz.w, sz.h) }

		shot("groups")
		uitest.Send(t, r, uitest.Press(k.Open))
		shot("snapshots")
		uitest.Send(t, r, uitest.Press(k.Open))
		shot("archives")
		uitest.Send(t, r, uitest.Press(k.Open))
		shot("tree")
		tr := r.Active().(*Tree)

		brFind(t, r, tr, "conf")
		shot("tree_find")
		uitest.Send(t, r, uitest.Press(k.Cancel))

		brSelect(t, tr.list, "etc/")
		uitest.Send(t, r, uitest.Press(k.Mark))
		brSelect(t, tr.list, "README")
		uitest.Send(t, r, uitest.Press(k.Mark))
		uitest.Send(t, r, uitest.Press(k.Restore))
		// The default target holds the working directory: replace it.
		uitest.Send(t, r, uitest.Press(k.Clear))
		uitest.Type(t, r, "/srv/restore")
		shot("tree_restore_prompt")
		uitest.Send(t, r, uitest.Press(k.Cancel))

		brFind(t, r, tr, "notes")
		uitest.Send(t, r, uitest.Press(k.Open))
		uitest.Send(t, r, uitest.Press(k.History))
		if _, ok := r.Active().(*History); !ok {
			t.Fatalf("h opened %T", r.Active())
		}
		shot("history")
	}
}
