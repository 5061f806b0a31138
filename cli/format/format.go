// Package format renders command output the way proxmox-backup-client does
// (protocol.md 9.2/9.3): JSON (compact or pretty) or text tables with
// Unicode box drawing, controlled by --output-format and the
// PROXMOX_OUTPUT_* environment variables.
package format

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"os"
	"reflect"
	"sort"
	"strconv"
	"strings"
	"unicode/utf8"
)

// Kind is an output format.
type Kind int

const (
	Text       Kind = iota // "text": tables (the default)
	JSON                   // "json": compact JSON, one line
	JSONPretty             // "json-pretty": JSON indented by two spaces
)

func (k Kind) String() string {
	switch k {
	case Text:
		return "text"
	case JSON:
		return "json"
	case JSONPretty:
		return "json-pretty"
	}
	return fmt.Sprintf("Kind(%d)", int(k))
}

// ParseKind parses an --output-format value.
func ParseKind(s string) (Kind, error) {
	switch s {
	case "text":
		return Text, nil
	case "json":
		return JSON, nil
	case "json-pretty":
		return JSONPretty, nil
	}
	return Text, fmt.Errorf("unknown output format %q (expected text, json or json-pretty)", s)
}

// Environment variables (protocol.md 9.2).
const (
	EnvFormat   = "PROXMOX_OUTPUT_FORMAT"
	EnvNoBorder = "PROXMOX_OUTPUT_NO_BORDER"
	EnvNoHeader = "PROXMOX_OUTPUT_NO_HEADER"
)

// Options controls Render.
type Options struct {
	Format   Kind
	NoBorder bool // no box drawing; implies no header line (upstream quirk)
	NoHeader bool // no header line
	// ASCII uses "+", "=", "-", "|" instead of box drawing characters
	// (upstream does so when the locale's codeset is not UTF-8).
	ASCII bool
	// Width, if > 0, cuts every table line to that many characters
	// (upstream does so with the terminal width when stdout is a TTY).
	Width int
}

// OptionsFromEnv resolves the --output-format flag value ("" = not given),
// the PROXMOX_OUTPUT_* variables and the locale. As upstream does, NO_BORDER
// and NO_HEADER count as set whenever the variable is present, whatever its
// value (even empty). An empty PROXMOX_OUTPUT_FORMAT is treated as unset.
// ASCII is set unless the locale's codeset is UTF-8 (UTF8Locale).
func OptionsFromEnv(flag string) (Options, error) {
	var o Options
	if flag != "" {
		k, err := ParseKind(flag)
		if err != nil {
			// Upstream's words for a bad option value.
			//lint:ignore ST1005 upstream's exact words (clients and scripts compare them)
			return o, fmt.Errorf("parameter verification failed - 'output-format': value '%s' is not defined in the enumeration.", flag)
		}
		o.Format = k
	} else if v := os.Getenv(EnvFormat); v != "" {
		k, err := ParseKind(v)
		if err != nil {
			return o, fmt.Errorf("undefined output format '%s' in %s (expected text, json or json-pretty)", v, EnvFormat)
		}
		o.Format = k
	}
	_, o.NoBorder = os.LookupEnv(EnvNoBorder)
	_, o.NoHeader = os.LookupEnv(EnvNoHeader)
	o.ASCII = !UTF8Locale()
	return o, nil
}

// Column describes one table column.
type Column struct {
	Key        string
	Header     string // "" => Key
	RightAlign bool
	// Render renders the cell; v is rec[Key] (nil if absent). nil =>
	// default rendering of rec[Key].
	Render func(v any, rec map[string]any) string
}

// Render writes data to w in the format o.Format.
//
// JSON and JSONPretty print data as JSON followed by "\n", without HTML
// escaping. Text prints a table: a list of records ([]map[string]any, or
// anything that marshals to a JSON array of objects) gives one row per
// record with the given columns; a single record (map[string]any, or a value
// marshalling to a JSON object) gives a two-column Name/Value table with one
// row per column. Without cols, the columns are the records' keys in sorted
// order. An empty list prints nothing (as upstream); scalars print their
// default rendering on one line.
func Render(w io.Writer, o Options, data any, cols []Column) error {
	switch o.Format {
	case JSON, JSONPretty:
		return writeJSON(w, data, o.Format == JSONPretty)
	case Text:
		return renderText(w, o, data, cols)
	}
	return fmt.Errorf("unknown output format %v", o.Format)
}

