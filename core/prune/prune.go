package prune

import (
	"fmt"
	"sort"
	"strings"
	"time"

	"cairn/core"
)

// Mark is a snapshot's fate (protocol.md 7.1).
type Mark int

// The marks, as upstream prints them.
const (
	Remove Mark = iota
	Keep
	KeepPartial
	Protected
)

func (m Mark) String() string {
	return [...]string{"remove", "keep", "keep-partial", "protected"}[m]
}

// Kept reports whether a snapshot with this mark stays.
func (m Mark) Kept() bool { return m != Remove }

// Snapshot is what the selection needs to know of one snapshot.
type Snapshot struct {
	Snapshot  core.Snapshot
	Finished  bool
	Protected bool
}

// Result is one snapshot's decision.
type Result struct {
	Snapshot
	Mark Mark
	// Rule names what decided: last, hourly, daily, weekly, monthly,
	// yearly, partial, protected, or "" for snapshots no rule kept.
	Rule string
}

type rule struct {
	name  string
	count int
	key   func(t time.Time) string
}

// rules in the fixed upstream order: last, hourly, daily, weekly, monthly, yearly.
func rules(o core.KeepOptions) []rule {
	all := []rule{
		{"keep-last", o.KeepLast, nil},
		{"keep-hourly", o.KeepHourly, func(t time.Time) string { return t.Format("2006/01/02/15") }},
		{"keep-daily", o.KeepDaily, func(t time.Time) string { return t.Format("2006/01/02") }},
		{"keep-weekly", o.KeepWeekly, func(t time.Time) string { y, w := t.ISOWeek(); return fmt.Sprintf("%d/%02d", y, w) }},
		{"keep-monthly", o.KeepMonthly, func(t time.Time) string { return t.Format("2006/01") }},
		{"keep-yearly", o.KeepYearly, func(t time.Time) string { return t.Format("2006") }},
	}
	var out []rule
	for _, r := range all {
		if r.count > 0 {
			out = append(out, r)
		}
	}
	return out
}

// Select marks every snapshot of one group. Buckets are computed in loc
// (the local time zone for the CLI). The result is oldest first, as the API
// returns it.
func Select(list []Snapshot, o core.KeepOptions, loc *time.Location) []Result {
	res := make([]Result, len(list))
	for i, s := range list {
		res[i] = Result{Snapshot: s}
	}
	sort.SliceStable(res, func(i, j int) bool { return res[i].Snapshot.Snapshot.Time > res[j].Snapshot.Snapshot.Time })
	if o.KeepsAll() {
		for i := range res {
			res[i].Mark = Keep
			if res[i].Protected {
				res[i].Mark = Protected
			}
		}
		reverse(res)
		return res
	}
	marked := make([]bool, len(res))

	// Unfinished snapshots: only the newest, and only if no finished one is newer.
	mayKeepPartial := true
	for i := range res {
		if res[i].Finished {
			mayKeepPartial = false
			continue
		}
		if mayKeepPartial {
			res[i].Mark, res[i].Rule = KeepPartial, "partial"
		} else {
			res[i].Mark, res[i].Rule = Remove, "partial"
		}
		marked[i] = true
		mayKeepPartial = false
	}

	for _, r := range rules(o) {
		key := r.key
		if key == nil {
			key = func(t time.Time) string { return t.UTC().Format(time.RFC3339) }
		}
		keyOf := func(i int) string { return key(time.Unix(res[i].Snapshot.Snapshot.Time, 0).In(loc)) }
		covered := map[string]bool{}
		for i := range res {
			if marked[i] && res[i].Mark == Keep {
				covered[keyOf(i)] = true
			}
		}
		selected := map[string]bool{}
		for i := range res {
			if marked[i] {
				continue
			}
			if res[i].Protected {
				res[i].Mark, marked[i], res[i].Rule = Protected, true, "protected"
				continue
			}
			k := keyOf(i)
			if covered[k] {
				continue
			}
			if !selected[k] {
				if len(selected) >= r.count {
					break
				}
				selected[k] = true
				res[i].Mark, marked[i], res[i].Rule = Keep, true, strings.TrimPrefix(r.name, "keep-")
			} else {
				// Another snapshot already holds this bucket.
				res[i].Mark, marked[i], res[i].Rule = Remove, true, strings.TrimPrefix(r.name, "keep-")
			}
		}
	}
	for i := range res {
		if res[i].Protected {
			res[i].Mark, res[i].Rule = Protected, "protected"
		} else if !marked[i] {
			res[i].Mark = Remove
		}
	}
	reverse(res)
	return res
}

func reverse(r []Result) {
	for i, j := 0, len(r)-1; i < j; i, j = i+1, j-1 {
		r[i], r[j] = r[j], r[i]
	}
}

// Results converts decisions into the API's PruneResult list.
func Results(res []Result) []core.PruneResult {
	out := make([]core.PruneResult, len(res))
	for i, r := range res {
		out[i] = core.PruneResult{Snapshot: r.Snapshot.Snapshot, Keep: r.Mark.Kept(), Protected: r.Mark == Protected, Mark: r.Mark.String()}
	}
	return out
}
