// Package shell is the interactive recovery shell of `cairn catalog shell`
// (protocol.md 9.8): navigation and search use the catalog only; stat and
// restores read the archive through a random-access pxar accessor, so only
// the chunks that are needed are fetched.
package shell

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"slices"
	"sort"
	"strings"
	"time"

	"cairn/core/catalog"
	"cairn/pxar"
	"cairn/pxar/pattern"
)

// Options configure a shell.
type Options struct {
	// Catalog is the snapshot's catalog, Archive the catalog name of the
	// archive to explore (e.g. "root.pxar.didx", or "root.mpxar.didx" for a
	// split archive).
	Catalog *catalog.Reader
	Archive string
	// Open opens random access to the archive; it is called at most once,
	// the first time a command needs the archive itself (stat, restore).
	Open func() (*pxar.Accessor, error)
	// Warn receives restore warnings; nil writes them to the output.
	Warn func(msg string)
}

// Shell holds the state of one session.
type Shell struct {
	o        Options
	root     catalog.Entry
	cwd      []string // components below the archive root
	selected []selection
	acc      *pxar.Accessor
	accErr   error
	opened   bool
}

type selection struct {
	raw string // as the user gave it (a find pattern) or the literal path pattern
	pat *pattern.Pattern
}

// New checks that the archive exists in the catalog.
func New(o Options) (*Shell, error) {
	root, err := o.Catalog.Lookup("/" + o.Archive)
	if err != nil {
		return nil, fmt.Errorf("archive %s not found in the catalog: %w", o.Archive, err)
	}
	if !root.IsDir() {
		return nil, fmt.Errorf("archive %s is not a directory archive", o.Archive)
	}
	return &Shell{o: o, root: root}, nil
}

// Prompt is the prompt for the current directory: "pxar:/path > ".
func (s *Shell) Prompt() string { return "pxar:" + s.pwd() + " > " }

func (s *Shell) pwd() string { return "/" + strings.Join(s.cwd, "/") }

// Run reads commands line by line from in (scripts, pipes) and writes the
// results to out. It returns at "exit" or the end of the input. Errors of
// single commands are printed and do not end the session.
func Run(in io.Reader, out io.Writer, o Options) error {
	s, err := New(o)
	if err != nil {
		return err
	}
	return s.RunLines(in, out)
}

// RunLines is Run for an existing shell.
func (s *Shell) RunLines(in io.Reader, out io.Writer) error {
	sc := bufio.NewScanner(in)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		if s.Exec(sc.Text(), out) {
			return nil
		}
	}
	return sc.Err()
}

// Exec runs one command line; it reports whether the shell should end.
func (s *Shell) Exec(line string, out io.Writer) (exit bool) {
	args, err := splitArgs(line)
	if err != nil {
		fmt.Fprintf(out, "Error: %v\n", err)
		return false
	}
	if len(args) == 0 {
		return false
	}
	if args[0] == "exit" || args[0] == "quit" {
		return true
	}
	if err := s.exec(args, out); err != nil {
		fmt.Fprintf(out, "Error: %v\n", err)
	}
	return false
}

type command struct {
	name, args, help string
	run              func(s *Shell, args []string, flags map[string]string, out io.Writer) error
	flags            map[string]bool // flag name -> takes a value
	min, max         int
}

var commands []*command

