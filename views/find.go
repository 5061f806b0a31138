package views

import (
	"context"
	"fmt"
	"strings"

	"github.com/charmbracelet/bubbles/key"
	"github.com/charmbracelet/bubbles/textinput"
	tea "github.com/charmbracelet/bubbletea"

	"cairn/core/catalog"
	"cairn/ui"
)

// pathsIndexedMsg carries the fuzzy index of every path of an archive.
type pathsIndexedMsg struct {
	id   int
	ix   *ui.PathIndex
	meta *hitMeta
	err  error
}

// findResultMsg answers one query; seq tells stale answers apart.
type findResultMsg struct {
	id  int
	seq int
	res *ui.SearchResult
}

var finders int

// findLimit is how many of the best hits the result list holds.
const findLimit = 200

// hitMeta is what marking a hit needs of every indexed path: its type,
// and its size or, for a directory, its block in the catalog.
type hitMeta struct {
	typ []catalog.EntryType
	val []uint64
}

// entry is path i as the catalog has it (without its name).
func (m *hitMeta) entry(i int) catalog.Entry {
	e := catalog.Entry{Type: m.typ[i]}
	if e.IsDir() {
		e.Offset = m.val[i]
	} else {
		e.Size = m.val[i]
	}
	return e
}

// findMarks is how the find marks hits: in the tree's marks, so they show
// and restore there too.
type findMarks interface {
	// marked tells whether a path is marked (or inside a marked directory).
	marked(p string) bool
	// toggle marks or unmarks one path.
	toggle(p string, e catalog.Entry) tea.Cmd
	// markAll marks every hit of res.
	markAll(ix *ui.PathIndex, meta *hitMeta, res *ui.SearchResult) tea.Cmd
	// markCount is the number of marks.
	markCount() int
}

// findAction is what a key in the find asks of the tree.
type findAction int

const (
	findNothing findAction = iota
	findJump               // jump to the path
	findRestore            // restore the marked entries
)

// finder is the whole-archive fuzzy find of the catalog tree: it indexes
// every path once, searches on each keystroke in a command, cancels the
// search a newer keystroke made stale, and jumps to the chosen path. Its
// results are a list: tab marks a hit, ctrl+a marks them all, r restores
// the marks. While the query is typed, letters go to it; after a mark,
// letters are the list's keys until / returns to the query.
type finder struct {
	c         *ui.Common
	marks     findMarks
	id        int
	active    bool
	input     textinput.Model
	ix        *ui.PathIndex
	meta      *hitMeta
	last      *ui.SearchResult // newest answer shown
	seq       int
	cancel    context.CancelFunc
	cursor    int
	offset    int
	focusList bool // keys move and mark in the results, not type
	width     int
	height    int
	err       error
}

func newFinder(c *ui.Common, marks findMarks) *finder {
	finders++
	in := textinput.New()
	in.Prompt = "find: "
	in.CharLimit = 256
	return &finder{c: c, marks: marks, id: finders, input: in}
}

func (f *finder) setSize(w, h int) { f.width, f.height = w, h; f.input.Width = max(w-8, 10); f.clamp() }

// open starts the find, indexing the archive the first time.
func (f *finder) open(r *catalog.Reader, root catalog.Entry) tea.Cmd {
	f.active, f.focusList = true, false
	f.input.SetValue("")
	f.input.Focus()
	f.last, f.cursor, f.offset = nil, 0, 0
	if f.ix != nil {
		return textinput.Blink
	}
	id := f.id
	return tea.Batch(textinput.Blink, func() tea.Msg {
		ix, meta, err := indexArchive(r, root)
		return pathsIndexedMsg{id: id, ix: ix, meta: meta, err: err}
	})
}

// indexArchive indexes every path below an archive's root, relative to it,
// directory by directory as the catalog holds them.
func indexArchive(r *catalog.Reader, root catalog.Entry) (*ui.PathIndex, *hitMeta, error) {
	type frame struct {
		dir int32
		ent catalog.Entry
	}
	b := ui.NewPathIndexBuilder(1 << 12)
	meta := &hitMeta{}
	stack := []frame{{ui.RootDir, root}}
	seen := map[uint64]bool{root.Offset: true}
	for len(stack) > 0 {
		fr := stack[len(stack)-1]
		stack = stack[:len(stack)-1]
		kids, err := r.ReadDir(fr.ent)
		if err != nil {
			return nil, nil, err
		}
		for _, k := range kids {
			meta.typ = append(meta.typ, k.Type)
			if k.IsDir() {
				meta.val = append(meta.val, k.Offset)
			} else {
				meta.val = append(meta.val, k.Size)
			}
			if k.IsDir() && !seen[k.Offset] {
				seen[k.Offset] = true
				stack = append(stack, frame{b.AddDir(fr.dir, k.Name), k})
				continue
			}
			b.Add(fr.dir, k.Name)
		}
	}
	return b.Index(), meta, nil
}

