package format

import (
	"bytes"
	"encoding/json"
	"os"
	"strings"
	"testing"
)

func render(t *testing.T, o Options, data any, cols []Column) string {
	t.Helper()
	var b bytes.Buffer
	if err := Render(&b, o, data, cols); err != nil {
		t.Fatalf("Render: %v", err)
	}
	return b.String()
}

// seedLines are the table lines as they appear in the seed
// (client-usage.txt); the seed's copy lost the border lines, which are
// reconstructed below from upstream's renderer.
func checkSeedLines(t *testing.T, got string, seed []string) {
	t.Helper()
	have := map[string]bool{}
	for _, l := range strings.Split(got, "\n") {
		have[l] = true
	}
	for _, l := range seed {
		if !have[l] {
			t.Errorf("seed line %q missing from output:\n%s", l, got)
		}
	}
}

func snapshotData() ([]map[string]any, []Column) {
	files := func(v any, _ map[string]any) string {
		var s []string
		for _, f := range v.([]any) {
			s = append(s, f.(string))
		}
		return strings.Join(s, " ")
	}
	recs := []map[string]any{
		{"snapshot": "host/elsa/2019-12-03T09:30:15Z", "size": int64(51788646825), "files": []any{"root.pxar", "catalog.pcat1", "index.json"}},
		{"snapshot": "host/elsa/2019-12-03T09:35:01Z", "size": uint64(51790622048), "files": []any{"root.pxar", "catalog.pcat1", "index.json"}},
	}
	cols := []Column{
		{Key: "snapshot", Header: "snapshot"},
		{Key: "size", Header: "size", RightAlign: true},
		{Key: "files", Header: "files", Render: files},
	}
	return recs, cols
}

func TestSeedSnapshotList(t *testing.T) {
	recs, cols := snapshotData()
	got := render(t, Options{}, recs, cols)
	checkSeedLines(t, got, []string{
		"│ snapshot                       │        size │ files                              │",
		"│ host/elsa/2019-12-03T09:30:15Z │ 51788646825 │ root.pxar catalog.pcat1 index.json │",
		"│ host/elsa/2019-12-03T09:35:01Z │ 51790622048 │ root.pxar catalog.pcat1 index.json │",
	})
	want := "" +
		"┌────────────────────────────────┬─────────────┬────────────────────────────────────┐\n" +
		"│ snapshot                       │        size │ files                              │\n" +
		"╞════════════════════════════════╪═════════════╪════════════════════════════════════╡\n" +
		"│ host/elsa/2019-12-03T09:30:15Z │ 51788646825 │ root.pxar catalog.pcat1 index.json │\n" +
		"├────────────────────────────────┼─────────────┼────────────────────────────────────┤\n" +
		"│ host/elsa/2019-12-03T09:35:01Z │ 51790622048 │ root.pxar catalog.pcat1 index.json │\n" +
		"└────────────────────────────────┴─────────────┴────────────────────────────────────┘\n"
	if got != want {
		t.Errorf("got:\n%s\nwant:\n%s", got, want)
	}
}