func init() {
	commands = []*command{
		{name: "pwd", help: "print the current working directory", run: (*Shell).cmdPwd},
		{name: "cd", args: "[PATH]", help: "change the current working directory (no argument: the archive root)", max: 1, run: (*Shell).cmdCd},
		{name: "ls", args: "[PATH]", help: "list a directory's contents", max: 1, run: (*Shell).cmdLs},
		{name: "stat", args: "PATH", help: "show the metadata of an entry", min: 1, max: 1, run: (*Shell).cmdStat},
		{name: "select", args: "PATH", help: "add an entry to the restore selection", min: 1, max: 1, run: (*Shell).cmdSelect},
		{name: "deselect", args: "PATH", help: "remove an entry (or find pattern) from the restore selection", min: 1, max: 1, run: (*Shell).cmdDeselect},
		{name: "clear-selected", help: "clear the restore selection", run: (*Shell).cmdClear},
		{name: "list-selected", args: "[--patterns]", help: "list the selected entries (or the match patterns)", flags: map[string]bool{"patterns": false}, run: (*Shell).cmdListSelected},
		{name: "find", args: "PATTERN [--select]", help: "find entries matching a glob pattern; --select adds the pattern to the selection", min: 1, max: 1, flags: map[string]bool{"select": false}, run: (*Shell).cmdFind},
		{name: "restore-selected", args: "TARGET", help: "restore the selected entries to TARGET", min: 1, max: 1, run: (*Shell).cmdRestoreSelected},
		{name: "restore", args: "TARGET [--pattern GLOB]", help: "restore the current directory (optionally only entries matching GLOB) to TARGET", min: 1, max: 1, flags: map[string]bool{"pattern": true}, run: (*Shell).cmdRestore},
		{name: "help", args: "[COMMAND]", help: "show help", max: 1, run: (*Shell).cmdHelp},
		{name: "exit", help: "leave the shell"},
	}
}

func findCommand(name string) *command {
	for _, c := range commands {
		if c.name == name {
			return c
		}
	}
	return nil
}

func (s *Shell) exec(args []string, out io.Writer) error {
	c := findCommand(args[0])
	if c == nil || c.run == nil {
		return fmt.Errorf("unknown command %q (try 'help')", args[0])
	}
	flags := map[string]string{}
	var pos []string
	for i := 1; i < len(args); i++ {
		a := args[i]
		if strings.HasPrefix(a, "--") && len(a) > 2 {
			name, val, hasVal := strings.Cut(a[2:], "=")
			takes, ok := c.flags[name]
			if !ok {
				return fmt.Errorf("%s: unknown option --%s", c.name, name)
			}
			if takes && !hasVal {
				if i+1 >= len(args) {
					return fmt.Errorf("%s: option --%s needs a value", c.name, name)
				}
				i++
				val = args[i]
			}
			flags[name] = val
			continue
		}
		pos = append(pos, a)
	}
	if len(pos) < c.min || len(pos) > c.max {
		return fmt.Errorf("usage: %s %s", c.name, c.args)
	}
	return c.run(s, pos, flags, out)
}

// resolve turns a shell path (absolute, or relative to the current
// directory, with "." and "..") into archive components.
func (s *Shell) resolve(p string) []string {
	var comps []string
	if !strings.HasPrefix(p, "/") {
		comps = slices.Clone(s.cwd)
	}
	for _, c := range strings.Split(p, "/") {
		switch c {
		case "", ".":
		case "..":
			if len(comps) > 0 {
				comps = comps[:len(comps)-1]
			}
		default:
			comps = append(comps, c)
		}
	}
	return comps
}

// lookup finds the catalog entry of archive components.
func (s *Shell) lookup(comps []string) (catalog.Entry, error) {
	cur := s.root
	for i, c := range comps {
		if !cur.IsDir() {
			return catalog.Entry{}, fmt.Errorf("%s is not a directory", "/"+strings.Join(comps[:i], "/"))
		}
		ents, err := s.o.Catalog.ReadDir(cur)
		if err != nil {
			return catalog.Entry{}, err
		}
		found := false
		for _, e := range ents {
			if string(e.Name) == c {
				cur, found = e, true
				break
			}
		}
		if !found {
			return catalog.Entry{}, fmt.Errorf("%s: no such file or directory", "/"+strings.Join(comps[:i+1], "/"))
		}
	}
	return cur, nil
}

func (s *Shell) accessor() (*pxar.Accessor, error) {
	if !s.opened {
		s.opened = true
		if s.o.Open == nil {
			s.accErr = errors.New("the archive cannot be opened in this session")
		} else {
			s.acc, s.accErr = s.o.Open()
		}
	}
	return s.acc, s.accErr
}

