package views

// Issue 17 (part B): keys in bursts, marking from find results, encrypted
// groups a wrong password cannot read, the layout fixes and the mouse,
// each through the screens as a user drives them.

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"sort"
	"strings"
	"testing"
	"time"

	tea "github.com/charmbracelet/bubbletea"

	"cairn/core"
	"cairn/core/backup"
	"cairn/core/catalog"
	"cairn/keys"
	"cairn/ui"
	"cairn/ui/uitest"
)

// Item 8: "jj" arriving as one key moves two rows.
func TestBurstMovesTwoRows(t *testing.T) {
	e := newBrEnv(t)
	r := brRoot(t, e, 80, 24)
	g := r.Active().(*Groups)
	r.Update(uitest.Runes("jj"))
	if got := brSelected(g.list); got != "▾ ns site1" {
		t.Errorf("after the burst jj: %q selected, want the third row ▾ ns site1", got)
	}
	r.Update(uitest.Runes("kkk"))
	if got := brSelected(g.list); got != "host/elsa" {
		t.Errorf("after kkk: %q selected", got)
	}
}

// Item 8: "12" typed at once into a prune field is 12, through the root
// (a burst) and pasted.
func TestBurstTypesPruneCount(t *testing.T) {
	e := newBrEnv(t)
	r := brRoot(t, e, 80, 24)
	uitest.Send(t, r, uitest.Press(e.c.Keys.Prune)) // host/elsa is selected
	p, ok := r.Active().(*Prune)
	if !ok {
		t.Fatalf("p opened %T", r.Active())
	}
	uitest.Pump(t, r, p.Init(), nil)
	r.Update(uitest.Runes("12"))
	if p.counts[0] != 12 {
		t.Fatalf("keep-last %d after the burst 12, want 12", p.counts[0])
	}
	r.Update(uitest.Press(e.c.Keys.Open)) // done
	r.Update(uitest.Press(e.c.Keys.NextField))
	r.Update(tea.KeyMsg{Type: tea.KeyRunes, Runes: []rune("34"), Paste: true})
	if p.counts[1] != 34 {
		t.Errorf("keep-hourly %d after pasting 34, want 34", p.counts[1])
	}
}

// Item 8: a paste into a text input still arrives whole.
func TestPasteIntoFindQuery(t *testing.T) {
	e := newBrEnv(t)
	tr := brLoadedTree(t, e)
	r := ui.NewRoot(e.c, tr)
	r.Update(tea.WindowSizeMsg{Width: 80, Height: 24})
	uitest.Send(t, r, uitest.Press(e.c.Keys.Find))
	_, cmd := r.Update(tea.KeyMsg{Type: tea.KeyRunes, Runes: []rune("hostname"), Paste: true})
	uitest.Pump(t, r, cmd, nil)
	if tr.find.input.Value() != "hostname" || tr.find.last == nil || tr.find.last.Query != "hostname" {
		t.Errorf("pasted query %q, answer %+v", tr.find.input.Value(), tr.find.last)
	}
	// A burst types the same.
	uitest.Send(t, r, uitest.Press(e.c.Keys.Clear))
	_, cmd = r.Update(uitest.Runes("notes"))
	uitest.Pump(t, r, cmd, nil)
	if tr.find.input.Value() != "notes" {
		t.Errorf("burst query %q", tr.find.input.Value())
	}
}

