package benchmark

import (
	"bytes"
	"encoding/binary"
	"testing"
	"time"
)

func TestDataIsUpstreamsBuffer(t *testing.T) {
	d := Data()
	if len(d) != 1<<20 {
		t.Fatalf("len %d", len(d))
	}
	for _, i := range []int{0, 1, 255, 256, 65536, 262143} {
		if got := binary.LittleEndian.Uint32(d[4*i:]); got != uint32(i) {
			t.Fatalf("counter %d is %d", i, got)
		}
	}
}

func TestCompressRoundTrip(t *testing.T) {
	d := Data()
	if _, err := compressOnce(d); err != nil {
		t.Fatal(err)
	}
	// Decompression works on the buffer as libzstd level 1 compresses it:
	// to about 66% (693,131 bytes with zstd -1).
	z, err := compressedAsUpstream(d)
	if err != nil || len(z) > 700_000 || len(z) < 600_000 {
		t.Fatalf("compressed as upstream: %d bytes, %v", len(z), err)
	}
	back, err := decompressOnce(z)
	if err != nil || !bytes.Equal(back, d) {
		t.Fatalf("decompress: %v", err)
	}
}

// Upstream's loops check the time after each step: one step always runs.
func TestMeasureRunsAtLeastOnce(t *testing.T) {
	steps := 0
	speed, err := measure(0, func() (int, error) { steps++; time.Sleep(time.Millisecond); return 1000, nil })
	if err != nil || steps != 1 || speed <= 0 {
		t.Fatalf("steps %d speed %v err %v", steps, speed, err)
	}
}

func TestVerifyAndAES(t *testing.T) {
	if testing.Short() {
		t.Skip("a second each")
	}
	for name, f := range map[string]func([]byte) (float64, error){"verify": Verify, "aes": AES256GCM} {
		if s, err := f(Data()); err != nil || s <= 0 {
			t.Errorf("%s: %v %v", name, s, err)
		}
	}
}
