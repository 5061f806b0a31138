package views

import (
	"fmt"
	"slices"
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
	size  uint64 // logical: the snapshots' sizes added, before deduplication
	enc   int    // encrypted snapshots
	fps   []string
}

// groupRow is what a row of the groups list carries: a backup group of
// namespace ns, or the namespace's own row (ns set, no group).
type groupRow struct {
	ns   core.Namespace
	g    groupSummary
	isNS bool // the namespace's row: g is empty
}

// Groups is the top screen: namespaces as a tree, each with its backup
// groups, snapshot counts, last backup time, logical size and, when a
// group is encrypted, whether the loaded key reads it.
type Groups struct {
	c         *ui.Common
	list      *ui.List[groupRow]
	seq       int
	nsets     []nsGroups
	collapsed map[string]bool
	loading   bool
	err       error
	pollSig   string // what the last poll saw (refresh.go)

	keyPrompt     *ui.KeyPrompt
	locked        int // encrypted groups the loaded key cannot read
	width, height int
}

// NewGroups makes the top screen.
func NewGroups(c *ui.Common) *Groups {
	l := ui.NewList[groupRow](c, groupColumns(false))
	l.Empty = "no backup groups yet — press b to make a backup"
	return &Groups{c: c, list: l, collapsed: map[string]bool{}, loading: true, keyPrompt: ui.NewKeyPrompt(c), width: 80, height: 21}
}

// groupColumns are the list's columns; the encryption column shows when
// a group is encrypted. The size is logical: the snapshots' sizes added,
// as if nothing were shared between them.
func groupColumns(withCrypt bool) []ui.Column {
	cols := []ui.Column{{Title: "group"}, {Title: "snapshots", Width: 9, Right: true}, {Title: "last backup", Width: 19}, {Title: "logical size", Width: 12, Right: true}}
	if withCrypt {
		cols = append(cols, ui.Column{Title: "encryption", Width: 12})
	}
	return cols
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
				if encrypted(s) {
					g.enc++
					if s.Fingerprint != "" && !slices.Contains(g.fps, s.Fingerprint) {
						g.fps = append(g.fps, s.Fingerprint)
					}
				}
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
	var rows []ui.Row[groupRow]
	withCrypt := false
	v.locked = 0
	for _, n := range v.nsets {
		for _, g := range n.groups {
			if g.enc > 0 {
				withCrypt = true
				if v.lock(g) != "" {
					v.locked++
				}
			}
		}
	}
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
			// The count of groups is a note after the name: the columns
			// hold the groups' figures.
			rows = append(rows, ui.Row[groupRow]{Cells: []string{strings.Repeat("  ", depth-1) + icon + "ns " + string(n.ns), "", "", ""},
				Note: plural(len(n.groups), "group", "groups"), Data: groupRow{ns: n.ns, isNS: true}, Dir: true})
			if v.collapsed[string(n.ns)] {
				continue
			}
		}
		for _, g := range n.groups {
			cells := []string{strings.Repeat("  ", depth) + g.group.String(), fmt.Sprint(g.count), when(g.last), size(g.size)}
			if withCrypt {
				cells = append(cells, v.cryptCell(g))
			}
			rows = append(rows, ui.Row[groupRow]{Cells: cells, Data: groupRow{ns: n.ns, g: g}})
		}
	}
	v.list.SetColumns(groupColumns(withCrypt))
	v.list.SetRows(rows)
	v.layout()
}

// lock says why a group's encrypted snapshots cannot be read, "" when
// they can (or it has none).
func (v *Groups) lock(g groupSummary) string {
	if g.enc == 0 {
		return ""
	}
	if len(g.fps) == 0 {
		return lockReason(v.c, "")
	}
	// Readable when the key opens any of them; snapshots made with
	// other keys say so in the snapshot list.
	reason := ""
	for _, fp := range g.fps {
		r := lockReason(v.c, fp)
		if r == "" {
			return ""
		}
		reason = r
	}
	return reason
}