// Item 9: the find's results are a list: tab marks a hit and moves on,
// PgDn pages, ctrl+a marks every hit, r restores the marks.
func TestFindMarksAndRestores(t *testing.T) {
	e := newBrEnv(t)
	tr := brLoadedTree(t, e)
	r := ui.NewRoot(e.c, tr)
	r.Update(tea.WindowSizeMsg{Width: 80, Height: 24})
	k := e.c.Keys
	brFind(t, r, tr, "host")
	hits := tr.find.last.Top
	if len(hits) < 2 {
		t.Fatalf("host: %d hits", len(hits))
	}
	first, second := tr.find.ix.Path(hits[0].Index), tr.find.ix.Path(hits[1].Index)
	uitest.Send(t, r, uitest.Press(k.MarkHit))
	if !tr.marked(first) || tr.find.cursor != 1 || !tr.find.focusList {
		t.Fatalf("tab: marked %v, cursor %d, list focus %v", tr.marked(first), tr.find.cursor, tr.find.focusList)
	}
	// In the list, space marks too, and letters move.
	uitest.Send(t, r, uitest.Press(k.Mark))
	if !tr.marked(second) || tr.find.input.Value() != "host" {
		t.Fatalf("space in the list: marked %v, query %q", tr.marked(second), tr.find.input.Value())
	}
	uitest.Send(t, r, uitest.Runes("k"))
	if tr.find.cursor != 1 {
		t.Errorf("k in the list: cursor %d, want 1", tr.find.cursor)
	}
	if v := tr.View(); !strings.Contains(v, "✓ ") || !strings.Contains(v, "2 marks") {
		t.Errorf("marks not drawn:\n%s", v)
	}
	// tab again unmarks.
	uitest.Send(t, r, uitest.Press(k.MarkHit))
	if tr.marked(second) {
		t.Error("tab on a marked hit did not unmark it")
	}
	// / goes back to the query; r types there.
	uitest.Send(t, r, uitest.Press(k.EditFind))
	uitest.Type(t, r, "r")
	if tr.find.input.Value() != "hostr" || tr.find.focusList {
		t.Errorf("after / and r: query %q, list focus %v", tr.find.input.Value(), tr.find.focusList)
	}
	uitest.Send(t, r, uitest.Key("backspace"))
	uitest.Pump(t, r, nil, nil)

	// ctrl+a marks every hit of a query, r asks for the target and
	// restores exactly them.
	uitest.Send(t, r, uitest.Press(k.Clear))
	uitest.Type(t, r, "app")
	want := map[string]bool{}
	tr.find.last.Hits(func(i int) { want[tr.find.ix.Path(i)] = true })
	uitest.Send(t, r, uitest.Key("ctrl+a"))
	for p := range want {
		if !tr.marked(p) {
			t.Errorf("ctrl+a left %s unmarked", p)
		}
	}
	marked := tr.markedPaths() // etc/hosts, tab-marked above, and the app hits
	uitest.Send(t, r, uitest.Press(k.Restore))
	if tr.find.active || !tr.restore.prompt.Active() {
		t.Fatalf("r in the results: find open %v, prompt %v", tr.find.active, tr.restore.prompt.Active())
	}
	target := filepath.Join(e.dir, "found")
	uitest.Send(t, r, uitest.Press(k.Clear))
	uitest.Type(t, r, target)
	_, cmd := r.Update(uitest.Press(k.Open))
	uitest.Pump(t, r, cmd, brIsRestoreDone)
	var got []string
	filepath.WalkDir(target, func(p string, d os.DirEntry, err error) error {
		if err == nil && !d.IsDir() {
			rel, _ := filepath.Rel(target, p)
			got = append(got, rel)
		}
		return nil
	})
	sort.Strings(got)
	// Every file marked, or inside a marked directory (etc/app).
	var files []string
	for _, f := range brTree(2) {
		for _, p := range marked {
			if f.path == p || strings.HasPrefix(f.path, p+"/") {
				files = append(files, f.path)
				break
			}
		}
	}
	sort.Strings(files)
	if !reflect.DeepEqual(got, files) || len(got) == 0 {
		t.Errorf("restored %q, want %q", got, files)
	}
}

