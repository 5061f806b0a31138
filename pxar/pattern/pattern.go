// Package pattern implements the exclusion patterns of pxar archives:
// --exclude command-line patterns and .pxarexclude files (formats.md §10).
//
// Paths handed to Match are relative to the archive root and carry no
// leading "/"; internally they are matched as "/" + path, like upstream.
package pattern

import (
	"errors"
	"fmt"
	"strings"
)

// MatchType is the outcome of matching a path against a pattern list.
type MatchType int

const (
	NoMatch MatchType = iota // no pattern matched: the entry is included
	Include                  // the last matching pattern is a "!" pattern
	Exclude                  // the last matching pattern is an exclude pattern
)

func (m MatchType) String() string {
	switch m {
	case NoMatch:
		return "no-match"
	case Include:
		return "include"
	case Exclude:
		return "exclude"
	}
	return fmt.Sprintf("MatchType(%d)", int(m))
}

// Pattern is one parsed exclude/include pattern.
type Pattern struct {
	raw      string // as written (a --exclude value or a trimmed .pxarexclude line)
	text     string // parsed glob text: without "!" and trailing slashes (10.5)
	include  bool
	dirOnly  bool
	anchored bool   // .pxarexclude line with leading "/": whole path only
	scope    string // directory of the .pxarexclude ("" = root or --exclude)
	toks     []token
	slash    bool // the glob can match '/': otherwise only the basename can match
}

// Parse parses a single --exclude value (or the body of a .pxarexclude line):
// a leading "!" makes it an include pattern, trailing "/" restricts it to
// directories. A leading "/" is kept in the glob; since non-anchored patterns
// are matched against the full path "/…" and its suffixes after a "/", such
// a pattern can only match the full path, i.e. it is anchored at the archive
// root (10.2, 10.4).
func Parse(s string) (*Pattern, error) {
	p, err := parse(s)
	if err != nil {
		return nil, fmt.Errorf("invalid pattern %q: %w", s, err)
	}
	return p, nil
}

func parse(s string) (*Pattern, error) {
	p := &Pattern{raw: s}
	body := s
	if strings.HasPrefix(body, "!") {
		p.include = true
		body = body[1:]
	}
	if body == "" {
		return nil, errEmpty
	}
	if strings.HasSuffix(body, "/") {
		p.dirOnly = true
		body = strings.TrimRight(body, "/")
		if body == "" {
			// A pattern of slashes only becomes a directory-only "/" (10.2).
			// It can never match: the archive root itself is never matched.
			body = "/"
		}
	}
	toks, err := compile(body)
	if err != nil {
		return nil, err
	}
	p.text = body
	p.toks = toks
	p.slash = hasSlash(toks)
	return p, nil
}

// ParseExcludeFile parses the contents of a .pxarexclude file found in
// directory dir (archive-relative, "" for the root). Per 10.2 lines are split
// on "\n" and trimmed of ASCII whitespace; empty lines and "#" comments are
// skipped. The returned patterns only ever match entries below dir.
//
// Lines that fail to parse are skipped (upstream reports and skips them): the
// returned List holds every valid line and the error, if non-nil, names each
// bad line.
func ParseExcludeFile(data []byte, dir string) (List, error) {
	dir = strings.Trim(dir, "/")
	var list List
	var errs []error
	for n, line := range strings.Split(string(data), "\n") {
		line = strings.Trim(line, " \t\n\r\v\f")
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		p, err := parse(line)
		if err != nil {
			errs = append(errs, fmt.Errorf("%s line %d: invalid pattern %q: %w", excludeFileName(dir), n+1, line, err))
			continue
		}
		p.scope = dir
		// A leading "/" (after an optional "!") anchors the line at dir.
		//
		// UNCERTAIN (formats.md 10.2): upstream prepends dir without a
		// leading "/" so, as read, anchored lines of nested .pxarexclude
		// files never match. We implement the documented intent: anchored
		// lines match relative to the directory holding the file.
		if strings.HasPrefix(p.text, "/") {
			p.anchored = true
		}
		list = append(list, p)
	}
	return list, errors.Join(errs...)
}

func excludeFileName(dir string) string {
	if dir == "" {
		return ".pxarexclude"
	}
	return dir + "/.pxarexclude"
}

// IsInclude reports whether p is a "!" (re-include) pattern.
func (p *Pattern) IsInclude() bool { return p.include }

// DirOnly reports whether p only matches directories (trailing "/").
func (p *Pattern) DirOnly() bool { return p.dirOnly }

// CLILine is the line stored for p in the archive's .pxarexclude-cli (10.5):
// "!" for include patterns, then the parsed glob text, then "/" for
// directory-only patterns. Parsing it again yields an equivalent pattern.
func (p *Pattern) CLILine() string {
	var b strings.Builder
	if p.include {
		b.WriteByte('!')
	}
	b.WriteString(p.text)
	if p.dirOnly && p.text != "/" {
		b.WriteByte('/')
	}
	return b.String()
}

// String returns the pattern as it was written.
func (p *Pattern) String() string { return p.raw }

// Matches reports whether p matches the archive-relative path (no leading
// "/"), ignoring whether it is an include or exclude pattern.
func (p *Pattern) Matches(path string, isDir bool) bool {
	if p.dirOnly && !isDir {
		return false
	}
	path = strings.TrimPrefix(path, "/")
	if path == "" {
		return false // the archive root itself is never matched (10.4)
	}
	if p.scope != "" {
		// A .pxarexclude applies to its directory's entries and below.
		if len(path) <= len(p.scope) || path[len(p.scope)] != '/' || !strings.HasPrefix(path, p.scope) {
			return false
		}
	}
	if p.anchored {
		rel := path
		if p.scope != "" {
			rel = path[len(p.scope)+1:]
		}
		return matchTokens(p.toks, "/"+rel)
	}
	// Non-anchored: the full path "/"+path or any suffix right after a "/"
	// (10.4). For nested .pxarexclude files the candidates are still
	// suffixes of the full path, as upstream builds them (only the entries
	// tested differ).
	full := "/" + path
	if !p.slash {
		// Without a way to match '/', only the basename can match.
		return matchTokens(p.toks, full[strings.LastIndexByte(full, '/')+1:])
	}
	if matchTokens(p.toks, full) {
		return true
	}
	for i := 0; i < len(full); i++ {
		if full[i] == '/' && matchTokens(p.toks, full[i+1:]) {
			return true
		}
	}
	return false
}

// List is an ordered pattern list: --exclude patterns first, then the
// patterns of each .pxarexclude from the top directory downwards.
type List []*Pattern

// Match returns the type of the last pattern in l that matches path
// (archive-relative, no leading "/"), or NoMatch (10.1).
func (l List) Match(path string, isDir bool) MatchType {
	for i := len(l) - 1; i >= 0; i-- {
		p := l[i]
		if p == nil || !p.Matches(path, isDir) {
			continue
		}
		if p.include {
			return Include
		}
		return Exclude
	}
	return NoMatch
}
