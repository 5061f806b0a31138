package cli

import (
	"bufio"
	"fmt"
	"os"
	"strconv"
	"strings"

	"github.com/spf13/cobra"

	"cairn/core"
)

func newProtectedCmd() *cobra.Command {
	return snapshotField[bool]{
		name: "protected", short: "Show or change whether a snapshot is protected from prune and forget",
		showShort: "Print true or false",
		updateArg: "true|false", updateShort: "Protect or unprotect a snapshot",
		key: "protected",
		get: snapshotProtected,
		parse: func(s string) (bool, error) {
			v, err := strconv.ParseBool(s)
			if err != nil {
				return false, fmt.Errorf("invalid value %q (expected true or false)", s)
			}
			return v, nil
		},
		set: core.Repository.SetProtected,
	}.command()
}

// snapshotProtected reports whether snap is protected.
func snapshotProtected(repo core.Repository, ns core.Namespace, snap core.Snapshot) (bool, error) {
	list, err := repo.ListSnapshots(ns, &snap.Group)
	if err != nil {
		return false, err
	}
	for _, s := range list {
		if s.Snapshot == snap {
			return s.Protected, nil
		}
	}
	return false, core.NotFoundf("snapshot %s does not exist", snap)
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
