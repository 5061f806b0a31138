package format

import (
	"bytes"
	"encoding/binary"
	"os"
	"path/filepath"
	"strings"
)

// UTF8Locale reports whether the locale the environment selects for
// characters has the UTF-8 codeset. Upstream decides its table borders so
// (protocol.md 9.3): setlocale(LC_CTYPE, "") and then
// nl_langinfo(CODESET) == "UTF-8"; box drawing if so, ASCII otherwise.
//
// As with glibc, the name comes from the first non-empty one of LC_ALL,
// LC_CTYPE and LANG ("C" if none is set), its codeset must normalize to
// "utf8" (UTF-8, utf8, UTF8…), and the locale must be installed: a name
// that setlocale cannot load leaves the process in the "C" locale, so a
// LANG=en_US.UTF-8 on a machine without that locale gets ASCII borders.
func UTF8Locale() bool { return utf8Locale(os.Getenv, localeInstalled) }

// localeName is the locale setlocale(LC_CTYPE, "") looks for.
func localeName(getenv func(string) string) string {
	for _, v := range []string{"LC_ALL", "LC_CTYPE", "LANG"} {
		if s := getenv(v); s != "" {
			return s
		}
	}
	return "C"
}

func utf8Locale(getenv func(string) string, installed func(name, normalized string) bool) bool {
	name := localeName(getenv)
	if name == "C" || name == "POSIX" || strings.Contains(name, "/") {
		return false
	}
	dot := strings.IndexByte(name, '.')
	if dot < 0 {
		return false // no codeset: the locale's own, which is not UTF-8 in practice
	}
	rest := name[dot+1:]
	modifier := ""
	if at := strings.IndexByte(rest, '@'); at >= 0 {
		rest, modifier = rest[:at], rest[at:]
	}
	cs := normalizeCodeset(rest)
	if cs != "utf8" {
		return false
	}
	return installed(name, name[:dot+1]+cs+modifier)
}

// normalizeCodeset is glibc's _nl_normalize_codeset: letters lower-cased,
// digits kept, everything else dropped; all digits get an "iso" prefix.
func normalizeCodeset(cs string) string {
	var b strings.Builder
	digitsOnly := true
	for i := 0; i < len(cs); i++ {
		c := cs[i]
		switch {
		case c >= 'a' && c <= 'z':
			b.WriteByte(c)
			digitsOnly = false
		case c >= 'A' && c <= 'Z':
			b.WriteByte(c + 'a' - 'A')
			digitsOnly = false
		case c >= '0' && c <= '9':
			b.WriteByte(c)
		}
	}
	if digitsOnly && b.Len() > 0 {
		return "iso" + b.String()
	}
	return b.String()
}

// localeDir is where glibc keeps compiled locales (its complocaledir).
var localeDir = "/usr/lib/locale"

// localeInstalled reports whether setlocale can load a locale, looking where
// glibc does: the directories of LOCPATH if set; otherwise the locale
// archive, then one directory per locale. A system without localeDir (musl,
// macOS) loads any well-formed name.
func localeInstalled(name, normalized string) bool {
	hasCtype := func(dir string) bool {
		for _, n := range []string{name, normalized} {
			if st, err := os.Stat(filepath.Join(dir, n, "LC_CTYPE")); err == nil && st.Mode().IsRegular() {
				return true
			}
		}
		return false
	}
	if lp := os.Getenv("LOCPATH"); lp != "" {
		for _, dir := range filepath.SplitList(lp) {
			if dir != "" && hasCtype(dir) {
				return true
			}
		}
		return false
	}
	if st, err := os.Stat(localeDir); err != nil || !st.IsDir() {
		return true
	}
	if archiveHas(filepath.Join(localeDir, "locale-archive"), name, normalized) {
		return true
	}
	return hasCtype(localeDir)
}

// Locale archive layout (glibc locale/locarchive.h): a header of 14
// native-endian uint32 — magic, serial, namehash offset/used/size, string
// offset/used/size, … — and a name hash table of {hashval, name_offset,
// locrec_offset} entries whose names are NUL-terminated strings at absolute
// file offsets. A slot with a zero name or record offset is empty.
const (
	archiveMagic      = 0xde020109
	archiveHeaderSize = 14 * 4
	maxArchiveTable   = 16 << 20
)

// archiveHas reports whether the locale archive at path holds one of names.
func archiveHas(path string, names ...string) bool {
	f, err := os.Open(path)
	if err != nil {
		return false
	}
	defer f.Close()
	var h [archiveHeaderSize]byte
	if _, err := f.ReadAt(h[:], 0); err != nil {
		return false
	}
	u32 := func(b []byte, i int) uint32 { return binary.NativeEndian.Uint32(b[i*4:]) }
	if u32(h[:], 0) != archiveMagic {
		return false
	}
	hashOff, hashSize := u32(h[:], 2), u32(h[:], 4)
	strOff, strUsed := u32(h[:], 5), u32(h[:], 6)
	if uint64(hashSize)*12 > maxArchiveTable || strUsed > maxArchiveTable {
		return false
	}
	table := make([]byte, int(hashSize)*12)
	if _, err := f.ReadAt(table, int64(hashOff)); err != nil {
		return false
	}
	strs := make([]byte, strUsed)
	if _, err := f.ReadAt(strs, int64(strOff)); err != nil {
		return false
	}
	for i := 0; i < int(hashSize); i++ {
		nameOff, recOff := u32(table, 3*i+1), u32(table, 3*i+2)
		if nameOff == 0 || recOff == 0 || nameOff < strOff || nameOff-strOff >= strUsed {
			continue
		}
		s := strs[nameOff-strOff:]
		if n := bytes.IndexByte(s, 0); n >= 0 {
			s = s[:n]
		}
		for _, want := range names {
			if string(s) == want {
				return true
			}
		}
	}
	return false
}
