package cli

import (
	"bufio"
	"errors"
	"fmt"
	"os"

	"github.com/spf13/cobra"

	"cairn/pxar"
	"cairn/pxar/pattern"
)

// newPxarCmd is upstream's standalone pxar tool on plain archive files.
func newPxarCmd() *cobra.Command {
	cmd := &cobra.Command{Use: "pxar", Short: "Create, extract and list plain pxar archive files"}
	cmd.AddCommand(newPxarCreateCmd(), newPxarExtractCmd(), newPxarListCmd())
	return cmd
}

func newPxarCreateCmd() *cobra.Command {
	var excludes []string
	var allFS bool
	cmd := &cobra.Command{
		Use:   "create ARCHIVE DIR",
		Short: "Write DIR into the pxar archive file ARCHIVE",
		Args:  exactArgs(2, "ARCHIVE DIR"),
		RunE: func(cmd *cobra.Command, args []string) error {
			var pats []*pattern.Pattern
			for _, e := range excludes {
				p, err := pattern.Parse(e)
				if err != nil {
					return usageError{fmt.Errorf("invalid exclude pattern %q: %w", e, err)}
				}
				pats = append(pats, p)
			}
			if st, err := os.Stat(args[1]); err != nil || !st.IsDir() {
				return fmt.Errorf("source %q is not a directory", args[1])
			}
			f, err := os.OpenFile(args[0], os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o644)
			if err != nil {
				return fmt.Errorf("create archive %q: %w", args[0], err)
			}
			bw := bufio.NewWriterSize(f, 1<<20)
			stderr := cmd.ErrOrStderr()
			err = pxar.Create(bw, args[1], pxar.CreateOptions{
				Excludes: pats, AllFileSystems: allFS,
				OnWarning: func(msg string) { fmt.Fprintln(stderr, msg) },
			})
			if err == nil {
				err = bw.Flush()
			}
			if err == nil {
				err = f.Sync()
			}
			if cerr := f.Close(); err == nil {
				err = cerr
			}
			if err != nil {
				os.Remove(args[0])
			}
			return err
		},
	}
	cmd.Flags().StringArrayVar(&excludes, "exclude", nil, "exclude pattern (repeatable)")
	cmd.Flags().BoolVar(&allFS, "all-file-systems", false, "include all mounted file systems")
	return cmd
}

func newPxarExtractCmd() *cobra.Command {
	var patterns []string
	var allowExisting bool
	var xf extractFlags
	var noFCaps, noDevices, noFifos, noSockets bool
	cmd := &cobra.Command{
		Use:   "extract ARCHIVE DIR",
		Short: "Extract the pxar archive file ARCHIVE into DIR",
		Args:  exactArgs(2, "ARCHIVE DIR"),
		RunE: func(cmd *cobra.Command, args []string) error {
			var pats pattern.List
			for _, e := range patterns {
				p, err := pattern.Parse(e)
				if err != nil {
					return usageError{fmt.Errorf("invalid pattern %q: %w", e, err)}
				}
				pats = append(pats, p)
			}
			f, err := os.Open(args[0])
			if err != nil {
				return fmt.Errorf("open archive %q: %w", args[0], err)
			}
			defer f.Close()
			stderr := cmd.ErrOrStderr()
			err = pxar.Extract(bufio.NewReaderSize(f, 1<<20), args[1], pxar.ExtractOptions{
				AllowExistingDirs: allowExisting, Patterns: pats,
				Overwrite: xf.overwrite, OverwriteFiles: xf.overwriteFiles,
				OverwriteSymlinks: xf.overwriteSymlinks, OverwriteHardlinks: xf.overwriteHardlinks,
				IgnoreACLs: xf.ignoreACLs, IgnoreXattrs: xf.ignoreXattrs, IgnoreFCaps: noFCaps,
				SkipDeviceNodes: noDevices, SkipFifos: noFifos, SkipSockets: noSockets,
				OnWarning: func(msg string) { fmt.Fprintln(stderr, msg) },
			})
			if errors.Is(err, pxar.ErrCorrupt) {
				return fmt.Errorf("archive %q: %w", args[0], err)
			}
			return err
		},
	}
	fl := cmd.Flags()
	fl.StringArrayVar(&patterns, "pattern", nil, "extract only entries matching this pattern (repeatable)")
	fl.BoolVar(&allowExisting, "allow-existing-dirs", false, "allow extracting into existing directories")
	xf.addOverwrite(cmd)
	// Upstream pxar extract's names for the metadata and entry kinds left out.
	fl.BoolVar(&xf.ignoreACLs, "no-acls", false, "do not restore ACLs")
	fl.BoolVar(&xf.ignoreXattrs, "no-xattrs", false, "do not restore extended attributes")
	fl.BoolVar(&noFCaps, "no-fcaps", false, "do not restore file capabilities")
	fl.BoolVar(&noDevices, "no-device-nodes", false, "do not extract device nodes")
	fl.BoolVar(&noFifos, "no-fifos", false, "do not extract fifos")
	fl.BoolVar(&noSockets, "no-sockets", false, "do not extract sockets")
	return cmd
}

func newPxarListCmd() *cobra.Command {
	var verbose bool
	cmd := &cobra.Command{
		Use:   "list ARCHIVE",
		Short: "List the entries of the pxar archive file ARCHIVE",
		Args:  exactArgs(1, "ARCHIVE"),
		RunE: func(cmd *cobra.Command, args []string) error {
			f, err := os.Open(args[0])
			if err != nil {
				return fmt.Errorf("open archive %q: %w", args[0], err)
			}
			defer f.Close()
			w := bufio.NewWriter(stdout)
			if err := pxar.List(bufio.NewReaderSize(f, 1<<20), w, verbose); err != nil {
				w.Flush()
				return fmt.Errorf("archive %q: %w", args[0], err)
			}
			return w.Flush()
		},
	}
	cmd.Flags().BoolVarP(&verbose, "verbose", "v", false, "show metadata of each entry")
	return cmd
}
