package cli

import (
	"strings"

	"github.com/spf13/cobra"
)

// Upstream's top-level aliases of snapshot subcommands: `snapshots` is
// `snapshot list`, and `files`, `forget` and `upload-log` are the snapshot
// commands of the same name.
func init() {
	for _, a := range []struct {
		name string
		mk   func() *cobra.Command
	}{
		{"snapshots", newSnapshotListCmd},
		{"files", newSnapshotFilesCmd},
		{"forget", newSnapshotForgetCmd},
		{"upload-log", newUploadLogCmd},
	} {
		register(func() *cobra.Command { return alias(a.name, a.mk()) })
	}
}

// alias renames a snapshot subcommand for the top level.
func alias(name string, cmd *cobra.Command) *cobra.Command {
	sub, args, _ := strings.Cut(cmd.Use, " ")
	cmd.Use = strings.TrimSpace(name + " " + args)
	cmd.Short += "; same as 'snapshot " + sub + "'"
	return cmd
}