// Item 9: PgUp/PgDn page through many hits, and the list shows where the
// cursor is.
func TestFindPagesThroughHits(t *testing.T) {
	cr := brWideCatalog(t, 3000)
	tr := benchTree(t, cr)
	tr.SetSize(80, 21)
	_, cmd := tr.Update(uitest.Press(tr.c.Keys.Find))
	runSync(tr, cmd)
	for _, c := range "file" {
		_, cmd := tr.Update(uitest.Runes(string(c)))
		runSync(tr, cmd)
	}
	page := tr.find.pageRows()
	tr.Update(uitest.Key("pgdown"))
	tr.Update(uitest.Key("pgdown"))
	if tr.find.cursor != 2*page {
		t.Errorf("two PgDn: cursor %d, want %d", tr.find.cursor, 2*page)
	}
	tr.Update(uitest.Key("pgup"))
	if tr.find.cursor != page {
		t.Errorf("PgUp: cursor %d, want %d", tr.find.cursor, page)
	}
	if v := tr.View(); !strings.Contains(v, fmt.Sprintf("%d/%d", page+1, findLimit)) || !strings.Contains(v, "3,000 of 3,001 paths match") {
		t.Errorf("find view lacks the position or the count:\n%s", v)
	}
}

// brWideCatalog is a catalog whose archive root.pxar.didx holds one
// directory, big/, of n files.
func brWideCatalog(t *testing.T, n int) *catalog.Reader {
	t.Helper()
	var buf bytes.Buffer
	w, err := catalog.NewWriter(&buf)
	if err != nil {
		t.Fatal(err)
	}
	must := func(err error) {
		if err != nil {
			t.Fatal(err)
		}
	}
	must(w.StartDirectory([]byte("root.pxar.didx")))
	must(w.StartDirectory([]byte("big")))
	for i := 0; i < n; i++ {
		must(w.AddFile([]byte(fmt.Sprintf("file%04d", i)), 10, brT0))
	}
	must(w.EndDirectory())
	must(w.EndDirectory())
	must(w.Finish())
	cr, err := catalog.NewReader(bytes.NewReader(buf.Bytes()), int64(buf.Len()))
	if err != nil {
		t.Fatal(err)
	}
	return cr
}

// Item 15: a directory of thousands of entries shows the position.
func TestTreeShowsPosition(t *testing.T) {
	tr := benchTree(t, brWideCatalog(t, 3000))
	tr.SetSize(80, 21)
	tr.Update(uitest.Press(tr.c.Keys.Open)) // big/
	for i := 0; i < 122; i++ {
		tr.Update(uitest.Press(tr.c.Keys.Down))
	}
	if v := tr.View(); !strings.Contains(v, "123/3,000") {
		t.Errorf("no position 123/3,000:\n%s", v)
	}
}

// Item 11: an unfinished snapshot says so in full.
func TestSnapshotsUnfinishedShown(t *testing.T) {
	e := newBrEnv(t)
	s := core.Snapshot{Group: brElsa, Time: brT0 + 3*brDay}
	w, err := e.ds.StartBackup(context.Background(), core.BackupOptions{Snapshot: s})
	if err != nil {
		t.Fatal(err)
	}
	defer w.Abort()
	if err := w.WriteFile("root.pxar.didx", []byte("partial")); err != nil {
		t.Fatal(err)
	}
	r := brRoot(t, e, 80, 24)
	uitest.Send(t, r, uitest.Press(e.c.Keys.Open))
	v := r.View()
	line := ""
	for _, l := range strings.Split(v, "\n") {
		if strings.HasPrefix(l, "2024-01-04 12:00:00") {
			line = l
		}
	}
	if !strings.Contains(line, "(unfinished)") {
		t.Errorf("the unfinished snapshot's row %q does not say so:\n%s", line, v)
	}
}

// Item 16: the group size is labelled as logical (the snapshots' sizes
// added, not what the datastore holds).
func TestGroupsSizeIsLogical(t *testing.T) {
	e := newBrEnv(t)
	r := brRoot(t, e, 80, 24)
	if v := r.View(); !strings.Contains(v, "logical size") {
		t.Errorf("size column not labelled logical:\n%s", v)
	}
}