func writeJSON(w io.Writer, data any, pretty bool) error {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if pretty {
		enc.SetIndent("", "  ")
	}
	if err := enc.Encode(data); err != nil { // Encode appends the "\n"
		return err
	}
	_, err := w.Write(unescapeLineSeparators(buf.Bytes()))
	return err
}

// unescapeLineSeparators undoes the one escape Go's encoder makes that
// upstream's (serde_json) does not: U+2028 and U+2029 are written as
// themselves, not as \u2028 and \u2029. Every backslash in encoded JSON
// starts an escape, so escapes are skipped whole.
func unescapeLineSeparators(b []byte) []byte {
	if !bytes.Contains(b, []byte(`\u202`)) {
		return b
	}
	out := make([]byte, 0, len(b))
	for i := 0; i < len(b); i++ {
		if b[i] != '\\' || i+1 >= len(b) {
			out = append(out, b[i])
			continue
		}
		if e := b[i+1:]; len(e) >= 5 && (string(e[:5]) == "u2028" || string(e[:5]) == "u2029") {
			out = utf8.AppendRune(out, rune(0x2028+int(e[4]-'8')))
			i += 5
			continue
		}
		out = append(out, b[i], b[i+1])
		i++
	}
	return out
}

func renderText(w io.Writer, o Options, data any, cols []Column) error {
	switch d := data.(type) {
	case []map[string]any:
		return renderList(w, o, d, cols)
	case map[string]any:
		return renderObject(w, o, d, cols)
	case []any:
		if recs, ok := asRecords(d); ok {
			return renderList(w, o, recs, cols)
		}
	}
	// Anything else: look at its JSON form.
	norm, err := Generic(data)
	if err != nil {
		return err
	}
	switch d := norm.(type) {
	case map[string]any:
		return renderObject(w, o, d, cols)
	case []any:
		if recs, ok := asRecords(d); ok {
			return renderList(w, o, recs, cols)
		}
	}
	_, err = io.WriteString(w, CellText(norm)+"\n")
	return err
}

func asRecords(list []any) ([]map[string]any, bool) {
	recs := make([]map[string]any, 0, len(list))
	for _, e := range list {
		m, ok := e.(map[string]any)
		if !ok {
			return nil, false
		}
		recs = append(recs, m)
	}
	return recs, true
}

// Generic converts any JSON-marshalable value to its generic JSON form
// (objects as map[string]any, numbers as json.Number so large integers
// survive), the shape the text renderers read.
func Generic(data any) (any, error) {
	if data == nil {
		return nil, nil
	}
	b, err := json.Marshal(data)
	if err != nil {
		return nil, err
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		return nil, err
	}
	return v, nil
}

func sortedKeys(recs ...map[string]any) []Column {
	seen := map[string]bool{}
	var keys []string
	for _, r := range recs {
		for k := range r {
			if !seen[k] {
				seen[k] = true
				keys = append(keys, k)
			}
		}
	}
	sort.Strings(keys)
	cols := make([]Column, len(keys))
	for i, k := range keys {
		cols[i] = Column{Key: k, RightAlign: isNumeric(recs, k)}
	}
	return cols
}

// isNumeric: every present value of key is a number or a bool (upstream
// right-aligns integer, number and boolean schema types).
func isNumeric(recs []map[string]any, key string) bool {
	found := false
	for _, r := range recs {
		v, ok := r[key]
		if !ok || v == nil {
			continue
		}
		switch v.(type) {
		case bool, json.Number, float32, float64, int, int8, int16, int32, int64, uint, uint8, uint16, uint32, uint64:
			found = true
		default:
			return false
		}
	}
	return found
}

func (c Column) header() string {
	if c.Header != "" {
		return c.Header
	}
	return c.Key
}

func (c Column) cell(rec map[string]any) string {
	v := rec[c.Key]
	if c.Render != nil {
		return c.Render(v, rec)
	}
	return CellText(v)
}

