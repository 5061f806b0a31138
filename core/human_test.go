package core

import "testing"

func TestHumanByte(t *testing.T) {
	tests := []struct {
		n    uint64
		want string
	}{
		{0, "0 B"},
		{1, "1 B"},
		{512, "512 B"},
		{1023, "1023 B"},
		{1024, "1 KiB"},
		{1536, "1.5 KiB"},
		{1025, "1.001 KiB"},
		{1<<20 - 1, "1023.999 KiB"},
		{1<<30 - 1, "1024 MiB"}, // rounds up but keeps the unit chosen by bit length
		{1048063, "1023.499 KiB"},
		{1 << 20, "1 MiB"},
		{1572864, "1.5 MiB"},
		{3450000000, "3.213 GiB"},
		{1 << 30, "1 GiB"},
		{1 << 40, "1 TiB"},
		{1 << 50, "1 PiB"},
		{1 << 60, "1024 PiB"},
		{51788646825, "48.232 GiB"},
		{18446744073709551615, "16384 PiB"},
	}
	for _, tc := range tests {
		if got := HumanByte(tc.n); got != tc.want {
			t.Errorf("HumanByte(%d) = %q, want %q", tc.n, got, tc.want)
		}
	}
	if got := HumanBytePrec(1025, 0); got != "1 KiB" {
		t.Errorf("HumanBytePrec = %q", got)
	}
}
