package manifest

import (
	"bytes"
	"encoding/json"
	"fmt"
	"maps"
	"math"
	"reflect"
	"slices"
	"strconv"
	"strings"
)

// JSON output compatible with Rust's serde_json as used upstream:
// objects are serde_json::Value maps (BTreeMap, keys sorted byte-wise),
// strings use serde_json's escaping, integers are plain decimal and floats
// are formatted like the ryu crate. The same writer produces both the
// pretty (2-space indented) document and the canonical form used for
// signatures (formats.md 6.4).

type jsonWriter struct {
	buf       bytes.Buffer
	pretty    bool
	canonical bool // null is an error
}

const maxDepth = 10000

func (w *jsonWriter) newline(level int) {
	if !w.pretty {
		return
	}
	w.buf.WriteByte('\n')
	for i := 0; i < level; i++ {
		w.buf.WriteString("  ")
	}
}

func (w *jsonWriter) value(v any, level int) error {
	if level > maxDepth {
		return fmt.Errorf("manifest: JSON nested too deeply")
	}
	switch x := v.(type) {
	case nil:
		if w.canonical {
			return fmt.Errorf("manifest: canonical JSON: got unexpected null value")
		}
		w.buf.WriteString("null")
	case bool:
		if x {
			w.buf.WriteString("true")
		} else {
			w.buf.WriteString("false")
		}
	case string:
		writeString(&w.buf, x)
	case json.Number:
		s, err := formatNumber(string(x))
		if err != nil {
			return err
		}
		w.buf.WriteString(s)
	case int, int8, int16, int32, int64:
		w.buf.WriteString(strconv.FormatInt(reflect.ValueOf(x).Int(), 10))
	case uint, uint8, uint16, uint32, uint64:
		w.buf.WriteString(strconv.FormatUint(reflect.ValueOf(x).Uint(), 10))
	case float32:
		return w.float(float64(x))
	case float64:
		return w.float(x)
	case map[string]any:
		keys := slices.Sorted(maps.Keys(x)) // Go string order is byte-wise
		return w.container('{', '}', len(keys), level, func(i int) error {
			writeString(&w.buf, keys[i])
			w.buf.WriteByte(':')
			if w.pretty {
				w.buf.WriteByte(' ')
			}
			return w.value(x[keys[i]], level+1)
		})
	case []any:
		return w.container('[', ']', len(x), level, func(i int) error {
			return w.value(x[i], level+1)
		})
	default:
		// Arbitrary Go values (structs, typed maps and slices): convert
		// through encoding/json into the generic representation.
		rv := reflect.ValueOf(v)
		if (rv.Kind() == reflect.Pointer || rv.Kind() == reflect.Map || rv.Kind() == reflect.Slice || rv.Kind() == reflect.Interface) && rv.IsNil() {
			return w.value(nil, level)
		}
		data, err := json.Marshal(v)
		if err != nil {
			return fmt.Errorf("manifest: encode %T: %w", v, err)
		}
		g, err := decodeGeneric(data)
		if err != nil {
			return fmt.Errorf("manifest: encode %T: %w", v, err)
		}
		return w.value(g, level)
	}
	return nil
}

// container writes an object or array of n members between start and
// end, one to a line when pretty; member writes the i-th.
func (w *jsonWriter) container(start, end byte, n, level int, member func(i int) error) error {
	w.buf.WriteByte(start)
	if n == 0 {
		w.buf.WriteByte(end)
		return nil
	}
	for i := range n {
		if i > 0 {
			w.buf.WriteByte(',')
		}
		w.newline(level + 1)
		if err := member(i); err != nil {
			return err
		}
	}
	w.newline(level)
	w.buf.WriteByte(end)
	return nil
}

func (w *jsonWriter) float(f float64) error {
	if math.IsNaN(f) || math.IsInf(f, 0) {
		return fmt.Errorf("manifest: cannot encode %v as JSON", f)
	}
	w.buf.WriteString(formatFloat(f))
	return nil
}

