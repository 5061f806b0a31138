package cli

import (
	"context"
	"fmt"

	"github.com/spf13/cobra"

	"cairn/core"
)

// ownerChanger is a repository that can give a group a new owner (servers).
type ownerChanger interface {
	ChangeOwner(ctx context.Context, ns core.Namespace, g core.Group, newOwner string) error
}

// newChangeOwnerCmd: change-owner GROUP NEW-OWNER (POST change-owner).
func newChangeOwnerCmd() *cobra.Command {
	var rf repoFlags
	cmd := &cobra.Command{
		Use:   "change-owner GROUP NEW-OWNER",
		Short: "Change the owner of a backup group",
		Args:  exactArgs(2, "GROUP NEW-OWNER"),
		RunE: func(cmd *cobra.Command, args []string) error {
			repo, ns, g, err := groupArgs(&rf, args[0])
			if err != nil {
				return err
			}
			defer repo.Close()
			oc, ok := repo.(ownerChanger)
			if !ok {
				return fmt.Errorf("change-owner needs a server repository: a local datastore has no owners to change")
			}
			return oc.ChangeOwner(cmd.Context(), ns, g, args[1])
		},
	}
	rf.add(cmd, true)
	return cmd
}
