package core

import (
	"math"
	mbits "math/bits"
	"strconv"
)

// HumanByte formats a byte count like upstream's HumanByte (protocol.md
// 8.5): the binary unit is chosen from the bit length of n (< 1024 → B,
// < 2^20 → KiB, … , else PiB), the scaled value is rounded to 3 decimals and
// printed in its shortest form, then a space and the unit: "0 B", "512 B",
// "1.5 KiB", "3.213 GiB". Both faces (CLI and TUI) and engine messages use it.
func HumanByte(n uint64) string {
	return HumanBytePrec(n, 3)
}

// HumanBytePrec is HumanByte with prec decimals instead of 3.
func HumanBytePrec(n uint64, prec int) string {
	units := []string{"B", "KiB", "MiB", "GiB", "TiB", "PiB"}
	u := 0
	switch bits := mbits.Len64(n); {
	case bits >= 51:
		u = 5
	case bits >= 41:
		u = 4
	case bits >= 31:
		u = 3
	case bits >= 21:
		u = 2
	case bits >= 11:
		u = 1
	}
	size := float64(n) / math.Pow(1024, float64(u))
	factor := math.Pow(10, float64(prec))
	size = math.Round(size*factor) / factor
	return strconv.FormatFloat(size, 'f', -1, 64) + " " + units[u]
}