func (s *Shell) cmdPwd(_ []string, _ map[string]string, out io.Writer) error {
	fmt.Fprintln(out, s.pwd())
	return nil
}

func (s *Shell) cmdCd(args []string, _ map[string]string, _ io.Writer) error {
	if len(args) == 0 {
		s.cwd = nil
		return nil
	}
	comps := s.resolve(args[0])
	e, err := s.lookup(comps)
	if err != nil {
		return err
	}
	if !e.IsDir() {
		return fmt.Errorf("%s is not a directory", "/"+strings.Join(comps, "/"))
	}
	s.cwd = comps
	return nil
}

func (s *Shell) cmdLs(args []string, _ map[string]string, out io.Writer) error {
	comps := s.cwd
	if len(args) > 0 {
		comps = s.resolve(args[0])
	}
	e, err := s.lookup(comps)
	if err != nil {
		return err
	}
	if !e.IsDir() {
		fmt.Fprintln(out, string(e.Name))
		return nil
	}
	ents, err := s.o.Catalog.ReadDir(e)
	if err != nil {
		return err
	}
	names := make([]string, len(ents))
	for i, e := range ents {
		names[i] = string(e.Name)
	}
	sort.Strings(names)
	printColumns(out, names, 80)
	return nil
}

// printColumns prints names row by row in as many columns as fit.
func printColumns(out io.Writer, names []string, width int) {
	if len(names) == 0 {
		return
	}
	maxLen := 0
	for _, n := range names {
		maxLen = max(maxLen, len(n))
	}
	colw := maxLen + 2
	cols := max(1, width/colw)
	var b strings.Builder
	for i, n := range names {
		b.WriteString(n)
		if (i+1)%cols == 0 || i == len(names)-1 {
			b.WriteByte('\n')
		} else {
			b.WriteString(strings.Repeat(" ", colw-len(n)))
		}
	}
	io.WriteString(out, b.String())
}

func (s *Shell) cmdStat(args []string, _ map[string]string, out io.Writer) error {
	comps := s.resolve(args[0])
	if _, err := s.lookup(comps); err != nil {
		return err
	}
	a, err := s.accessor()
	if err != nil {
		return err
	}
	n, err := a.Lookup("/" + strings.Join(comps, "/"))
	if err != nil {
		return err
	}
	shown := n
	if n.Kind == pxar.KindHardlink {
		if shown, err = a.HardlinkTarget(n); err != nil {
			return err
		}
	}
	e := &shown.Entry
	name := "/" + strings.Join(comps, "/")
	fmt.Fprintf(out, "  File: %s", name)
	switch n.Kind {
	case pxar.KindSymlink:
		fmt.Fprintf(out, " -> %s", n.LinkTarget)
	case pxar.KindHardlink:
		fmt.Fprintf(out, " => /%s", strings.TrimPrefix(n.LinkTarget, "/"))
	}
	fmt.Fprintln(out)
	kind := map[pxar.Kind]string{
		pxar.KindDirectory: "directory", pxar.KindFile: "regular file", pxar.KindSymlink: "symbolic link",
		pxar.KindDevice: "device", pxar.KindFifo: "fifo", pxar.KindSocket: "socket",
	}[e.Kind]
	if n.Kind == pxar.KindHardlink {
		kind = "hardlink to a regular file"
	}
	fmt.Fprintf(out, "  Size: %-15d Type: %s\n", e.Size, kind)
	if e.Kind == pxar.KindDevice {
		fmt.Fprintf(out, "Device: %d,%d\n", e.Device.Major, e.Device.Minor)
	}
	fmt.Fprintf(out, "Access: (%04o/%s)  Uid: %d  Gid: %d\n", e.Stat.Mode&0o7777, e.FileMode(), e.Stat.UID, e.Stat.GID)
	fmt.Fprintf(out, "Modify: %s\n", e.Mtime().Local().Format("2006-01-02 15:04:05.000000000 -0700"))
	for _, x := range e.Xattrs {
		fmt.Fprintf(out, " Xattr: %s=%q\n", x.Name, x.Value)
	}
	return nil
}

