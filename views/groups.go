package views

import (
	"fmt"
	"sort"
	"strings"

	"github.com/charmbracelet/bubbles/key"
	tea "github.com/charmbracelet/bubbletea"

	"cairn/core"
	"cairn/ui"
)

// groupsLoadedMsg carries every namespace with its groups.
type groupsLoadedMsg struct {
	seq   int
	nsets []nsGroups
	err   error
}

// nsGroups is one namespace and the summary of its groups.
type nsGroups struct {
	ns     core.Namespace
	groups []groupSummary
}

type groupSummary struct {
	group core.Group
	count int
	last  int64
	size  uint64
}

// nsRow and groupRow are what the rows of the groups list carry.
type nsRow struct{ ns core.Namespace }
type groupRow struct {
	ns core.Namespace
	g  groupSummary
}

// Groups is the top screen: namespaces as a tree, each with its backup
// groups, snapshot counts, last backup time and total size.
type Groups struct {
	c         *ui.Common
	list      *ui.List
	seq       int
	nsets     []nsGroups
	collapsed map[string]bool
	loading   bool
	err       error
}

// NewGroups makes the top screen.
func NewGroups(c *ui.Common) *Groups {
	l := ui.NewList(c, []ui.Column{{Title: "group"}, {Title: "snapshots", Width: 9, Right: true}, {Title: "last backup", Width: 19}, {Title: "size", Width: 10, Right: true}})
	l.Empty = "no backup groups yet — press b to make a backup"
	return &Groups{c: c, list: l, collapsed: map[string]bool{}, loading: true}
}

// Init loads the groups.
func (v *Groups) Init() tea.Cmd { return v.load() }

func (v *Groups) load() tea.Cmd {
	v.seq++
	seq, repo := v.seq, v.c.Repo
	return func() tea.Msg {
		nss, err := repo.ListNamespaces(core.Namespace(""), -1)
		if err != nil {
			return groupsLoadedMsg{seq: seq, err: err}
		}
		if len(nss) == 0 || !nss[0].IsRoot() {
			nss = append([]core.Namespace{""}, nss...)
		}
		sort.Slice(nss, func(i, j int) bool { return nss[i] < nss[j] })
		var out []nsGroups
		for _, ns := range nss {
			snaps, err := repo.ListSnapshots(ns, nil)
			if err != nil {
				return groupsLoadedMsg{seq: seq, err: err}
			}
			sums := map[core.Group]*groupSummary{}
			for _, s := range snaps {
				g := sums[s.Snapshot.Group]
				if g == nil {
					g = &groupSummary{group: s.Snapshot.Group}
					sums[s.Snapshot.Group] = g
				}
				g.count++
				g.size += s.Size
				if s.Finished && s.Snapshot.Time > g.last {
					g.last = s.Snapshot.Time
				}
			}
			var list []groupSummary
			for _, g := range sums {
				list = append(list, *g)
			}
			sort.Slice(list, func(i, j int) bool { return list[i].group.String() < list[j].group.String() })
			out = append(out, nsGroups{ns: ns, groups: list})
		}
		return groupsLoadedMsg{seq: seq, nsets: out}
	}
}

func (v *Groups) rebuild() {
	var rows []ui.Row
	for _, n := range v.nsets {
		depth := 0
		if !n.ns.IsRoot() {
			depth = strings.Count(string(n.ns), "/") + 1
			icon := "▾ "
			if v.collapsed[string(n.ns)] {
				icon = "▸ "
			}
			hidden := false
			for p := n.ns.Parent(); !p.IsRoot(); p = p.Parent() {
				if v.collapsed[string(p)] {
					hidden = true
				}
			}
			if hidden {
				continue
			}
			rows = append(rows, ui.Row{Cells: []string{strings.Repeat("  ", depth-1) + icon + "ns " + string(n.ns), plural(len(n.groups), "group", "groups"), "", ""}, Data: nsRow{n.ns}, Dir: true})
			if v.collapsed[string(n.ns)] {
				continue
			}
		}
		for _, g := range n.groups {
			rows = append(rows, ui.Row{Cells: []string{strings.Repeat("  ", depth) + g.group.String(), fmt.Sprint(g.count), when(g.last), size(g.size)}, Data: groupRow{n.ns, g}})
		}
	}
	v.list.SetRows(rows)
}

// Update handles keys and loaded data.
func (v *Groups) Update(msg tea.Msg) (tea.Model, tea.Cmd) {
	switch msg := msg.(type) {
	case groupsLoadedMsg:
		if msg.seq != v.seq {
			return v, nil
		}
		v.loading = false
		v.err = msg.err
		if msg.err != nil {
			return v, ui.Error(msg.err)
		}
		v.nsets = msg.nsets
		v.rebuild()
		return v, nil
	case RefreshMsg, BackupDoneMsg:
		return v, v.load()
	case tea.KeyMsg:
		if handled, cmd := v.list.Update(msg); handled {
			return v, cmd
		}
		k := v.c.Keys
		row, ok := v.list.Selected()
		switch {
		case key.Matches(msg, k.Open):
			if !ok {
				return v, nil
			}
			switch d := row.Data.(type) {
			case groupRow:
				return v, ui.Push(NewSnapshots(v.c, d.ns, d.g.group))
			case nsRow:
				v.collapsed[string(d.ns)] = !v.collapsed[string(d.ns)]
				v.rebuild()
			}
		case key.Matches(msg, k.Prune):
			if g, ok := row.Data.(groupRow); ok {
				return v, ui.Push(NewPrune(v.c, g.ns, g.g.group))
			}
			return v, ui.Status("select a group to preview its prune")
		case key.Matches(msg, k.Backup):
			return v, ui.Push(NewBackup(v.c, v.selectedNamespace()))
		case key.Matches(msg, k.GC):
			return v, ui.Push(NewGC(v.c))
		}
	}
	return v, nil
}

// selectedNamespace is the namespace of the highlighted row.
func (v *Groups) selectedNamespace() core.Namespace {
	row, ok := v.list.Selected()
	if !ok {
		return ""
	}
	switch d := row.Data.(type) {
	case groupRow:
		return d.ns
	case nsRow:
		return d.ns
	}
	return ""
}

// Capturing reports whether the filter is open.
func (v *Groups) Capturing() bool { return v.list.Filtering() }

// View draws the list.
func (v *Groups) View() string {
	if v.loading {
		return v.c.Styles.Dim.Render("loading groups…")
	}
	if v.err != nil {
		return v.c.Styles.Error.Render(v.err.Error())
	}
	return v.list.View()
}

// SetSize sets the area.
func (v *Groups) SetSize(w, h int) { v.list.SetSize(w, h) }

// Title is empty: the top screen is the repository itself.
func (v *Groups) Title() string { return "" }

// ShortHelp lists the main keys.
func (v *Groups) ShortHelp() []key.Binding {
	k := v.c.Keys
	return []key.Binding{k.Open, k.Find, k.Prune, k.Backup, k.GC}
}

// FullHelp lists every key of the screen.
func (v *Groups) FullHelp() [][]key.Binding {
	k := v.c.Keys
	return [][]key.Binding{{k.Up, k.Down, k.PageUp, k.PageDown, k.Home, k.End}, {k.Open, k.Find, k.Prune, k.Backup, k.GC}}
}

// RefreshMsg asks views to reload what they show (after a prune, a GC …).
type RefreshMsg struct{}
