package core

import (
	"fmt"
	"strings"
)

// KeepOptions are prune's keep-* counts; 0 means the rule is not set.
type KeepOptions struct {
	KeepLast, KeepHourly, KeepDaily, KeepWeekly, KeepMonthly, KeepYearly int
}

// KeepsAll reports that no rule is set: then prune keeps everything.
func (o KeepOptions) KeepsAll() bool {
	return o.KeepLast <= 0 && o.KeepHourly <= 0 && o.KeepDaily <= 0 && o.KeepWeekly <= 0 && o.KeepMonthly <= 0 && o.KeepYearly <= 0
}

// Counts lists the options in upstream's fixed order, with their names.
func (o KeepOptions) Counts() []struct {
	Name  string
	Count int
} {
	return []struct {
		Name  string
		Count int
	}{{"keep-last", o.KeepLast}, {"keep-hourly", o.KeepHourly}, {"keep-daily", o.KeepDaily},
		{"keep-weekly", o.KeepWeekly}, {"keep-monthly", o.KeepMonthly}, {"keep-yearly", o.KeepYearly}}
}

// Validate refuses negative counts.
func (o KeepOptions) Validate() error {
	for _, c := range o.Counts() {
		if c.Count < 0 {
			return fmt.Errorf("invalid --%s %d: must be at least 1", c.Name, c.Count)
		}
	}
	return nil
}

// String renders the options as upstream's task log does ("--keep-last 2 ...").
func (o KeepOptions) String() string {
	var parts []string
	for _, c := range o.Counts() {
		if c.Count > 0 {
			parts = append(parts, fmt.Sprintf("--%s %d", c.Name, c.Count))
		}
	}
	return strings.Join(parts, " ")
}

// PruneResult is prune's decision for one snapshot (protocol.md 5.4).
type PruneResult struct {
	Snapshot  Snapshot
	Keep      bool
	Protected bool
	Mark      string // keep, keep-partial, protected or remove
}
