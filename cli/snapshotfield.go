package cli

import (
	"fmt"

	"github.com/spf13/cobra"

	"cairn/cli/format"
	"cairn/core"
)

// snapshotField is a verb pair on one field of a snapshot: `NAME show
// SNAPSHOT` and `NAME update SNAPSHOT VALUE` (`snapshot notes`, `snapshot
// protected`).
type snapshotField[T any] struct {
	name, short string // the parent command
	showShort   string
	updateArg   string // VALUE in update's usage
	updateShort string
	key         string // show's JSON object key: upstream wraps the API's bare value
	get         func(core.Repository, core.Namespace, core.Snapshot) (T, error)
	parse       func(string) (T, error) // update's VALUE; errors are usage errors
	set         func(core.Repository, core.Namespace, core.Snapshot, T) error
}

func (f snapshotField[T]) command() *cobra.Command {
	cmd := &cobra.Command{Use: f.name, Short: f.short}
	var rfShow, rfUpdate repoFlags
	var of outputFlag
	show := &cobra.Command{
		Use:   "show SNAPSHOT",
		Short: f.showShort,
		Args:  exactArgs(1, "SNAPSHOT"),
		RunE: func(cmd *cobra.Command, args []string) error {
			opts, err := of.options()
			if err != nil {
				return err
			}
			repo, ns, snap, err := snapshotArgs(&rfShow, args[0])
			if err != nil {
				return err
			}
			defer repo.Close()
			v, err := f.get(repo, ns, snap)
			if err != nil {
				return err
			}
			if opts.Format == format.Text {
				_, err = fmt.Fprintln(stdout, v)
				return err
			}
			return format.Render(stdout, opts, map[string]any{f.key: v}, nil)
		},
	}
	rfShow.add(show, true)
	of.add(show)
	update := &cobra.Command{
		Use:   "update SNAPSHOT " + f.updateArg,
		Short: f.updateShort,
		Args:  exactArgs(2, "SNAPSHOT "+f.updateArg),
		RunE: func(cmd *cobra.Command, args []string) error {
			v, err := f.parse(args[1])
			if err != nil {
				return usageError{err}
			}
			repo, ns, snap, err := snapshotArgs(&rfUpdate, args[0])
			if err != nil {
				return err
			}
			defer repo.Close()
			return f.set(repo, ns, snap, v)
		},
	}
	rfUpdate.add(update, true)
	cmd.AddCommand(show, update)
	return cmd
}