// Item 17: the wheel scrolls and a click selects, in the group list and
// in the catalog tree (below its path line).
func TestMouseSelects(t *testing.T) {
	e := newBrEnv(t)
	r := brRoot(t, e, 80, 24)
	g := r.Active().(*Groups)
	// Screen line 0 is the breadcrumb, 1 the list's header, 2 the first row.
	r.Update(tea.MouseMsg{Button: tea.MouseButtonLeft, Action: tea.MouseActionPress, Y: 3})
	if got := brSelected(g.list); got != "host/olaf" {
		t.Errorf("click on line 3: %q selected, want host/olaf", got)
	}
	r.Update(tea.MouseMsg{Button: tea.MouseButtonWheelDown, Action: tea.MouseActionPress})
	if got := brSelected(g.list); got != "  ct/200" {
		t.Errorf("wheel down: %q selected, want the last row", got)
	}
	uitest.Send(t, r, uitest.Press(e.c.Keys.Open)) // ct/200
	uitest.Send(t, r, uitest.Press(e.c.Keys.Open))
	uitest.Send(t, r, uitest.Press(e.c.Keys.Open))
	tr, ok := r.Active().(*Tree)
	if !ok {
		t.Fatalf("active %T", r.Active())
	}
	// Tree: breadcrumb, path line, header, then hello.txt.
	r.Update(tea.MouseMsg{Button: tea.MouseButtonLeft, Action: tea.MouseActionPress, Y: 3})
	if got := brSelected(tr.list); got != "hello.txt" {
		t.Errorf("click in the tree: %q selected", got)
	}
}

// brKeyFile writes a key file protected by password (PBKDF2: quick) and
// returns its path and key.
func brKeyFile(t *testing.T, dir, password string) (string, *keys.CryptConfig) {
	t.Helper()
	raw, err := keys.NewKey()
	if err != nil {
		t.Fatal(err)
	}
	kdf, err := keys.NewKDF(keys.KDFPBKDF2)
	if err != nil {
		t.Fatal(err)
	}
	kc, err := keys.Wrap(raw, kdf, []byte(password), time.Unix(brT0, 0))
	if err != nil {
		t.Fatal(err)
	}
	p := filepath.Join(dir, "enc.key")
	if err := kc.Save(p, true); err != nil {
		t.Fatal(err)
	}
	cc, err := keys.NewCryptConfig(raw)
	if err != nil {
		t.Fatal(err)
	}
	return p, cc
}

