package cli

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/signal"

	"github.com/spf13/cobra"
	"golang.org/x/term"

	"cairn/core"
	"cairn/core/snapshot"
	"cairn/shell"
)

// openedSnapshot is a snapshot opened for reading with its key unlocked.
type openedSnapshot struct {
	repo core.Repository
	snap *snapshot.Snapshot
}

func (o *openedSnapshot) Close() {
	o.snap.Close()
	o.repo.Close()
}

// openSnapshotForRead opens the repository and snapshot (TYPE/ID/TIME, or a
// group for its newest snapshot) and unlocks the key when needed.
func openSnapshotForRead(ctx context.Context, rf *repoFlags, cf *cryptFlags, arg string) (*openedSnapshot, error) {
	repo, ns, err := refArgs(rf, arg)
	if err != nil {
		return nil, err
	}
	snap, err := resolve(repo, ns, arg)
	if err != nil {
		repo.Close()
		return nil, err
	}
	s, err := snapshot.Open(ctx, repo, ns, snap)
	if err != nil {
		repo.Close()
		return nil, err
	}
	load, explicit := cf.loader()
	if err := s.Unlock(load, explicit); err != nil {
		s.Close()
		repo.Close()
		return nil, err
	}
	return &openedSnapshot{repo: repo, snap: s}, nil
}

func newCatalogShellCmd() *cobra.Command {
	var rf repoFlags
	var cf cryptFlags
	cmd := &cobra.Command{
		Use:   "shell SNAPSHOT ARCHIVE",
		Short: "Interactive recovery shell over a pxar archive of a snapshot",
		Long: `Open an interactive shell over a .pxar archive. Navigation (ls, cd, find)
uses the catalog only; stat and restores fetch just the chunks they need.
A split archive (NAME.mpxar + NAME.ppxar) has no stored catalog: it is read
from the .mpxar metadata archive.

Commands: pwd, cd [PATH], ls [PATH], stat PATH, find PATTERN [--select],
select PATH, deselect PATH, clear-selected, list-selected [--patterns],
restore-selected TARGET, restore TARGET [--pattern GLOB], help, exit.

With stdin not a terminal, commands are read line by line (scriptable).`,
		Args: exactArgs(2, "SNAPSHOT ARCHIVE"),
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx, stop := signal.NotifyContext(cmd.Context(), os.Interrupt)
			defer stop()
			o, err := openSnapshotForRead(ctx, &rf, &cf, args[0])
			if err != nil {
				return err
			}
			defer o.Close()
			opts, done, err := shell.SnapshotOptions(ctx, o.snap, args[1])
			if err != nil {
				return err
			}
			defer done()
			stderr := cmd.ErrOrStderr()
			opts.Warn = func(msg string) { fmt.Fprintf(stderr, "Warning: %s\n", msg) }
			sh, err := shell.New(opts)
			if err != nil {
				return err
			}
			in := cmd.InOrStdin()
			if f, ok := in.(*os.File); ok && term.IsTerminal(int(f.Fd())) && term.IsTerminal(int(os.Stdout.Fd())) {
				fmt.Fprintln(stderr, "Starting interactive shell")
				// Ctrl-C inside the shell ends the line, not the process.
				signal.Ignore(os.Interrupt)
				old, err := term.MakeRaw(int(f.Fd()))
				if err != nil {
					return err
				}
				defer term.Restore(int(f.Fd()), old)
				return sh.RunTerminal(struct {
					io.Reader
					io.Writer
				}{f, os.Stdout})
			}
			return sh.RunLines(in, stdout)
		},
	}
	rf.add(cmd, true)
	cf.add(cmd, false)
	return cmd
}
