package pxar

import (
	"fmt"
	"io"
	"os"
	"path"
	"slices"
	"strings"

	"cairn/pxar/pattern"
)

// selection is the tree of the paths ExtractPaths restores: a node is
// either selected (restored with everything below it) or on the way to
// selected ones.
type selection struct {
	selected bool
	kids     map[string]*selection
}

// newSelection builds the tree of archive-relative paths ("etc/hosts",
// "/etc/hosts"); "" or "/" selects the whole archive. A path below a
// selected one adds nothing.
func newSelection(paths []string) (*selection, error) {
	root := &selection{}
	for _, p := range paths {
		clean := strings.Trim(path.Clean("/"+p), "/")
		cur := root
		if clean != "" {
			for _, c := range strings.Split(clean, "/") {
				if c == ".." {
					return nil, fmt.Errorf("pxar: bad path %q", p)
				}
				if cur.selected {
					break
				}
				if cur.kids == nil {
					cur.kids = map[string]*selection{}
				}
				next := cur.kids[c]
				if next == nil {
					next = &selection{}
					cur.kids[c] = next
				}
				cur = next
			}
		}
		cur.selected, cur.kids = true, nil
	}
	return root, nil
}

// covers reports whether the archive path p is restored by the selection.
func (s *selection) covers(p string) bool {
	cur := s
	for _, c := range strings.Split(strings.Trim(p, "/"), "/") {
		if cur.selected {
			return true
		}
		if cur = cur.kids[c]; cur == nil {
			return false
		}
	}
	return cur.selected
}

// names are the children of a node in archive order (entries of a
// directory are sorted by name, as bytes).
func (s *selection) names() []string {
	out := make([]string, 0, len(s.kids))
	for n := range s.kids {
		out = append(out, n)
	}
	slices.Sort(out)
	return out
}

// PathsSize sums the file sizes of the entries at paths and below them,
// reading only their metadata: what ExtractPaths writes (a hardlink counts
// once, at its target, unless the target is not selected: then it is
// written as a copy).
func (a *Accessor) PathsSize(paths []string) (uint64, error) {
	sel, err := newSelection(paths)
	if err != nil {
		return 0, err
	}
	var total uint64
	var visit func(n *Node, s *selection) error
	visit = func(n *Node, s *selection) error {
		if s.selected {
			return a.Walk(n, func(c *Node) error {
				switch {
				case c.Kind == KindFile:
					total += c.Size
				case c.Kind == KindHardlink && !sel.covers(c.LinkTarget):
					t, err := a.HardlinkTarget(c)
					if err != nil {
						return err
					}
					total += t.Size
				}
				return nil
			})
		}
		for _, name := range s.names() {
			c, err := a.LookupChild(n, name)
			if err != nil {
				return err
			}
			if err := visit(c, s.kids[name]); err != nil {
				return err
			}
		}
		return nil
	}
	return total, visit(a.root, sel)
}

// ExtractPaths restores the entries at paths (archive-relative; a
// directory with everything below it) into dest, which stands for the
// archive's root: etc/hosts becomes dest/etc/hosts. It reads the archive
// through random access, along the GOODBYE tables from the root to each
// selected entry and then what the selected entries hold, so the rest of
// the archive is never read. The directories on the way are created with
// their archived metadata, as a pattern-selected Extract makes them; a
// hardlink whose target is outside the selection becomes a copy of it.
//
// written, when set, is called with the file bytes restored so far and the
// path being written; a missing path is an error that wraps os.ErrNotExist.
func (a *Accessor) ExtractPaths(paths []string, dest string, o ExtractOptions, written func(n uint64, path string)) error {
	sel, err := newSelection(paths)
	if err != nil {
		return err
	}
	// The extractor selects what it writes with patterns; the walk below
	// only hands it the entries on the way to them.
	o.Patterns = nil
	for _, p := range paths {
		rel := strings.Trim(path.Clean("/"+p), "/")
		if rel == "" {
			continue
		}
		pat, err := pattern.Parse("/" + escapeGlob(rel))
		if err != nil {
			return fmt.Errorf("pxar: path %q: %w", p, err)
		}
		o.Patterns = append(o.Patterns, pat)
	}
	x, err := openExtractor(dest, o)
	if err != nil {
		return err
	}
	defer x.close()
	rootEntry := a.root.Entry
	rootEntry.FilenameOffset = -1
	if err := x.entry(&rootEntry); err != nil {
		return err
	}
	w := &pathsWalk{a: a, x: x, sel: sel, written: written}
	if err := w.visit(a.root, sel); err != nil {
		return err
	}
	return x.entry(&Entry{Path: "/", Kind: KindGoodbye, FilenameOffset: -1})
}

// pathsWalk is one ExtractPaths run.
type pathsWalk struct {
	a       *Accessor
	x       *extractor
	sel     *selection
	written func(uint64, string)
	n       uint64
}

// visit hands the extractor the children of dir that s asks for.
func (w *pathsWalk) visit(dir *Node, s *selection) error {
	if s.selected {
		return w.all(dir)
	}
	for _, name := range s.names() {
		c, err := w.a.LookupChild(dir, name)
		if err != nil {
			return err
		}
		kid := s.kids[name]
		if !c.IsDir() {
			if !kid.selected {
				return fmt.Errorf("pxar: %s is not a directory: %w", c.Path, os.ErrNotExist)
			}
			if err := w.put(c); err != nil {
				return err
			}
			continue
		}
		if err := w.put(c); err != nil {
			return err
		}
		if err := w.visit(c, kid); err != nil {
			return err
		}
		if err := w.x.entry(&Entry{Path: c.Path, Kind: KindGoodbye, FilenameOffset: -1}); err != nil {
			return err
		}
	}
	return nil
}

// all hands the extractor everything below dir.
func (w *pathsWalk) all(dir *Node) error {
	children, err := w.a.ReadDir(dir)
	if err != nil {
		return err
	}
	if err := checkDuplicates(dir, children); err != nil {
		return err
	}
	for _, c := range children {
		if err := w.put(c); err != nil {
			return err
		}
		if c.IsDir() {
			if err := w.all(c); err != nil {
				return err
			}
			if err := w.x.entry(&Entry{Path: c.Path, Kind: KindGoodbye, FilenameOffset: -1}); err != nil {
				return err
			}
		}
	}
	return nil
}

// put hands the extractor one entry, with its contents when it is a file.
func (w *pathsWalk) put(n *Node) error {
	e := n.Entry
	if e.Kind == KindHardlink && !w.sel.covers(e.LinkTarget) {
		// The target is not restored: the link becomes a copy of it.
		var err error
		if e, err = w.a.hardlinkCopy(n); err != nil {
			return err
		}
	}
	if e.Kind == KindFile {
		c, err := w.a.contents(&e)
		if err != nil {
			return err
		}
		if c != nil && w.written != nil {
			c = &writtenCounter{r: c, w: w, path: e.Path}
		}
		e.Contents = c
	}
	return w.x.entry(&e)
}

// writtenCounter reports the bytes of file contents handed to the extractor.
type writtenCounter struct {
	r    io.Reader
	w    *pathsWalk
	path string
}

func (c *writtenCounter) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	if n > 0 {
		c.w.n += uint64(n)
		c.w.written(c.w.n, c.path)
	}
	return n, err
}

// escapeGlob makes a path match itself literally as a pattern.
func escapeGlob(p string) string {
	var b strings.Builder
	for _, r := range p {
		if strings.ContainsRune(`\*?[]`, r) {
			b.WriteByte('\\')
		}
		b.WriteRune(r)
	}
	return b.String()
}
