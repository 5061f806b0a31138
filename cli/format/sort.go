package format

import (
	"encoding/json"
	"io"
	"math"
	"math/big"
	"reflect"
	"sort"
	"strings"
)

// SortKey is one sort key of a text table (upstream's
// TableFormatOptions::sortby): records compare by the raw value of Key —
// numbers numerically, strings by their bytes, a missing or differently
// typed value before any other — and Desc reverses the order.
type SortKey struct {
	Key  string
	Desc bool
}

// RenderSorted is Render for lists whose text table is sorted (protocol.md
// 9.3): the rows are ordered by keys, or, without keys, by the first
// column's key, as upstream orders every table it has no sort keys for.
// Ties keep their order. JSON output keeps the order of data, as upstream
// prints what the server answered.
func RenderSorted(w io.Writer, o Options, data any, cols []Column, keys ...SortKey) error {
	if o.Format != Text {
		return Render(w, o, data, cols)
	}
	var recs []map[string]any
	switch d := data.(type) {
	case []map[string]any:
		recs = append(recs, d...)
	default:
		norm := data
		if _, ok := data.([]any); !ok {
			var err error
			if norm, err = Generic(data); err != nil {
				return err
			}
		}
		list, ok := norm.([]any)
		if !ok {
			return Render(w, o, data, cols)
		}
		if recs, ok = asRecords(list); !ok {
			return Render(w, o, data, cols)
		}
	}
	if len(keys) == 0 && len(cols) > 0 {
		keys = []SortKey{{Key: cols[0].Key}}
	}
	SortRecords(recs, keys...)
	return Render(w, o, recs, cols)
}

// SortRecords sorts records by keys (see SortKey), keeping ties in order.
func SortRecords(recs []map[string]any, keys ...SortKey) {
	if len(keys) == 0 {
		return
	}
	sort.SliceStable(recs, func(i, j int) bool {
		for _, k := range keys {
			c := compareValues(recs[i][k.Key], recs[j][k.Key])
			if k.Desc {
				c = -c
			}
			if c != 0 {
				return c < 0
			}
		}
		return false
	})
}

// compareValues orders two raw values: numbers by value, strings by bytes,
// booleans false first; a missing value, or one whose type differs from the
// other's, counts as absent and sorts first (upstream compares
// Option<i64>/Option<&str>, where None is the smallest).
func compareValues(a, b any) int {
	if na, ok := number(a); ok {
		nb, ok := number(b)
		if !ok {
			return 1
		}
		return na.Cmp(nb)
	}
	if sa, ok := a.(string); ok {
		sb, ok := b.(string)
		if !ok {
			return 1
		}
		return strings.Compare(sa, sb)
	}
	if ba, ok := a.(bool); ok {
		bb, ok := b.(bool)
		switch {
		case !ok:
			return 1
		case ba == bb:
			return 0
		case bb:
			return -1
		}
		return 1
	}
	// a is absent or not comparable.
	if _, ok := number(b); ok {
		return -1
	}
	switch b.(type) {
	case string, bool:
		return -1
	}
	return 0
}

// number reads any numeric value exactly (json.Number, ints, floats).
func number(v any) (*big.Float, bool) {
	f := new(big.Float)
	switch x := v.(type) {
	case json.Number:
		if _, ok := f.SetString(string(x)); ok {
			return f, true
		}
		return nil, false
	case int, int8, int16, int32, int64:
		return f.SetInt64(reflect.ValueOf(x).Int()), true
	case uint, uint8, uint16, uint32, uint64:
		return f.SetUint64(reflect.ValueOf(x).Uint()), true
	case float32:
		return number(float64(x))
	case float64:
		if math.IsNaN(x) {
			return nil, false
		}
		return f.SetFloat64(x), true
	}
	return nil, false
}
