package cli

import (
	"fmt"
	"os"
	"os/signal"

	"github.com/spf13/cobra"

	"cairn/core"
	"cairn/core/restore"
)

func newRestoreCmd() *cobra.Command {
	var rf repoFlags
	var cf cryptFlags
	var patterns []string
	var allowExisting bool
	var xf extractFlags
	var preludeTarget string
	cmd := &cobra.Command{
		Use:   "restore SNAPSHOT ARCHIVE TARGET",
		Short: "Restore an archive of a snapshot (TARGET - writes to stdout)",
		Long: `Restore one archive. SNAPSHOT is TYPE/ID/TIME, or TYPE/ID for the group's
newest snapshot. A .pxar archive is extracted into the TARGET directory; an
image or blob is written to the TARGET file; index.json - prints the manifest.

A split archive (NAME.mpxar + NAME.ppxar, from --change-detection-mode data or
metadata) is restored as NAME.pxar, NAME.mpxar or NAME.ppxar; only an archive
that is not split can be written to stdout as its raw pxar stream.

Exit codes: 0 restored; 1 the restore failed (a corrupt chunk is named by its
digest); 2 bad usage.`,
		Args: exactArgs(3, "SNAPSHOT ARCHIVE TARGET"),
		RunE: func(cmd *cobra.Command, args []string) error {
			repo, ns, err := refArgs(&rf, args[0])
			if err != nil {
				return err
			}
			defer repo.Close()
			ctx, stop := signal.NotifyContext(cmd.Context(), os.Interrupt)
			defer stop()
			stderr := cmd.ErrOrStderr()
			load, explicit, err := cf.forRestore()
			if err != nil {
				return err
			}
			return restore.Run(ctx, restore.Options{
				Repo: repo, Namespace: ns, Snapshot: args[0], Archive: args[1], Target: args[2],
				Key: load, KeyExplicit: explicit, KeySource: keySourceLine(load, &cf),
				Stdout: stdout, Patterns: patterns, AllowExistingDirs: allowExisting,
				Overwrite: xf.overwrite, OverwriteFiles: xf.overwriteFiles,
				OverwriteSymlinks: xf.overwriteSymlinks, OverwriteHardlinks: xf.overwriteHardlinks,
				IgnoreACLs: xf.ignoreACLs, IgnoreXattrs: xf.ignoreXattrs,
				IgnoreOwnership: xf.ignoreOwnership, IgnorePermissions: xf.ignorePermissions,
				IgnoreExtractDeviceErrors: xf.ignoreDeviceErrors,
				PreludeTarget:             preludeTarget,
				Events: func(ev core.Event) {
					if ev.Kind == core.EventInfo || ev.Kind == core.EventWarning {
						fmt.Fprintln(stderr, ev.Message)
					}
				},
			})
		},
	}
	rf.add(cmd, true)
	rf.addRate(cmd)
	cf.add(cmd, true)
	f := cmd.Flags()
	f.StringArrayVar(&patterns, "pattern", nil, "restore only entries matching this pattern (repeatable)")
	f.BoolVar(&allowExisting, "allow-existing-dirs", false, "allow restoring into existing directories")
	xf.addOverwrite(cmd)
	f.BoolVar(&xf.ignoreACLs, "ignore-acls", false, "do not restore ACLs")
	f.BoolVar(&xf.ignoreXattrs, "ignore-xattrs", false, "do not restore extended attributes")
	f.BoolVar(&xf.ignoreOwnership, "ignore-ownership", false, "do not restore owners (no chown)")
	f.BoolVar(&xf.ignorePermissions, "ignore-permissions", false, "do not restore permissions (no chmod)")
	f.BoolVar(&xf.ignoreDeviceErrors, "ignore-extract-device-errors", false, "warn about device nodes that cannot be created (e.g. without root) and go on")
	f.StringVar(&preludeTarget, "prelude-target", "", "write a split archive's prelude (the backup's exclude patterns) to this file")
	return cmd
}

// extractFlags are the pxar extraction options of restore (and, in
// upstream's names where they differ, of pxar extract).
type extractFlags struct {
	overwrite, overwriteFiles, overwriteSymlinks, overwriteHardlinks bool
	ignoreACLs, ignoreXattrs, ignoreOwnership, ignorePermissions     bool
	ignoreDeviceErrors                                               bool
}

// addOverwrite adds --overwrite and its three per-kind parts.
func (x *extractFlags) addOverwrite(cmd *cobra.Command) {
	f := cmd.Flags()
	f.BoolVar(&x.overwrite, "overwrite", false, "overwrite existing files, symlinks and hardlinks (all three below)")
	f.BoolVar(&x.overwriteFiles, "overwrite-files", false, "overwrite existing entries with the archive's files")
	f.BoolVar(&x.overwriteSymlinks, "overwrite-symlinks", false, "overwrite existing entries with the archive's symlinks")
	f.BoolVar(&x.overwriteHardlinks, "overwrite-hardlinks", false, "overwrite existing entries with the archive's hardlinks")
}
