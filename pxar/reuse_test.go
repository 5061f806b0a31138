package pxar

import (
	"bytes"
	"slices"
	"testing"
)

func TestComparePreorder(t *testing.T) {
	// The order a walk with byte-sorted children visits entries.
	walk := []string{"a", "a/x", "a/x/deep", "a/y", "a-b", "a0", "b"}
	for i := range walk {
		for j := range walk {
			got := comparePreorder(walk[i], walk[j])
			if (got < 0) != (i < j) || (got == 0) != (i == j) {
				t.Errorf("compare(%q, %q) = %d", walk[i], walk[j], got)
			}
		}
	}
}

func TestPreviousFindsInWalkOrder(t *testing.T) {
	var meta, payload bytes.Buffer
	dir := &Metadata{Stat: Stat{Mode: ModeIFDIR | 0o755}}
	file := &Metadata{Stat: Stat{Mode: ModeIFREG | 0o644, MtimeSec: 7}}
	e, err := NewSplitEncoder(&meta, &payload, dir, nil)
	if err != nil {
		t.Fatal(err)
	}
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	must(e.CreateDirectory([]byte("a"), dir))
	_, err = e.AddFile([]byte("x"), file, 3, bytes.NewReader([]byte("abc")))
	must(err)
	must(e.FinishDirectory())
	_, err = e.AddFile([]byte("a-b"), file, 2, bytes.NewReader([]byte("de")))
	must(err)
	must(e.Finish())

	p := NewPrevious(bytes.NewReader(meta.Bytes()))
	if got := p.Find("a/x"); got == nil || got.Size != 3 || got.PayloadOffset != 16 {
		t.Fatalf("a/x: %+v", got)
	}
	if got := p.Find("a/missing"); got != nil {
		t.Fatalf("a/missing found: %+v", got)
	}
	got := p.Find("a-b")
	if got == nil || got.Size != 2 || got.PayloadOffset != 16+16+3 {
		t.Fatalf("a-b: %+v", got)
	}
	data := payload.Bytes()
	if !slices.Equal(data[got.PayloadOffset+16:got.PayloadOffset+18], []byte("de")) {
		t.Fatal("payload reference does not point at the data")
	}
	if p.Find("zzz") != nil || p.Err() != nil {
		t.Fatalf("past the end: %v", p.Err())
	}
}