// literalPattern is an anchored pattern matching exactly one archive path.
func literalPattern(comps []string) string {
	var b strings.Builder
	for _, c := range comps {
		b.WriteByte('/')
		for i := 0; i < len(c); i++ {
			switch c[i] {
			case '\\', '*', '?', '[', ']':
				b.WriteByte('\\')
			}
			b.WriteByte(c[i])
		}
	}
	return b.String()
}

func (s *Shell) addSelection(raw string) error {
	for _, sel := range s.selected {
		if sel.raw == raw {
			return nil
		}
	}
	p, err := pattern.Parse(raw)
	if err != nil {
		return err
	}
	s.selected = append(s.selected, selection{raw: raw, pat: p})
	return nil
}

func (s *Shell) cmdSelect(args []string, _ map[string]string, _ io.Writer) error {
	comps := s.resolve(args[0])
	if len(comps) == 0 {
		return errors.New("cannot select the archive root; use 'restore' to restore everything")
	}
	if _, err := s.lookup(comps); err != nil {
		return err
	}
	return s.addSelection(literalPattern(comps))
}

func (s *Shell) cmdDeselect(args []string, _ map[string]string, _ io.Writer) error {
	cands := []string{args[0]}
	if comps := s.resolve(args[0]); len(comps) > 0 {
		cands = append(cands, literalPattern(comps))
	}
	for i, sel := range s.selected {
		if slices.Contains(cands, sel.raw) {
			s.selected = slices.Delete(s.selected, i, i+1)
			return nil
		}
	}
	return fmt.Errorf("%s is not selected", args[0])
}

func (s *Shell) cmdClear(_ []string, _ map[string]string, _ io.Writer) error {
	s.selected = nil
	return nil
}

func (s *Shell) patterns() pattern.List {
	l := make(pattern.List, len(s.selected))
	for i, sel := range s.selected {
		l[i] = sel.pat
	}
	return l
}

// walk visits the catalog entries below comps with archive-relative paths.
func (s *Shell) walk(comps []string, fn func(rel string, e catalog.Entry) error) error {
	dir, err := s.lookup(comps)
	if err != nil {
		return err
	}
	if !dir.IsDir() {
		return fmt.Errorf("%s is not a directory", "/"+strings.Join(comps, "/"))
	}
	var rec func(prefix string, d catalog.Entry) error
	rec = func(prefix string, d catalog.Entry) error {
		ents, err := s.o.Catalog.ReadDir(d)
		if err != nil {
			return err
		}
		for _, e := range ents {
			rel := prefix + string(e.Name)
			if err := fn(rel, e); err != nil {
				if errors.Is(err, fs.SkipDir) {
					continue
				}
				return err
			}
			if e.IsDir() {
				if err := rec(rel+"/", e); err != nil {
					return err
				}
			}
		}
		return nil
	}
	prefix := strings.Join(comps, "/")
	if prefix != "" {
		prefix += "/"
	}
	return rec(prefix, dir)
}

func (s *Shell) cmdListSelected(_ []string, flags map[string]string, out io.Writer) error {
	if _, ok := flags["patterns"]; ok {
		for _, sel := range s.selected {
			fmt.Fprintln(out, sel.raw)
		}
		return nil
	}
	if len(s.selected) == 0 {
		return nil
	}
	pats := s.patterns()
	// The extractor's semantics: the last matching pattern decides, entries
	// without a match inherit their directory's decision.
	type frame struct {
		depth   int
		matched bool
	}
	stack := []frame{{depth: 0, matched: false}}
	return s.walk(nil, func(rel string, e catalog.Entry) error {
		depth := strings.Count(rel, "/") + 1
		for stack[len(stack)-1].depth >= depth {
			stack = stack[:len(stack)-1]
		}
		m := stack[len(stack)-1].matched
		switch pats.Match(rel, e.IsDir()) {
		case pattern.Exclude:
			m = true
		case pattern.Include:
			m = false
		}
		if m {
			fmt.Fprintln(out, "/"+rel)
		}
		if e.IsDir() {
			stack = append(stack, frame{depth: depth, matched: m})
		}
		return nil
	})
}

