package ratelimit

import (
	"fmt"
	"math"
	"strconv"
	"strings"
)

// Minimums of upstream 3.2.4's --rate and --burst (integer schemas
// 100000..N and 1000..N); they hold for every accepted form.
const (
	MinRate  = 100000
	MinBurst = 1000
)

// ParseByteSize reads a byte count as upstream's HumanByte does: a
// non-negative decimal number, optionally followed (after optional spaces)
// by a unit: B; K, M, G, T, P for powers of 1000 (KB, MB, ...); Ki, Mi, ...
// for powers of 1024 (KiB, MiB, ...). Units are case-insensitive and the
// trailing B is optional: 1000, 10MiB, 5MB, 1.5G, 64 kib. The result is
// rounded down to whole bytes.
func ParseByteSize(s string) (uint64, error) {
	v := strings.TrimSpace(s)
	if v == "" {
		return 0, fmt.Errorf("empty byte size")
	}
	if c := v[len(v)-1]; c == 'b' || c == 'B' {
		v = v[:len(v)-1]
	}
	binary := false
	if v != "" && v[len(v)-1] == 'i' {
		binary = true
		v = v[:len(v)-1]
	}
	factor := 1.0
	if v != "" {
		exp := strings.IndexByte("kmgtp", lower(v[len(v)-1]))
		if exp >= 0 {
			base := 1000.0
			if binary {
				base = 1024
			}
			factor = math.Pow(base, float64(exp+1))
			v = v[:len(v)-1]
		} else if binary {
			return 0, fmt.Errorf("invalid byte size %q: unknown unit", s)
		}
	}
	v = strings.TrimRight(v, " \t")
	// Digits and one dot only: no signs, exponents, hex, inf or nan.
	if v == "" || strings.Trim(v, "0123456789.") != "" || strings.Count(v, ".") > 1 || v == "." {
		return 0, fmt.Errorf("invalid byte size %q (a number with an optional unit: B, KB, MB, GB, KiB, MiB, GiB, ...)", s)
	}
	f, err := strconv.ParseFloat(v, 64)
	if err != nil {
		return 0, fmt.Errorf("invalid byte size %q: %v", s, err)
	}
	n := f * factor
	if n >= math.MaxUint64 {
		return 0, fmt.Errorf("invalid byte size %q: too large", s)
	}
	return uint64(n), nil
}

func lower(c byte) byte {
	if c >= 'A' && c <= 'Z' {
		return c + 'a' - 'A'
	}
	return c
}

// ParseRate reads a --rate value: a byte size per second, at least MinRate.
func ParseRate(s string) (uint64, error) {
	n, err := ParseByteSize(s)
	if err != nil {
		return 0, err
	}
	if n < MinRate {
		return 0, fmt.Errorf("rate %q is %d bytes/s, below the minimum of %d", s, n, MinRate)
	}
	return n, nil
}

// ParseBurst reads a --burst value: a byte size, at least MinBurst.
func ParseBurst(s string) (uint64, error) {
	n, err := ParseByteSize(s)
	if err != nil {
		return 0, err
	}
	if n < MinBurst {
		return 0, fmt.Errorf("burst %q is %d bytes, below the minimum of %d", s, n, MinBurst)
	}
	return n, nil
}
