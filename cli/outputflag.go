package cli

import (
	"io"
	"os"

	"github.com/spf13/cobra"
	"golang.org/x/term"

	"cairn/cli/format"
	"cairn/core"
)

// outputFlag is the --output-format option shared by listing commands:
// declare one per command, add it with add, and read it in RunE with
// options.
type outputFlag struct{ value string }

// add registers --output-format on cmd.
func (o *outputFlag) add(cmd *cobra.Command) {
	cmd.Flags().StringVar(&o.value, "output-format", "", "output format: text, json or json-pretty")
}

// options resolves the flag, the PROXMOX_OUTPUT_* variables and the
// terminal width; a bad value is a usage error in upstream's words.
func (o *outputFlag) options() (format.Options, error) {
	opts, err := format.OptionsFromEnv(o.value)
	if err != nil {
		return opts, usageError{err}
	}
	opts.Width = terminalWidth(stdout)
	return opts, nil
}

// listingArgs resolves what a listing command reads first, both usage
// errors: --output-format, then --ns.
func listingArgs(of *outputFlag, rf *repoFlags) (format.Options, core.Namespace, error) {
	opts, err := of.options()
	if err != nil {
		return opts, "", err
	}
	ns, err := rf.namespace()
	if err != nil {
		return opts, "", usageError{err}
	}
	return opts, ns, nil
}

// terminalWidth is the width tables are cut to: the terminal's columns
// when w is one, else 0 (no limit), as upstream does.
func terminalWidth(w io.Writer) int {
	f, ok := w.(*os.File)
	if !ok || !term.IsTerminal(int(f.Fd())) {
		return 0
	}
	cols, _, err := term.GetSize(int(f.Fd()))
	if err != nil || cols <= 0 {
		return 0
	}
	return cols
}
