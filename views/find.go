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
	id  int
	ix  *ui.PathIndex
	err error
}

// findResultMsg answers one query; seq tells stale answers apart.
type findResultMsg struct {
	id  int
	seq int
	res *ui.SearchResult
}

var finders int

// finder is the whole-archive fuzzy find of the catalog tree: it indexes
// every path once, searches on each keystroke in a command, cancels the
// search a newer keystroke made stale, and jumps to the chosen path.
type finder struct {
	c      *ui.Common
	id     int
	active bool
	input  textinput.Model
	ix     *ui.PathIndex
	last   *ui.SearchResult // newest answer shown
	seq    int
	cancel context.CancelFunc
	cursor int
	width  int
	height int
	err    error
}

func newFinder(c *ui.Common) *finder {
	finders++
	in := textinput.New()
	in.Prompt = "find: "
	return &finder{c: c, id: finders, input: in}
}

func (f *finder) setSize(w, h int) { f.width, f.height = w, h; f.input.Width = max(w-8, 10) }

// open starts the find, indexing the archive the first time.
func (f *finder) open(r *catalog.Reader, root catalog.Entry) tea.Cmd {
	f.active = true
	f.input.SetValue("")
	f.input.Focus()
	f.last, f.cursor = nil, 0
	if f.ix != nil {
		return textinput.Blink
	}
	id := f.id
	return tea.Batch(textinput.Blink, func() tea.Msg {
		paths, err := archivePaths(r, root)
		if err != nil {
			return pathsIndexedMsg{id: id, err: err}
		}
		return pathsIndexedMsg{id: id, ix: ui.NewPathIndex(paths)}
	})
}

// archivePaths lists every path below an archive's root, relative to it.
func archivePaths(r *catalog.Reader, root catalog.Entry) ([]string, error) {
	type frame struct {
		prefix string
		dir    catalog.Entry
	}
	var out []string
	stack := []frame{{"", root}}
	seen := map[uint64]bool{root.Offset: true}
	for len(stack) > 0 {
		fr := stack[len(stack)-1]
		stack = stack[:len(stack)-1]
		kids, err := r.ReadDir(fr.dir)
		if err != nil {
			return nil, err
		}
		for _, k := range kids {
			p := fr.prefix + string(k.Name)
			out = append(out, p)
			if k.IsDir() && !seen[k.Offset] {
				seen[k.Offset] = true
				stack = append(stack, frame{p + "/", k})
			}
		}
	}
	return out, nil
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
		return findResultMsg{id: id, seq: seq, res: ix.Search(ctx, q, prev, 200)}
	}
}

func (f *finder) update(msg tea.Msg) tea.Cmd {
	switch m := msg.(type) {
	case pathsIndexedMsg:
		if m.id != f.id {
			return nil
		}
		f.ix, f.err = m.ix, m.err
		if m.err != nil {
			return ui.Error(m.err)
		}
		return f.search()
	case findResultMsg:
		if m.id != f.id || m.seq != f.seq || m.res == nil {
			return nil
		}
		f.last = m.res
		f.cursor = 0
	}
	return nil
}

// key handles a key while the find is open; jump is the chosen path.
func (f *finder) key(msg tea.KeyMsg) (jump string, cmd tea.Cmd) {
	k := f.c.Keys
	switch {
	case msg.Type == tea.KeyEsc:
		f.close()
		return "", nil
	case msg.Type == tea.KeyEnter:
		if f.last == nil || len(f.last.Top) == 0 || f.last.Query != f.input.Value() {
			// Not answered yet: answer now, so enter never jumps to a stale hit.
			if f.ix != nil && f.input.Value() != "" {
				f.last = f.ix.Search(context.Background(), f.input.Value(), nil, 200)
				f.cursor = 0
			}
		}
		if f.last == nil || len(f.last.Top) == 0 {
			return "", ui.Status("no match")
		}
		p := f.ix.Path(f.last.Top[f.cursor].Index)
		f.close()
		return p, nil
	case msg.Type == tea.KeyUp:
		f.cursor = max(f.cursor-1, 0)
		return "", nil
	case msg.Type == tea.KeyDown:
		if f.last != nil {
			f.cursor = min(f.cursor+1, len(f.last.Top)-1)
		}
		return "", nil
	case key.Matches(msg, k.Clear):
		f.input.SetValue("")
		return "", f.search()
	}
	before := f.input.Value()
	f.input, cmd = f.input.Update(msg)
	if f.input.Value() != before {
		return "", tea.Batch(cmd, f.search())
	}
	return "", cmd
}

func (f *finder) close() {
	f.active = false
	f.input.Blur()
	if f.cancel != nil {
		f.cancel()
	}
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
		b.WriteString("\n" + s.Dim.Render(fmt.Sprintf("%d paths — type to search the whole archive", f.ix.Len())))
		return b.String()
	}
	b.WriteString("\n" + s.Dim.Render(fmt.Sprintf("%d of %d paths match", f.last.Total, f.ix.Len())))
	rows := max(f.height-3, 1)
	start := 0
	if f.cursor >= rows {
		start = f.cursor - rows + 1
	}
	for i := start; i < len(f.last.Top) && i < start+rows; i++ {
		m := f.last.Top[i]
		p := f.ix.Path(m.Index)
		line := ui.Pad(p, max(f.width-2, 10))
		if i == f.cursor {
			b.WriteString("\n" + s.Selected.Render("› "+line))
			continue
		}
		b.WriteString("\n  " + ui.Highlight(line, runePositions(p, m.Positions), s.Normal, s.Match))
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
