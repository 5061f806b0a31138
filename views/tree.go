package views

import (
	"bytes"
	"context"
	"fmt"
	"path"
	"sort"
	"strings"

	"github.com/charmbracelet/bubbles/key"
	tea "github.com/charmbracelet/bubbletea"

	"cairn/core"
	"cairn/core/catalog"
	"cairn/core/manifest"
	"cairn/ui"
)

// catalogLoadedMsg carries the snapshot's catalog, ready for lookups.
type catalogLoadedMsg struct {
	snap    core.Snapshot
	archive string
	reader  *catalog.Reader
	root    catalog.Entry
	err     error
}

// entryRow is what a row of the tree carries.
type entryRow struct {
	path  string // archive-relative, e.g. etc/hostname
	entry catalog.Entry
}

// mark is a marked entry with the bytes it stands for.
type mark struct {
	dir  bool
	size uint64
}

// Tree browses a pxar archive through the snapshot's catalog only, one
// directory at a time; it finds across the whole archive, marks entries
// and restores the marked ones.
type Tree struct {
	c       *ui.Common
	ns      core.Namespace
	snap    core.Snapshot
	archive string // stored name, e.g. root.pxar.didx, or root.mpxar.didx when split

	reader  *catalog.Reader
	root    catalog.Entry
	dir     []string // components of the current directory
	cache   map[string][]catalog.Entry
	list    *ui.List[entryRow]
	loading bool
	err     error

	marks   map[string]mark
	find    *finder
	restore restorePane
	width   int
	height  int
}

// NewTree opens the catalog tree of a pxar archive.
func NewTree(c *ui.Common, ns core.Namespace, snap core.Snapshot, archive string) *Tree {
	l := ui.NewList[entryRow](c, []ui.Column{{Title: "name"}, {Title: "type", Width: 4}, {Title: "size", Width: 10, Right: true}, {Title: "modified", Width: 19}})
	l.Empty = "(empty directory)"
	t := &Tree{c: c, ns: ns, snap: snap, archive: archive, cache: map[string][]catalog.Entry{}, list: l,
		loading: true, marks: map[string]mark{}, restore: newRestorePane(c)}
	l.IsMarked = func(r ui.Row[entryRow]) bool {
		e := r.Data
		_, m := t.marks[e.path]
		return m || t.underMark(e.path)
	}
	t.find = newFinder(c, t)
	return t
}

// Init loads the catalog.
func (v *Tree) Init() tea.Cmd {
	c, ns, snap, archive := v.c, v.ns, v.snap, v.archive
	return func() tea.Msg {
		s, err := openSnapshot(context.Background(), c, ns, snap)
		if err != nil {
			return catalogLoadedMsg{snap: snap, archive: archive, err: err}
		}
		defer s.Close()
		a, err := s.FindPxar(archive)
		if err != nil {
			return catalogLoadedMsg{snap: snap, archive: archive, err: err}
		}
		// Split archives have no stored catalog: it is rebuilt from their
		// metadata streams.
		r, err := s.Catalog(context.Background())
		if err != nil {
			return catalogLoadedMsg{snap: snap, archive: archive, err: err}
		}
		root, err := r.Lookup("/" + a.Meta)
		if err != nil {
			return catalogLoadedMsg{snap: snap, archive: archive, err: err}
		}
		return catalogLoadedMsg{snap: snap, archive: archive, reader: r, root: root}
	}
}

func (v *Tree) dirPath() string { return strings.Join(v.dir, "/") }

// entries reads a directory of the archive through the in-memory catalog.
func (v *Tree) entries(dir []string) ([]catalog.Entry, error) {
	key := strings.Join(dir, "/")
	if e, ok := v.cache[key]; ok {
		return e, nil
	}
	cur := v.root
	for _, comp := range dir {
		kids, err := v.reader.ReadDir(cur)
		if err != nil {
			return nil, err
		}
		found := false
		for _, k := range kids {
			if string(k.Name) == comp {
				cur, found = k, true
				break
			}
		}
		if !found || !cur.IsDir() {
			return nil, fmt.Errorf("%s: no such directory in the catalog", strings.Join(dir, "/"))
		}
	}
	list, err := v.reader.ReadDir(cur)
	if err != nil {
		return nil, err
	}
	sort.SliceStable(list, func(i, j int) bool {
		if list[i].IsDir() != list[j].IsDir() {
			return list[i].IsDir()
		}
		return bytes.Compare(list[i].Name, list[j].Name) < 0
	})
	v.cache[key] = list
	return list, nil
}

