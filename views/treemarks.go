package views

import (
	"fmt"
	"strings"

	tea "github.com/charmbracelet/bubbletea"

	"cairn/core/catalog"
	"cairn/ui"
)

// The tree's marks, which the find marks too (findMarks): space in the
// list, tab and ctrl+a in the find's results.

// toggle marks or unmarks path p, entry e of the catalog.
func (v *Tree) toggle(p string, e catalog.Entry) tea.Cmd {
	if _, ok := v.marks[p]; ok {
		delete(v.marks, p)
		return nil
	}
	if v.underMark(p) {
		return ui.Status(p + " is already included: its directory is marked")
	}
	m := mark{dir: e.IsDir(), size: e.Size}
	if m.dir {
		m.size = v.subtreeSize(e)
		// Marks below a marked directory are covered by it.
		for q := range v.marks {
			if strings.HasPrefix(q, p+"/") {
				delete(v.marks, q)
			}
		}
	}
	v.marks[p] = m
	return nil
}

// marked tells whether p is marked or inside a marked directory.
func (v *Tree) marked(p string) bool {
	_, ok := v.marks[p]
	return ok || v.underMark(p)
}

// markCount is the number of marks.
func (v *Tree) markCount() int { return len(v.marks) }

// markAll marks every hit of a find. The index lists a directory before
// what it holds, so a hit inside a directory just marked is skipped as
// covered; older marks inside one go at the end.
func (v *Tree) markAll(ix *ui.PathIndex, meta *hitMeta, res *ui.SearchResult) tea.Cmd {
	added := 0
	dirs := false
	res.Hits(func(i int) {
		p := ix.Path(i)
		if v.marked(p) {
			return
		}
		e := meta.entry(i)
		m := mark{dir: e.IsDir(), size: e.Size}
		if m.dir {
			m.size, dirs = v.subtreeSize(e), true
		}
		v.marks[p] = m
		added++
	})
	if dirs {
		for p := range v.marks {
			if v.underMark(p) {
				delete(v.marks, p)
			}
		}
	}
	n, total := v.markSummary()
	return ui.Status(fmt.Sprintf("marked %s: %s marked, %s", plural(added, "hit", "hits"), plural(n, "entry", "entries"), size(total)))
}
