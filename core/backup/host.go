package backup

import (
	"context"
	"os"
	"strings"
	"time"

	"cairn/core"
)

// HostName is the machine's name without its domain: upstream's default
// backup id and the "Client name" both faces print. "localhost" when the
// system has none.
func HostName() string {
	h, err := os.Hostname()
	if err != nil || h == "" {
		return "localhost"
	}
	h, _, _ = strings.Cut(h, ".")
	return h
}

// NextTime is the time of a new snapshot of g: now, unless the group's
// newest snapshot is from this very second (two quick backups). Snapshot
// times are whole seconds and must grow, so it waits for the next second
// rather than fail; ctx ends the wait early. A group that cannot be listed
// gets now.
func NextTime(ctx context.Context, repo core.Repository, ns core.Namespace, g core.Group) int64 {
	now := time.Now().Unix()
	list, err := repo.ListSnapshots(ns, &g)
	if err != nil {
		return now
	}
	var last int64
	for _, s := range list {
		last = max(last, s.Snapshot.Time)
	}
	if last >= now && last-now < 3 {
		select {
		case <-time.After(time.Until(time.Unix(last+1, 0))):
		case <-ctx.Done():
		}
		return max(time.Now().Unix(), last+1)
	}
	return now
}