func TestSeedPrune(t *testing.T) {
	recs := []map[string]any{
		{"snapshot": "host/elsa/2019-12-04T13:20:37Z", "keep": true},
		{"snapshot": "host/elsa/2019-12-03T09:35:01Z", "keep": false},
		{"snapshot": "host/elsa/2019-11-22T11:54:47Z", "keep": true},
		{"snapshot": "host/elsa/2019-11-21T12:36:25Z", "keep": false},
		{"snapshot": "host/elsa/2019-11-10T10:42:20Z", "keep": true},
	}
	cols := []Column{{Key: "snapshot", Header: "snapshot"}, {Key: "keep", Header: "keep", RightAlign: true}}
	got := render(t, Options{}, recs, cols)
	seed := []string{
		"│ snapshot                       │ keep │",
		"│ host/elsa/2019-12-04T13:20:37Z │    1 │",
		"│ host/elsa/2019-12-03T09:35:01Z │    0 │",
		"│ host/elsa/2019-11-22T11:54:47Z │    1 │",
		"│ host/elsa/2019-11-21T12:36:25Z │    0 │",
		"│ host/elsa/2019-11-10T10:42:20Z │    1 │",
	}
	checkSeedLines(t, got, seed)
	top := "┌────────────────────────────────┬──────┐"
	head := "╞════════════════════════════════╪══════╡"
	mid := "├────────────────────────────────┼──────┤"
	bot := "└────────────────────────────────┴──────┘"
	want := strings.Join([]string{top, seed[0], head, seed[1], mid, seed[2], mid, seed[3], mid, seed[4], mid, seed[5], bot}, "\n") + "\n"
	if got != want {
		t.Errorf("got:\n%s\nwant:\n%s", got, want)
	}

	// NO_HEADER: borders but no header line; as upstream, the hidden
	// header does not count for the column widths.
	got = render(t, Options{NoHeader: true}, recs, cols)
	want = "" +
		"┌────────────────────────────────┬───┐\n" +
		"│ host/elsa/2019-12-04T13:20:37Z │ 1 │\n" +
		"├────────────────────────────────┼───┤\n" +
		"│ host/elsa/2019-12-03T09:35:01Z │ 0 │\n" +
		"├────────────────────────────────┼───┤\n" +
		"│ host/elsa/2019-11-22T11:54:47Z │ 1 │\n" +
		"├────────────────────────────────┼───┤\n" +
		"│ host/elsa/2019-11-21T12:36:25Z │ 0 │\n" +
		"├────────────────────────────────┼───┤\n" +
		"│ host/elsa/2019-11-10T10:42:20Z │ 1 │\n" +
		"└────────────────────────────────┴───┘\n"
	if got != want {
		t.Errorf("noheader got:\n%s\nwant:\n%s", got, want)
	}

	// NO_BORDER: no borders, no header, columns separated by one space,
	// widths ignoring the header; last column still padded.
	got = render(t, Options{NoBorder: true}, recs, cols)
	want = "" +
		"host/elsa/2019-12-04T13:20:37Z 1\n" +
		"host/elsa/2019-12-03T09:35:01Z 0\n" +
		"host/elsa/2019-11-22T11:54:47Z 1\n" +
		"host/elsa/2019-11-21T12:36:25Z 0\n" +
		"host/elsa/2019-11-10T10:42:20Z 1\n"
	if got != want {
		t.Errorf("noborder got:\n%q\nwant:\n%q", got, want)
	}
}

func TestSeedBenchmark(t *testing.T) {
	rec := map[string]any{
		"tls":        "1267.41 MB/s (103%)",
		"sha256":     "2066.73 MB/s (102%)",
		"compress":   "775.11 MB/s (103%)",
		"decompress": "1233.35 MB/s (103%)",
		"verify":     "783.43 MB/s (103%)",
		"aes256_gcm": "3688.27 MB/s (101%)",
	}
	cols := []Column{
		{Key: "tls", Header: "TLS (maximal backup upload speed)"},
		{Key: "sha256", Header: "SHA256 checksum computation speed"},
		{Key: "compress", Header: "ZStd level 1 compression speed"},
		{Key: "decompress", Header: "ZStd level 1 decompression speed"},
		{Key: "verify", Header: "Chunk verification speed"},
		{Key: "aes256_gcm", Header: "AES256 GCM encryption speed"},
	}
	got := render(t, Options{}, rec, cols)
	seed := []string{
		"│ Name                              │ Value               │",
		"│ TLS (maximal backup upload speed) │ 1267.41 MB/s (103%) │",
		"│ SHA256 checksum computation speed │ 2066.73 MB/s (102%) │",
		"│ ZStd level 1 compression speed    │ 775.11 MB/s (103%)  │",
		"│ ZStd level 1 decompression speed  │ 1233.35 MB/s (103%) │",
		"│ Chunk verification speed          │ 783.43 MB/s (103%)  │",
		"│ AES256 GCM encryption speed       │ 3688.27 MB/s (101%) │",
	}
	checkSeedLines(t, got, seed)
	top := "┌───────────────────────────────────┬─────────────────────┐"
	head := "╞═══════════════════════════════════╪═════════════════════╡"
	mid := "├───────────────────────────────────┼─────────────────────┤"
	bot := "└───────────────────────────────────┴─────────────────────┘"
	want := strings.Join([]string{top, seed[0], head, seed[1], mid, seed[2], mid, seed[3], mid, seed[4], mid, seed[5], mid, seed[6], bot}, "\n") + "\n"
	if got != want {
		t.Errorf("got:\n%s\nwant:\n%s", got, want)
	}
}

