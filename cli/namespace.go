package cli

import (
	"fmt"

	"github.com/spf13/cobra"

	"cairn/cli/format"
	"cairn/core"
)

func newNamespaceCmd() *cobra.Command {
	cmd := &cobra.Command{Use: "namespace", Short: "Create, list and delete namespaces"}
	cmd.AddCommand(newNamespaceListCmd(), newNamespaceCreateCmd(), newNamespaceDeleteCmd())
	return cmd
}

func nsArg(args []string) (core.Namespace, error) {
	if len(args) == 0 {
		return "", nil
	}
	ns, err := core.ParseNamespace(args[0])
	if err != nil {
		return "", usageError{err}
	}
	return ns, nil
}

func newNamespaceListCmd() *cobra.Command {
	var rf repoFlags
	var of outputFlag
	var maxDepth int
	cmd := &cobra.Command{
		Use:   "list [NAMESPACE]",
		Short: "List the namespaces below NAMESPACE (default: the root)",
		Args:  cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			opts, err := of.options()
			if err != nil {
				return err
			}
			parent, err := nsArg(args)
			if err != nil {
				return err
			}
			repo, err := rf.open(false)
			if err != nil {
				return err
			}
			defer repo.Close()
			list, err := repo.ListNamespaces(parent, maxDepth)
			if err != nil {
				return err
			}
			if opts.Format == format.Text {
				for _, ns := range list {
					if ns != parent || !parent.IsRoot() {
						fmt.Fprintln(stdout, ns)
					}
				}
				return nil
			}
			items := []map[string]any{}
			for _, ns := range list {
				items = append(items, map[string]any{"ns": string(ns)})
			}
			return format.Render(stdout, opts, items, []format.Column{{Key: "ns", Header: "ns"}})
		},
	}
	rf.add(cmd, false)
	cmd.Flags().StringVar(&of.value, "output-format", "", "output format: text, json or json-pretty")
	cmd.Flags().IntVar(&maxDepth, "max-depth", -1, "how many levels below NAMESPACE to list (default: all)")
	return cmd
}

func newNamespaceCreateCmd() *cobra.Command {
	var rf repoFlags
	cmd := &cobra.Command{
		Use:   "create NAMESPACE",
		Short: "Create a namespace (its parent must exist)",
		Args:  exactArgs(1, "NAMESPACE"),
		RunE: func(cmd *cobra.Command, args []string) error {
			ns, err := nsArg(args)
			if err != nil {
				return err
			}
			if ns.IsRoot() {
				return usageError{fmt.Errorf("cannot create the root namespace")}
			}
			repo, err := rf.open(true)
			if err != nil {
				return err
			}
			defer repo.Close()
			return repo.CreateNamespace(ns)
		},
	}
	rf.add(cmd, false)
	return cmd
}

func newNamespaceDeleteCmd() *cobra.Command {
	var rf repoFlags
	var deleteGroups bool
	cmd := &cobra.Command{
		Use:   "delete NAMESPACE",
		Short: "Delete a namespace (with --delete-groups also its backups)",
		Args:  exactArgs(1, "NAMESPACE"),
		RunE: func(cmd *cobra.Command, args []string) error {
			ns, err := nsArg(args)
			if err != nil {
				return err
			}
			if ns.IsRoot() {
				return usageError{fmt.Errorf("cannot delete the root namespace")}
			}
			repo, err := rf.open(false)
			if err != nil {
				return err
			}
			defer repo.Close()
			return repo.DeleteNamespace(ns, deleteGroups)
		},
	}
	rf.add(cmd, false)
	cmd.Flags().BoolVar(&deleteGroups, "delete-groups", false, "also delete the backup groups in it (protected snapshots stay)")
	return cmd
}
