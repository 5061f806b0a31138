package ratelimit

import (
	"strings"
	"testing"
)

func TestParseByteSize(t *testing.T) {
	for in, want := range map[string]uint64{
		"0":          0,
		"14":         14,
		"1000000":    1000000,
		"1300b":      1300,
		"1300B":      1300,
		"1300 B":     1300,
		"1.5KB":      1500,
		"1.5kb":      1500,
		"1.5k":       1500,
		"5MB":        5000000,
		"5M":         5000000,
		"1.5G":       1500000000,
		"2.0GB":      2000000000,
		"1.4TB":      1400000000000,
		"2KiB":       2048,
		"2Ki":        2048,
		"2kib":       2048,
		"10MiB":      10 << 20,
		"10 MiB":     10 << 20,
		" 10MiB ":    10 << 20,
		"4gib":       4 << 30,
		"1PiB":       1 << 50,
		"0.5MiB":     1 << 19,
		"1.2345678":  1,
		"100000":     100000,
		".5KB":       500,
		"3.":         3,
		"1.6543219M": 1654321,
	} {
		got, err := ParseByteSize(in)
		if err != nil || got != want {
			t.Errorf("ParseByteSize(%q) = %d, %v; want %d", in, got, err, want)
		}
	}
	for _, in := range []string{"", " ", "B", "KiB", "-10", "+10", "10x", "10 XB", "1e6", "0x10", "1.2.3", "inf", "NaN",
		"10iB", "10EB", "1,5MB", "10 M B", "99999999999999999999PB"} {
		if got, err := ParseByteSize(in); err == nil {
			t.Errorf("ParseByteSize(%q) = %d, want an error", in, got)
		}
	}
}

func TestParseRateBurstMinimums(t *testing.T) {
	// Upstream 3.2.4: rate 100000..N, burst 1000..N, in every form.
	if n, err := ParseRate("100000"); err != nil || n != 100000 {
		t.Errorf("rate 100000: %d %v", n, err)
	}
	if n, err := ParseRate("1MB"); err != nil || n != 1000000 {
		t.Errorf("rate 1MB: %d %v", n, err)
	}
	for _, in := range []string{"99999", "64KiB", "0", "90KB"} {
		if _, err := ParseRate(in); err == nil || !strings.Contains(err.Error(), in) || !strings.Contains(err.Error(), "minimum") {
			t.Errorf("rate %q: %v", in, err)
		}
	}
	if n, err := ParseBurst("1000"); err != nil || n != 1000 {
		t.Errorf("burst 1000: %d %v", n, err)
	}
	if n, err := ParseBurst("1KiB"); err != nil || n != 1024 {
		t.Errorf("burst 1KiB: %d %v", n, err)
	}
	for _, in := range []string{"999", "0"} {
		if _, err := ParseBurst(in); err == nil || !strings.Contains(err.Error(), "minimum") {
			t.Errorf("burst %q: %v", in, err)
		}
	}
	if _, err := ParseRate("fast"); err == nil || !strings.Contains(err.Error(), `"fast"`) {
		t.Errorf("rate fast: %v", err)
	}
}

func TestConfigBurstDefaultsToRate(t *testing.T) {
	if b := (Config{Rate: 1000000}).EffectiveBurst(); b != 1000000 {
		t.Errorf("burst without --burst: %d, want the rate", b)
	}
	if b := (Config{Rate: 1000000, Burst: 5000}).EffectiveBurst(); b != 5000 {
		t.Errorf("burst: %d", b)
	}
	if (Config{Burst: 5000}).Enabled() || New(Config{Burst: 5000}) != nil {
		t.Error("--burst without --rate limits")
	}
}
