package client

import (
	"testing"

	"cairn/core"
)

// A server's GC task log becomes structured progress once, here.
func TestGCLogEvent(t *testing.T) {
	for line, want := range map[string]*core.GCProgress{
		"starting garbage collection on store store1":   nil,
		"Start GC phase1 (mark used chunks)":            {Phase: core.GCPhaseMark},
		"marked 37% (3 of 8 index files)":               {Phase: core.GCPhaseMark, Percent: 37},
		"Start GC phase2 (sweep unused chunks)":         {Phase: core.GCPhaseSweep},
		"percentage done: 64, chunk count: 9":           {Phase: core.GCPhaseSweep, Percent: 64},
		"percentage done: garbage":                      nil,
		"marked chunks are kept for 24h05m (no figure)": nil,
	} {
		ev := gcLogEvent(line)
		if ev.Kind != core.EventInfo || ev.Message != line {
			t.Errorf("%q: %+v", line, ev)
		}
		switch {
		case want == nil && ev.GC != nil, want != nil && (ev.GC == nil || *ev.GC != *want):
			t.Errorf("%q: progress %+v, want %+v", line, ev.GC, want)
		}
	}
}
