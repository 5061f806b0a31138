package catalog

import (
	"errors"
)

// Variable-length integers of the pcat1 format (formats.md 7.1).

var (
	errVarintEOF      = errors.New("catalog: unexpected end of data in variable-length integer")
	errVarintTooLong  = errors.New("catalog: variable-length integer missing end marker")
	errVarintOverflow = errors.New("catalog: variable-length integer overflows 64 bits")
)

// appendU64 appends v as varu64.
func appendU64(b []byte, v uint64) []byte {
	for v >= 0x80 {
		b = append(b, byte(v)|0x80)
		v >>= 7
	}
	return append(b, byte(v))
}

// appendI64 appends v as vari64 (not zig-zag: negative values end with a
// set continuation bit followed by a 0x00 terminator).
func appendI64(b []byte, v int64) []byte {
	if v >= 0 {
		return appendU64(b, uint64(v))
	}
	d := uint64(-(v + 1)) + 1 // also handles math.MinInt64
	for d >= 0x80 {
		b = append(b, byte(d)|0x80)
		d >>= 7
	}
	return append(b, byte(d)|0x80, 0)
}

// decodeU64 decodes a varu64 from the start of b (at most 10 bytes) and
// returns the value and the number of bytes consumed.
func decodeU64(b []byte) (uint64, int, error) {
	var v uint64
	for i := 0; i < 10; i++ {
		if i >= len(b) {
			return 0, 0, errVarintEOF
		}
		t := b[i]
		bits := uint64(t & 0x7f)
		if i == 9 && bits > 1 {
			return 0, 0, errVarintOverflow
		}
		v |= bits << (7 * uint(i))
		if t < 0x80 {
			return v, i + 1, nil
		}
	}
	return 0, 0, errVarintTooLong
}

// decodeI64 decodes a vari64 from the start of b (at most 11 bytes).
func decodeI64(b []byte) (int64, int, error) {
	var v uint64
	for i := 0; i < 11; i++ {
		if i >= len(b) {
			return 0, 0, errVarintEOF
		}
		t := b[i]
		if t == 0 {
			if v == 0 {
				return 0, i + 1, nil
			}
			// -(v) with wrap-around, also yields math.MinInt64 for v = 2^63.
			return -int64(v-1) - 1, i + 1, nil
		}
		if i == 10 {
			break
		}
		bits := uint64(t & 0x7f)
		if i == 9 && bits > 1 {
			return 0, 0, errVarintOverflow
		}
		v |= bits << (7 * uint(i))
		if t < 0x80 {
			return int64(v), i + 1, nil
		}
	}
	return 0, 0, errVarintTooLong
}
