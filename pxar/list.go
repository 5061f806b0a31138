package pxar

import (
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"
)

// List prints every entry of the archive, one per line, like upstream
// `pxar list`: the entry path as Rust's Debug formatting prints it (quoted,
// root is "/"). verbose adds ls -l like columns as upstream's
// format_single_line_entry does: mode, uid/gid, mtime, size, path, "-> target".
func List(r io.Reader, w io.Writer, verbose bool) error {
	d := NewDecoder(r)
	for {
		e, err := d.Next()
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return err
		}
		if e.Kind == KindGoodbye {
			continue
		}
		line := rustQuote(e.Path)
		if verbose {
			line = formatEntryLine(e)
		}
		if _, err := io.WriteString(w, line+"\n"); err != nil {
			return err
		}
	}
}

// FeedCatalog reads an archive sequentially (a unified archive, or the
// metadata stream of a split one) and describes its tree to sink as Create
// does while archiving: the catalog of a split archive, which upstream does
// not store, is rebuilt this way. The caller opens and closes the directory
// the archive's contents go into.
func FeedCatalog(r io.Reader, sink CatalogSink) error {
	d := NewDecoder(r)
	for {
		e, err := d.Next()
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return err
		}
		if e.FilenameOffset < 0 && e.Kind == KindDirectory {
			continue // the root: the caller's directory
		}
		if e.Kind == KindGoodbye && e.Path == "/" {
			continue
		}
		if err := feedEntry(sink, e); err != nil {
			return err
		}
	}
}

func feedEntry(sink CatalogSink, e *Entry) error {
	switch e.Kind {
	case KindDirectory:
		return sink.StartDirectory(e.Name)
	case KindGoodbye:
		return sink.EndDirectory()
	case KindFile:
		return sink.AddFile(e.Name, e.Size, e.Stat.MtimeSec)
	case KindSymlink:
		return sink.AddSymlink(e.Name)
	case KindHardlink:
		return sink.AddHardlink(e.Name)
	case KindDevice:
		if e.Stat.FileType() == ModeIFBLK {
			return sink.AddBlockDevice(e.Name)
		}
		return sink.AddCharDevice(e.Name)
	case KindFifo:
		return sink.AddFifo(e.Name)
	case KindSocket:
		return sink.AddSocket(e.Name)
	}
	return fmt.Errorf("pxar: %s: no catalog entry for kind %s", e.Path, e.Kind)
}

func formatEntryLine(e *Entry) string {
	size, link := "0", ""
	switch e.Kind {
	case KindFile:
		size = strconv.FormatUint(e.Size, 10)
	case KindSymlink, KindHardlink:
		link = " -> " + rustQuote(e.LinkTarget)
	case KindDevice:
		size = fmt.Sprintf("%d,%d", e.Device.Major, e.Device.Minor)
	}
	owner := fmt.Sprintf("%d/%d", e.Stat.UID, e.Stat.GID)
	mtime := time.Unix(e.Stat.MtimeSec, 0).Format("2006-01-02 15:04:05")
	return fmt.Sprintf("%s %-13s %s %8s %s%s", modeString(e), owner, mtime, size, rustQuote(e.Path), link)
}

// modeString is ls-style: type, rwx triplets with s/S/t/T, then "+" for ACLs
// and "+" for xattrs (upstream's extension); hardlinks show type 'L'.
func modeString(e *Entry) string {
	mode := e.Stat.Mode
	var b strings.Builder
	if e.Kind == KindHardlink {
		b.WriteByte('L')
	} else {
		c, ok := map[uint64]byte{
			ModeIFREG: '-', ModeIFBLK: 'b', ModeIFCHR: 'c', ModeIFDIR: 'd',
			ModeIFLNK: 'l', ModeIFIFO: 'p', ModeIFSOCK: 's',
		}[mode&ModeIFMT]
		if !ok {
			c = '?'
		}
		b.WriteByte(c)
	}
	triplet := func(perm uint64, special bool, c byte) {
		b.WriteByte("-r"[perm>>2&1])
		b.WriteByte("-w"[perm>>1&1])
		switch {
		case special && perm&1 != 0:
			b.WriteByte(c)
		case special:
			b.WriteByte(c - 'a' + 'A')
		case perm&1 != 0:
			b.WriteByte('x')
		default:
			b.WriteByte('-')
		}
	}
	triplet(mode>>6&7, mode&ModeISUID != 0, 's')
	triplet(mode>>3&7, mode&ModeISGID != 0, 's')
	triplet(mode&7, mode&ModeISVTX != 0, 't')
	plus := func(yes bool) {
		if yes {
			b.WriteByte('+')
		} else {
			b.WriteByte(' ')
		}
	}
	plus(!e.ACL.IsEmpty())
	plus(len(e.Xattrs) > 0)
	return b.String()
}

// rustQuote mimics Rust's Debug output for a path: double quotes, escapes
// for quote, backslash and control characters, \x.. for invalid UTF-8.
func rustQuote(s string) string {
	var b strings.Builder
	b.WriteByte('"')
	for i := 0; i < len(s); {
		r, n := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && n == 1 {
			fmt.Fprintf(&b, "\\x%02x", s[i])
			i++
			continue
		}
		switch r {
		case '"':
			b.WriteString(`\"`)
		case '\\':
			b.WriteString(`\\`)
		case '\t':
			b.WriteString(`\t`)
		case '\n':
			b.WriteString(`\n`)
		case '\r':
			b.WriteString(`\r`)
		case 0:
			b.WriteString(`\0`)
		default:
			if r < 0x20 || r == 0x7f {
				fmt.Fprintf(&b, "\\u{%x}", r)
			} else {
				b.WriteString(s[i : i+n])
			}
		}
		i += n
	}
	b.WriteByte('"')
	return b.String()
}
