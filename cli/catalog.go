package cli

import (
	"bufio"
	"bytes"
	"os"
	"os/signal"

	"github.com/spf13/cobra"

	"cairn/core/catalog"
	"cairn/core/restore"
)

func newCatalogCmd() *cobra.Command {
	cmd := &cobra.Command{Use: "catalog", Short: "Inspect a snapshot's catalog"}
	cmd.AddCommand(newCatalogDumpCmd())
	for _, mk := range catalogSubcommands {
		cmd.AddCommand(mk())
	}
	return cmd
}

// catalogSubcommands are added to `catalog` by other files' init functions.
var catalogSubcommands []func() *cobra.Command

func newCatalogDumpCmd() *cobra.Command {
	var rf repoFlags
	var cf cryptFlags
	cmd := &cobra.Command{
		Use:   "dump SNAPSHOT",
		Short: "Print every entry of a snapshot's catalog",
		Args:  exactArgs(1, "SNAPSHOT"),
		RunE: func(cmd *cobra.Command, args []string) error {
			ns, err := rf.namespace()
			if err != nil {
				return usageError{err}
			}
			repo, err := rf.open(false)
			if err != nil {
				return err
			}
			defer repo.Close()
			snap, err := resolve(repo, ns, args[0])
			if err != nil {
				return err
			}
			ctx, stop := signal.NotifyContext(cmd.Context(), os.Interrupt)
			defer stop()
			s, err := restore.Open(ctx, repo, ns, snap)
			if err != nil {
				return err
			}
			defer s.Close()
			load, explicit := cf.loader()
			if err := s.Unlock(load, explicit); err != nil {
				return err
			}
			data, err := s.ReadAll(ctx, "catalog.pcat1.didx")
			if err != nil {
				return err
			}
			r, err := catalog.NewReader(bytes.NewReader(data), int64(len(data)))
			if err != nil {
				return err
			}
			w := bufio.NewWriter(stdout)
			if err := r.Dump(w); err != nil {
				return err
			}
			return w.Flush()
		},
	}
	rf.add(cmd, true)
	cf.add(cmd, false)
	return cmd
}
