package catalog

import (
	"fmt"
	"strconv"
	"time"
	"unicode"
	"unicode/utf8"
)

// appendRustDebugPath appends p quoted the way Rust formats a Unix path
// with {:?}: valid UTF-8 goes through char::escape_debug (which, for
// OsStr, also escapes single quotes), invalid bytes become \xNN with
// upper-case hex.
func appendRustDebugPath(b, p []byte) []byte {
	b = append(b, '"')
	for len(p) > 0 {
		r, n := utf8.DecodeRune(p)
		if r == utf8.RuneError && n <= 1 {
			b = fmt.Appendf(b, "\\x%02X", p[0])
			p = p[1:]
			continue
		}
		p = p[n:]
		switch r {
		case 0:
			b = append(b, '\\', '0')
		case '\t':
			b = append(b, '\\', 't')
		case '\r':
			b = append(b, '\\', 'r')
		case '\n':
			b = append(b, '\\', 'n')
		case '\\', '"', '\'':
			b = append(b, '\\', byte(r))
		default:
			if isGraphemeExtend(r) || !unicode.IsPrint(r) {
				b = append(b, `\u{`...)
				b = strconv.AppendInt(b, int64(r), 16)
				b = append(b, '}')
			} else {
				b = utf8.AppendRune(b, r)
			}
		}
	}
	return append(b, '"')
}

func isGraphemeExtend(r rune) bool {
	if r < 0x300 {
		return false
	}
	return unicode.In(r, unicode.Mn, unicode.Me, unicode.Other_Grapheme_Extend)
}

// Range of mtimes whose year fits a C int tm_year (beyond it upstream's
// strftime fails and the plain number is printed).
const (
	maxFormattableMtime = 67767976233316800
	minFormattableMtime = -67768040609740800
)

// formatMtime formats like upstream: strftime_local("%FT%TZ") — local time
// with a literal "Z" — falling back to the decimal number.
func formatMtime(mtime int64) string {
	if mtime > maxFormattableMtime || mtime < minFormattableMtime {
		return strconv.FormatInt(mtime, 10)
	}
	t := time.Unix(mtime, 0).In(time.Local)
	year := t.Year()
	ys := strconv.Itoa(year)
	if year >= 0 && year < 1000 {
		ys = fmt.Sprintf("%04d", year)
	}
	return fmt.Sprintf("%s-%02d-%02dT%02d:%02d:%02dZ", ys, int(t.Month()), t.Day(), t.Hour(), t.Minute(), t.Second())
}