func decodeGeneric(data []byte) (any, error) {
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		return nil, err
	}
	if dec.More() {
		return nil, fmt.Errorf("trailing data after JSON value")
	}
	if _, err := dec.Token(); err == nil {
		return nil, fmt.Errorf("trailing data after JSON value")
	}
	return v, nil
}

// writeString writes s as a JSON string with serde_json's escaping:
// `"`, `\`, \b \t \n \f \r and \u00xx (lower-case) for other control
// characters; everything else raw.
func writeString(b *bytes.Buffer, s string) {
	const hexDigits = "0123456789abcdef"
	b.WriteByte('"')
	start := 0
	for i := 0; i < len(s); i++ {
		c := s[i]
		var esc string
		switch {
		case c == '"':
			esc = `\"`
		case c == '\\':
			esc = `\\`
		case c == '\b':
			esc = `\b`
		case c == '\t':
			esc = `\t`
		case c == '\n':
			esc = `\n`
		case c == '\f':
			esc = `\f`
		case c == '\r':
			esc = `\r`
		case c < 0x20:
			esc = `\u00` + string(hexDigits[c>>4]) + string(hexDigits[c&15])
		default:
			continue
		}
		b.WriteString(s[start:i])
		b.WriteString(esc)
		start = i + 1
	}
	b.WriteString(s[start:])
	b.WriteByte('"')
}

// formatNumber re-formats a JSON number literal the way serde_json does
// after parsing it into a Value: u64 / i64 when it is an integer literal in
// range, otherwise an f64 printed like ryu.
func formatNumber(s string) (string, error) {
	if !strings.ContainsAny(s, ".eE") {
		if strings.HasPrefix(s, "-") {
			if i, err := strconv.ParseInt(s, 10, 64); err == nil {
				if i == 0 {
					return "-0.0", nil // serde_json turns -0 into a float
				}
				return strconv.FormatInt(i, 10), nil
			}
		} else if u, err := strconv.ParseUint(s, 10, 64); err == nil {
			return strconv.FormatUint(u, 10), nil
		}
	}
	f, err := strconv.ParseFloat(s, 64)
	if err != nil || math.IsInf(f, 0) || math.IsNaN(f) {
		return "", fmt.Errorf("manifest: invalid or out of range number %q", s)
	}
	return formatFloat(f), nil
}

// formatFloat formats f like the ryu crate's "pretty" output used by
// serde_json: shortest round-trip digits, decimal notation for exponents
// in [-5, 16], scientific ("1e30", "1.5e-7") otherwise.
func formatFloat(f float64) string {
	var b strings.Builder
	if math.Signbit(f) {
		b.WriteByte('-')
		f = -f
	}
	if f == 0 {
		b.WriteString("0.0")
		return b.String()
	}
	e := strconv.FormatFloat(f, 'e', -1, 64) // d.ddddde±XX
	mant, exps, _ := strings.Cut(e, "e")
	digits := strings.Replace(mant, ".", "", 1)
	exp, _ := strconv.Atoi(exps)
	length := len(digits)
	kk := exp + 1    // position of the decimal point
	k := kk - length // value = digits * 10^k
	switch {
	case k >= 0 && kk <= 16:
		b.WriteString(digits)
		b.WriteString(strings.Repeat("0", k))
		b.WriteString(".0")
	case kk > 0 && kk <= 16:
		b.WriteString(digits[:kk])
		b.WriteByte('.')
		b.WriteString(digits[kk:])
	case kk > -5 && kk <= 0:
		b.WriteString("0.")
		b.WriteString(strings.Repeat("0", -kk))
		b.WriteString(digits)
	case length == 1:
		b.WriteString(digits)
		b.WriteByte('e')
		b.WriteString(strconv.Itoa(kk - 1))
	default:
		b.WriteString(digits[:1])
		b.WriteByte('.')
		b.WriteString(digits[1:])
		b.WriteByte('e')
		b.WriteString(strconv.Itoa(kk - 1))
	}
	return b.String()
}