type tableColumn struct {
	name  string
	cells [][]string // lines per row
	width int
	right bool
}

func renderList(w io.Writer, o Options, recs []map[string]any, cols []Column) error {
	if len(recs) == 0 {
		return nil // upstream prints nothing for an empty list
	}
	if len(cols) == 0 {
		cols = sortedKeys(recs...)
		if len(cols) == 0 {
			return nil
		}
	}
	headerShown := !(o.NoHeader || o.NoBorder)
	table := make([]tableColumn, len(cols))
	for i, c := range cols {
		tc := tableColumn{name: c.header(), right: c.RightAlign}
		if headerShown {
			tc.width = textWidth(tc.name)
		}
		for _, rec := range recs {
			lines := splitLines(c.cell(rec))
			for _, l := range lines {
				tc.width = max(tc.width, textWidth(l))
			}
			tc.cells = append(tc.cells, lines)
		}
		table[i] = tc
	}
	return writeTable(w, o, table)
}

// renderObject renders one record as a Name/Value table; a column whose key
// is absent from the record is skipped (upstream skips absent optional
// properties).
func renderObject(w io.Writer, o Options, rec map[string]any, cols []Column) error {
	if len(cols) == 0 {
		cols = sortedKeys(rec)
		if len(cols) == 0 {
			return nil
		}
	}
	headerShown := !(o.NoHeader || o.NoBorder)
	name := tableColumn{name: "Name"}
	value := tableColumn{name: "Value", right: true}
	if headerShown {
		name.width = textWidth(name.name)
		value.width = textWidth(value.name)
	}
	for _, c := range cols {
		if !c.RightAlign {
			value.right = false // right-aligned only if every row is
		}
		if _, ok := rec[c.Key]; !ok && c.Render == nil {
			continue
		}
		h := c.header()
		name.width = max(name.width, textWidth(h))
		name.cells = append(name.cells, []string{h})
		lines := splitLines(c.cell(rec))
		for _, l := range lines {
			value.width = max(value.width, textWidth(l))
		}
		value.cells = append(value.cells, lines)
	}
	if len(name.cells) == 0 {
		return nil
	}
	return writeTable(w, o, []tableColumn{name, value})
}

type borders struct {
	sep                       string
	top, head, middle, bottom string
}

func makeBorders(table []tableColumn, ascii bool) borders {
	var top, head, middle, bottom strings.Builder
	for i, c := range table {
		switch {
		case ascii:
			top.WriteString("+")
			head.WriteString("+")
			middle.WriteString("+")
			bottom.WriteString("+")
		case i == 0:
			top.WriteString("┌")
			head.WriteString("╞")
			middle.WriteString("├")
			bottom.WriteString("└")
		default:
			top.WriteString("┬")
			head.WriteString("╪")
			middle.WriteString("┼")
			bottom.WriteString("┴")
		}
		n := c.width + 2
		if ascii {
			top.WriteString(strings.Repeat("=", n))
			head.WriteString(strings.Repeat("=", n))
			middle.WriteString(strings.Repeat("-", n))
			bottom.WriteString(strings.Repeat("=", n))
		} else {
			top.WriteString(strings.Repeat("─", n))
			head.WriteString(strings.Repeat("═", n))
			middle.WriteString(strings.Repeat("─", n))
			bottom.WriteString(strings.Repeat("─", n))
		}
	}
	b := borders{sep: "│"}
	if ascii {
		b.sep = "|"
		top.WriteString("+")
		head.WriteString("+")
		middle.WriteString("+")
		bottom.WriteString("+")
	} else {
		top.WriteString("┐")
		head.WriteString("╡")
		middle.WriteString("┤")
		bottom.WriteString("┘")
	}
	b.top, b.head, b.middle, b.bottom = top.String(), head.String(), middle.String(), bottom.String()
	return b
}

func pad(s string, width int, right bool) string {
	n := width - textWidth(s)
	if n <= 0 {
		return s
	}
	if right {
		return strings.Repeat(" ", n) + s
	}
	return s + strings.Repeat(" ", n)
}

