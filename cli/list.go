package cli

import (
	"context"

	"github.com/spf13/cobra"

	"cairn/cli/format"
	"cairn/core"
	"cairn/net/client"
)

func newListCmd() *cobra.Command {
	var rf repoFlags
	var of outputFlag
	cmd := &cobra.Command{
		Use:   "list",
		Short: "List the backup groups of a namespace",
		Args:  exactArgs(0, "no arguments"),
		RunE: func(cmd *cobra.Command, args []string) error {
			opts, ns, err := listingArgs(&of, &rf)
			if err != nil {
				return err
			}
			repo, err := rf.open(false)
			if err != nil {
				return err
			}
			defer repo.Close()
			items, err := groupItems(cmd.Context(), repo, ns)
			if err != nil {
				return err
			}
			// As upstream: the text table sorted by group, JSON as answered.
			return format.RenderSorted(stdout, opts, items, []format.Column{
				{Key: "backup-id", Header: "group", Render: func(_ any, r map[string]any) string {
					return str(r["backup-type"]) + "/" + str(r["backup-id"])
				}},
				{Key: "last-backup", Header: "last snapshot", Render: func(v any, r map[string]any) string {
					return (core.Snapshot{Group: core.Group{Type: core.BackupType(str(r["backup-type"])), ID: str(r["backup-id"])}, Time: asInt64(v)}).String()
				}},
				{Key: "backup-count", Header: "backup-count", RightAlign: true},
				{Key: "files", Header: "files", Render: filesColumn},
			}, format.SortKey{Key: "backup-type"}, format.SortKey{Key: "backup-id"})
		},
	}
	rf.add(cmd, true)
	of.add(cmd)
	return cmd
}

// groupItems lists the groups of ns as GroupListItems (protocol.md 5.4): a
// server's answer as it came, or the same shape built for a local datastore.
func groupItems(ctx context.Context, repo core.Repository, ns core.Namespace) (any, error) {
	if r, ok := repo.(*client.Repository); ok {
		return r.GroupsData(ctx, ns)
	}
	groups, err := repo.ListGroups(ns)
	if err != nil {
		return nil, err
	}
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
	return items, nil
}