// cryptCell is the encryption column of a group.
func (v *Groups) cryptCell(g groupSummary) string {
	switch {
	case g.enc == 0:
		return "-"
	case v.lock(g) != "":
		return v.lock(g)
	}
	return "encrypted"
}

// banner is the line about unreadable groups above the list, "" for none.
func (v *Groups) banner() string { return keyBanner(v.c, v.locked, v.width) }

// layout gives the list what the banner and the key prompt leave.
func (v *Groups) layout() {
	h := v.height
	if v.banner() != "" {
		h--
	}
	if v.keyPrompt.Active() {
		h -= 3
	}
	v.list.SetSize(v.width, max(h, 3))
	v.keyPrompt.SetWidth(v.width)
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
	case groupsPolledMsg:
		return v, v.polled(msg)
	case ui.KeyUnlockedMsg:
		if msg.Prompt != v.keyPrompt {
			return v, nil
		}
		cmd := v.keyPrompt.Apply(msg)
		v.rebuild()
		return v, cmd
	case tea.MouseMsg:
		if v.banner() != "" {
			msg = ui.MouseAt(msg, 1)
		}
		_, cmd := v.list.Update(msg)
		return v, cmd
	case tea.KeyMsg:
		if v.keyPrompt.Active() {
			cmd := v.keyPrompt.Update(msg)
			v.layout()
			return v, cmd
		}
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
			if d := row.Data; d.isNS {
				v.collapsed[string(d.ns)] = !v.collapsed[string(d.ns)]
				v.rebuild()
			} else {
				return v, ui.Push(NewSnapshots(v.c, d.ns, d.g.group))
			}
		case key.Matches(msg, k.Prune):
			if g := row.Data; ok && !g.isNS {
				return v, ui.Push(NewPrune(v.c, g.ns, g.g.group))
			}
			return v, ui.Status("select a group to preview its prune")
		case key.Matches(msg, k.Backup):
			return v, ui.Push(NewBackup(v.c, v.selectedNamespace()))
		case key.Matches(msg, k.GC):
			return v, ui.Push(NewGC(v.c))
		case key.Matches(msg, k.LoadKey):
			cmd := v.keyPrompt.Open()
			v.layout()
			return v, cmd
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
	return row.Data.ns
}

// Capturing reports whether the filter or the key prompt is open.
func (v *Groups) Capturing() bool { return v.list.Filtering() || v.keyPrompt.Active() }

// View draws the list.
func (v *Groups) View() string {
	if v.loading {
		return v.c.Styles.Dim.Render("loading groups…")
	}
	if v.err != nil {
		return v.c.Styles.Error.Render(v.err.Error())
	}
	out := v.list.View()
	if b := v.banner(); b != "" {
		out = v.c.Styles.Warn.Render(b) + "\n" + out
	}
	if v.keyPrompt.Active() {
		out += "\n" + v.keyPrompt.View()
	}
	return out
}

// SetSize sets the area.
func (v *Groups) SetSize(w, h int) {
	v.width, v.height = w, h
	v.layout()
}

// Title is empty: the top screen is the repository itself.
func (v *Groups) Title() string { return "" }

// ShortHelp lists the main keys.
func (v *Groups) ShortHelp() []key.Binding {
	k := v.c.Keys
	if v.locked > 0 {
		return []key.Binding{k.Open, k.Find, k.LoadKey, k.Prune, k.Backup, k.GC}
	}
	return []key.Binding{k.Open, k.Find, k.Prune, k.Backup, k.GC}
}

// FullHelp lists every key of the screen.
func (v *Groups) FullHelp() [][]key.Binding {
	k := v.c.Keys
	return [][]key.Binding{{k.Up, k.Down, k.PageUp, k.PageDown, k.Home, k.End}, {k.Open, k.Find, k.Prune, k.Backup, k.GC, k.LoadKey}}
}

// RefreshMsg asks views to reload what they show (after a prune, a GC …).
type RefreshMsg struct{}
