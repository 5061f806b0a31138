package cli

import (
	"sort"

	"github.com/spf13/cobra"

	"cairn/cli/format"
	"cairn/core"
)

func newListCmd() *cobra.Command {
	var rf repoFlags
	var of outputFlag
	cmd := &cobra.Command{
		Use:   "list",
		Short: "List the backup groups of a namespace",
		Args:  exactArgs(0, "no arguments"),
		RunE: func(cmd *cobra.Command, args []string) error {
			opts, err := of.options()
			if err != nil {
				return err
			}
			ns, err := rf.namespace()
			if err != nil {
				return usageError{err}
			}
			repo, err := rf.open(false)
			if err != nil {
				return err
			}
			defer repo.Close()
			groups, err := repo.ListGroups(ns)
			if err != nil {
				return err
			}
			sort.Slice(groups, func(i, j int) bool { return groups[i].Group.String() < groups[j].Group.String() })
			items := []map[string]any{}
			for _, g := range groups {
				files := []any{}
				for _, f := range g.Files {
					files = append(files, f)
				}
				m := map[string]any{
					"backup-type": string(g.Group.Type), "backup-id": g.Group.ID,
					"last-backup": g.LastBackup, "backup-count": g.BackupCount, "files": files,
				}
				if g.Owner != "" {
					m["owner"] = g.Owner
				}
				if g.Comment != "" {
					m["comment"] = g.Comment
				}
				items = append(items, m)
			}
			return format.Render(stdout, opts, items, []format.Column{
				{Key: "backup-id", Header: "group", Render: func(_ any, r map[string]any) string {
					return str(r["backup-type"]) + "/" + str(r["backup-id"])
				}},
				{Key: "last-backup", Header: "last snapshot", Render: func(v any, r map[string]any) string {
					return (core.Snapshot{Group: core.Group{Type: core.BackupType(str(r["backup-type"])), ID: str(r["backup-id"])}, Time: asInt64(v)}).String()
				}},
				{Key: "backup-count", Header: "backup-count", RightAlign: true},
				{Key: "files", Header: "files", Render: filesColumn},
			})
		},
	}
	rf.add(cmd, true)
	cmd.Flags().StringVar(&of.value, "output-format", "", "output format: text, json or json-pretty")
	return cmd
}
