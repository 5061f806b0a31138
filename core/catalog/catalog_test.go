package catalog

import (
	"bytes"
	"encoding/hex"
	"errors"
	"io/fs"
	"math"
	"strings"
	"testing"
	"time"
)

func mustHex(t testing.TB, s string) []byte {
	t.Helper()
	b, err := hex.DecodeString(strings.ReplaceAll(s, " ", ""))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// Worked example of formats.md 7.2.
const specVector = "91 fd 60 f9 c4 67 58 d5" +
	"0a 01 66 01 61 03 80 e2 cf aa 06" +
	"12 01 64 0e 72 6f 6f 74 2e 70 78 61 72 2e 64 69 64 78 0b" +
	"13 00 00 00 00 00 00 00"

func TestSpecVectorWrite(t *testing.T) {
	var buf bytes.Buffer
	w, err := NewWriter(&buf)
	if err != nil {
		t.Fatal(err)
	}
	must(t, w.StartDirectory([]byte("root.pxar.didx")))
	must(t, w.AddFile([]byte("a"), 3, 1700000000))
	must(t, w.EndDirectory())
	must(t, w.Finish())
	if want := mustHex(t, specVector); !bytes.Equal(buf.Bytes(), want) {
		t.Fatalf("got  %x\nwant %x", buf.Bytes(), want)
	}
}

func TestSpecVectorRead(t *testing.T) {
	data := mustHex(t, specVector)
	r, err := NewReader(bytes.NewReader(data), int64(len(data)))
	if err != nil {
		t.Fatal(err)
	}
	root, _ := r.Root()
	if root.Offset != 19 {
		t.Fatalf("root offset %d", root.Offset)
	}
	e, err := r.Lookup("/root.pxar.didx/a")
	if err != nil {
		t.Fatal(err)
	}
	if e.Type != TypeFile || e.Size != 3 || e.Mtime != 1700000000 || string(e.Name) != "a" {
		t.Fatalf("bad entry %+v", e)
	}
	d, err := r.Lookup("root.pxar.didx")
	if err != nil || d.Offset != 8 || !d.IsDir() {
		t.Fatalf("dir %+v %v", d, err)
	}
}

func must(t testing.TB, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

func TestVarints(t *testing.T) {
	u := []struct {
		v   uint64
		enc string
	}{{0, "00"}, {300, "ac02"}, {127, "7f"}, {128, "8001"}, {math.MaxUint64, "ffffffffffffffffff01"}}
	for _, c := range u {
		if got := hex.EncodeToString(appendU64(nil, c.v)); got != c.enc {
			t.Errorf("u64 %d: got %s want %s", c.v, got, c.enc)
		}
		v, n, err := decodeU64(mustHex(t, c.enc))
		if err != nil || v != c.v || n != len(c.enc)/2 {
			t.Errorf("decode u64 %s: %d %d %v", c.enc, v, n, err)
		}
	}
	s := []struct {
		v   int64
		enc string
	}{{0, "00"}, {300, "ac02"}, {-1, "8100"}, {-128, "808100"}, {1700000000, "80e2cfaa06"}}
	for _, c := range s {
		if got := hex.EncodeToString(appendI64(nil, c.v)); got != c.enc {
			t.Errorf("i64 %d: got %s want %s", c.v, got, c.enc)
		}
	}
	for _, v := range []int64{0, 1, -1, 126, -126, 127, -127, 128, -128, 1<<12 - 1, -(1 << 12) - 1, 1<<50 - 1, -(1 << 50), math.MaxInt64, math.MinInt64} {
		enc := appendI64(nil, v)
		got, n, err := decodeI64(enc)
		if err != nil || got != v || n != len(enc) {
			t.Errorf("i64 roundtrip %d: %x -> %d %d %v", v, enc, got, n, err)
		}
		if len(enc) > 11 {
			t.Errorf("i64 %d too long", v)
		}
	}
	// varu64 values are readable as vari64 (upstream compatibility).
	for _, v := range []uint64{0, 126, 1<<20 - 1, 1<<50 - 1} {
		got, _, err := decodeI64(appendU64(nil, v))
		if err != nil || uint64(got) != v {
			t.Errorf("u64 as i64 %d: %d %v", v, got, err)
		}
	}
	for _, bad := range []string{"", "80", "ffffffffffffffffffff01", "ffffffffffffffffff02"} {
		if _, _, err := decodeU64(mustHex(t, bad)); err == nil {
			t.Errorf("decodeU64(%s) accepted", bad)
		}
	}
	for _, bad := range []string{"", "80", "8080808080808080808080", "ffffffffffffffffff02"} {
		if _, _, err := decodeI64(mustHex(t, bad)); err == nil {
			t.Errorf("decodeI64(%s) accepted", bad)
		}
	}
}

// buildSample writes a catalog with two archives, all entry kinds and
// nested directories.
func buildSample(t testing.TB) []byte {
	var buf bytes.Buffer
	w, err := NewWriter(&buf)
	if err != nil {
		t.Fatal(err)
	}
	must(t, w.StartDirectory([]byte("root.pxar.didx")))
	must(t, w.StartDirectory([]byte("etc")))
	must(t, w.AddFile([]byte("hostname"), 12, 1577836800))
	must(t, w.StartDirectory([]byte("empty")))
	must(t, w.EndDirectory())
	must(t, w.AddSymlink([]byte("localtime")))
	must(t, w.EndDirectory())
	must(t, w.StartDirectory([]byte("dev")))
	must(t, w.AddBlockDevice([]byte("sda")))
	must(t, w.AddCharDevice([]byte("null")))
	must(t, w.AddFifo([]byte("fifo")))
	must(t, w.AddSocket([]byte("log")))
	must(t, w.AddHardlink([]byte("hl")))
	must(t, w.EndDirectory())
	must(t, w.AddFile([]byte("neg"), 0, -1))
	must(t, w.AddFile([]byte(".pxarexclude-cli"), 5, 0))
	must(t, w.EndDirectory())
	must(t, w.StartDirectory([]byte("disk1.pxar.didx")))
	must(t, w.AddFile([]byte("hostname"), 7, 1700000000))
	must(t, w.EndDirectory())
	must(t, w.Finish())
	return buf.Bytes()
}

func TestRoundtrip(t *testing.T) {
	data := buildSample(t)
	r, err := NewReader(bytes.NewReader(data), int64(len(data)))
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	err = r.Walk(func(p string, e Entry) error {
		s := e.Type.String() + " " + p
		if e.Type == TypeFile {
			s += " " + time.Unix(e.Mtime, 0).UTC().Format(time.RFC3339)
		}
		got = append(got, s)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	want := []string{
		"d /root.pxar.didx",
		"d /root.pxar.didx/etc",
		"f /root.pxar.didx/etc/hostname 2020-01-01T00:00:00Z",
		"d /root.pxar.didx/etc/empty",
		"l /root.pxar.didx/etc/localtime",
		"d /root.pxar.didx/dev",
		"b /root.pxar.didx/dev/sda",
		"c /root.pxar.didx/dev/null",
		"p /root.pxar.didx/dev/fifo",
		"s /root.pxar.didx/dev/log",
		"h /root.pxar.didx/dev/hl",
		"f /root.pxar.didx/neg 1969-12-31T23:59:59Z",
		"f /root.pxar.didx/.pxarexclude-cli 1970-01-01T00:00:00Z",
		"d /disk1.pxar.didx",
		"f /disk1.pxar.didx/hostname 2023-11-14T22:13:20Z",
	}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Fatalf("walk:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}

	e, err := r.Lookup("/root.pxar.didx/etc/hostname")
	if err != nil || e.Size != 12 || e.Mtime != 1577836800 {
		t.Fatalf("lookup: %+v %v", e, err)
	}
	if _, err := r.Lookup("/root.pxar.didx/etc/nope"); !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("lookup missing: %v", err)
	}
	if _, err := r.Lookup("/root.pxar.didx/etc/hostname/x"); err == nil {
		t.Fatal("lookup below file succeeded")
	}
	root, err := r.Lookup("/")
	if err != nil || !root.IsDir() {
		t.Fatal(err)
	}
	top, err := r.ReadDir(root)
	if err != nil || len(top) != 2 || string(top[1].Name) != "disk1.pxar.didx" {
		t.Fatalf("root dir: %+v %v", top, err)
	}
	if _, err := r.ReadDir(e); err == nil {
		t.Fatal("ReadDir on a file succeeded")
	}

	// SkipDir / SkipAll.
	var n int
	err = r.Walk(func(p string, e Entry) error {
		n++
		if p == "/root.pxar.didx" {
			return fs.SkipDir
		}
		if p == "/disk1.pxar.didx/hostname" {
			return fs.SkipAll
		}
		return nil
	})
	if err != nil || n != 3 {
		t.Fatalf("skip walk: n=%d err=%v", n, err)
	}
}

func TestDump(t *testing.T) {
	old := time.Local
	time.Local = time.UTC
	defer func() { time.Local = old }()
	data := buildSample(t)
	r, err := NewReader(bytes.NewReader(data), int64(len(data)))
	if err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	must(t, r.Dump(&out))
	want := `d "./root.pxar.didx"
d "./root.pxar.didx/etc"
f "./root.pxar.didx/etc/hostname" 12 2020-01-01T00:00:00Z
d "./root.pxar.didx/etc/empty"
l "./root.pxar.didx/etc/localtime"
d "./root.pxar.didx/dev"
b "./root.pxar.didx/dev/sda"
c "./root.pxar.didx/dev/null"
p "./root.pxar.didx/dev/fifo"
s "./root.pxar.didx/dev/log"
h "./root.pxar.didx/dev/hl"
f "./root.pxar.didx/neg" 0 1969-12-31T23:59:59Z
f "./root.pxar.didx/.pxarexclude-cli" 5 1970-01-01T00:00:00Z
d "./disk1.pxar.didx"
f "./disk1.pxar.didx/hostname" 7 2023-11-14T22:13:20Z
`
	if out.String() != want {
		t.Fatalf("dump:\n%s\nwant:\n%s", out.String(), want)
	}
}

func TestDumpQuoting(t *testing.T) {
	cases := map[string]string{
		"plain":         `"plain"`,
		"it's":          `"it\'s"`,
		`a"b\c`:         `"a\"b\\c"`,
		"tab\there":     `"tab\there"`,
		"nl\ncr\r":      `"nl\ncr\r"`,
		"nul\x00":       `"nul\0"`,
		"bell\x07":      `"bell\u{7}"`,
		"del\x7f":       `"del\u{7f}"`,
		"bad\xff\xfe":   `"bad\xFF\xFE"`,
		"trunc\xe2\x82": `"trunc\xE2\x82"`,
		"grüße €":       `"grüße €"`,
		"nbsp\u00a0":    `"nbsp\u{a0}"`,
		"e\u0301":       `"e\u{301}"`,
		"sp ace":        `"sp ace"`,
		"\u2028":        `"\u{2028}"`,
		"\ufffd":        `"` + "\ufffd" + `"`,
	}
	for in, want := range cases {
		if got := string(appendRustDebugPath(nil, []byte(in))); got != want {
			t.Errorf("%q: got %s want %s", in, got, want)
		}
	}
	if got := string(rustPathPush([]byte("./"), []byte("x"))); got != "./x" {
		t.Error(got)
	}
	if got := string(rustPathPush([]byte("./x"), []byte("y"))); got != "./x/y" {
		t.Error(got)
	}
}

func TestFormatMtime(t *testing.T) {
	old := time.Local
	time.Local = time.UTC
	defer func() { time.Local = old }()
	for in, want := range map[int64]string{
		0:                       "1970-01-01T00:00:00Z",
		1577836800:              "2020-01-01T00:00:00Z",
		-62135596800:            "0001-01-01T00:00:00Z",
		253402300800:            "10000-01-01T00:00:00Z",
		math.MaxInt64:           "9223372036854775807",
		math.MinInt64:           "-9223372036854775808",
		maxFormattableMtime + 1: "67767976233316801",
	} {
		if got := formatMtime(in); got != want {
			t.Errorf("%d: got %s want %s", in, got, want)
		}
	}
}

func TestWriterErrors(t *testing.T) {
	var buf bytes.Buffer
	w, _ := NewWriter(&buf)
	if err := w.EndDirectory(); err == nil {
		t.Error("EndDirectory at root succeeded")
	}
	for _, n := range []string{"", "a/b", "a\x00b", strings.Repeat("x", 4096)} {
		if err := w.AddFile([]byte(n), 0, 0); err == nil {
			t.Errorf("AddFile(%q) succeeded", n)
		}
		if err := w.StartDirectory([]byte(n)); err == nil {
			t.Errorf("StartDirectory(%q) succeeded", n)
		}
	}
	must(t, w.StartDirectory([]byte("a")))
	if err := w.Finish(); err == nil {
		t.Error("Finish with open dir succeeded")
	}
	must(t, w.EndDirectory())
	must(t, w.Finish())
	if err := w.AddFile([]byte("x"), 0, 0); err == nil {
		t.Error("AddFile after Finish succeeded")
	}
	if err := w.Finish(); err == nil {
		t.Error("second Finish succeeded")
	}
}

type failWriter struct{ n int }

func (f *failWriter) Write(p []byte) (int, error) {
	if f.n <= 0 {
		return 0, errors.New("boom")
	}
	f.n--
	return len(p), nil
}

func TestWriterPropagatesWriteError(t *testing.T) {
	w, err := NewWriter(&failWriter{n: 1})
	must(t, err)
	must(t, w.StartDirectory([]byte("a")))
	if err := w.EndDirectory(); err == nil {
		t.Fatal("expected write error")
	}
	if err := w.Finish(); err == nil {
		t.Fatal("expected sticky error")
	}
}

func readAll(data []byte) error {
	r, err := NewReader(bytes.NewReader(data), int64(len(data)))
	if err != nil {
		return err
	}
	if err := r.Walk(func(string, Entry) error { return nil }); err != nil {
		return err
	}
	return r.Dump(&bytes.Buffer{})
}

func TestCorrupt(t *testing.T) {
	good := mustHex(t, specVector)
	mod := func(f func(b []byte) []byte) []byte {
		return f(bytes.Clone(good))
	}
	cases := map[string][]byte{
		"empty":         {},
		"short":         good[:15],
		"bad magic":     mod(func(b []byte) []byte { b[0] ^= 1; return b }),
		"root off big":  mod(func(b []byte) []byte { b[len(b)-8] = 0xff; return b }),
		"root off zero": mod(func(b []byte) []byte { b[len(b)-8] = 0; return b }),
		"root off 4":    mod(func(b []byte) []byte { b[len(b)-8] = 4; return b }),
		"table len 0":   mod(func(b []byte) []byte { b[19] = 0; return b }),
		"table too big": mod(func(b []byte) []byte { b[19] = 0x7f; return b }),
		"table short":   mod(func(b []byte) []byte { b[19] = 0x11; return b }),
		"bad type":      mod(func(b []byte) []byte { b[21] = 'x'; return b }),
		"self offset":   mod(func(b []byte) []byte { b[37] = 0; return b }),
		"offset > S":    mod(func(b []byte) []byte { b[37] = 0x14; return b }),
		"offset magic":  mod(func(b []byte) []byte { b[37] = 0x0c; return b }),
		"count big":     mod(func(b []byte) []byte { b[20] = 0x05; return b }),
		"truncated":     good[:len(good)-9],
		"child garbage": mod(func(b []byte) []byte { b[9] = 2; return b }),
		"name too long": mod(func(b []byte) []byte { b[11] = 0x80; return b }),
	}
	for name, data := range cases {
		if err := readAll(data); err == nil {
			t.Errorf("%s: accepted corrupt catalog", name)
		}
	}
	// Two entries referencing the same block: rejected (bounds work).
	dup := bytes.Clone(good[:19])
	table := []byte{2, 'd', 1, 'x', 11, 'd', 1, 'y', 11}
	dup = append(dup, byte(len(table)))
	dup = append(dup, table...)
	dup = append(dup, 19, 0, 0, 0, 0, 0, 0, 0)
	if err := readAll(dup); err == nil {
		t.Error("duplicate block reference accepted")
	}
}

func TestTruncations(t *testing.T) {
	data := buildSample(t)
	for i := 0; i < len(data); i++ {
		_ = readAll(data[:i]) // must not panic
	}
	for i := range data {
		for _, x := range []byte{0x00, 0xff, 0x80, 0x01} {
			c := bytes.Clone(data)
			c[i] = x
			_ = readAll(c)
		}
	}
}

func FuzzReader(f *testing.F) {
	f.Add(buildSample(f))
	f.Add(mustHex(f, specVector))
	f.Fuzz(func(t *testing.T, data []byte) {
		r, err := NewReader(bytes.NewReader(data), int64(len(data)))
		if err != nil {
			return
		}
		_ = r.Walk(func(p string, e Entry) error { return nil })
		_ = r.Dump(&bytes.Buffer{})
		_, _ = r.Lookup("/root.pxar.didx/etc/hostname")
	})
}

// CopyDir rebuilds each archive of a catalog into a new one: copying all
// top-level directories gives the very bytes.
func TestCopyDir(t *testing.T) {
	data := buildSample(t)
	r, err := NewReader(bytes.NewReader(data), int64(len(data)))
	must(t, err)
	root, _ := r.Root()
	tops, err := r.ReadDir(root)
	must(t, err)
	var buf bytes.Buffer
	w, err := NewWriter(&buf)
	must(t, err)
	for _, top := range tops {
		must(t, w.StartDirectory(top.Name))
		must(t, w.CopyDir(r, top))
		must(t, w.EndDirectory())
	}
	must(t, w.Finish())
	if !bytes.Equal(buf.Bytes(), data) {
		t.Fatalf("copied catalog differs:\n%x\n%x", buf.Bytes(), data)
	}
	// A damaged source fails the copy, without a panic.
	bad := bytes.Clone(data)
	bad[9] ^= 0xff
	if r2, err := NewReader(bytes.NewReader(bad), int64(len(bad))); err == nil {
		w2, _ := NewWriter(&bytes.Buffer{})
		if err := w2.CopyDir(r2, root); err == nil {
			t.Error("copy of a damaged catalog succeeded")
		}
	}
}
