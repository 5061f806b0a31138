package cli

import (
	"fmt"
	"sort"
	"strings"

	"github.com/spf13/cobra"

	"cairn/cli/format"
	"cairn/core"
)

func newVerifyCmd() *cobra.Command {
	var rf repoFlags
	var of outputFlag
	cmd := &cobra.Command{
		Use:   "verify [SNAPSHOT|GROUP]",
		Short: "Re-read every chunk the snapshots need and check CRC, digest and size",
		Long: `Verify one snapshot, every snapshot of a group, or (without an argument)
every snapshot of the namespace and the namespaces below it. Each snapshot
records the result, which 'snapshot list' shows.

Exit codes: 0 everything verified; 1 a snapshot failed (the corrupt or missing
chunks are named by digest, with the snapshots that need them); 2 bad usage.`,
		Args: cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			opts, ns, err := listingArgs(&of, &rf)
			if err != nil {
				return err
			}
			var group *core.Group
			var snap *core.Snapshot
			if len(args) == 1 {
				s, isGroup, err := core.ParseGroupOrSnapshot(args[0])
				if err != nil {
					return usageError{err}
				}
				if isGroup {
					group = &s.Group
				} else {
					snap = &s
				}
			}
			repo, err := rf.open(false)
			if err != nil {
				return err
			}
			defer repo.Close()
			stderr := cmd.ErrOrStderr()
			rep, err := repo.Verify(cmd.Context(), ns, group, snap, func(ev core.Event) {
				if ev.Kind == core.EventInfo || ev.Kind == core.EventWarning {
					fmt.Fprintln(stderr, ev.Message)
				}
			})
			if err != nil {
				return err
			}
			if opts.Format != format.Text {
				items := []map[string]any{}
				for _, r := range rep.Snapshots {
					m := map[string]any{"backup-type": string(r.Snapshot.Type), "backup-id": r.Snapshot.ID,
						"backup-time": r.Snapshot.Time, "ok": r.OK, "errors": r.Errors}
					if !r.Namespace.IsRoot() {
						m["ns"] = string(r.Namespace)
					}
					items = append(items, m)
				}
				if err := format.Render(stdout, opts, map[string]any{"upid": rep.UPID, "snapshots": items, "bad-chunks": rep.BadChunks}, nil); err != nil {
					return err
				}
			} else {
				fmt.Fprintf(stdout, "verified %d snapshot(s), %d failed\n", len(rep.Snapshots), rep.Failed())
			}
			if rep.Failed() == 0 {
				return nil
			}
			var bad []string
			for d, snaps := range rep.BadChunks {
				bad = append(bad, fmt.Sprintf("%s (needed by %s)", d, strings.Join(snaps, ", ")))
			}
			sort.Strings(bad)
			return fmt.Errorf("verification failed for %d of %d snapshot(s); bad chunks: %s", rep.Failed(), len(rep.Snapshots), strings.Join(bad, "; "))
		},
	}
	rf.add(cmd, true)
	of.add(cmd)
	return cmd
}
