package views

import (
	"context"
	"errors"
	"fmt"
	"path"
	"sort"

	"github.com/charmbracelet/bubbles/key"
	tea "github.com/charmbracelet/bubbletea"

	"cairn/core"
	"cairn/core/catalog"
	"cairn/ui"
)

// version is one snapshot's copy of a file.
type version struct {
	snap    core.Snapshot
	present bool
	size    uint64
	mtime   int64
	err     error
}

// historyLoadedMsg carries the versions of a file across a group.
type historyLoadedMsg struct {
	id       int
	versions []version
	err      error
}

var histories int

// History lists one file's versions across the snapshots of its group,
// read from the catalogs only, and restores any of them.
type History struct {
	c       *ui.Common
	ns      core.Namespace
	snap    core.Snapshot // where the user came from
	archive string
	path    string
	id      int
	list    *ui.List[version]
	loading bool
	restore restorePane
	width   int
	height  int
}

// NewHistory opens the history of an archive-relative file path.
func NewHistory(c *ui.Common, ns core.Namespace, snap core.Snapshot, archive, p string) *History {
	histories++
	l := ui.NewList[version](c, []ui.Column{{Title: "snapshot", Width: 19}, {Title: "size", Width: 10, Right: true}, {Title: "modified", Width: 19}, {Title: "change"}})
	l.Empty = "no versions"
	return &History{c: c, ns: ns, snap: snap, archive: archive, path: p, id: histories, list: l, loading: true, restore: newRestorePane(c)}
}

// Init reads the file's entry from every finished snapshot's catalog.
func (v *History) Init() tea.Cmd {
	c, ns, g, archive, p, id := v.c, v.ns, v.snap.Group, v.archive, v.path, v.id
	return func() tea.Msg {
		list, err := c.Repo.ListSnapshots(ns, &g)
		if err != nil {
			return historyLoadedMsg{id: id, err: err}
		}
		sort.Slice(list, func(i, j int) bool { return list[i].Snapshot.Time > list[j].Snapshot.Time })
		var out []version
		for _, s := range list {
			if !s.Finished {
				continue
			}
			out = append(out, lookupVersion(c, ns, s.Snapshot, archive, p))
		}
		return historyLoadedMsg{id: id, versions: out}
	}
}

func lookupVersion(c *ui.Common, ns core.Namespace, snap core.Snapshot, archive, p string) version {
	v := version{snap: snap}
	s, err := openSnapshot(context.Background(), c, ns, snap)
	if err != nil {
		v.err = err
		return v
	}
	defer s.Close()
	// The archive may be unified in one snapshot and split in another.
	a, err := s.FindPxar(archive)
	if errors.Is(err, core.ErrNotFound) {
		return v
	}
	if err != nil {
		v.err = err
		return v
	}
	e, err := s.CatalogEntry(context.Background(), a, p)
	if errors.Is(err, catalog.ErrNotFound) || (err == nil && e.IsDir()) {
		return v
	}
	if err != nil {
		v.err = err
		return v
	}
	v.present, v.size, v.mtime = true, e.Size, e.Mtime
	return v
}

func (v *History) setRows(vs []version) {
	rows := make([]ui.Row[version], len(vs))
	for i, ver := range vs {
		change := ""
		var older *version
		for j := i + 1; j < len(vs); j++ {
			if vs[j].err == nil {
				older = &vs[j]
				break
			}
		}
		switch {
		case ver.err != nil:
			change = "error: " + ver.err.Error()
		case !ver.present:
			change = "absent"
		case older == nil || !older.present:
			change = "new"
		case older.size != ver.size || older.mtime != ver.mtime:
			change = "changed"
		default:
			change = "unchanged"
		}
		sz, mt := "", ""
		if ver.present {
			sz, mt = size(ver.size), when(ver.mtime)
		}
		rows[i] = ui.Row[version]{Cells: []string{when(ver.snap.Time), sz, mt, change}, Data: ver, Dim: !ver.present}
	}
	v.list.SetRows(rows)
}

// Update handles keys, the versions and a restore.
func (v *History) Update(msg tea.Msg) (tea.Model, tea.Cmd) {
	switch msg := msg.(type) {
	case historyLoadedMsg:
		if msg.id != v.id {
			return v, nil
		}
		v.loading = false
		if msg.err != nil {
			return v, ui.Error(msg.err)
		}
		v.setRows(msg.versions)
		v.list.SelectWhere(func(r ui.Row[version]) bool { return r.Data.snap == v.snap })
		return v, nil
	case ui.JobMsg:
		_, _, cmd := v.restore.update(msg)
		v.layout()
		return v, cmd
	case tea.MouseMsg:
		v.list.Update(ui.MouseAt(msg, 1)) // below the title line
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
		switch {
		case key.Matches(msg, k.Back):
			return v, ui.Pop()
		case key.Matches(msg, k.Open), key.Matches(msg, k.Restore):
			row, ok := v.list.Selected()
			if !ok || !row.Data.present {
				return v, ui.Status("this snapshot has no copy of the file")
			}
			snap := row.Data.snap
			return v, v.restore.ask(fmt.Sprintf("Restore %s from %s to directory:", path.Base(v.path), snap.TimeString()), defaultTarget(snap, path.Base(v.path)),
				func(target string) *restoreJob {
					return newRestoreJob(v.c, v.ns, snap, v.archive, target, []string{v.path})
				})
		}
	}
	return v, nil
}

// layout gives the list what the title and a restore leave.
func (v *History) layout() {
	v.list.SetSize(v.width, max(v.height-1-v.restore.rows(), 3))
}

// Capturing reports whether text is being typed.
func (v *History) Capturing() bool { return v.list.Filtering() || v.restore.capturing() }

// View draws the versions.
func (v *History) View() string {
	s := v.c.Styles
	head := s.Title.Render("History of /" + v.path)
	if v.loading {
		return head + "\n" + s.Dim.Render("reading the catalogs of the group's snapshots…")
	}
	return head + "\n" + v.list.View() + v.restore.view()
}

// SetSize sets the area.
func (v *History) SetSize(w, h int) {
	v.width, v.height = w, h
	v.layout()
	v.restore.setWidth(w)
}

// Title names the file.
func (v *History) Title() string { return "history " + path.Base(v.path) }

// ShortHelp lists the main keys.
func (v *History) ShortHelp() []key.Binding {
	k := v.c.Keys
	return []key.Binding{k.Restore, k.Back, k.Find}
}

// FullHelp lists every key of the screen.
func (v *History) FullHelp() [][]key.Binding {
	k := v.c.Keys
	return [][]key.Binding{{k.Up, k.Down, k.Home, k.End}, {k.Open, k.Restore, k.Back, k.Find}}
}