func (s *Shell) cmdFind(args []string, flags map[string]string, out io.Writer) error {
	p, err := pattern.Parse(args[0])
	if err != nil {
		return err
	}
	if p.IsInclude() {
		return fmt.Errorf("find patterns cannot start with '!'")
	}
	err = s.walk(s.cwd, func(rel string, e catalog.Entry) error {
		if p.Matches(rel, e.IsDir()) {
			fmt.Fprintln(out, "/"+rel)
		}
		return nil
	})
	if err != nil {
		return err
	}
	if _, ok := flags["select"]; ok {
		return s.addSelection(args[0])
	}
	return nil
}

func (s *Shell) warnFunc(out io.Writer) func(string) {
	if s.o.Warn != nil {
		return s.o.Warn
	}
	return func(msg string) { fmt.Fprintf(out, "Warning: %s\n", msg) }
}

func (s *Shell) extract(dir []string, target string, pats pattern.List, out io.Writer) error {
	a, err := s.accessor()
	if err != nil {
		return err
	}
	n, err := a.Lookup("/" + strings.Join(dir, "/"))
	if err != nil {
		return err
	}
	start := time.Now()
	err = a.ExtractFrom(n, target, pxar.ExtractOptions{AllowExistingDirs: true, Patterns: pats, OnWarning: s.warnFunc(out)})
	if err != nil {
		return err
	}
	_ = start
	return nil
}

func (s *Shell) cmdRestoreSelected(args []string, _ map[string]string, out io.Writer) error {
	if len(s.selected) == 0 {
		return errors.New("no entries selected")
	}
	return s.extract(nil, args[0], s.patterns(), out)
}

func (s *Shell) cmdRestore(args []string, flags map[string]string, out io.Writer) error {
	var pats pattern.List
	if g, ok := flags["pattern"]; ok {
		p, err := pattern.Parse(g)
		if err != nil {
			return err
		}
		pats = pattern.List{p}
	}
	return s.extract(s.cwd, args[0], pats, out)
}

func (s *Shell) cmdHelp(args []string, _ map[string]string, out io.Writer) error {
	if len(args) == 1 {
		c := findCommand(args[0])
		if c == nil {
			return fmt.Errorf("unknown command %q", args[0])
		}
		fmt.Fprintf(out, "%s %s\n    %s\n", c.name, c.args, c.help)
		return nil
	}
	for _, c := range commands {
		fmt.Fprintf(out, "  %-40s %s\n", strings.TrimSpace(c.name+" "+c.args), c.help)
	}
	return nil
}

// splitArgs splits a command line into words: whitespace separates,
// single and double quotes group, a backslash escapes the next character
// (outside single quotes).
func splitArgs(line string) ([]string, error) {
	var args []string
	var cur strings.Builder
	inWord := false
	var quote byte
	for i := 0; i < len(line); i++ {
		c := line[i]
		switch {
		case quote == '\'':
			if c == '\'' {
				quote = 0
			} else {
				cur.WriteByte(c)
			}
		case quote == '"':
			switch c {
			case '"':
				quote = 0
			case '\\':
				if i+1 < len(line) && (line[i+1] == '"' || line[i+1] == '\\') {
					i++
					cur.WriteByte(line[i])
				} else {
					cur.WriteByte(c)
				}
			default:
				cur.WriteByte(c)
			}
		case c == '\'' || c == '"':
			quote = c
			inWord = true
		case c == '\\':
			if i+1 < len(line) {
				i++
				cur.WriteByte(line[i])
			}
			inWord = true
		case c == ' ' || c == '\t':
			if inWord {
				args = append(args, cur.String())
				cur.Reset()
				inWord = false
			}
		default:
			cur.WriteByte(c)
			inWord = true
		}
	}
	if quote != 0 {
		return nil, errors.New("unterminated quote")
	}
	if inWord {
		args = append(args, cur.String())
	}
	return args, nil
}
