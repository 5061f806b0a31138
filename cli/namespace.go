package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/spf13/cobra"

	"cairn/cli/format"
	"cairn/core"
	"cairn/net/client"
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

// namespaceArgs opens the repository (create: making a missing local
// datastore) for a command on the NAMESPACE argument, which may not be the
// root: verb says what cannot be done to it.
func namespaceArgs(rf *repoFlags, args []string, create bool, verb string) (core.Repository, core.Namespace, error) {
	ns, err := nsArg(args)
	if err != nil {
		return nil, "", err
	}
	if ns.IsRoot() {
		return nil, "", usageError{fmt.Errorf("cannot %s the root namespace", verb)}
	}
	repo, err := rf.open(create)
	if err != nil {
		return nil, "", err
	}
	return repo, ns, nil
}

func newNamespaceListCmd() *cobra.Command {
	var rf repoFlags
	var of outputFlag
	var maxDepth int
	cmd := &cobra.Command{
		Use:   "list [NAMESPACE]",
		Short: "List the namespaces below NAMESPACE (default: the root)",
		Args:  rangeArgs(0, 1, "[NAMESPACE]"),
		RunE: func(cmd *cobra.Command, args []string) error {
			opts, err := of.options()
			if err != nil {
				return err
			}
			// Upstream takes the positional NAMESPACE as --ns as well.
			if cmd.Flags().Changed("ns") {
				if len(args) > 0 {
					return usageError{errors.New("namespace given twice (argument and --ns)")}
				}
				args = []string{rf.ns}
			}
			parent, err := nsArg(args)
			if err != nil {
				return err
			}
			if cmd.Flags().Changed("max-depth") && (maxDepth < 0 || maxDepth > core.MaxNamespaceDepth) {
				return usageError{fmt.Errorf("parameter verification failed - 'max-depth': value %d out of range (0 - %d)", maxDepth, core.MaxNamespaceDepth)}
			}
			if !cmd.Flags().Changed("max-depth") {
				maxDepth = -1
			}
			repo, err := rf.open(false)
			if err != nil {
				return err
			}
			defer repo.Close()
			items, err := namespaceItems(cmd.Context(), repo, parent, maxDepth)
			if err != nil {
				return err
			}
			if opts.Format != format.Text {
				// Upstream prints the whole answer, {"data": [...]}.
				return format.Render(stdout, opts, map[string]any{"data": items}, nil)
			}
			list, _ := items.([]any)
			var b strings.Builder
			for _, it := range list {
				m, _ := it.(map[string]any)
				ns := str(m["ns"])
				if ns == "" {
					continue // the root
				}
				if c := str(m["comment"]); c != "" {
					fmt.Fprintf(&b, "%s (%s)\n", ns, c)
				} else {
					fmt.Fprintln(&b, ns)
				}
			}
			_, err = io.WriteString(stdout, b.String())
			return err
		},
	}
	rf.add(cmd, true)
	cmd.Flags().Lookup("ns").Usage = "same as the NAMESPACE argument"
	of.add(cmd)
	cmd.Flags().IntVar(&maxDepth, "max-depth", -1, "how many levels below NAMESPACE to list, 0 to 7 (default: all)")
	return cmd
}

// namespaceItems lists parent and the namespaces below it as
// NamespaceListItems ({ns, comment?}): a server's answer as it came, or the
// same shape for a local datastore. maxDepth < 0: all levels.
func namespaceItems(ctx context.Context, repo core.Repository, parent core.Namespace, maxDepth int) (any, error) {
	if r, ok := repo.(*client.Repository); ok {
		return r.NamespacesData(ctx, parent, maxDepth)
	}
	list, err := repo.ListNamespaces(parent, maxDepth)
	if err != nil {
		return nil, err
	}
	items := []any{}
	for _, ns := range list {
		items = append(items, map[string]any{"ns": string(ns)})
	}
	return items, nil
}

func newNamespaceCreateCmd() *cobra.Command {
	var rf repoFlags
	cmd := &cobra.Command{
		Use:   "create NAMESPACE",
		Short: "Create a namespace (its parent must exist)",
		Args:  exactArgs(1, "NAMESPACE"),
		RunE: func(cmd *cobra.Command, args []string) error {
			repo, ns, err := namespaceArgs(&rf, args, true, "create")
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
			repo, ns, err := namespaceArgs(&rf, args, false, "delete")
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
