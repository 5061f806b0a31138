package cli

import (
	"context"
	"fmt"
	"io"
	"sort"
	"strings"

	"github.com/spf13/cobra"

	"cairn/cli/format"
	"cairn/core"
)

func newPruneCmd() *cobra.Command {
	var rf repoFlags
	var of outputFlag
	var keep core.KeepOptions
	var dryRun, quiet bool
	var maxDepth int
	cmd := &cobra.Command{
		Use:   "prune GROUP",
		Short: "Remove the snapshots of a group that the keep options don't keep",
		Long: `Apply a retention policy to one backup group. The options are applied in
the order last, hourly, daily, weekly, monthly, yearly; each only considers
snapshots no earlier option kept. Protected snapshots are never removed.
Without any keep option nothing is removed.

Exit codes: 0 done; 1 a snapshot could not be removed; 2 bad usage.`,
		Args: exactArgs(1, "GROUP"),
		RunE: func(cmd *cobra.Command, args []string) error {
			opts, ns, err := listingArgs(&of, &rf)
			if err != nil {
				return err
			}
			g, err := core.ParseGroup(args[0])
			if err != nil {
				return usageError{err}
			}
			if err := keep.Validate(); err != nil {
				return usageError{err}
			}
			if maxDepth < 0 || maxDepth > core.MaxNamespaceDepth {
				return usageError{fmt.Errorf("invalid --max-depth %d (0 to %d)", maxDepth, core.MaxNamespaceDepth)}
			}
			repo, err := rf.open(false)
			if err != nil {
				return err
			}
			defer repo.Close()
			res, err := repo.Prune(ns, g, keep, dryRun)
			if res == nil && err != nil {
				return err
			}
			if perr := printPrune(res, opts, ns, quiet); perr != nil {
				return perr
			}
			return err
		},
	}
	rf.add(cmd, true)
	f := cmd.Flags()
	of.add(cmd)
	f.IntVar(&keep.KeepLast, "keep-last", 0, "keep the last N snapshots")
	f.IntVar(&keep.KeepHourly, "keep-hourly", 0, "keep the newest snapshot of each of the last N hours with backups")
	f.IntVar(&keep.KeepDaily, "keep-daily", 0, "keep the newest snapshot of each of the last N days with backups")
	f.IntVar(&keep.KeepWeekly, "keep-weekly", 0, "keep the newest snapshot of each of the last N ISO weeks with backups")
	f.IntVar(&keep.KeepMonthly, "keep-monthly", 0, "keep the newest snapshot of each of the last N months with backups")
	f.IntVar(&keep.KeepYearly, "keep-yearly", 0, "keep the newest snapshot of each of the last N years with backups")
	f.BoolVar(&dryRun, "dry-run", false, "only show what prune would do")
	f.BoolVar(&quiet, "quiet", false, "only list the snapshots that are removed")
	// Upstream's prune takes the prune-job options, max-depth among them;
	// a group lives in one namespace, so for a group prune it selects
	// nothing more or less. Accepted and checked, as upstream does.
	f.IntVar(&maxDepth, "max-depth", core.MaxNamespaceDepth, "namespace depth (0-7); a group prune covers one group in one namespace, so it does not change what is pruned")
	return cmd
}

// printPrune shows the seed's table (snapshot, keep as 1/0, newest first) or
// upstream's PruneResult list as JSON (oldest first).
func printPrune(res []core.PruneResult, opts format.Options, ns core.Namespace, quiet bool) error {
	items := []map[string]any{}
	for _, r := range res {
		if quiet && r.Keep {
			continue
		}
		m := map[string]any{"backup-type": string(r.Snapshot.Type), "backup-id": r.Snapshot.ID,
			"backup-time": r.Snapshot.Time, "keep": r.Keep, "protected": r.Protected}
		if !ns.IsRoot() {
			m["ns"] = string(ns)
		}
		items = append(items, m)
	}
	if opts.Format != format.Text {
		return format.Render(stdout, opts, items, nil)
	}
	sort.SliceStable(items, func(i, j int) bool { return asInt64(items[i]["backup-time"]) > asInt64(items[j]["backup-time"]) })
	return format.Render(stdout, opts, items, []format.Column{
		{Key: "backup-id", Header: "snapshot", Render: snapshotColumn},
		{Key: "keep", Header: "keep", RightAlign: true, Render: func(v any, _ map[string]any) string {
			if b, _ := v.(bool); b {
				return "1"
			}
			return "0"
		}},
	})
}

func newGCCmd() *cobra.Command {
	var rf repoFlags
	var of outputFlag
	cmd := &cobra.Command{
		Use:   "garbage-collect",
		Short: "Remove chunks no snapshot needs any more (after a grace period of 24h 5m)",
		Args:  exactArgs(0, "no arguments"),
		RunE: func(cmd *cobra.Command, args []string) error {
			opts, err := of.options()
			if err != nil {
				return err
			}
			repo, err := rf.open(false)
			if err != nil {
				return err
			}
			defer repo.Close()
			text := opts.Format == format.Text
			if gs, ok := repo.(gcStarter); ok && !text {
				// Upstream prints the task's UPID as JSON and does not wait.
				upid, err := gs.StartGarbageCollection(cmd.Context())
				if err != nil {
					return err
				}
				return format.Render(stdout, opts, upid, nil)
			}
			st, err := repo.GarbageCollect(cmd.Context(), func(ev core.Event) {
				if text && (ev.Kind == core.EventInfo || ev.Kind == core.EventWarning) {
					fmt.Fprintln(stdout, ev.Message)
				}
			})
			if err != nil {
				return err
			}
			if !text {
				return format.Render(stdout, opts, st, nil)
			}
			if _, server := repo.(gcStarter); !server {
				// A server's task log (printed above) ends with these
				// figures already; upstream's client prints only that log.
				printGCStats(st)
			}
			return nil
		},
	}
	rf.add(cmd, false)
	of.add(cmd)
	return cmd
}

// gcStarter is a server repository, which runs garbage collection as a task.
type gcStarter interface {
	StartGarbageCollection(ctx context.Context) (string, error)
}

// printGCStats prints the seed's statistics with its labels (DESIGN.md).
func printGCStats(st *core.GCStatus) {
	// One write: a reader like grep -q that stops early must not cut it.
	var b strings.Builder
	fmt.Fprintf(&b, "Removed bytes: %d\n", st.RemovedBytes)
	fmt.Fprintf(&b, "Removed chunks: %d\n", st.RemovedChunks)
	fmt.Fprintf(&b, "Pending removals: %d bytes (in %d chunks)\n", st.PendingBytes, st.PendingChunks)
	if st.RemovedBad > 0 {
		fmt.Fprintf(&b, "Removed bad chunks: %d\n", st.RemovedBad)
	}
	if st.StillBad > 0 {
		fmt.Fprintf(&b, "Leftover bad chunks: %d\n", st.StillBad)
	}
	fmt.Fprintf(&b, "Original data bytes: %d\n", st.IndexDataBytes)
	if st.IndexDataBytes > 0 {
		fmt.Fprintf(&b, "Disk bytes: %d (%d %%)\n", st.DiskBytes, st.DiskBytes*100/st.IndexDataBytes)
	} else {
		fmt.Fprintf(&b, "Disk bytes: %d\n", st.DiskBytes)
	}
	fmt.Fprintf(&b, "Disk chunks: %d\n", st.DiskChunks)
	if st.DiskChunks > 0 {
		fmt.Fprintf(&b, "Average chunk size: %d\n", st.DiskBytes/st.DiskChunks)
	}
	io.WriteString(stdout, b.String())
}