func TestASCIIAndWidth(t *testing.T) {
	recs := []map[string]any{{"a": "x", "n": 10}, {"a": "yy", "n": 2}}
	cols := []Column{{Key: "a", Header: "name"}, {Key: "n", RightAlign: true}}
	got := render(t, Options{ASCII: true}, recs, cols)
	want := "" +
		"+======+====+\n" +
		"| name |  n |\n" +
		"+======+====+\n" +
		"| x    | 10 |\n" +
		"+------+----+\n" +
		"| yy   |  2 |\n" +
		"+======+====+\n"
	if got != want {
		t.Errorf("ascii got:\n%s\nwant:\n%s", got, want)
	}
	got = render(t, Options{Width: 5}, recs, cols)
	for _, l := range strings.Split(strings.TrimSuffix(got, "\n"), "\n") {
		if n := len([]rune(l)); n != 5 {
			t.Errorf("line %q has %d characters, want 5", l, n)
		}
	}
}

func TestMultilineAndEmpty(t *testing.T) {
	recs := []map[string]any{{"k": "a\nbb", "v": nil}, {"k": "", "v": ""}}
	cols := []Column{{Key: "k"}, {Key: "v"}}
	got := render(t, Options{}, recs, cols)
	want := "" +
		"┌────┬───┐\n" +
		"│ k  │ v │\n" +
		"╞════╪═══╡\n" +
		"│ a  │   │\n" +
		"│ bb │   │\n" +
		"├────┼───┤\n" + // the all-empty row has no text line (upstream quirk)
		"└────┴───┘\n"
	if got != want {
		t.Errorf("got:\n%s\nwant:\n%s", got, want)
	}
	if got := render(t, Options{}, []map[string]any{}, cols); got != "" {
		t.Errorf("empty list printed %q", got)
	}
}

func TestDefaultCellText(t *testing.T) {
	tests := []struct {
		v    any
		want string
	}{
		{nil, ""},
		{"s<&>", "s<&>"},
		{true, "1"},
		{false, "0"},
		{42, "42"},
		{int64(-7), "-7"},
		{uint64(18446744073709551615), "18446744073709551615"},
		{1.5, "1.5"},
		{1e21, "1000000000000000000000"},
		{2.0, "2"},
		{json.Number("123"), "123"},
		{json.Number("1e3"), "1000"},
		{[]any{"a", 1}, `["a",1]`},
		{map[string]any{"b": "<x>", "a": 1}, `{"a":1,"b":"<x>"}`},
	}
	for _, tc := range tests {
		if got := CellText(tc.v); got != tc.want {
			t.Errorf("CellText(%#v) = %q, want %q", tc.v, got, tc.want)
		}
	}
}

