package prune

import (
	"strings"
	"testing"
	"time"

	"cairn/core"
)

// snaps builds finished snapshots from "2006-01-02T15:04:05Z" times; a
// trailing "P" marks protected, "U" unfinished.
func snaps(t *testing.T, times ...string) []Snapshot {
	t.Helper()
	var out []Snapshot
	for _, s := range times {
		prot, unfinished := strings.HasSuffix(s, "P"), strings.HasSuffix(s, "U")
		s = strings.TrimRight(s, "PU")
		tm, err := time.Parse(time.RFC3339, s)
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, Snapshot{Snapshot: core.Snapshot{Group: core.Group{Type: core.TypeHost, ID: "elsa"}, Time: tm.Unix()}, Finished: !unfinished, Protected: prot})
	}
	return out
}

// kept lists the kept snapshot times with their marks, oldest first.
func kept(res []Result) string {
	var parts []string
	for _, r := range res {
		if r.Mark.Kept() {
			s := time.Unix(r.Snapshot.Snapshot.Time, 0).UTC().Format("2006-01-02T15")
			if r.Mark != Keep {
				s += "(" + r.Mark.String() + ")"
			}
			parts = append(parts, s)
		}
	}
	return strings.Join(parts, " ")
}

func daily(from time.Time, days int, hour int) []string {
	var out []string
	for d := 0; d < days; d++ {
		out = append(out, from.AddDate(0, 0, d).Add(time.Duration(hour)*time.Hour).Format(time.RFC3339))
	}
	return out
}

func TestSelect(t *testing.T) {
	jan1 := time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC) // a Monday
	walkthrough := append(daily(jan1, 21, 12), "2024-01-21T13:00:00Z")
	cases := []struct {
		name  string
		times []string
		opts  core.KeepOptions
		want  string
	}{
		{"seed example: daily 1 + weekly 3", walkthrough, core.KeepOptions{KeepDaily: 1, KeepWeekly: 3},
			"2024-01-07T12 2024-01-14T12 2024-01-21T13"},
		{"keep-last 2", walkthrough, core.KeepOptions{KeepLast: 2}, "2024-01-21T12 2024-01-21T13"},
		{"several snapshots in one bucket keep the newest", []string{"2024-03-05T01:00:00Z", "2024-03-05T09:00:00Z", "2024-03-05T23:00:00Z", "2024-03-04T10:00:00Z"},
			core.KeepOptions{KeepDaily: 2}, "2024-03-04T10 2024-03-05T23"},
		{"year boundary: monthly and yearly", []string{"2023-11-30T10:00:00Z", "2023-12-31T10:00:00Z", "2024-01-01T10:00:00Z", "2024-01-15T10:00:00Z"},
			// Jan 1 loses its month to Jan 15; Nov 30 would be a third month, and
			// yearly finds both years already covered.
			core.KeepOptions{KeepMonthly: 2, KeepYearly: 2}, "2023-12-31T10 2024-01-15T10"},
		// 2020-12-31 (Thu) and 2021-01-03 (Sun) are both in ISO week 2020/53.
		{"ISO week 53 straddles the year", []string{"2020-12-28T10:00:00Z", "2020-12-31T10:00:00Z", "2021-01-03T10:00:00Z", "2021-01-04T10:00:00Z"},
			core.KeepOptions{KeepWeekly: 2}, "2021-01-03T10 2021-01-04T10"},
		{"protected in the middle does not use a slot", []string{"2024-01-01T10:00:00Z", "2024-01-02T10:00:00ZP", "2024-01-03T10:00:00Z", "2024-01-04T10:00:00Z"},
			core.KeepOptions{KeepLast: 2}, "2024-01-02T10(protected) 2024-01-03T10 2024-01-04T10"},
		{"a bucket loser cannot be rescued by a coarser rule", []string{"2024-01-10T08:00:00Z", "2024-01-10T20:00:00Z"},
			core.KeepOptions{KeepDaily: 1, KeepMonthly: 5}, "2024-01-10T20"},
		{"all options at once", append(daily(time.Date(2022, 12, 1, 0, 0, 0, 0, time.UTC), 70, 6), "2023-02-08T07:00:00Z", "2023-02-08T08:00:00Z"),
			core.KeepOptions{KeepLast: 1, KeepHourly: 1, KeepDaily: 2, KeepWeekly: 2, KeepMonthly: 2, KeepYearly: 2},
			// last: 02-08T08; hourly: 02-08T07; daily skips Feb 8 (covered) and keeps
			// 02-07, 02-06; weekly skips week 6 and keeps the Sundays 02-05, 01-29;
			// monthly keeps 12-31 (January is covered); yearly finds all covered.
			"2022-12-31T06 2023-01-29T06 2023-02-05T06 2023-02-06T06 2023-02-07T06 2023-02-08T07 2023-02-08T08"},
		{"unfinished newer than all finished is kept", []string{"2024-01-01T10:00:00Z", "2024-01-02T10:00:00ZU", "2024-01-03T10:00:00ZU"},
			core.KeepOptions{KeepLast: 1}, "2024-01-01T10 2024-01-03T10(keep-partial)"},
		{"unfinished older than a finished one goes", []string{"2024-01-01T10:00:00ZU", "2024-01-02T10:00:00Z"},
			core.KeepOptions{KeepLast: 5}, "2024-01-02T10"},
		{"no options keep everything", []string{"2024-01-01T10:00:00Z", "2024-01-02T10:00:00Z"},
			core.KeepOptions{}, "2024-01-01T10 2024-01-02T10"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			got := kept(Select(snaps(t, c.times...), c.opts, time.UTC))
			if got != c.want {
				t.Errorf("kept %s\nwant %s", got, c.want)
			}
		})
	}
}

func TestSelectUsesTheTimeZone(t *testing.T) {
	// 23:30 UTC on Jan 1 is already Jan 2 in Berlin: the two snapshots share a
	// day there but not in UTC.
	berlin := time.FixedZone("CET", 3600)
	list := snaps(t, "2024-01-01T23:30:00Z", "2024-01-02T10:00:00Z")
	if got := kept(Select(list, core.KeepOptions{KeepDaily: 5}, time.UTC)); got != "2024-01-01T23 2024-01-02T10" {
		t.Errorf("UTC: %s", got)
	}
	if got := kept(Select(list, core.KeepOptions{KeepDaily: 5}, berlin)); got != "2024-01-02T10" {
		t.Errorf("CET: %s", got)
	}
}

func TestResultIsOldestFirst(t *testing.T) {
	res := Select(snaps(t, "2024-01-02T10:00:00Z", "2024-01-01T10:00:00Z", "2024-01-03T10:00:00Z"), core.KeepOptions{KeepLast: 1}, time.UTC)
	for i := 1; i < len(res); i++ {
		if res[i-1].Snapshot.Snapshot.Time > res[i].Snapshot.Snapshot.Time {
			t.Fatal("not oldest first")
		}
	}
}
