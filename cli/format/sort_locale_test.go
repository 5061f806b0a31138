package format

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// utf8Env makes the environment select an installed UTF-8 locale: LC_ALL
// names it and LOCPATH holds it, so tests do not depend on the machine.
func utf8Env(t *testing.T) {
	t.Helper()
	dir := t.TempDir()
	if err := os.MkdirAll(filepath.Join(dir, "C.utf8"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "C.utf8", "LC_CTYPE"), nil, 0o644); err != nil {
		t.Fatal(err)
	}
	t.Setenv("LOCPATH", dir)
	t.Setenv("LC_ALL", "C.UTF-8")
}

func TestRenderSorted(t *testing.T) {
	recs := []map[string]any{
		{"backup-type": "vm", "backup-id": "b", "backup-time": json.Number("5")},
		{"backup-type": "host", "backup-id": "b", "backup-time": json.Number("20")},
		{"backup-type": "host", "backup-id": "a", "backup-time": json.Number("3")},
		{"backup-type": "host", "backup-id": "b", "backup-time": json.Number("100")},
		{"backup-type": "ct", "backup-id": "z", "backup-time": json.Number("1")},
	}
	cols := []Column{{Key: "backup-id", Render: func(_ any, r map[string]any) string {
		return r["backup-type"].(string) + "/" + r["backup-id"].(string) + "/" + string(r["backup-time"].(json.Number))
	}}}
	var b bytes.Buffer
	keys := []SortKey{{Key: "backup-type"}, {Key: "backup-id"}, {Key: "backup-time"}}
	if err := RenderSorted(&b, Options{NoBorder: true}, recs, cols, keys...); err != nil {
		t.Fatal(err)
	}
	// Numbers compare as numbers (20 < 100), strings by bytes.
	want := "ct/z/1    \nhost/a/3  \nhost/b/20 \nhost/b/100\nvm/b/5    \n"
	if b.String() != want {
		t.Errorf("text order:\n%s\nwant:\n%s", b.String(), want)
	}
	// JSON keeps the data's order.
	b.Reset()
	if err := RenderSorted(&b, Options{Format: JSON}, recs, cols, keys...); err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(b.String(), `[{"backup-id":"b","backup-time":5,"backup-type":"vm"}`) {
		t.Errorf("json reordered: %s", b.String())
	}
	if recs[0]["backup-type"] != "vm" {
		t.Error("RenderSorted sorted the caller's slice")
	}
}

func TestRenderSortedDefaultFirstColumn(t *testing.T) {
	// Generic data (as decoded from a server) sorts by the first column.
	data := []any{
		map[string]any{"filename": "zz.pxar.didx", "size": json.Number("2")},
		map[string]any{"filename": "aa.pxar.didx", "size": json.Number("1")},
		map[string]any{"filename": "index.json.blob"},
	}
	var b bytes.Buffer
	cols := []Column{{Key: "filename"}, {Key: "size", RightAlign: true}}
	if err := RenderSorted(&b, Options{NoBorder: true}, data, cols); err != nil {
		t.Fatal(err)
	}
	want := "aa.pxar.didx    1\nindex.json.blob  \nzz.pxar.didx    2\n"
	if b.String() != want {
		t.Errorf("got %q, want %q", b.String(), want)
	}
	b.Reset()
	if err := RenderSorted(&b, Options{Format: JSON}, []any{}, cols); err != nil || b.String() != "[]\n" {
		t.Errorf("empty list json: %q %v", b.String(), err)
	}
}

func TestCompareValues(t *testing.T) {
	tests := []struct {
		a, b any
		want int
	}{
		{json.Number("2"), int64(10), -1},
		{uint64(1 << 63), json.Number("9223372036854775807"), 1},
		{"a", "b", -1},
		{"b", "b", 0},
		{nil, "a", -1},
		{"a", nil, 1},
		{nil, json.Number("0"), -1},
		{nil, nil, 0},
		{false, true, -1},
		{"1", json.Number("1"), 1}, // a type mismatch counts as absent
	}
	for _, tc := range tests {
		if got := compareValues(tc.a, tc.b); got != tc.want {
			t.Errorf("compareValues(%#v, %#v) = %d, want %d", tc.a, tc.b, got, tc.want)
		}
	}
}

func TestUTF8Locale(t *testing.T) {
	installed := map[string]bool{"C.utf8": true, "en_US.utf8": true, "de_DE.utf8@euro": true}
	isInstalled := func(name, norm string) bool { return installed[name] || installed[norm] }
	tests := []struct {
		env  map[string]string
		want bool
	}{
		{map[string]string{}, false},
		{map[string]string{"LANG": "C"}, false},
		{map[string]string{"LANG": "POSIX"}, false},
		{map[string]string{"LANG": "C.UTF-8"}, true},
		{map[string]string{"LANG": "C.utf8"}, true},
		{map[string]string{"LANG": "C.UTF8"}, true},
		{map[string]string{"LANG": "en_US.UTF-8"}, true},
		{map[string]string{"LANG": "de_DE.UTF-8@euro"}, true},
		{map[string]string{"LANG": "fr_FR.UTF-8"}, false}, // not installed: glibc stays in "C"
		{map[string]string{"LANG": "en_US"}, false},
		{map[string]string{"LANG": "en_US.ISO-8859-1"}, false},
		{map[string]string{"LC_ALL": "C", "LANG": "C.UTF-8"}, false},
		{map[string]string{"LC_CTYPE": "C", "LANG": "C.UTF-8"}, false},
		{map[string]string{"LC_CTYPE": "C.UTF-8", "LANG": "C"}, true},
		{map[string]string{"LC_ALL": "", "LC_CTYPE": "", "LANG": "C.UTF-8"}, true},
		{map[string]string{"LC_ALL": "C.UTF-8", "LC_CTYPE": "C"}, true},
		{map[string]string{"LANG": "../C.UTF-8"}, false},
	}
	for _, tc := range tests {
		getenv := func(k string) string { return tc.env[k] }
		if got := utf8Locale(getenv, isInstalled); got != tc.want {
			t.Errorf("%v: UTF-8 = %v, want %v", tc.env, got, tc.want)
		}
	}
}