// openDir shows a directory, selecting name when given.
func (v *Tree) openDir(dir []string, selectName string) tea.Cmd {
	list, err := v.entries(dir)
	if err != nil {
		return ui.Error(err)
	}
	v.dir = dir
	rows := make([]ui.Row[entryRow], 0, len(list))
	for _, e := range list {
		p := path.Join(v.dirPath(), string(e.Name))
		name := string(e.Name)
		sz, mt := "", ""
		if e.IsDir() {
			name += "/"
		}
		if e.Type == catalog.TypeFile {
			sz, mt = size(e.Size), when(e.Mtime)
		}
		rows = append(rows, ui.Row[entryRow]{Cells: []string{name, e.Type.String(), sz, mt}, Data: entryRow{path: p, entry: e}, Dir: e.IsDir()})
	}
	v.list.SetRows(rows)
	if selectName != "" {
		v.list.SelectWhere(func(r ui.Row[entryRow]) bool { return string(r.Data.entry.Name) == selectName })
	} else {
		v.list.SelectWhere(func(ui.Row[entryRow]) bool { return true })
	}
	return nil
}

// underMark tells whether a marked directory contains p.
func (v *Tree) underMark(p string) bool {
	for dir := path.Dir(p); dir != "." && dir != "/"; dir = path.Dir(dir) {
		if m, ok := v.marks[dir]; ok && m.dir {
			return true
		}
	}
	return false
}

// subtreeSize adds up the file sizes below a directory entry.
func (v *Tree) subtreeSize(e catalog.Entry) uint64 {
	var total uint64
	stack := []catalog.Entry{e}
	for len(stack) > 0 && len(stack) < 1<<20 {
		d := stack[len(stack)-1]
		stack = stack[:len(stack)-1]
		kids, err := v.reader.ReadDir(d)
		if err != nil {
			continue
		}
		for _, k := range kids {
			if k.IsDir() {
				stack = append(stack, k)
			} else {
				total += k.Size
			}
		}
	}
	return total
}

func (v *Tree) toggleMark() tea.Cmd {
	row, ok := v.list.Selected()
	if !ok {
		return nil
	}
	e := row.Data
	return v.toggle(e.path, e.entry)
}

func (v *Tree) markSummary() (int, uint64) {
	var total uint64
	for _, m := range v.marks {
		total += m.size
	}
	return len(v.marks), total
}

func (v *Tree) markedPaths() []string {
	out := make([]string, 0, len(v.marks))
	for p := range v.marks {
		out = append(out, p)
	}
	sort.Strings(out)
	return out
}

// Update handles keys, the catalog, searches and the restore job.
func (v *Tree) Update(msg tea.Msg) (tea.Model, tea.Cmd) {
	switch msg := msg.(type) {
	case catalogLoadedMsg:
		if msg.snap != v.snap || msg.archive != v.archive {
			return v, nil
		}
		v.loading = false
		if msg.err != nil {
			v.err = msg.err // shown in the view, wrapped: once
			return v, nil
		}
		v.reader, v.root = msg.reader, msg.root
		return v, v.openDir(nil, "")
	case pathsIndexedMsg, findResultMsg:
		return v, v.find.update(msg)
	case ui.JobMsg:
		_, finished, cmd := v.restore.update(msg)
		if finished != nil && finished.err == nil {
			v.marks = map[string]mark{} // restored: start afresh
		}
		v.layout()
		return v, cmd
	case tea.MouseMsg:
		if v.find.active {
			v.find.mouse(msg)
		} else if v.reader != nil {
			v.list.Update(ui.MouseAt(msg, 1)) // below the path line
		}
		return v, nil
	case tea.KeyMsg:
		cmd := v.key(msg)
		v.layout()
		return v, cmd
	}
	return v, nil
}

// layout gives the list what the prompt or a running restore leave.
func (v *Tree) layout() {
	v.list.SetSize(v.width, max(v.height-1-v.restore.rows(), 3))
}

