package cli

import (
	"strings"

	"github.com/spf13/cobra"
)

// alias renames a snapshot subcommand for the top level, as upstream's
// aliases: `snapshots` is `snapshot list`, and `files`, `forget` and
// `upload-log` are the snapshot commands of the same name (verbs adds them).
func alias(name string, cmd *cobra.Command) *cobra.Command {
	sub, args, _ := strings.Cut(cmd.Use, " ")
	cmd.Use = strings.TrimSpace(name + " " + args)
	cmd.Short += "; same as 'snapshot " + sub + "'"
	return cmd
}
