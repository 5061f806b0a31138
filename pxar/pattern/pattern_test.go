package pattern

import (
	"fmt"
	"strings"
	"testing"
)

func TestGlob(t *testing.T) {
	tests := []struct {
		glob, s string
		want    bool
	}{
		// literals
		{"foo", "foo", true},
		{"foo", "fo", false},
		{"foo", "fooo", false},
		{"foo", "Foo", false}, // case-sensitive
		// ?
		{"f?o", "foo", true},
		{"f?o", "fo", false},
		{"f?o", "f/o", false},
		{"???", "abc", true},
		// *
		{"*", "", true},
		{"*", "anything", true},
		{"*", "a/b", false},
		{"*.tmp", "x.tmp", true},
		{"*.tmp", ".tmp", true},
		{"*.tmp", "x.tmpl", false},
		{"*.tmp", "d/x.tmp", false},
		{"a*b*c", "abc", true},
		{"a*b*c", "aXXbYYc", true},
		{"a*b*c", "aXXbYY", false},
		{"a**b", "aXb", true},    // ** not a whole component: like *
		{"a**b", "a/b", false},   // … so it does not cross '/'
		{"x/***", "x/a/b", true}, // a run of stars as a whole component is **
		// **
		{"**", "a/b/c", true},
		{"**", "", true},
		{"**/x", "x", true},
		{"**/x", "a/x", true},
		{"**/x", "a/b/x", true},
		{"**/x", "a/bx", false},
		{"**/*.tmp", "d/e/f.tmp", true},
		{"**/*.tmp", "f.tmp", true},
		{"x/**", "x/a", true},
		{"x/**", "x/a/b", true},
		{"x/**", "x", false},
		{"x/**/y", "x/y", true},
		{"x/**/y", "x/a/y", true},
		{"x/**/y", "x/a/b/y", true},
		{"x/**/y", "xy", false},
		{"x/**/y", "x/a/by", false},
		{"/**/y", "/a/y", true},
		{"/**/y", "/y", true},
		// [...]
		{"[abc]", "b", true},
		{"[abc]", "d", false},
		{"[a-c]x", "bx", true},
		{"[a-c]x", "dx", false},
		{"[c-a]", "b", true}, // reversed range normalised
		{"[0-9][0-9]", "42", true},
		{"[0-9]", "a", false},
		{"[]a]", "]", true}, // ']' first is a member
		{"[]a]", "a", true},
		{"[a-]", "-", true}, // '-' last is a member
		{"[/]", "/", false}, // path mode: never '/'
		{"a[/]b", "a/b", false},
		{"[[:digit:]]", "7", true},
		{"[[:digit:]]", "x", false},
		{"[[:alpha:][:digit:]_]", "_", true},
		{"[[:upper:]]", "a", false},
		{"[[:space:]]", "\t", true},
		{"[[:xdigit:]]", "F", true},
		{"[[:punct:]]", "!", true},
		// [!...] and [^...]
		{"[!abc]", "d", true},
		{"[!abc]", "a", false},
		{"[^abc]", "d", true},
		{"[^abc]", "b", false},
		{"[!a-z]", "Q", true},
		{"[!a-z]", "q", false},
		{"[!a]", "/", false}, // negated classes do not match '/' either
		{"[!]]", "]", false},
		{"[!]]", "x", true},
		// \ escapes
		{`\*`, "*", true},
		{`\*`, "a", false},
		{`\?`, "?", true},
		{`\?`, "a", false},
		{`\[a]`, "[a]", true},
		{`\\`, `\`, true},
		{`a\bc`, "abc", true},
		{`[\]]`, "]", true},
		{`[\a-\c]`, "b", true},
		{`[a\-c]`, "-", true},
		{`[a\-c]`, "b", false},
	}
	for _, tc := range tests {
		toks, err := compile(tc.glob)
		if err != nil {
			t.Errorf("compile(%q): %v", tc.glob, err)
			continue
		}
		if got := matchTokens(toks, tc.s); got != tc.want {
			t.Errorf("glob %q vs %q = %v, want %v", tc.glob, tc.s, got, tc.want)
		}
	}
}

func TestParseErrors(t *testing.T) {
	for _, s := range []string{"", "!", "[abc", "[", "[!", "a[b-", `foo\`, "a\x00b", "[[:nope:]]", `[a\`, "!["} {
		_, err := Parse(s)
		if err == nil {
			t.Errorf("Parse(%q): expected an error", s)
			continue
		}
		if !strings.Contains(err.Error(), fmt.Sprintf("%q", s)) {
			t.Errorf("Parse(%q): error %q does not name the pattern", s, err)
		}
	}
}

func TestParseFields(t *testing.T) {
	tests := []struct {
		in, cli string
		include bool
		dirOnly bool
	}{
		{"foo", "foo", false, false},
		{"!foo", "!foo", true, false},
		{"foo/", "foo/", false, true},
		{"foo///", "foo/", false, true},
		{"!/usr/", "!/usr/", true, true},
		{"/", "/", false, true},
		{"!//", "!/", true, true},
		{`\!foo`, `\!foo`, false, false},
		{"*.tmp", "*.tmp", false, false},
	}
	for _, tc := range tests {
		p, err := Parse(tc.in)
		if err != nil {
			t.Fatalf("Parse(%q): %v", tc.in, err)
		}
		if p.CLILine() != tc.cli || p.IsInclude() != tc.include || p.DirOnly() != tc.dirOnly {
			t.Errorf("Parse(%q) = cli %q include %v dir %v, want %q %v %v", tc.in, p.CLILine(), p.IsInclude(), p.DirOnly(), tc.cli, tc.include, tc.dirOnly)
		}
		if p.String() != tc.in {
			t.Errorf("Parse(%q).String() = %q", tc.in, p.String())
		}
		// CLILine must round-trip.
		q, err := Parse(p.CLILine())
		if err != nil || q.CLILine() != p.CLILine() || q.include != p.include || q.dirOnly != p.dirOnly {
			t.Errorf("CLILine %q does not round-trip: %v", p.CLILine(), err)
		}
	}
}

type probe struct {
	path  string
	isDir bool
	want  MatchType
}

func mustList(t *testing.T, pats ...string) List {
	t.Helper()
	var l List
	for _, s := range pats {
		p, err := Parse(s)
		if err != nil {
			t.Fatalf("Parse(%q): %v", s, err)
		}
		l = append(l, p)
	}
	return l
}

func checkProbes(t *testing.T, name string, l List, probes []probe) {
	t.Helper()
	for _, pr := range probes {
		if got := l.Match(pr.path, pr.isDir); got != pr.want {
			t.Errorf("%s: Match(%q, dir=%v) = %v, want %v", name, pr.path, pr.isDir, got, pr.want)
		}
	}
}

func TestCLIPatterns(t *testing.T) {
	tests := []struct {
		name   string
		pats   []string
		probes []probe
	}{
		{"basename at any depth", []string{"foo"}, []probe{
			{"foo", false, Exclude},
			{"a/foo", false, Exclude},
			{"a/b/foo", true, Exclude},
			{"a/foobar", false, NoMatch},
			{"foo/bar", false, NoMatch}, // only the entry itself; the caller skips excluded dirs
		}},
		{"leading slash anchors at root", []string{"/usr"}, []probe{
			{"usr", true, Exclude},
			{"a/usr", true, NoMatch},
			{"usr/lib", true, NoMatch},
		}},
		{"pattern with inner slash matches a suffix", []string{"b/c"}, []probe{
			{"b/c", false, Exclude},
			{"a/b/c", false, Exclude},
			{"a/xb/c", false, NoMatch},
			{"b/c/d", false, NoMatch},
		}},
		{"anchored with inner slash", []string{"/a/*/c"}, []probe{
			{"a/b/c", false, Exclude},
			{"x/a/b/c", false, NoMatch},
			{"a/b/b/c", false, NoMatch},
		}},
		{"star", []string{"*.tmp"}, []probe{
			{"x.tmp", false, Exclude},
			{"d/e/x.tmp", false, Exclude},
			{"x.tmp.bak", false, NoMatch},
		}},
		{"question mark", []string{"file?"}, []probe{
			{"file1", false, Exclude},
			{"d/fileX", false, Exclude},
			{"file", false, NoMatch},
			{"file12", false, NoMatch},
		}},
		{"globstar", []string{"**/*.tmp"}, []probe{
			{"a.tmp", false, Exclude},
			{"d/a.tmp", false, Exclude},
			{"d/e/a.tmp", false, Exclude},
			{"a.tmpx", false, NoMatch},
		}},
		{"globstar middle", []string{"/var/**/cache"}, []probe{
			{"var/cache", true, Exclude},
			{"var/lib/apt/cache", true, Exclude},
			{"usr/var/cache", true, NoMatch},
		}},
		{"dir only", []string{"build/"}, []probe{
			{"build", true, Exclude},
			{"build", false, NoMatch},
			{"src/build", true, Exclude},
			{"src/build", false, NoMatch},
		}},
		{"classes", []string{"[a-c]*", "![!b]x*"}, []probe{
			{"apple", false, Exclude},
			{"axe", false, Include},
			{"bxe", false, Exclude},
			{"dog", false, NoMatch},
		}},
		{"escape", []string{`\*literal`, `q\?`}, []probe{
			{"*literal", false, Exclude},
			{"xliteral", false, NoMatch},
			{"q?", false, Exclude},
			{"qq", false, NoMatch},
		}},
		{"last match wins", []string{"*.log", "!important.log", "important.log"}, []probe{
			{"a.log", false, Exclude},
			{"important.log", false, Exclude},
		}},
		{"re-include", []string{"/data/*", "!/data/keep"}, []probe{
			{"data/x", false, Exclude},
			{"data/keep", true, Include},
			{"data", true, NoMatch},
		}},
		{"root never matched", []string{"**", "*"}, []probe{
			{"", true, NoMatch},
			{"a", false, Exclude},
		}},
		{"slash-only pattern never matches", []string{"/"}, []probe{
			{"a", true, NoMatch},
		}},
	}
	for _, tc := range tests {
		checkProbes(t, tc.name, mustList(t, tc.pats...), tc.probes)
	}
}

func TestParseExcludeFileSyntax(t *testing.T) {
	data := "# comment\n\n   \n  *.tmp  \r\n!keep.tmp\n#!not a pattern\n[bad\ncache/\n\t/abs\n"
	l, err := ParseExcludeFile([]byte(data), "")
	if err == nil || !strings.Contains(err.Error(), `"[bad"`) || !strings.Contains(err.Error(), "line 7") {
		t.Fatalf("expected an error naming line 7 %q, got %v", "[bad", err)
	}
	var got []string
	for _, p := range l {
		got = append(got, p.String())
	}
	want := []string{"*.tmp", "!keep.tmp", "cache/", "/abs"}
	if strings.Join(got, "|") != strings.Join(want, "|") {
		t.Fatalf("patterns = %q, want %q", got, want)
	}
	checkProbes(t, "syntax", l, []probe{
		{"x.tmp", false, Exclude},
		{"d/keep.tmp", false, Include},
		{"cache", true, Exclude},
		{"cache", false, NoMatch},
		{"abs", false, Exclude},
		{"d/abs", false, NoMatch},
	})
	if l, err := ParseExcludeFile(nil, ""); err != nil || len(l) != 0 {
		t.Fatalf("empty file: %v %v", l, err)
	}
}

// TestUpstreamExample is the example of the client documentation (formats.md
// 10.4): folder/.pxarexclude has "/subfolder0/file1", "/subfolder1/*",
// "!/subfolder1/file2"; folder/subfolder0/.pxarexclude has "file3".
func TestUpstreamExample(t *testing.T) {
	top, err := ParseExcludeFile([]byte("/subfolder0/file1\n/subfolder1/*\n!/subfolder1/file2\n"), "")
	if err != nil {
		t.Fatal(err)
	}
	sub, err := ParseExcludeFile([]byte("file3\n"), "subfolder0")
	if err != nil {
		t.Fatal(err)
	}
	l := append(append(List{}, top...), sub...)
	included := map[string]bool{
		".pxarexclude": true, "subfolder0": true, "subfolder1": true,
		"subfolder0/.pxarexclude": true, "subfolder0/file0": true, "subfolder0/file2": true,
		"subfolder1/file2": true,
	}
	for _, path := range []string{".pxarexclude", "subfolder0", "subfolder1",
		"subfolder0/.pxarexclude", "subfolder0/file0", "subfolder0/file1", "subfolder0/file2", "subfolder0/file3",
		"subfolder1/file0", "subfolder1/file1", "subfolder1/file2", "subfolder1/file3"} {
		isDir := path == "subfolder0" || path == "subfolder1"
		got := l.Match(path, isDir) != Exclude
		if got != included[path] {
			t.Errorf("%s: included=%v, want %v", path, got, included[path])
		}
	}
}

func TestNestedExcludeFiles(t *testing.T) {
	root, _ := ParseExcludeFile([]byte("*.o\n/top-only\n"), "")
	sub, _ := ParseExcludeFile([]byte("/local\n!keep.o\nonly-below\n**/deep/*.txt\n"), "src")
	subsub, _ := ParseExcludeFile([]byte("!local\n*.o\n"), "src/lib")
	cli := mustList(t, "*.txt")
	l := append(append(append(cli, root...), sub...), subsub...)
	checkProbes(t, "nested", l, []probe{
		// root file
		{"a.o", false, Exclude},
		{"top-only", false, Exclude},
		{"src/top-only", false, NoMatch},
		// src/.pxarexclude: anchored lines are relative to src
		{"src/local", false, Exclude},
		{"local", false, NoMatch},
		{"src/x/local", false, NoMatch},
		// deeper patterns override higher ones
		{"src/keep.o", false, Include},
		{"src/x/keep.o", false, Include},
		{"keep.o", false, Exclude}, // src's patterns do not apply outside src
		// unanchored lines match at any depth below dir only
		{"only-below", false, NoMatch},
		{"other/only-below", false, NoMatch},
		{"src/only-below", false, Exclude},
		{"src/a/b/only-below", false, Exclude},
		{"src", true, NoMatch}, // the directory itself is not governed by its own file
		// the cli pattern is overridden by nothing here
		{"src/notes.txt", false, Exclude},
		{"src/a/deep/x.txt", false, Exclude},
		// src/lib/.pxarexclude overrides src/.pxarexclude
		{"src/lib/keep.o", false, Exclude},
		{"src/lib/local", false, Include},
		{"src/libx/keep.o", false, Include},
	})
}

func TestNoExponentialBlowup(t *testing.T) {
	glob := strings.Repeat("*a", 30) + "b"
	p, err := Parse(glob)
	if err != nil {
		t.Fatal(err)
	}
	long := strings.Repeat("a", 4000)
	if p.Matches(long, false) {
		t.Fatal("unexpected match")
	}
	p, err = Parse(strings.Repeat("**/a/", 20) + "b")
	if err != nil {
		t.Fatal(err)
	}
	deep := strings.Repeat("a/", 500) + "c"
	if p.Matches(deep, false) {
		t.Fatal("unexpected match")
	}
}

func FuzzParse(f *testing.F) {
	for _, s := range []string{"", "!", "foo", "!/a/**/b/", "[a-z]", "[!x]", "[^x]", `\`, "[[:alpha:]]", "[[:x", "**", "a**b", "//", "[]", "[]]"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		p, err := Parse(s)
		if err != nil {
			if p != nil {
				t.Fatal("pattern returned with error")
			}
			return
		}
		_ = p.String()
		cli := p.CLILine()
		q, err := Parse(cli)
		if err != nil {
			t.Fatalf("CLILine %q of %q does not parse: %v", cli, s, err)
		}
		if q.CLILine() != cli {
			t.Fatalf("CLILine not stable: %q -> %q", cli, q.CLILine())
		}
		_, _ = ParseExcludeFile([]byte(s), "d")
	})
}

func FuzzMatch(f *testing.F) {
	f.Add("*.tmp", "a/b.tmp", false)
	f.Add("/a/**/b/", "a/x/b", true)
	f.Add("[!a-c]?*", "zz", false)
	f.Add("!x/**", "x/y/z", false)
	f.Fuzz(func(t *testing.T, pat, path string, isDir bool) {
		if len(pat) > 200 || len(path) > 1000 {
			return
		}
		p, err := Parse(pat)
		if err != nil {
			return
		}
		l := List{p}
		_ = l.Match(path, isDir)
		fl, _ := ParseExcludeFile([]byte(pat), "sub")
		_ = fl.Match(path, isDir)
		_ = fl.Match("sub/"+path, isDir)
	})
}