func TestNormalizeCodeset(t *testing.T) {
	for in, want := range map[string]string{"UTF-8": "utf8", "utf8": "utf8", "ISO-8859-1": "iso88591", "8859-1": "iso88591", "": ""} {
		if got := normalizeCodeset(in); got != want {
			t.Errorf("normalizeCodeset(%q) = %q, want %q", in, got, want)
		}
	}
}

// writeArchive writes a minimal glibc locale archive holding names.
func writeArchive(t *testing.T, path string, names ...string) {
	t.Helper()
	const hashSize = 7
	hashOff := uint32(archiveHeaderSize)
	strOff := hashOff + hashSize*12
	var strs []byte
	table := make([]byte, hashSize*12)
	for i, n := range names {
		off := strOff + uint32(len(strs))
		strs = append(strs, n...)
		strs = append(strs, 0)
		binary.NativeEndian.PutUint32(table[12*i+4:], off)
		binary.NativeEndian.PutUint32(table[12*i+8:], 1000) // a record offset
	}
	// An empty slot whose name is still in the string table (a deleted locale).
	binary.NativeEndian.PutUint32(table[12*(hashSize-1)+4:], strOff+uint32(len(strs)))
	strs = append(strs, "xx_XX.utf8\x00"...)
	h := make([]byte, archiveHeaderSize)
	for i, v := range []uint32{archiveMagic, 1, hashOff, uint32(len(names)), hashSize, strOff, uint32(len(strs)), uint32(len(strs))} {
		binary.NativeEndian.PutUint32(h[4*i:], v)
	}
	data := append(append(h, table...), strs...)
	if err := os.WriteFile(path, data, 0o644); err != nil {
		t.Fatal(err)
	}
}

func TestLocaleInstalled(t *testing.T) {
	dir := t.TempDir()
	old := localeDir
	localeDir = dir
	t.Cleanup(func() { localeDir = old })
	t.Setenv("LOCPATH", "")
	writeArchive(t, filepath.Join(dir, "locale-archive"), "en_US.utf8", "de_DE.utf8@euro")
	if err := os.MkdirAll(filepath.Join(dir, "C.utf8"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "C.utf8", "LC_CTYPE"), nil, 0o644); err != nil {
		t.Fatal(err)
	}
	for name, want := range map[string]bool{
		"en_US.UTF-8": true, "de_DE.UTF-8@euro": true, "C.UTF-8": true,
		"fr_FR.UTF-8": false, "xx_XX.UTF-8": false,
	} {
		t.Setenv("LC_ALL", name)
		if got := UTF8Locale(); got != want {
			t.Errorf("LC_ALL=%s: UTF-8 = %v, want %v", name, got, want)
		}
	}
	// With LOCPATH, only its directories count (not the archive).
	t.Setenv("LOCPATH", filepath.Join(dir, "nothing"))
	t.Setenv("LC_ALL", "en_US.UTF-8")
	if UTF8Locale() {
		t.Error("LOCPATH without the locale: still UTF-8")
	}
	// A system without a locale directory (musl, macOS) trusts the name.
	t.Setenv("LOCPATH", "")
	localeDir = filepath.Join(dir, "missing")
	if !UTF8Locale() {
		t.Error("no locale directory: en_US.UTF-8 not taken as UTF-8")
	}
}

func TestOptionsASCII(t *testing.T) {
	t.Setenv("LC_ALL", "C")
	o, err := OptionsFromEnv("")
	if err != nil || !o.ASCII {
		t.Errorf("LC_ALL=C: %+v %v, want ASCII", o, err)
	}
	utf8Env(t)
	if o, _ := OptionsFromEnv(""); o.ASCII {
		t.Errorf("UTF-8 locale: %+v, want box drawing", o)
	}
}

func TestJSONLineSeparators(t *testing.T) {
	// serde_json writes U+2028/U+2029 as they are; a literal backslash-u
	// sequence stays escaped.
	data := map[string]any{"a": "x\u2028y\u2029z", "b": `\u2028`, "c": "<&>\n"}
	var b bytes.Buffer
	if err := Render(&b, Options{Format: JSON}, data, nil); err != nil {
		t.Fatal(err)
	}
	want := "{\"a\":\"x\u2028y\u2029z\",\"b\":\"\\\\u2028\",\"c\":\"<&>\\n\"}\n"
	if b.String() != want {
		t.Errorf("got %q, want %q", b.String(), want)
	}
}

func TestNameValueNoHeaderRightAligned(t *testing.T) {
	// The status table: no header, values right-aligned (all rows numeric).
	obj := map[string]any{"total": 100, "used": 5}
	cols := []Column{{Key: "total", RightAlign: true}, {Key: "used", RightAlign: true}}
	var b bytes.Buffer
	if err := Render(&b, Options{NoHeader: true, ASCII: true}, obj, cols); err != nil {
		t.Fatal(err)
	}
	want := "" +
		"+=======+=====+\n" +
		"| total | 100 |\n" +
		"+-------+-----+\n" +
		"| used  |   5 |\n" +
		"+=======+=====+\n"
	if b.String() != want {
		t.Errorf("got:\n%s\nwant:\n%s", b.String(), want)
	}
}
