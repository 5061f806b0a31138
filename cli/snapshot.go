package cli

import (
	"fmt"

	"github.com/spf13/cobra"

	"cairn/cli/format"
	"cairn/core"
	"cairn/core/restore"
)

func newSnapshotCmd() *cobra.Command {
	cmd := &cobra.Command{Use: "snapshot", Aliases: []string{"snapshots"}, Short: "List and manage snapshots"}
	cmd.AddCommand(newSnapshotListCmd(), newSnapshotFilesCmd(), newSnapshotForgetCmd(), newProtectedCmd())
	return cmd
}

func newSnapshotListCmd() *cobra.Command {
	var rf repoFlags
	var of outputFlag
	cmd := &cobra.Command{
		Use:   "list [GROUP]",
		Short: "List snapshots, of one group or of all groups of a namespace",
		Args:  cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			opts, err := of.options()
			if err != nil {
				return err
			}
			ns, err := rf.namespace()
			if err != nil {
				return usageError{err}
			}
			var group *core.Group
			if len(args) == 1 {
				g, err := core.ParseGroup(args[0])
				if err != nil {
					return usageError{err}
				}
				group = &g
			}
			repo, err := rf.open(false)
			if err != nil {
				return err
			}
			defer repo.Close()
			list, err := repo.ListSnapshots(ns, group)
			if err != nil {
				return err
			}
			sortSnapshots(list)
			items := []map[string]any{}
			for _, s := range list {
				items = append(items, snapshotItem(s))
			}
			return format.Render(stdout, opts, items, []format.Column{
				{Key: "backup-id", Header: "snapshot", Render: snapshotColumn},
				{Key: "size", Header: "size", RightAlign: true},
				{Key: "files", Header: "files", Render: filesColumn},
			})
		},
	}
	rf.add(cmd, true)
	cmd.Flags().StringVar(&of.value, "output-format", "", "output format: text, json or json-pretty (env PROXMOX_OUTPUT_FORMAT)")
	return cmd
}

func newSnapshotFilesCmd() *cobra.Command {
	var rf repoFlags
	var of outputFlag
	cmd := &cobra.Command{
		Use:   "files SNAPSHOT",
		Short: "List the files of a snapshot",
		Args:  exactArgs(1, "SNAPSHOT"),
		RunE: func(cmd *cobra.Command, args []string) error {
			opts, err := of.options()
			if err != nil {
				return err
			}
			repo, ns, snap, err := snapshotArgs(&rf, args[0])
			if err != nil {
				return err
			}
			defer repo.Close()
			list, err := repo.ListSnapshots(ns, &snap.Group)
			if err != nil {
				return err
			}
			for _, s := range list {
				if s.Snapshot == snap {
					return format.Render(stdout, opts, snapshotItem(s)["files"], []format.Column{
						{Key: "filename", Header: "filename"},
						{Key: "crypt-mode", Header: "crypt-mode"},
						{Key: "size", Header: "size", RightAlign: true},
					})
				}
			}
			return fmt.Errorf("snapshot %s does not exist: %w", snap, core.ErrNotFound)
		},
	}
	rf.add(cmd, true)
	cmd.Flags().StringVar(&of.value, "output-format", "", "output format: text, json or json-pretty")
	return cmd
}

func newSnapshotForgetCmd() *cobra.Command {
	var rf repoFlags
	cmd := &cobra.Command{
		Use:   "forget SNAPSHOT",
		Short: "Delete a snapshot (its chunks stay until garbage collection)",
		Args:  exactArgs(1, "SNAPSHOT"),
		RunE: func(cmd *cobra.Command, args []string) error {
			repo, ns, snap, err := snapshotArgs(&rf, args[0])
			if err != nil {
				return err
			}
			defer repo.Close()
			return repo.ForgetSnapshot(ns, snap)
		},
	}
	rf.add(cmd, true)
	return cmd
}

// resolve finds the snapshot an argument names (a group means its newest).
func resolve(repo core.Repository, ns core.Namespace, arg string) (core.Snapshot, error) {
	return restore.ResolveSnapshot(repo, ns, arg)
}