// writeTable mirrors upstream's render_table (proxmox text_table).
func writeTable(w io.Writer, o Options, table []tableColumn) error {
	var out strings.Builder
	line := func(s string) {
		if o.Width > 0 && utf8.RuneCountInString(s) > o.Width {
			r := []rune(s)
			s = string(r[:o.Width])
		}
		out.WriteString(s)
		out.WriteByte('\n')
	}
	b := makeBorders(table, o.ASCII)
	if !o.NoBorder {
		line(b.top)
	}
	if !(o.NoHeader || o.NoBorder) {
		var h strings.Builder
		for _, c := range table {
			h.WriteString(b.sep + " " + pad(c.name, c.width, c.right) + " ")
		}
		h.WriteString(b.sep)
		line(h.String())
		line(b.head)
	}
	rows := len(table[0].cells)
	for pos := 0; pos < rows; pos++ {
		maxLines := 0
		for _, c := range table {
			maxLines = max(maxLines, len(c.cells[pos]))
		}
		// QUIRK (as upstream): a row whose cells are all empty has no
		// text lines at all, only its separator.
		for ln := 0; ln < maxLines; ln++ {
			var t strings.Builder
			for i, c := range table {
				if o.NoBorder {
					if i > 0 {
						t.WriteByte(' ')
					}
				} else {
					t.WriteString(b.sep + " ")
				}
				s := ""
				if ln < len(c.cells[pos]) {
					s = c.cells[pos][ln]
				}
				t.WriteString(pad(s, c.width, c.right))
				if !o.NoBorder {
					t.WriteByte(' ')
				}
			}
			if !o.NoBorder {
				t.WriteString(b.sep)
			}
			line(t.String())
		}
		if !o.NoBorder {
			if pos+1 == rows {
				line(b.bottom)
			} else {
				line(b.middle)
			}
		}
	}
	_, err := io.WriteString(w, out.String())
	return err
}

// textWidth is the width upstream uses: the number of characters.
func textWidth(s string) int { return utf8.RuneCountInString(s) }

// splitLines splits like Rust's str::lines: on "\n", dropping a trailing
// "\r" of each line and a final empty line; "" has no lines.
func splitLines(s string) []string {
	if s == "" {
		return nil
	}
	s = strings.TrimSuffix(s, "\n")
	parts := strings.Split(s, "\n")
	for i, p := range parts {
		parts[i] = strings.TrimSuffix(p, "\r")
	}
	return parts
}

// CellText is the default rendering of a value in a text table: strings
// as-is, nil as "", bools as "1"/"0", integers in decimal, floats in the
// shortest form without exponent, anything else as compact JSON.
func CellText(v any) string {
	switch x := v.(type) {
	case nil:
		return ""
	case string:
		return x
	case bool:
		if x {
			return "1"
		}
		return "0"
	case float32:
		return formatFloat(float64(x), 32)
	case float64:
		return formatFloat(x, 64)
	case json.Number:
		if _, err := strconv.ParseInt(string(x), 10, 64); err == nil {
			return string(x)
		}
		if _, err := strconv.ParseUint(string(x), 10, 64); err == nil {
			return string(x)
		}
		if f, err := x.Float64(); err == nil {
			return formatFloat(f, 64)
		}
		return string(x)
	case fmt.Stringer:
		return x.String()
	}
	// Integers, and named string/number/bool types.
	rv := reflect.ValueOf(v)
	switch rv.Kind() {
	case reflect.String:
		return rv.String()
	case reflect.Bool:
		return CellText(rv.Bool())
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		return strconv.FormatInt(rv.Int(), 10)
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		return strconv.FormatUint(rv.Uint(), 10)
	case reflect.Float32, reflect.Float64:
		return formatFloat(rv.Float(), 64)
	}
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return fmt.Sprint(v)
	}
	return strings.TrimSuffix(buf.String(), "\n")
}

func formatFloat(f float64, bits int) string {
	switch {
	case math.IsNaN(f):
		return "NaN"
	case math.IsInf(f, 1):
		return "inf"
	case math.IsInf(f, -1):
		return "-inf"
	}
	return strconv.FormatFloat(f, 'f', -1, bits)
}
