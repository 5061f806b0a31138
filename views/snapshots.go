package views

import (
	"sort"
	"strings"

	"github.com/charmbracelet/bubbles/key"
	tea "github.com/charmbracelet/bubbletea"

	"cairn/core"
	"cairn/core/manifest"
	"cairn/ui"
)

// snapshotsLoadedMsg carries a group's snapshots.
type snapshotsLoadedMsg struct {
	seq   int
	ns    core.Namespace
	group core.Group
	list  []core.SnapshotInfo
	err   error
}

// protectedMsg reports a changed protection flag.
type protectedMsg struct {
	snap core.Snapshot
	err  error
}

// Snapshots lists one group's snapshots, newest first, with size,
// archives, protection, encryption and verify state.
type Snapshots struct {
	c       *ui.Common
	ns      core.Namespace
	group   core.Group
	list    *ui.List[core.SnapshotInfo]
	seq     int
	loading bool
}

// NewSnapshots opens the snapshot list of a group.
func NewSnapshots(c *ui.Common, ns core.Namespace, g core.Group) *Snapshots {
	l := ui.NewList[core.SnapshotInfo](c, snapshotColumns(9))
	l.Empty = "no snapshots"
	return &Snapshots{c: c, ns: ns, group: g, list: l, loading: true}
}

// snapshotColumns are the list's columns; the crypt column widens when it
// says why a snapshot cannot be read ("bad password").
func snapshotColumns(crypt int) []ui.Column {
	return []ui.Column{{Title: "time", Width: 19}, {Title: "size", Width: 10, Right: true}, {Title: "archives"}, {Title: "prot", Width: 4}, {Title: "crypt", Width: crypt}, {Title: "verify", Width: 6}}
}

// Init loads the snapshots.
func (v *Snapshots) Init() tea.Cmd { return v.load() }

func (v *Snapshots) load() tea.Cmd {
	v.seq++
	seq, repo, ns, g := v.seq, v.c.Repo, v.ns, v.group
	return func() tea.Msg {
		list, err := repo.ListSnapshots(ns, &g)
		return snapshotsLoadedMsg{seq: seq, ns: ns, group: g, list: list, err: err}
	}
}

func archiveNames(files []core.FileInfo) []string {
	stored := map[string]bool{}
	for _, f := range files {
		stored[f.Filename] = true
	}
	var out []string
	for _, f := range files {
		n := manifest.ArchiveName(f.Filename)
		if f.Filename == manifest.CatalogName || f.Filename == manifest.BlobName {
			continue
		}
		// A split archive shows as its metadata stream, NAME.mpxar.
		if meta, _ := n.Split(); n.IsPayload() && stored[meta] {
			continue
		}
		out = append(out, n.Plain())
	}
	return out
}

func cryptOf(s core.SnapshotInfo) string {
	mode := "none"
	for _, f := range s.Files {
		if f.CryptMode == "encrypt" {
			mode = "encrypt"
			break
		}
		if f.CryptMode == "sign-only" {
			mode = "sign-only"
		}
	}
	return mode
}

func (v *Snapshots) setRows(list []core.SnapshotInfo) {
	sort.Slice(list, func(i, j int) bool { return list[i].Snapshot.Time > list[j].Snapshot.Time })
	rows := make([]ui.Row[core.SnapshotInfo], 0, len(list))
	cryptWidth := 9
	for _, s := range list {
		prot, verify := "", "-"
		if s.Protected {
			prot = "yes"
		}
		if s.Verification != nil {
			verify = s.Verification.State
		}
		sz := "-"
		if s.HasSize {
			sz = size(s.Size)
		}
		// The time column holds a time; that a snapshot is unfinished is
		// said where its archives would be, so no width cuts it off.
		archives := strings.Join(archiveNames(s.Files), " ")
		if !s.Finished {
			archives = "(unfinished) " + archives
		}
		crypt := cryptOf(s)
		if crypt == "encrypt" {
			if why := lockReason(v.c, s.Fingerprint); why != "" {
				crypt = why
				cryptWidth = max(cryptWidth, len(why))
			}
		}
		rows = append(rows, ui.Row[core.SnapshotInfo]{Cells: []string{when(s.Snapshot.Time), sz, strings.TrimSpace(archives), prot, crypt, verify}, Data: s, Dim: !s.Finished})
	}
	v.list.SetColumns(snapshotColumns(cryptWidth))
	v.list.SetRows(rows)
}

// Update handles keys and loaded data.
func (v *Snapshots) Update(msg tea.Msg) (tea.Model, tea.Cmd) {
	switch msg := msg.(type) {
	case snapshotsLoadedMsg:
		if msg.seq != v.seq || msg.group != v.group || msg.ns != v.ns {
			return v, nil
		}
		v.loading = false
		if msg.err != nil {
			return v, ui.Error(msg.err)
		}
		v.setRows(msg.list)
		return v, nil
	case protectedMsg:
		if msg.err != nil {
			return v, tea.Batch(ui.Error(msg.err), v.load())
		}
		return v, v.load()
	case RefreshMsg, BackupDoneMsg:
		return v, v.load()
	case tea.MouseMsg:
		_, cmd := v.list.Update(msg)
		return v, cmd
	case tea.KeyMsg:
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
			s := row.Data
			if !s.Finished {
				return v, ui.Status("this snapshot is unfinished: it has no manifest to open")
			}
			return v, ui.Push(NewArchives(v.c, v.ns, s))
		case key.Matches(msg, k.Prune):
			return v, ui.Push(NewPrune(v.c, v.ns, v.group))
		case key.Matches(msg, k.Backup):
			return v, ui.Push(NewBackup(v.c, v.ns))
		case key.Matches(msg, k.Protect):
			if !ok {
				return v, nil
			}
			s := row.Data
			repo, ns := v.c.Repo, v.ns
			return v, func() tea.Msg {
				return protectedMsg{snap: s.Snapshot, err: repo.SetProtected(ns, s.Snapshot, !s.Protected)}
			}
		}
	}
	return v, nil
}

// Capturing reports whether the filter is open.
func (v *Snapshots) Capturing() bool { return v.list.Filtering() }

// View draws the list.
func (v *Snapshots) View() string {
	if v.loading {
		return v.c.Styles.Dim.Render("loading snapshots…")
	}
	return v.list.View()
}

// SetSize sets the area.
func (v *Snapshots) SetSize(w, h int) { v.list.SetSize(w, h) }

// Title is the namespace and group.
func (v *Snapshots) Title() string {
	if v.ns.IsRoot() {
		return v.group.String()
	}
	return "ns " + string(v.ns) + " › " + v.group.String()
}

// ShortHelp lists the main keys.
func (v *Snapshots) ShortHelp() []key.Binding {
	k := v.c.Keys
	return []key.Binding{k.Open, k.Back, k.Find, k.Prune, k.Protect}
}

// FullHelp lists every key of the screen.
func (v *Snapshots) FullHelp() [][]key.Binding {
	k := v.c.Keys
	return [][]key.Binding{{k.Up, k.Down, k.PageUp, k.PageDown, k.Home, k.End}, {k.Open, k.Back, k.Find, k.Prune, k.Protect, k.Backup}}
}
