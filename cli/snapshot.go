package cli

import (
	"github.com/spf13/cobra"

	"cairn/cli/format"
	"cairn/core"
	"cairn/core/snapshot"
)

func newSnapshotCmd() *cobra.Command {
	cmd := &cobra.Command{Use: "snapshot", Short: "List and manage snapshots"}
	cmd.AddCommand(newSnapshotListCmd(), newSnapshotFilesCmd(), newSnapshotForgetCmd(), newProtectedCmd(),
		newNotesCmd(), newUploadLogCmd())
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
			opts, ns, err := listingArgs(&of, &rf)
			if err != nil {
				return err
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
			items, err := snapshotItems(cmd.Context(), repo, ns, group)
			if err != nil {
				return err
			}
			// As upstream: the text table sorted by group and time, sizes
			// as HumanByte; JSON as the server answered.
			return format.RenderSorted(stdout, opts, items, []format.Column{
				{Key: "backup-id", Header: "snapshot", Render: snapshotColumn},
				{Key: "size", Header: "size", RightAlign: true, Render: sizeColumn},
				{Key: "files", Header: "files", Render: filesColumn},
			}, snapshotSortKeys...)
		},
	}
	rf.add(cmd, true)
	of.add(cmd)
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
			files, err := snapshotFileItems(cmd.Context(), repo, ns, snap)
			if err != nil {
				return err
			}
			if files == nil {
				return core.NotFoundf("snapshot %s does not exist", snap)
			}
			// Sorted by file name in text, as upstream sorts any table by
			// its first column.
			return format.RenderSorted(stdout, opts, files, []format.Column{
				{Key: "filename", Header: "filename"},
				{Key: "crypt-mode", Header: "crypt-mode"},
				{Key: "size", Header: "size", RightAlign: true},
			})
		},
	}
	rf.add(cmd, true)
	of.add(cmd)
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
	return snapshot.Resolve(repo, ns, arg)
}
