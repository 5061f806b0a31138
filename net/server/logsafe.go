package server

import (
	"io"
	"strconv"
	"unicode"
	"unicode/utf8"
)

// Log hygiene: every server log line is one line of printable text, whatever
// a client put into the values it logs (a user name, a percent-encoded
// path, a header). Control characters (C0, DEL, C1), the Unicode line and
// paragraph separators and invalid UTF-8 are written as Go escapes (\n,
// \x1b, \u2028), so a value can never end a line early and plant a forged one
// ("successful auth for user 'root@pam'"). Overlong messages are cut.

// maxLogLine bounds one log line: upstream keeps access log lines below
// PIPE_BUF (4 KiB) for atomic appends; one line never holds a whole request
// body either way.
const maxLogLine = 4096

// maxLoggedPath is how much of a request path a log line shows (upstream's
// MAX_URI_QUERY_LENGTH).
const maxLoggedPath = 3072

// logEscape returns s with every character that is not safe in a one-line
// log message escaped, and at most max bytes of the result kept (0: no
// limit); a cut is marked with the number of input bytes left out.
func logEscape(s string, max int) string {
	safe := true
	for i := 0; i < len(s); {
		r, n := utf8.DecodeRuneInString(s[i:])
		if !logSafeRune(r, n) {
			safe = false
			break
		}
		i += n
	}
	if safe && (max <= 0 || len(s) <= max) {
		return s
	}
	out := make([]byte, 0, min(len(s)+16, max+64))
	for i := 0; i < len(s); {
		if max > 0 && len(out) >= max {
			out = append(out, "...["...)
			out = strconv.AppendInt(out, int64(len(s)-i), 10)
			out = append(out, " more bytes]"...)
			break
		}
		r, n := utf8.DecodeRuneInString(s[i:])
		switch {
		case logSafeRune(r, n):
			out = append(out, s[i:i+n]...)
		case r == utf8.RuneError && n <= 1:
			out = append(out, `\x`...)
			out = append(out, hexDigit(s[i]>>4), hexDigit(s[i]&15))
		default:
			q := strconv.QuoteRuneToASCII(r) // '\n', '\x1b', '\u2028'
			out = append(out, q[1:len(q)-1]...)
		}
		i += n
	}
	return string(out)
}

func logSafeRune(r rune, n int) bool {
	if r == utf8.RuneError && n <= 1 {
		return false
	}
	if r < 0x20 || r == 0x7f || (r >= 0x80 && r < 0xa0) || r == 0x2028 || r == 0x2029 {
		return false
	}
	return r < 0x80 || unicode.IsPrint(r) || r == ' '
}

func hexDigit(b byte) byte { return "0123456789abcdef"[b&15] }

// logWriter escapes each log line written through it (a log.Logger writes
// one line per Write, ending in '\n').
type logWriter struct{ w io.Writer }

func (lw logWriter) Write(p []byte) (int, error) {
	line := string(p)
	nl := len(line) > 0 && line[len(line)-1] == '\n'
	if nl {
		line = line[:len(line)-1]
	}
	line = logEscape(line, maxLogLine)
	if _, err := io.WriteString(lw.w, line+"\n"); err != nil {
		return 0, err
	}
	return len(p), nil
}
