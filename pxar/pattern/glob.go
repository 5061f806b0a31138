package pattern

import (
	"errors"
	"fmt"
)

// Glob compilation and matching (formats.md 10.3: git "wildmatch" style, path
// mode). Matching is a dynamic programme over (token, byte offset), so it runs
// in O(tokens × len(path)) time whatever mix of "*" and "**" the pattern has —
// no backtracking blow-up.

type tokKind uint8

const (
	tLiteral  tokKind = iota // one literal byte
	tAny                     // "?": one byte except '/'
	tClass                   // "[...]": one byte (never '/') from a set
	tStar                    // "*": any run of bytes without '/'
	tAnySeq                  // trailing whole-component "**": any run of bytes
	tGlobDirs                // whole-component "**/": "" or any run ending in '/'
)

type token struct {
	kind tokKind
	b    byte       // tLiteral
	set  *[256]bool // tClass (negation already applied)
}

var (
	errEmpty        = errors.New("empty pattern")
	errNUL          = errors.New("pattern contains a NUL byte")
	errTrailingEsc  = errors.New("trailing unescaped backslash")
	errUnterminated = errors.New("unterminated character class '['")
)

// namedClasses are the POSIX classes allowed inside "[...]" as "[:name:]".
var namedClasses = map[string]func(c byte) bool{
	"alnum":  func(c byte) bool { return isAlpha(c) || isDigit(c) },
	"alpha":  isAlpha,
	"blank":  func(c byte) bool { return c == ' ' || c == '\t' },
	"cntrl":  func(c byte) bool { return c < 0x20 || c == 0x7f },
	"digit":  isDigit,
	"graph":  func(c byte) bool { return c > 0x20 && c < 0x7f },
	"lower":  func(c byte) bool { return c >= 'a' && c <= 'z' },
	"print":  func(c byte) bool { return c >= 0x20 && c < 0x7f },
	"punct":  func(c byte) bool { return c > 0x20 && c < 0x7f && !isAlpha(c) && !isDigit(c) },
	"space":  func(c byte) bool { return c == ' ' || (c >= '\t' && c <= '\r') },
	"upper":  func(c byte) bool { return c >= 'A' && c <= 'Z' },
	"xdigit": func(c byte) bool { return isDigit(c) || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F') },
}

func isAlpha(c byte) bool { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') }
func isDigit(c byte) bool { return c >= '0' && c <= '9' }

// compile turns glob text into tokens.
func compile(s string) ([]token, error) {
	if s == "" {
		return nil, errEmpty
	}
	var toks []token
	for i := 0; i < len(s); {
		c := s[i]
		switch c {
		case 0:
			return nil, errNUL
		case '\\':
			if i+1 >= len(s) {
				return nil, errTrailingEsc
			}
			if s[i+1] == 0 {
				return nil, errNUL
			}
			toks = append(toks, token{kind: tLiteral, b: s[i+1]})
			i += 2
		case '?':
			toks = append(toks, token{kind: tAny})
			i++
		case '*':
			j := i
			for j < len(s) && s[j] == '*' {
				j++
			}
			// "**" is special only as a whole path component (10.3);
			// elsewhere any run of stars behaves like a single "*".
			whole := j-i >= 2 && (i == 0 || s[i-1] == '/') && (j == len(s) || s[j] == '/')
			switch {
			case whole && j == len(s):
				toks = append(toks, token{kind: tAnySeq})
				i = j
			case whole:
				toks = append(toks, token{kind: tGlobDirs})
				i = j + 1 // the "/" is part of the token
			default:
				if n := len(toks); n == 0 || toks[n-1].kind != tStar {
					toks = append(toks, token{kind: tStar})
				}
				i = j
			}
		case '[':
			set, n, err := parseClass(s[i:])
			if err != nil {
				return nil, err
			}
			toks = append(toks, token{kind: tClass, set: set})
			i += n
		default:
			toks = append(toks, token{kind: tLiteral, b: c})
			i++
		}
	}
	return toks, nil
}

// parseClass parses a bracket expression at the start of s and returns the
// set of matching bytes and the number of bytes consumed.
//
// UNCERTAIN (formats.md 10.3): the user documentation describes "[!...]" as
// negation while the matcher version read only treats "[^...]" that way. Both
// are accepted as negation here (also what git's wildmatch does).
func parseClass(s string) (*[256]bool, int, error) {
	var set [256]bool
	i := 1
	neg := false
	if i < len(s) && (s[i] == '!' || s[i] == '^') {
		neg = true
		i++
	}
	first := true
	for {
		if i >= len(s) {
			return nil, 0, errUnterminated
		}
		c := s[i]
		if c == ']' && !first {
			i++
			break
		}
		first = false
		if c == 0 {
			return nil, 0, errNUL
		}
		if c == '[' && i+1 < len(s) && s[i+1] == ':' {
			end := indexFrom(s, ":]", i+2)
			if end >= 0 {
				name := s[i+2 : end]
				fn, ok := namedClasses[name]
				if !ok {
					return nil, 0, fmt.Errorf("malformed character class name [:%s:]", name)
				}
				for b := 0; b < 256; b++ {
					if fn(byte(b)) {
						set[b] = true
					}
				}
				i = end + 2
				continue
			}
			// no ":]" follows: '[' is an ordinary member
		}
		lo, n, err := classByte(s, i)
		if err != nil {
			return nil, 0, err
		}
		i += n
		if i+1 < len(s) && s[i] == '-' && s[i+1] != ']' {
			hi, n, err := classByte(s, i+1)
			if err != nil {
				return nil, 0, err
			}
			i += 1 + n
			if lo > hi { // reversed ranges are normalised (10.3)
				lo, hi = hi, lo
			}
			for b := int(lo); b <= int(hi); b++ {
				set[b] = true
			}
			continue
		}
		set[lo] = true
	}
	if neg {
		for b := range set {
			set[b] = !set[b]
		}
	}
	// Path mode: a bracket expression never matches '/' (git wildmatch with
	// WM_PATHNAME), negated or not.
	set['/'] = false
	return &set, i, nil
}

// classByte reads one (possibly "\"-escaped) member byte at s[i].
func classByte(s string, i int) (byte, int, error) {
	if s[i] == '\\' {
		if i+1 >= len(s) {
			return 0, 0, errUnterminated
		}
		if s[i+1] == 0 {
			return 0, 0, errNUL
		}
		return s[i+1], 2, nil
	}
	if s[i] == 0 {
		return 0, 0, errNUL
	}
	return s[i], 1, nil
}

func indexFrom(s, sub string, from int) int {
	for i := from; i+len(sub) <= len(s); i++ {
		if s[i:i+len(sub)] == sub {
			return i
		}
	}
	return -1
}

// matchTokens reports whether toks match all of s. cur[p] holds "toks[t:]
// match s[p:]" for the row being computed, next the row for t+1.
func matchTokens(toks []token, s string) bool {
	n := len(s)
	next := make([]bool, n+1)
	cur := make([]bool, n+1)
	next[n] = true // no tokens left matches only the empty rest
	for t := len(toks) - 1; t >= 0; t-- {
		tok := toks[t]
		cur[n] = false
		switch tok.kind {
		case tStar, tAnySeq, tGlobDirs:
			cur[n] = next[n]
		}
		anyDirs := false // for tGlobDirs: some q>p with s[q-1]=='/' && next[q]
		for p := n - 1; p >= 0; p-- {
			c := s[p]
			var ok bool
			switch tok.kind {
			case tLiteral:
				ok = c == tok.b && next[p+1]
			case tAny:
				ok = c != '/' && next[p+1]
			case tClass:
				ok = tok.set[c] && next[p+1]
			case tStar:
				ok = next[p] || (c != '/' && cur[p+1])
			case tAnySeq:
				ok = next[p] || cur[p+1]
			case tGlobDirs:
				if c == '/' && next[p+1] {
					anyDirs = true
				}
				ok = next[p] || anyDirs
			}
			cur[p] = ok
		}
		cur, next = next, cur
	}
	return next[0]
}

// hasSlash reports whether the tokens can match a '/' at all.
func hasSlash(toks []token) bool {
	for _, t := range toks {
		switch t.kind {
		case tAnySeq, tGlobDirs:
			return true
		case tLiteral:
			if t.b == '/' {
				return true
			}
		}
	}
	return false
}