func TestGenericData(t *testing.T) {
	type item struct {
		Name string `json:"name"`
		Size int    `json:"size"`
	}
	got := render(t, Options{}, []item{{"a", 1}, {"bbb", 100}}, nil)
	want := "" +
		"┌──────┬──────┐\n" +
		"│ name │ size │\n" +
		"╞══════╪══════╡\n" +
		"│ a    │    1 │\n" +
		"├──────┼──────┤\n" +
		"│ bbb  │  100 │\n" +
		"└──────┴──────┘\n"
	if got != want {
		t.Errorf("struct list got:\n%s\nwant:\n%s", got, want)
	}
	got = render(t, Options{}, item{"a", 5}, nil)
	want = "" +
		"┌──────┬───────┐\n" +
		"│ Name │ Value │\n" +
		"╞══════╪═══════╡\n" +
		"│ name │ a     │\n" +
		"├──────┼───────┤\n" +
		"│ size │ 5     │\n" +
		"└──────┴───────┘\n"
	if got != want {
		t.Errorf("struct object got:\n%s\nwant:\n%s", got, want)
	}
	if got := render(t, Options{}, true, nil); got != "1\n" {
		t.Errorf("scalar: %q", got)
	}
	if got := render(t, Options{}, "hello", nil); got != "hello\n" {
		t.Errorf("scalar: %q", got)
	}
	// A record missing a column's key is skipped in Name/Value tables.
	got = render(t, Options{NoBorder: true}, map[string]any{"a": 1}, []Column{{Key: "a", RightAlign: true}, {Key: "b"}})
	if got != "a 1\n" {
		t.Errorf("object noborder: %q", got)
	}
}

func TestJSON(t *testing.T) {
	data := []map[string]any{{"b": "<&>", "a": 1, "c": []any{true, nil}}}
	if got := render(t, Options{Format: JSON}, data, nil); got != `[{"a":1,"b":"<&>","c":[true,null]}]`+"\n" {
		t.Errorf("json: %q", got)
	}
	want := "[\n  {\n    \"a\": 1,\n    \"b\": \"<&>\",\n    \"c\": [\n      true,\n      null\n    ]\n  }\n]\n"
	if got := render(t, Options{Format: JSONPretty}, data, nil); got != want {
		t.Errorf("json-pretty: %q", got)
	}
	if got := render(t, Options{Format: JSON}, "UPID:x", nil); got != `"UPID:x"`+"\n" {
		t.Errorf("json string: %q", got)
	}
}

func TestOptionsFromEnv(t *testing.T) {
	tests := []struct {
		flag, env          string
		envSet             bool
		noBorder, noHeader *string
		want               Options
		wantErr            string
	}{
		{want: Options{Format: Text}},
		{flag: "json", want: Options{Format: JSON}},
		{flag: "json-pretty", want: Options{Format: JSONPretty}},
		{flag: "text", env: "json", envSet: true, want: Options{Format: Text}},
		{env: "json", envSet: true, want: Options{Format: JSON}},
		{env: "", envSet: true, want: Options{Format: Text}},
		{flag: "yaml", wantErr: `'output-format': value 'yaml' is not defined`},
		{env: "JSON", envSet: true, wantErr: `'JSON' in PROXMOX_OUTPUT_FORMAT`},
		{noBorder: ptr(""), want: Options{NoBorder: true}},
		{noBorder: ptr("1"), noHeader: ptr("0"), want: Options{NoBorder: true, NoHeader: true}},
		{noHeader: ptr("yes"), want: Options{NoHeader: true}},
	}
	// A UTF-8 locale that is installed (see TestUTF8Locale), so ASCII stays
	// false whatever the machine has.
	utf8Env(t)
	for i, tc := range tests {
		t.Setenv(EnvFormat, "")
		t.Setenv(EnvNoBorder, "")
		t.Setenv(EnvNoHeader, "")
		unset(t, EnvFormat, EnvNoBorder, EnvNoHeader)
		if tc.envSet {
			t.Setenv(EnvFormat, tc.env)
		}
		if tc.noBorder != nil {
			t.Setenv(EnvNoBorder, *tc.noBorder)
		}
		if tc.noHeader != nil {
			t.Setenv(EnvNoHeader, *tc.noHeader)
		}
		got, err := OptionsFromEnv(tc.flag)
		if tc.wantErr != "" {
			if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
				t.Errorf("%d: error %v, want one naming %s", i, err, tc.wantErr)
			}
			continue
		}
		if err != nil || got != tc.want {
			t.Errorf("%d: got %+v, %v; want %+v", i, got, err, tc.want)
		}
	}
}

func ptr(s string) *string { return &s }

func unset(t *testing.T, names ...string) {
	t.Helper()
	for _, n := range names {
		if err := os.Unsetenv(n); err != nil {
			t.Fatal(err)
		}
	}
}