func (v *Tree) key(msg tea.KeyMsg) tea.Cmd {
	k := v.c.Keys
	if v.find.active {
		act, jump, cmd := v.find.key(msg)
		switch act {
		case findJump:
			dir, name := path.Split(jump)
			var comps []string
			if d := strings.Trim(dir, "/"); d != "" {
				comps = strings.Split(d, "/")
			}
			return tea.Batch(cmd, v.openDir(comps, name))
		case findRestore:
			return tea.Batch(cmd, v.askRestore())
		}
		return cmd
	}
	if handled, _, cmd := v.restore.update(msg); handled {
		return cmd
	}
	if v.reader == nil {
		if key.Matches(msg, k.Back) {
			return ui.Pop()
		}
		return nil
	}
	// "/" searches the whole archive here, not just the list.
	if key.Matches(msg, k.Find) {
		return v.find.open(v.reader, v.root)
	}
	if handled, cmd := v.list.Update(msg); handled {
		return cmd
	}
	row, ok := v.list.Selected()
	switch {
	case key.Matches(msg, k.Back):
		if len(v.dir) == 0 {
			return ui.Pop()
		}
		leaving := v.dir[len(v.dir)-1]
		return v.openDir(v.dir[:len(v.dir)-1], leaving)
	case key.Matches(msg, k.Open):
		if ok && row.Data.entry.IsDir() {
			return v.openDir(append(append([]string{}, v.dir...), string(row.Data.entry.Name)), "")
		}
	case key.Matches(msg, k.Mark):
		cmd := v.toggleMark()
		v.list.Update(tea.KeyMsg{Type: tea.KeyDown})
		return cmd
	case key.Matches(msg, k.Restore):
		return v.askRestore()
	case key.Matches(msg, k.History):
		if ok && !row.Data.entry.IsDir() {
			return ui.Push(NewHistory(v.c, v.ns, v.snap, v.archive, row.Data.path))
		}
		return ui.Status("history is for files: select a file")
	}
	return nil
}

// askRestore asks for a target and restores the marked entries there.
func (v *Tree) askRestore() tea.Cmd {
	n, total := v.markSummary()
	if n == 0 {
		return ui.Status("nothing marked: mark entries with space (in the find: tab) first")
	}
	return v.restore.ask(fmt.Sprintf("Restore %s (%s) to directory:", plural(n, "marked entry", "marked entries"), size(total)),
		defaultTarget(v.snap, manifest.ArchiveName(v.archive).Plain()),
		func(target string) *restoreJob {
			return newRestoreJob(v.c, v.ns, v.snap, v.archive, target, v.markedPaths())
		})
}

// Capturing reports whether text is being typed.
func (v *Tree) Capturing() bool { return v.list.Filtering() || v.restore.capturing() || v.find.active }

// View draws the breadcrumb path, the directory, marks and any prompt.
func (v *Tree) View() string {
	s := v.c.Styles
	if v.loading {
		return s.Dim.Render("loading catalog…")
	}
	if v.err != nil {
		return wrapText(v.err.Error(), v.width, s.Error)
	}
	if v.find.active {
		return v.find.view()
	}
	n, total := v.markSummary()
	marks := ""
	if n > 0 {
		marks = "   " + fmt.Sprintf("%s marked, %s", plural(n, "entry", "entries"), size(total))
	}
	// A deep path is cut in its middle: where you are stays in sight.
	head := s.Crumb.Render(ui.CutMiddle("/"+v.dirPath(), max(v.width-len([]rune(marks)), 10)))
	if marks != "" {
		head += s.Marked.Render(marks)
	}
	out := head + "\n" + v.list.View()
	out += v.restore.view()
	return out
}

// SetSize sets the area.
func (v *Tree) SetSize(w, h int) {
	v.width, v.height = w, h
	v.layout()
	v.restore.setWidth(w)
	v.find.setSize(w, h)
}

// Title is the archive and the directory.
func (v *Tree) Title() string {
	t := manifest.ArchiveName(v.archive).Plain()
	if len(v.dir) > 0 {
		t += " › " + v.dirPath()
	}
	return t
}

// ShortHelp lists the main keys.
func (v *Tree) ShortHelp() []key.Binding {
	k := v.c.Keys
	if v.find.active {
		return v.find.help()
	}
	return []key.Binding{k.Open, k.Back, k.Find, k.Mark, k.Restore, k.History}
}

// FullHelp lists every key of the screen.
func (v *Tree) FullHelp() [][]key.Binding {
	k := v.c.Keys
	if v.find.active {
		return [][]key.Binding{{k.Up, k.Down, k.PageUp, k.PageDown, k.Home, k.End}, v.find.help(), {k.Mark, k.Clear}}
	}
	return [][]key.Binding{{k.Up, k.Down, k.PageUp, k.PageDown, k.Home, k.End}, {k.Open, k.Back, k.Find, k.Mark, k.Restore, k.History}}
}
