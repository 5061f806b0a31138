package views

import (
	"context"
	"sort"

	"github.com/charmbracelet/bubbles/key"
	tea "github.com/charmbracelet/bubbletea"

	"cairn/core"
	"cairn/core/manifest"
	"cairn/core/snapshot"
	"cairn/ui"
)

// archive is one file of a snapshot as the archive list shows it.
type archive struct {
	file manifest.File
	name string // without .didx/.fidx/.blob
	kind string // pxar, img, blob, didx
}

// archivesLoadedMsg carries a snapshot's manifest.
type archivesLoadedMsg struct {
	snap     core.Snapshot
	archives []archive
	err      error
}

// Archives lists the archives of one snapshot: pxar first, then images and
// blobs, with sizes. A pxar archive opens as a catalog tree.
type Archives struct {
	c       *ui.Common
	ns      core.Namespace
	snap    core.SnapshotInfo
	list    *ui.List[archive]
	loading bool
	restore restorePane
	width   int
	height  int
}

// NewArchives opens the archive list of a finished snapshot.
func NewArchives(c *ui.Common, ns core.Namespace, s core.SnapshotInfo) *Archives {
	l := ui.NewList[archive](c, []ui.Column{{Title: "archive"}, {Title: "type", Width: 5}, {Title: "crypt", Width: 9}, {Title: "size", Width: 10, Right: true}})
	l.Empty = "no archives"
	return &Archives{c: c, ns: ns, snap: s, list: l, loading: true, restore: newRestorePane(c)}
}

func kindOf(name manifest.ArchiveName) string {
	switch {
	case name.IsPxar():
		return "pxar"
	case name.IsImage():
		return "img"
	case name.IsBlob():
		return "blob"
	}
	return "data"
}

// payloadOfSplit tells whether name is the payload stream of a split
// archive: its metadata stream's row stands for both.
func payloadOfSplit(s *snapshot.Snapshot, name string) bool {
	if !manifest.ArchiveName(name).IsPayload() {
		return false
	}
	a, err := s.FindPxar(name)
	return err == nil && a.Payload == name
}

var kindOrder = map[string]int{"pxar": 0, "img": 1, "blob": 2, "data": 3}

// openSnapshot opens a snapshot and unlocks it with the key when needed.
func openSnapshot(ctx context.Context, c *ui.Common, ns core.Namespace, snap core.Snapshot) (*snapshot.Snapshot, error) {
	s, err := snapshot.Open(ctx, c.Repo, ns, snap)
	if err != nil {
		return nil, err
	}
	if err := s.Unlock(c.Key, c.KeyExplicit); err != nil {
		s.Close()
		return nil, err
	}
	return s, nil
}

// Init loads the manifest.
func (v *Archives) Init() tea.Cmd {
	c, ns, snap := v.c, v.ns, v.snap.Snapshot
	return func() tea.Msg {
		s, err := snapshot.Open(context.Background(), c.Repo, ns, snap)
		if err != nil {
			return archivesLoadedMsg{snap: snap, err: err}
		}
		defer s.Close()
		var out []archive
		for _, f := range s.Manifest.Files {
			if f.Filename == manifest.CatalogName || payloadOfSplit(s, f.Filename) {
				continue
			}
			if a, err := s.FindPxar(f.Filename); err == nil && a.Split() {
				f.Size = a.Size // the pair is one archive
			}
			name := manifest.ArchiveName(f.Filename)
			out = append(out, archive{file: f, name: name.Plain(), kind: kindOf(name)})
		}
		sort.SliceStable(out, func(i, j int) bool {
			if kindOrder[out[i].kind] != kindOrder[out[j].kind] {
				return kindOrder[out[i].kind] < kindOrder[out[j].kind]
			}
			return out[i].name < out[j].name
		})
		return archivesLoadedMsg{snap: snap, archives: out}
	}
}

// Update handles keys and loaded data.
func (v *Archives) Update(msg tea.Msg) (tea.Model, tea.Cmd) {
	switch msg := msg.(type) {
	case archivesLoadedMsg:
		if msg.snap != v.snap.Snapshot {
			return v, nil
		}
		v.loading = false
		if msg.err != nil {
			return v, ui.Error(msg.err)
		}
		rows := make([]ui.Row[archive], len(msg.archives))
		for i, a := range msg.archives {
			rows[i] = ui.Row[archive]{Cells: []string{a.name, a.kind, a.file.CryptMode, size(a.file.Size)}, Data: a, Dir: a.kind == "pxar"}
		}
		v.list.SetRows(rows)
		return v, nil
	case ui.JobMsg:
		_, _, cmd := v.restore.update(msg)
		v.layout()
		return v, cmd
	case tea.MouseMsg:
		v.list.Update(msg)
		return v, nil
	case tea.KeyMsg:
		defer v.layout()
		if handled, _, cmd := v.restore.update(msg); handled {
			return v, cmd
		}
		if handled, cmd := v.list.Update(msg); handled {
			return v, cmd
		}
		k := v.c.Keys
		row, ok := v.list.Selected()
		switch {
		case key.Matches(msg, k.Back):
			return v, ui.Pop()
		case key.Matches(msg, k.Open):
			if !ok {
				return v, nil
			}
			a := row.Data
			if a.kind == "pxar" {
				return v, ui.Push(NewTree(v.c, v.ns, v.snap.Snapshot, a.file.Filename))
			}
			return v, v.askRestore(a)
		case key.Matches(msg, k.Restore):
			if ok {
				return v, v.askRestore(row.Data)
			}
		}
	}
	return v, nil
}

func (v *Archives) askRestore(a archive) tea.Cmd {
	label := "Restore " + a.name + " to file:"
	if a.kind == "pxar" {
		label = "Restore all of " + a.name + " to directory:"
	}
	return v.restore.ask(label, defaultTarget(v.snap.Snapshot, a.name), func(target string) *restoreJob {
		return newRestoreJob(v.c, v.ns, v.snap.Snapshot, a.file.Filename, target, nil)
	})
}

// Capturing reports whether text is being typed.
func (v *Archives) Capturing() bool { return v.list.Filtering() || v.restore.capturing() }

// View draws the list, a prompt or a running restore.
func (v *Archives) View() string {
	if v.loading {
		return v.c.Styles.Dim.Render("loading manifest…")
	}
	return v.list.View() + v.restore.view()
}

// SetSize sets the area.
func (v *Archives) SetSize(w, h int) {
	v.width, v.height = w, h
	v.layout()
	v.restore.setWidth(w)
}

// layout gives the list what the prompt or a running restore leave.
func (v *Archives) layout() {
	v.list.SetSize(v.width, max(v.height-v.restore.rows(), 3))
}

// Title is the snapshot time.
func (v *Archives) Title() string { return v.snap.Snapshot.TimeString() }

// ShortHelp lists the main keys.
func (v *Archives) ShortHelp() []key.Binding {
	k := v.c.Keys
	return []key.Binding{k.Open, k.Back, k.Find, k.Restore}
}

// FullHelp lists every key of the screen.
func (v *Archives) FullHelp() [][]key.Binding {
	k := v.c.Keys
	return [][]key.Binding{{k.Up, k.Down, k.Home, k.End}, {k.Open, k.Back, k.Find, k.Restore}}
}