// search runs the current query in a command, cancelling the previous one.
func (f *finder) search() tea.Cmd {
	if f.cancel != nil {
		f.cancel()
	}
	q := f.input.Value()
	if f.ix == nil || q == "" {
		f.last = nil
		return nil
	}
	f.seq++
	ctx, cancel := context.WithCancel(context.Background())
	f.cancel = cancel
	ix, prev, seq, id := f.ix, f.last, f.seq, f.id
	return func() tea.Msg {
		return findResultMsg{id: id, seq: seq, res: ix.Search(ctx, q, prev, findLimit)}
	}
}

func (f *finder) update(msg tea.Msg) tea.Cmd {
	switch m := msg.(type) {
	case pathsIndexedMsg:
		if m.id != f.id {
			return nil
		}
		f.ix, f.meta, f.err = m.ix, m.meta, m.err
		if m.err != nil {
			return ui.Error(m.err)
		}
		return f.search()
	case findResultMsg:
		if m.id != f.id || m.seq != f.seq || m.res == nil {
			return nil
		}
		f.last = m.res
		f.cursor, f.offset = 0, 0
	}
	return nil
}

// hits is the number of results in the list.
func (f *finder) hits() int {
	if f.last == nil {
		return 0
	}
	return len(f.last.Top)
}

// answer makes sure the results answer the query as typed, searching now
// when the newest answer is not in yet, so no key acts on stale hits.
func (f *finder) answer() {
	if f.ix == nil || f.input.Value() == "" || f.last != nil && f.last.Query == f.input.Value() {
		return
	}
	f.last = f.ix.Search(context.Background(), f.input.Value(), f.last, findLimit)
	f.cursor, f.offset = 0, 0
}

// key handles a key while the find is open: what the tree should do, and
// the path to jump to.
func (f *finder) key(msg tea.KeyMsg) (act findAction, jump string, cmd tea.Cmd) {
	k := f.c.Keys
	switch {
	case msg.Type == tea.KeyEsc:
		f.close()
		return findNothing, "", nil
	case msg.Type == tea.KeyEnter:
		f.answer()
		if f.hits() == 0 {
			return findNothing, "", ui.Status("no match")
		}
		p := f.ix.Path(f.last.Top[f.cursor].Index)
		f.close()
		return findJump, p, nil
	case key.Matches(msg, k.MarkHit), f.focusList && key.Matches(msg, k.Mark):
		f.answer()
		if f.hits() == 0 {
			return findNothing, "", nil
		}
		i := f.last.Top[f.cursor].Index
		cmd := f.marks.toggle(f.ix.Path(i), f.meta.entry(i))
		f.focus(true)
		f.move(1)
		return findNothing, "", cmd
	case key.Matches(msg, k.MarkAll):
		f.answer()
		if f.last == nil || f.last.Total == 0 {
			return findNothing, "", nil
		}
		f.focus(true)
		return findNothing, "", f.marks.markAll(f.ix, f.meta, f.last)
	case msg.Type == tea.KeyUp, msg.Type == tea.KeyDown, msg.Type == tea.KeyPgUp, msg.Type == tea.KeyPgDown,
		f.focusList && f.listKey(msg):
		f.moveKey(msg)
		return findNothing, "", nil
	case f.focusList && key.Matches(msg, k.Restore):
		f.close()
		return findRestore, "", nil
	case f.focusList && key.Matches(msg, k.EditFind):
		f.focus(false)
		return findNothing, "", textinput.Blink
	case key.Matches(msg, k.Clear):
		f.focus(false)
		f.input.SetValue("")
		return findNothing, "", f.search()
	}
	if f.focusList {
		// Any other letter goes on with the query.
		if msg.Type != tea.KeyRunes && msg.Type != tea.KeySpace && msg.Type != tea.KeyBackspace {
			return findNothing, "", nil
		}
		f.focus(false)
	}
	before := f.input.Value()
	f.input, cmd = f.input.Update(msg)
	if f.input.Value() != before {
		return findNothing, "", tea.Batch(cmd, f.search())
	}
	return findNothing, "", cmd
}

// listKey tells the keys that move in the results.
func (f *finder) listKey(msg tea.KeyMsg) bool {
	k := f.c.Keys
	return key.Matches(msg, k.Up) || key.Matches(msg, k.Down) || key.Matches(msg, k.PageUp) ||
		key.Matches(msg, k.PageDown) || key.Matches(msg, k.Home) || key.Matches(msg, k.End)
}

