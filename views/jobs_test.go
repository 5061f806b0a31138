package views

// Issue 17 (part A) regression tests: stopping and quitting a running
// backup, the backup form's options, selection restores and fresh lists.

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	tea "github.com/charmbracelet/bubbletea"

	"cairn/core"
	"cairn/core/index"
	"cairn/core/restore"
	"cairn/core/snapshot"
	"cairn/internal/testutil"
	"cairn/keys"
	"cairn/ui"
	"cairn/ui/uitest"
)

// bigSparseSource makes a directory with one sparse file of size bytes:
// seconds of reading, nothing to store.
func bigSparseSource(t *testing.T, dir string, size int64) string {
	t.Helper()
	src := filepath.Join(dir, "big")
	if err := os.MkdirAll(src, 0o755); err != nil {
		t.Fatal(err)
	}
	f, err := os.Create(filepath.Join(src, "disk.raw"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if err := f.Truncate(size); err != nil {
		t.Fatal(err)
	}
	return src
}

// isBackupReading accepts the first progress report with bytes read.
func isBackupReading(m tea.Msg) bool {
	jm, ok := m.(ui.JobMsg)
	if !ok {
		return false
	}
	ev, ok := jm.Progress.(core.Event)
	return ok && ev.Progress.BytesRead > 0
}

// TestBackupStopStopsTheEngine pins issue 17 item 1 in the TUI: esc, y said
// "the unfinished snapshot is removed", yet the engine read on to the end
// and kept the snapshot. Now the engine stops, well before the source is
// read, and no snapshot is left.
func TestBackupStopStopsTheEngine(t *testing.T) {
	e := newBackupEnv(t)
	b := e.b
	const size = 8 << 30
	src := bigSparseSource(t, filepath.Dir(e.src), size)
	cmd := backupEnter(b, "big.pxar:"+src+" --backup-id stopme")
	uitest.PumpUntil(t, b, cmd, isBackupReading)
	backupKey(b, uitest.Key("esc"))
	backupType(b, "y")
	if !b.stopping {
		t.Fatal("y did not stop")
	}
	began := time.Now()
	uitest.PumpUntil(t, b, b.job.Wait(), isBackupFinished)
	if !b.cancelled || b.result != nil || b.err != nil {
		t.Fatalf("after the stop: cancelled %v, result %v, err %v", b.cancelled, b.result, b.err)
	}
	if b.total.BytesRead >= size {
		t.Errorf("read %d bytes: the whole source, the stop came too late", b.total.BytesRead)
	}
	if d := time.Since(began); d > 30*time.Second {
		t.Errorf("stopping took %v", d)
	}
	if snaps := snapshotsOf(t, e.ds, "stopme"); len(snaps) != 0 {
		t.Errorf("snapshots after the stop: %+v", snaps)
	}
	if !strings.Contains(b.View(), "Backup stopped") {
		t.Errorf("view:\n%s", b.View())
	}
}

// TestQuitDuringBackupLeavesNoSnapshot pins issue 17 item 2: q during a
// backup quit at once and left an empty host/quitme/<time>/ that every
// listing showed as a snapshot. q now asks; y stops the backup, waits for
// it to remove its snapshot, and quits.
func TestQuitDuringBackupLeavesNoSnapshot(t *testing.T) {
	e := newBackupEnv(t)
	b := e.b
	c := b.c
	r := ui.NewRoot(c, b)
	r.Update(tea.WindowSizeMsg{Width: 100, Height: 30})
	src := bigSparseSource(t, filepath.Dir(e.src), 8<<30)
	r.Update(uitest.Key("ctrl+u"))
	r.Update(uitest.Runes("big.pxar:" + src + " --backup-id quitme"))
	_, cmd := r.Update(uitest.Key("enter"))
	uitest.PumpUntil(t, r, cmd, isBackupReading)
	if snaps := snapshotsOf(t, e.ds, "quitme"); len(snaps) != 1 || snaps[0].Finished {
		t.Fatalf("while running: %+v", snaps)
	}

	_, cmd = r.Update(uitest.Runes("q"))
	if cmd != nil {
		if _, quit := cmd().(tea.QuitMsg); quit {
			t.Fatal("q quit while the backup runs")
		}
	}
	if !r.Asking() || !strings.Contains(r.View(), "A backup is running") {
		t.Fatalf("q did not ask:\n%s", r.View())
	}
	_, cmd = r.Update(uitest.Runes("y"))
	quit := uitest.PumpUntil(t, r, tea.Batch(cmd, b.job.Wait()), func(m tea.Msg) bool { _, ok := m.(tea.QuitMsg); return ok })
	if _, ok := quit[len(quit)-1].(tea.QuitMsg); !ok {
		t.Fatal("no quit")
	}
	if snaps := snapshotsOf(t, e.ds, "quitme"); len(snaps) != 0 {
		t.Errorf("after quitting: %+v (an unfinished snapshot visible)", snaps)
	}
	dirs, _ := e.ds.Backend().ReadDir("host/quitme")
	for _, d := range dirs {
		if d.IsDir() {
			t.Errorf("snapshot directory %s left behind", d.Name())
		}
	}
}

// TestBackupFormTakesTheCLIOptions pins issue 17 item 3: the form took
// --backup-id and --backup-type only, through a parser of its own, and put
// the backup silently into the namespace under the cursor. It now takes
// the command's options with the command's parser, and the namespace is
// in the line.
func TestBackupFormTakesTheCLIOptions(t *testing.T) {
	e := newBackupEnv(t)
	if err := e.ds.CreateNamespace("site1"); err != nil {
		t.Fatal(err)
	}
	// A key without a password.
	raw, err := keys.NewKey()
	if err != nil {
		t.Fatal(err)
	}
	kc, err := keys.Wrap(raw, nil, nil, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	keyPath := filepath.Join(filepath.Dir(e.src), "plain.key")
	if err := kc.Save(keyPath, true); err != nil {
		t.Fatal(err)
	}
	b := NewBackup(e.b.c, "site1")
	b.dir, b.host = e.src, "testhost"
	b.SetSize(100, 30)
	b.Init()
	if got, want := b.prompt.Value(), "root.pxar:"+e.src+" --backup-id testhost --ns site1"; got != want {
		t.Errorf("prefilled %q, want %q", got, want)
	}
	if v := b.View(); !strings.Contains(v, "Target:   namespace site1 · group host/testhost") {
		t.Errorf("the form does not show the target:\n%s", v)
	}
	line := "root.pxar:" + e.src + " --backup-id opts --ns site1 --exclude /sub/deeper --exclude '*.conf'" +
		" --change-detection-mode metadata --keyfile " + keyPath + " --crypt-mode sign-only"
	backupKey(b, uitest.Key("ctrl+u"))
	backupType(b, line)
	if v := b.View(); !strings.Contains(v, "Target:   namespace site1 · group host/opts · 1 archive") {
		t.Errorf("the target does not follow the line:\n%s", v)
	}
	uitest.PumpUntil(t, b, backupKey(b, uitest.Key("enter")), isBackupFinished)
	if b.result == nil {
		t.Fatalf("backup failed: %v %s", b.err, b.inputErr)
	}
	list, err := e.ds.ListSnapshots("site1", &core.Group{Type: core.TypeHost, ID: "opts"})
	if err != nil || len(list) != 1 {
		t.Fatalf("snapshots in site1: %+v %v", list, err)
	}
	files := map[string]string{}
	for _, f := range list[0].Files {
		files[f.Filename] = f.CryptMode
	}
	for _, name := range []string{"root.mpxar.didx", "root.ppxar.didx"} {
		if files[name] != "sign-only" {
			t.Errorf("%s: crypt mode %q (files %v)", name, files[name], files)
		}
	}
	// What was excluded is not in the archive.
	s, err := snapshot.Open(context.Background(), e.ds, "site1", list[0].Snapshot)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	cc, _ := keys.NewCryptConfig(raw)
	if err := s.UseKey(cc); err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(filepath.Dir(e.src), "out")
	a, err := s.FindPxar("root.pxar")
	if err != nil {
		t.Fatal(err)
	}
	if err := restore.ExtractPxarPaths(context.Background(), s, a, nil, out, restore.PathsOptions{}); err != nil {
		t.Fatal(err)
	}
	for p, want := range map[string]bool{"a.bin": true, "sub/b.bin": true, "sub/deeper": false, "etc.conf": false} {
		if _, err := os.Stat(filepath.Join(out, p)); (err == nil) != want {
			t.Errorf("%s restored: %v, want %v", p, err == nil, want)
		}
	}
}

// TestBackupFormKeyErrorsReopenTheForm: a key file that does not open is
// the line's problem, shown in the form, and nothing is written.
func TestBackupFormKeyErrorsReopenTheForm(t *testing.T) {
	e := newBackupEnv(t)
	b := e.b
	for _, tc := range []struct{ opts, want string }{
		{"--keyfile /does/not/exist.json", "/does/not/exist.json"},
		{"--crypt-mode encrypt", "no default key"},
		{"--keyfile /x --crypt-mode none", "mutually exclusive"},
	} {
		uitest.PumpUntil(t, b, backupEnter(b, "root.pxar:"+e.src+" "+tc.opts), isBackupFinished)
		if !b.Capturing() || !strings.Contains(strings.Join(strings.Fields(b.View()), " "), tc.want) {
			t.Errorf("%s: form open %v\n%s", tc.opts, b.Capturing(), b.View())
		}
	}
	if groups, _ := e.ds.ListGroups(""); len(groups) != 0 {
		t.Errorf("groups: %v", groups)
	}
}

// selectionEnv is a snapshot whose archive holds a small file first and a
// large one after it, with one chunk of the large file damaged.
func selectionEnv(t *testing.T) (*brEnv, core.Snapshot, string) {
	t.Helper()
	e := newBrEnv(t)
	src := filepath.Join(e.dir, "sel")
	testutil.WriteTree(t, src, testutil.Tree{
		"a/small.txt": testutil.File("the selected file\n"),
		"z/big.bin":   testutil.File(testutil.RandomBytes(24 << 20)),
	}, time.Time{})
	g := core.Group{Type: core.TypeHost, ID: "sel"}
	snap := brBackup(t, e.ds, "", g, brT0, "root.pxar:"+src)
	// Damage a chunk in the middle of big.bin: no byte of small.txt, of its
	// directory or of the root's GOODBYE table is in it.
	raw, err := e.ds.Backend().ReadFile("host/sel/" + snap.TimeString() + "/root.pxar.didx")
	if err != nil {
		t.Fatal(err)
	}
	idx, err := index.Open(raw)
	if err != nil {
		t.Fatal(err)
	}
	if idx.Count() < 4 {
		t.Fatalf("only %d chunks", idx.Count())
	}
	d := idx.ChunkDigest(idx.Count() / 2)
	if err := e.ds.Backend().(interface {
		CorruptChunk([32]byte, []byte) error
	}).CorruptChunk(d, []byte("damaged")); err != nil {
		t.Fatal(err)
	}
	return e, snap, src
}

// TestTreeRestoreReadsOnlyTheSelection pins issue 17 item 4: restoring two
// files of a large archive read the whole archive, its progress counted to
// the archive's size, and a damaged chunk after the selection failed the
// restore. The selection now comes through the random-access reader: the
// damaged chunk is never read, and progress counts the selection's bytes.
func TestTreeRestoreReadsOnlyTheSelection(t *testing.T) {
	e, snap, _ := selectionEnv(t)
	tr := NewTree(e.c, "", snap, "root.pxar.didx")
	tr.SetSize(100, 30)
	uitest.Pump(t, tr, tr.Init(), nil)
	if tr.err != nil {
		t.Fatal(tr.err)
	}
	k := e.c.Keys
	brSelect(t, tr.list, "a/")
	uitest.Send(t, tr, uitest.Press(k.Open))
	brSelect(t, tr.list, "small.txt")
	uitest.Send(t, tr, uitest.Press(k.Mark))
	uitest.Send(t, tr, uitest.Press(k.Restore))
	uitest.Send(t, tr, uitest.Press(k.Clear))
	target := filepath.Join(e.dir, "restored")
	uitest.Type(t, tr, target)
	_, cmd := tr.Update(uitest.Press(k.Open))
	msgs := uitest.Pump(t, tr, cmd, brIsRestoreDone)
	var last core.Progress
	for _, m := range msgs {
		if jm, ok := m.(ui.JobMsg); ok {
			if p, ok := jm.Progress.(core.Progress); ok {
				last = p
			}
			if jm.Done && jm.Err != nil {
				t.Fatalf("restore failed: %v", jm.Err)
			}
		}
	}
	data, err := os.ReadFile(filepath.Join(target, "a/small.txt"))
	if err != nil || string(data) != "the selected file\n" {
		t.Fatalf("restored %q, %v", data, err)
	}
	if _, err := os.Stat(filepath.Join(target, "z")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("more than the selection restored: %v", err)
	}
	if want := uint64(len("the selected file\n")); last.BytesTotal != want || last.BytesRead != want {
		t.Errorf("progress %d of %d bytes, want %d of %d (the selection, not the archive)", last.BytesRead, last.BytesTotal, want, want)
	}
	// The whole archive does need the damaged chunk: the restore says so.
	a := NewArchives(e.c, "", core.SnapshotInfo{Snapshot: snap, Finished: true})
	a.SetSize(100, 30)
	uitest.Pump(t, a, a.Init(), nil)
	brSelect(t, a.list, "root.pxar")
	uitest.Send(t, a, uitest.Press(k.Restore))
	uitest.Send(t, a, uitest.Press(k.Clear))
	uitest.Type(t, a, filepath.Join(e.dir, "whole"))
	_, cmd = a.Update(uitest.Press(k.Open))
	failed := false
	for _, m := range uitest.Pump(t, a, cmd, brIsRestoreDone) {
		if jm, ok := m.(ui.JobMsg); ok && jm.Done {
			failed = errors.Is(jm.Err, core.ErrCorrupt)
		}
	}
	if !failed {
		t.Error("the whole archive restored in spite of the damaged chunk")
	}
}

// TestGroupsPollSeesBackupsMadeElsewhere pins issue 17 item 5: a backup
// made from the command line never showed in an open group list (or
// showed as "1 - 0 B" while it ran). The list polls cheaply while on top
// and reloads when something changed; it reloads on ctrl+r too.
func TestGroupsPollSeesBackupsMadeElsewhere(t *testing.T) {
	e := newBrEnv(t)
	v := NewGroups(e.c)
	r := ui.NewRoot(e.c, v)
	r.Update(tea.WindowSizeMsg{Width: 100, Height: 30})
	uitest.Pump(t, r, r.Init(), nil)
	before := brCells(v.list)
	poll := func() {
		t.Helper()
		uitest.Pump(t, r, v.Poll(), nil)
	}
	poll() // the first poll takes its reference (and reloads once)
	// A backup from "the command line".
	small := filepath.Join(e.dir, "small")
	brBackup(t, e.ds, "", core.Group{Type: core.TypeHost, ID: "fromcli"}, brT0+9000, "root.pxar:"+small)
	poll()
	after := brCells(v.list)
	if len(after) != len(before)+1 || !strings.Contains(strings.Join(after, " "), "host/fromcli") {
		t.Fatalf("after a poll: %q (before %q)", after, before)
	}
	for _, row := range v.list.Rows() {
		if strings.Contains(row.Cells[0], "host/fromcli") && (row.Cells[1] != "1" || row.Cells[2] == "-") {
			t.Errorf("the new group shows as %q", row.Cells)
		}
	}
	// Nothing changed: a poll does not reload.
	loads := v.seq
	poll()
	if v.seq != loads {
		t.Error("a poll without changes reloaded the list")
	}
	// A forget elsewhere; ctrl+r shows it.
	if err := e.ds.ForgetSnapshot("", core.Snapshot{Group: core.Group{Type: core.TypeHost, ID: "fromcli"}, Time: brT0 + 9000}); err != nil {
		t.Fatal(err)
	}
	_, cmd := r.Update(uitest.Key("ctrl+r"))
	uitest.Pump(t, r, cmd, nil)
	if got := brCells(v.list); strings.Contains(strings.Join(got, " "), "host/fromcli") {
		t.Errorf("ctrl+r did not reload: %q", got)
	}
}

// TestListsReloadAfterAPrune pins issue 17 item 5: after a prune, the
// group list still showed the old count. Coming back to it reloads it.
func TestListsReloadAfterAPrune(t *testing.T) {
	e := newBrEnv(t)
	v := NewGroups(e.c)
	r := ui.NewRoot(e.c, v)
	r.Update(tea.WindowSizeMsg{Width: 100, Height: 30})
	uitest.Pump(t, r, r.Init(), nil)
	count := func() string {
		for _, row := range v.list.Rows() {
			if strings.TrimSpace(row.Cells[0]) == "host/elsa" {
				return row.Cells[1]
			}
		}
		return ""
	}
	if count() != "3" {
		t.Fatalf("host/elsa shows %q snapshots", count())
	}
	r.Update(ui.PushMsg{View: NewPrune(e.c, "", brElsa)})
	// The prune happens (here straight through the repository).
	if _, err := e.ds.Prune("", brElsa, core.KeepOptions{KeepLast: 1}, false); err != nil {
		t.Fatal(err)
	}
	_, cmd := r.Update(ui.PopMsg{})
	uitest.Pump(t, r, cmd, nil)
	if count() != "1" {
		t.Errorf("after the prune and back: host/elsa shows %q snapshots", count())
	}
}

// TestTreeErrorShownOnce pins issue 17 item 13: a catalog that cannot be
// loaded printed its error twice, on the screen and in the status line
// (cut there). It is on the screen once, wrapped, read whole.
func TestTreeErrorShownOnce(t *testing.T) {
	e := newBrEnv(t)
	missing := core.Snapshot{Group: core.Group{Type: core.TypeHost, ID: "a-group-with-a-rather-long-name-that-does-not-exist"}, Time: brT0}
	tr := NewTree(e.c, "", missing, "root.pxar.didx")
	tr.SetSize(60, 20)
	msgs := uitest.Pump(t, tr, tr.Init(), nil)
	if st := brStatuses(msgs); len(st) != 0 {
		t.Errorf("the error went to the status line too: %+v", st)
	}
	if tr.err == nil {
		t.Fatal("no error")
	}
	v := tr.View()
	for _, l := range strings.Split(v, "\n") {
		if w := len([]rune(l)); w > 60 {
			t.Errorf("line of %d cells: %q", w, l)
		}
	}
	if !strings.Contains(strings.Join(strings.Fields(v), ""), strings.Join(strings.Fields(tr.err.Error()), "")) {
		t.Errorf("the view does not hold the whole error %q:\n%s", tr.err, v)
	}
}
