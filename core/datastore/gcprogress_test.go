package datastore

import (
	"context"
	"testing"

	"cairn/core"
)

// TestGCReportsStructuredProgress: the lines that say where a collection
// is carry it as data (issue 17: screens no longer read "percentage done:"
// out of the text), and the text stays upstream's for logs.
func TestGCReportsStructuredProgress(t *testing.T) {
	ds := newStore(t)
	finishSnapshot(t, ds, "", "elsa", 1700000000)
	var evs []core.Event
	if _, err := ds.GarbageCollect(context.Background(), func(ev core.Event) { evs = append(evs, ev) }); err != nil {
		t.Fatal(err)
	}
	phase, last := 0, -1
	seen := map[int]bool{}
	for _, ev := range evs {
		if ev.GC == nil {
			continue
		}
		if ev.Kind != core.EventInfo || ev.Message == "" {
			t.Errorf("progress without its log line: %+v", ev)
		}
		p := *ev.GC
		if p.Phase < phase || (p.Phase == phase && p.Percent < last) || p.Percent < 0 || p.Percent > 100 {
			t.Errorf("progress went back: %+v after phase %d %d%%", p, phase, last)
		}
		phase, last = p.Phase, p.Percent
		seen[p.Phase] = true
	}
	if !seen[core.GCPhaseMark] || !seen[core.GCPhaseSweep] || last != 100 {
		t.Errorf("phases seen %v, last percent %d", seen, last)
	}
}
