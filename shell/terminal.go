package shell

import (
	"errors"
	"io"
	"strings"

	"golang.org/x/term"
)

// RunTerminal runs an interactive session on a terminal (already in raw
// mode): line editing, history and tab completion of commands and paths
// come from golang.org/x/term.
func (s *Shell) RunTerminal(rw io.ReadWriter) error {
	t := term.NewTerminal(rw, s.Prompt())
	t.AutoCompleteCallback = func(line string, pos int, key rune) (string, int, bool) {
		if key != '\t' {
			return "", 0, false
		}
		return s.Complete(line, pos)
	}
	for {
		t.SetPrompt(s.Prompt())
		line, err := t.ReadLine()
		if err != nil {
			if errors.Is(err, io.EOF) {
				io.WriteString(t, "\n")
				return nil
			}
			return err
		}
		if s.Exec(line, t) {
			return nil
		}
	}
}

// Complete completes the word before pos: a command name for the first
// word, otherwise a path of the archive. It returns the new line and
// cursor position, and false when there is nothing to complete.
func (s *Shell) Complete(line string, pos int) (string, int, bool) {
	if pos > len(line) {
		pos = len(line)
	}
	before := line[:pos]
	start := strings.LastIndexAny(before, " \t") + 1
	word := before[start:]
	var cands []string
	if strings.TrimSpace(before[:start]) == "" {
		for _, c := range commands {
			if strings.HasPrefix(c.name, word) {
				cands = append(cands, c.name+" ")
			}
		}
	} else {
		if strings.HasPrefix(word, "-") {
			return "", 0, false
		}
		dirPart, prefix := "", word
		if i := strings.LastIndexByte(word, '/'); i >= 0 {
			dirPart, prefix = word[:i+1], word[i+1:]
		}
		dir, err := s.lookup(s.resolve(dirPart))
		if err != nil || !dir.IsDir() {
			return "", 0, false
		}
		ents, err := s.o.Catalog.ReadDir(dir)
		if err != nil {
			return "", 0, false
		}
		for _, e := range ents {
			n := string(e.Name)
			if !strings.HasPrefix(n, prefix) || strings.ContainsAny(n, " \t'\"\\") {
				continue
			}
			if e.IsDir() {
				cands = append(cands, dirPart+n+"/")
			} else {
				cands = append(cands, dirPart+n+" ")
			}
		}
	}
	if len(cands) == 0 {
		return "", 0, false
	}
	repl := cands[0]
	if len(cands) > 1 {
		repl = commonPrefix(cands)
		if len(repl) <= len(word) {
			return "", 0, false
		}
	}
	newLine := line[:start] + repl + line[pos:]
	return newLine, start + len(repl), true
}

func commonPrefix(s []string) string {
	p := s[0]
	for _, x := range s[1:] {
		for !strings.HasPrefix(x, p) {
			p = p[:len(p)-1]
		}
	}
	return p
}
