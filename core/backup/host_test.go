package backup

import (
	"context"
	"os"
	"strings"
	"testing"
	"time"

	"cairn/core"
)

func TestHostName(t *testing.T) {
	h := HostName()
	if h == "" || strings.Contains(h, ".") {
		t.Fatalf("HostName = %q: want a name without its domain", h)
	}
	if full, err := os.Hostname(); err == nil && full != "" && !strings.HasPrefix(full, h) {
		t.Errorf("HostName = %q, not a prefix of %q", h, full)
	}
}

// snapshotLister is a repository that only lists snapshots.
type snapshotLister struct {
	core.Repository
	times []int64
}

func (r snapshotLister) ListSnapshots(ns core.Namespace, g *core.Group) ([]core.SnapshotInfo, error) {
	var out []core.SnapshotInfo
	for _, t := range r.times {
		out = append(out, core.SnapshotInfo{Snapshot: core.Snapshot{Group: *g, Time: t}})
	}
	return out, nil
}

func TestNextTime(t *testing.T) {
	g := core.Group{Type: core.BackupType("host"), ID: "h"}
	ctx := context.Background()
	now := time.Now().Unix()
	if got := NextTime(ctx, snapshotLister{times: []int64{now - 100}}, "", g); got < now || got > now+1 {
		t.Errorf("older snapshot: NextTime = %d, want now (%d)", got, now)
	}
	// A snapshot from this second: the next second, after waiting for it.
	now = time.Now().Unix()
	if got := NextTime(ctx, snapshotLister{times: []int64{now}}, "", g); got <= now {
		t.Errorf("same second: NextTime = %d, want > %d", got, now)
	}
	// A cancelled context ends the wait at once and still gives a later time.
	cctx, cancel := context.WithCancel(ctx)
	cancel()
	now = time.Now().Unix()
	start := time.Now()
	if got := NextTime(cctx, snapshotLister{times: []int64{now + 2}}, "", g); got <= now+2 {
		t.Errorf("cancelled: NextTime = %d, want > %d", got, now+2)
	}
	if time.Since(start) > time.Second {
		t.Errorf("cancelled: waited %v", time.Since(start))
	}
}