func (f *finder) moveKey(msg tea.KeyMsg) {
	k := f.c.Keys
	switch {
	case msg.Type == tea.KeyUp || key.Matches(msg, k.Up):
		f.move(-1)
	case msg.Type == tea.KeyDown || key.Matches(msg, k.Down):
		f.move(1)
	case msg.Type == tea.KeyPgUp || key.Matches(msg, k.PageUp):
		f.move(-f.pageRows())
	case msg.Type == tea.KeyPgDown || key.Matches(msg, k.PageDown):
		f.move(f.pageRows())
	case key.Matches(msg, k.Home):
		f.move(-f.hits())
	case key.Matches(msg, k.End):
		f.move(f.hits())
	}
}

// focus puts the keys on the results (true) or on the query.
func (f *finder) focus(list bool) {
	f.focusList = list
	if list {
		f.input.Blur()
	} else {
		f.input.Focus()
	}
}

func (f *finder) move(n int) {
	f.cursor += n
	f.clamp()
}

// pageRows is how many results fit below the query and the count line.
func (f *finder) pageRows() int { return max(f.height-2, 1) }

func (f *finder) clamp() {
	f.cursor = max(min(f.cursor, f.hits()-1), 0)
	n := f.pageRows()
	if f.cursor < f.offset {
		f.offset = f.cursor
	}
	if f.cursor >= f.offset+n {
		f.offset = f.cursor - n + 1
	}
	f.offset = max(min(f.offset, f.hits()-n), 0)
}

// mouse moves with the wheel and selects the hit clicked (Y from the
// find's first line).
func (f *finder) mouse(m tea.MouseMsg) {
	switch {
	case m.Button == tea.MouseButtonWheelUp:
		f.move(-ui.WheelRows)
	case m.Button == tea.MouseButtonWheelDown:
		f.move(ui.WheelRows)
	case m.Button == tea.MouseButtonLeft && m.Action == tea.MouseActionPress:
		if row := m.Y - 2; row >= 0 && row < f.pageRows() && f.offset+row < f.hits() {
			f.cursor = f.offset + row
		}
	}
}

func (f *finder) close() {
	f.active, f.focusList = false, false
	f.input.Blur()
	if f.cancel != nil {
		f.cancel()
	}
}

// help is the find's keys for the key hint.
func (f *finder) help() []key.Binding {
	k := f.c.Keys
	jump := key.NewBinding(key.WithKeys("enter"), key.WithHelp("enter", "jump"))
	closeFind := key.NewBinding(key.WithKeys("esc"), key.WithHelp("esc", "close"))
	if f.focusList {
		return []key.Binding{jump, k.MarkHit, k.MarkAll, k.Restore, k.EditFind, closeFind}
	}
	return []key.Binding{jump, k.MarkHit, k.MarkAll, closeFind}
}

func (f *finder) view() string {
	s := f.c.Styles
	var b strings.Builder
	b.WriteString(f.input.View())
	switch {
	case f.err != nil:
		b.WriteString("\n" + s.Error.Render(f.err.Error()))
		return b.String()
	case f.ix == nil:
		b.WriteString("\n" + s.Dim.Render("indexing paths…"))
		return b.String()
	case f.last == nil:
		b.WriteString("\n" + s.Dim.Render(fmt.Sprintf("%s paths — type to search the whole archive", ui.Thousands(f.ix.Len()))))
		return b.String()
	}
	count := fmt.Sprintf("%s of %s paths match", ui.Thousands(f.last.Total), ui.Thousands(f.ix.Len()))
	if f.last.Total > len(f.last.Top) {
		count += fmt.Sprintf(", the best %d shown", len(f.last.Top))
	}
	if n := f.marks.markCount(); n > 0 {
		count += " · " + plural(n, "mark", "marks")
	}
	if f.hits() > f.pageRows() {
		pos := ui.Position(f.cursor, f.hits())
		count = ui.Pad(count, max(f.width-len(pos)-1, 1)) + " " + pos
	}
	b.WriteString("\n" + s.Dim.Render(count))
	w := max(f.width-2, 10)
	for i := f.offset; i < f.hits() && i < f.offset+f.pageRows(); i++ {
		m := f.last.Top[i]
		p := f.ix.Path(m.Index)
		mark := "  "
		if f.marks.marked(p) {
			mark = s.Marked.Render("✓ ")
		}
		line := ui.Pad(p, w-2)
		if i == f.cursor {
			b.WriteString("\n" + mark + s.Selected.Render("› "+line))
			continue
		}
		b.WriteString("\n" + mark + "  " + ui.Highlight(line, runePositions(p, m.Positions), s.Normal, s.Match))
	}
	return b.String()
}

// runePositions turns byte offsets into rune offsets for highlighting.
func runePositions(s string, bytePos []int) []int {
	if len(bytePos) == 0 {
		return nil
	}
	set := map[int]bool{}
	for _, p := range bytePos {
		set[p] = true
	}
	var out []int
	ri := 0
	for bi := range s {
		if set[bi] {
			out = append(out, ri)
		}
		ri++
	}
	return out
}