// Item 7: with a key that did not load (a wrong password), the plain
// groups browse as ever, the encrypted one says why it cannot be read,
// and K loads the key from inside the UI, with a masked password.
func TestWrongKeyPasswordBrowsesTheRest(t *testing.T) {
	e := newBrEnv(t)
	keyPath, cc := brKeyFile(t, e.dir, "right horse")
	secret := core.Group{Type: core.TypeHost, ID: "secret"}
	src := filepath.Join(e.dir, "secret-src")
	brWriteTree(t, src, []brFile{{"pin.txt", "1234\n", brT0 - brDay}})
	spec, _ := backup.ParseSpec("root.pxar:" + src)
	if _, err := backup.Run(context.Background(), backup.Options{Repo: e.ds, Snapshot: core.Snapshot{Group: secret, Time: brT0}, Owner: "root@pam",
		Specs: []backup.Spec{spec}, Crypt: cc, CryptMode: "encrypt"}); err != nil {
		t.Fatal(err)
	}
	// As cli/tui.go leaves it when PBS_ENCRYPTION_PASSWORD is wrong.
	e.c.KeyErr = fmt.Errorf("key %s: %w", keyPath, keys.ErrWrongPassword)
	e.c.KeyPath = keyPath
	r := brRoot(t, e, 100, 30)
	g := r.Active().(*Groups)
	row := map[string][]string{}
	for _, rw := range g.list.Rows() {
		row[strings.TrimSpace(rw.Cells[0])] = rw.Cells
	}
	if c := row["host/secret"]; len(c) < 5 || c[4] != "bad password" {
		t.Errorf("host/secret row %q: want encryption \"bad password\"", c)
	}
	if c := row["host/elsa"]; len(c) < 5 || c[4] != "-" {
		t.Errorf("host/elsa row %q", c)
	}
	if v := r.View(); !strings.Contains(v, "1 encrypted group cannot be read") || !strings.Contains(v, "is wrong") || !strings.Contains(v, "K loads a key") {
		t.Errorf("no banner saying why:\n%s", v)
	}
	// The plain group opens down to its files.
	brSelect(t, g.list, "host/elsa")
	for i := 0; i < 3; i++ {
		uitest.Send(t, r, uitest.Press(e.c.Keys.Open))
	}
	if tr, ok := r.Active().(*Tree); !ok || tr.err != nil || tr.reader == nil {
		t.Fatalf("host/elsa's tree did not open: %T %v", r.Active(), r.Active())
	}
	for r.Depth() > 1 {
		uitest.Send(t, r, uitest.Press(e.c.Keys.Back))
	}
	// The encrypted one's snapshots say why.
	brSelect(t, g.list, "host/secret")
	uitest.Send(t, r, uitest.Press(e.c.Keys.Open))
	s := r.Active().(*Snapshots)
	if c := s.list.Rows()[0].Cells; c[4] != "bad password" {
		t.Errorf("encrypted snapshot row %q", c)
	}
	uitest.Send(t, r, uitest.Press(e.c.Keys.Back))

	// K: the key file, then its password, masked.
	uitest.Send(t, r, uitest.Press(e.c.Keys.LoadKey))
	if !g.Capturing() || !strings.Contains(r.View(), keyPath) {
		t.Fatalf("K did not ask for the key file:\n%s", r.View())
	}
	uitest.Send(t, r, uitest.Press(e.c.Keys.Open))
	if !strings.Contains(r.View(), "Password of the key") {
		t.Fatalf("no password asked:\n%s", r.View())
	}
	uitest.Type(t, r, "zebra-77")
	if strings.Contains(r.View(), "zebra-77") {
		t.Errorf("the password shows:\n%s", r.View())
	}
	msgs := uitest.Send(t, r, uitest.Press(e.c.Keys.Open))
	if st := brStatuses(msgs); len(st) == 0 || !st[len(st)-1].Err || !errors.Is(e.c.KeyErr, keys.ErrWrongPassword) {
		t.Errorf("a wrong password: statuses %+v, key error %v", st, e.c.KeyErr)
	}
	uitest.Send(t, r, uitest.Press(e.c.Keys.LoadKey))
	uitest.Send(t, r, uitest.Press(e.c.Keys.Open))
	uitest.Type(t, r, "right horse")
	msgs = uitest.Send(t, r, uitest.Press(e.c.Keys.Open))
	if st := brStatuses(msgs); len(st) == 0 || st[len(st)-1].Err || !strings.Contains(st[len(st)-1].Text, "loaded") {
		t.Errorf("the right password: statuses %+v", st)
	}
	if !e.c.KeyLoaded() || strings.Contains(r.View(), "cannot be read") {
		t.Fatalf("key not in use:\n%s", r.View())
	}
	for _, rw := range g.list.Rows() {
		if strings.TrimSpace(rw.Cells[0]) == "host/secret" && rw.Cells[4] != "encrypted" {
			t.Errorf("host/secret after K: %q", rw.Cells)
		}
	}
	// Now the encrypted group reads.
	brSelect(t, g.list, "host/secret")
	for i := 0; i < 3; i++ {
		uitest.Send(t, r, uitest.Press(e.c.Keys.Open))
	}
	tr, ok := r.Active().(*Tree)
	if !ok || tr.err != nil || !reflect.DeepEqual(brCells(tr.list), []string{"pin.txt"}) {
		t.Fatalf("host/secret's tree: %T, %q", r.Active(), r.View())
	}
}
