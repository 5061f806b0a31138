package cli

import (
	"bufio"
	"os"
	"os/signal"

	"github.com/spf13/cobra"
)

func newCatalogCmd() *cobra.Command {
	cmd := &cobra.Command{Use: "catalog", Short: "Inspect a snapshot's catalog"}
	cmd.AddCommand(newCatalogDumpCmd(), newCatalogShellCmd())
	return cmd
}

func newCatalogDumpCmd() *cobra.Command {
	var rf repoFlags
	var cf cryptFlags
	cmd := &cobra.Command{
		Use:   "dump SNAPSHOT",
		Short: "Print every entry of a snapshot's catalog",
		Long: `Print every entry of a snapshot's catalog, one per line. Snapshots with
split archives (NAME.mpxar + NAME.ppxar) have no stored catalog: their
entries are read from the .mpxar metadata archives and listed under
./NAME.mpxar.didx.`,
		Args: exactArgs(1, "SNAPSHOT"),
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx, stop := signal.NotifyContext(cmd.Context(), os.Interrupt)
			defer stop()
			o, err := openSnapshotForRead(ctx, &rf, &cf, args[0])
			if err != nil {
				return err
			}
			defer o.Close()
			// Split archives have no stored catalog: theirs is read from
			// the .mpxar metadata archives.
			r, err := o.snap.Catalog(ctx)
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
