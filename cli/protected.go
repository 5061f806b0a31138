package cli

import (
	"bufio"
	"fmt"
	"os"
	"strconv"
	"strings"

	"github.com/spf13/cobra"

	"cairn/cli/format"
	"cairn/core"
)

func newProtectedCmd() *cobra.Command {
	cmd := &cobra.Command{Use: "protected", Short: "Show or change whether a snapshot is protected from prune and forget"}
	var rfShow, rfUpdate repoFlags
	var of outputFlag
	show := &cobra.Command{
		Use:   "show SNAPSHOT",
		Short: "Print true or false",
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
			list, err := repo.ListSnapshots(ns, &snap.Group)
			if err != nil {
				return err
			}
			for _, s := range list {
				if s.Snapshot == snap {
					if opts.Format == format.Text {
						fmt.Fprintln(stdout, s.Protected)
						return nil
					}
					// Upstream wraps the API's bare boolean.
					return format.Render(stdout, opts, map[string]any{"protected": s.Protected}, nil)
				}
			}
			return core.NotFoundf("snapshot %s does not exist", snap)
		},
	}
	rfShow.add(show, true)
	of.add(show)
	update := &cobra.Command{
		Use:   "update SNAPSHOT true|false",
		Short: "Protect or unprotect a snapshot",
		Args:  exactArgs(2, "SNAPSHOT true|false"),
		RunE: func(cmd *cobra.Command, args []string) error {
			val, err := strconv.ParseBool(args[1])
			if err != nil {
				return usageError{fmt.Errorf("invalid value %q (expected true or false)", args[1])}
			}
			repo, ns, snap, err := snapshotArgs(&rfUpdate, args[0])
			if err != nil {
				return err
			}
			defer repo.Close()
			return repo.SetProtected(ns, snap, val)
		},
	}
	rfUpdate.add(update, true)
	cmd.AddCommand(show, update)
	return cmd
}

func newGroupCmd() *cobra.Command {
	cmd := &cobra.Command{Use: "group", Short: "Manage backup groups"}
	var rf repoFlags
	var yes bool
	forget := &cobra.Command{
		Use:   "forget GROUP",
		Short: "Delete every unprotected snapshot of a group (asks first)",
		Args:  exactArgs(1, "GROUP"),
		RunE: func(cmd *cobra.Command, args []string) error {
			repo, ns, g, err := groupArgs(&rf, args[0])
			if err != nil {
				return err
			}
			defer repo.Close()
			list, err := repo.ListSnapshots(ns, &g)
			if err != nil {
				return err
			}
			if !yes {
				fmt.Fprintf(cmd.ErrOrStderr(), "Delete group \"%s\" with %d snapshot(s)? [y|N]: ", g, len(list))
				line, _ := bufio.NewReader(os.Stdin).ReadString('\n')
				if a := strings.ToLower(strings.TrimSpace(line)); a != "y" && a != "yes" {
					fmt.Fprintln(stdout, "Abort.")
					return nil
				}
			}
			removed, kept, err := repo.DeleteGroup(ns, g)
			if err != nil {
				return err
			}
			if kept > 0 {
				fmt.Fprintf(stdout, "Removed %d snapshot(s); %d protected snapshot(s) remain.\n", removed, kept)
				return nil
			}
			fmt.Fprintln(stdout, "Successfully deleted group!")
			return nil
		},
	}
	rf.add(forget, true)
	forget.Flags().BoolVar(&yes, "yes", false, "do not ask for confirmation")
	cmd.AddCommand(forget)
	return cmd
}
