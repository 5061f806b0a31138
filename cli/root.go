package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"runtime"
	"runtime/debug"
	"runtime/pprof"
	"strings"
	"syscall"

	"github.com/spf13/cobra"
)

// Exit codes: 0 success, 1 the operation failed, 2 bad usage.
const (
	exitFailure = 1
	exitUsage   = 2
)

// defaultMemoryLimit is the soft heap limit of a cairn process.
const defaultMemoryLimit = 96 << 20

// usageError marks errors in the command line itself.
type usageError struct{ err error }

func (u usageError) Error() string { return u.err.Error() }
func (u usageError) Unwrap() error { return u.err }

// newRoot builds the command tree.
func newRoot() *cobra.Command {
	root := &cobra.Command{
		Use:           "cairn",
		Short:         "Fast, deduplicated, encrypted backups, compatible with Proxmox Backup Server",
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	root.SetFlagErrorFunc(func(c *cobra.Command, err error) error { return usageError{err} })
	// Bare `cairn` on a terminal opens the UI; elsewhere it prints help.
	tui := &tuiOptions{}
	tui.add(root)
	root.Args = func(cmd *cobra.Command, args []string) error {
		if len(args) > 0 {
			return usageError{fmt.Errorf("unknown command %q for \"cairn\" (see 'cairn --help')", args[0])}
		}
		return nil
	}
	root.RunE = func(cmd *cobra.Command, args []string) error {
		if !isTerminal() {
			return cmd.Help()
		}
		return runTUI(tui)
	}
	root.AddCommand(verbs()...)
	return root
}

// verbs are the top-level commands: the one place a verb is added. Each
// builds its own subcommands (`snapshot list`, `catalog shell` …); help
// lists them sorted by name whatever the order here.
func verbs() []*cobra.Command {
	return []*cobra.Command{
		newBackupCmd(),
		newRestoreCmd(),
		newListCmd(),
		newSnapshotCmd(),
		newNamespaceCmd(),
		newCatalogCmd(),
		newPxarCmd(),
		newPruneCmd(),
		newGCCmd(),
		newVerifyCmd(),
		newGroupCmd(),
		newKeyCmd(),
		newTUICmd(),
		newBenchmarkCmd(),
		newChangeOwnerCmd(),
		newLoginCmd(),
		newLogoutCmd(),
		newManagerCmd(),
		newMountCmd(),
		newUmountCmd(),
		newMapCmd(),
		newUnmapCmd(),
		newServeCmd(),
		newStatusCmd(),
		newTaskCmd(),
		newVersionCmd(),
		// Upstream's top-level aliases of snapshot subcommands.
		alias("snapshots", newSnapshotListCmd()),
		alias("files", newSnapshotFilesCmd()),
		alias("forget", newSnapshotForgetCmd()),
		alias("upload-log", newUploadLogCmd()),
	}
}

// Execute runs the command line and returns the process exit code.
func Execute() int {
	// A reader that stops early (grep -q, head) is not a failure: writes
	// then return EPIPE instead of killing the process.
	signal.Ignore(syscall.SIGPIPE)
	// Chunks are megabytes and short-lived: a soft heap limit makes the GC
	// collect them before the heap doubles, keeping memory flat. GOMEMLIMIT
	// overrides it.
	// A server holds many sessions at once and gets no such limit.
	if os.Getenv("GOMEMLIMIT") == "" && !(len(os.Args) > 1 && os.Args[1] == "serve") {
		debug.SetMemoryLimit(defaultMemoryLimit)
	}
	if path := os.Getenv("CAIRN_CPUPROFILE"); path != "" {
		// For performance work (bench/README): a pprof CPU profile of the run.
		if f, err := os.Create(path); err == nil {
			if pprof.StartCPUProfile(f) == nil {
				defer pprof.StopCPUProfile()
			}
		}
	}
	if path := os.Getenv("CAIRN_MEMPROFILE"); path != "" {
		// Sampled every 64 KiB: enough to see which buffers hold the heap.
		runtime.MemProfileRate = 64 << 10
		defer func() {
			if f, err := os.Create(path); err == nil {
				pprof.Lookup("heap").WriteTo(f, 0)
				f.Close()
			}
		}()
	}
	return run(context.Background(), os.Args[1:], os.Stderr)
}

// run executes one command line and returns its exit code; errors are
// printed to stderr as one line.
func run(ctx context.Context, args []string, stderr io.Writer) int {
	root := newRoot()
	root.SetArgs(boolValues(root, args))
	root.SetErr(stderr)
	err := root.ExecuteContext(ctx)
	if err == nil || errors.Is(err, syscall.EPIPE) {
		return 0
	}
	msg := strings.ReplaceAll(err.Error(), "\n", " ")
	fmt.Fprintf(stderr, "Error: %s\n", msg)
	var ue usageError
	if errors.As(err, &ue) || strings.HasPrefix(err.Error(), "unknown command") || strings.Contains(err.Error(), "arg(s)") {
		return exitUsage
	}
	return exitFailure
}

// boolValues lets boolean options take upstream's separate value
// (`--dry-run true`, `--delete-groups 0`): pflag reads a bare `--flag` as
// true and the value as a positional argument, so a bool option followed by
// a boolean word is joined into `--flag=value`.
func boolValues(root *cobra.Command, args []string) []string {
	cmd, _, err := root.Find(args)
	if err != nil {
		return args
	}
	out := make([]string, 0, len(args))
	for i := 0; i < len(args); i++ {
		a := args[i]
		out = append(out, a)
		if a == "--" {
			return append(out, args[i+1:]...)
		}
		name, ok := strings.CutPrefix(a, "--")
		if !ok || strings.Contains(name, "=") || i+1 == len(args) {
			continue
		}
		f := cmd.Flags().Lookup(name)
		if f == nil || f.Value.Type() != "bool" {
			continue
		}
		if v, ok := boolWord(args[i+1]); ok {
			out[len(out)-1] = "--" + name + "=" + v
			i++
		}
	}
	return out
}

// boolWord reads the boolean words upstream's schema accepts.
func boolWord(s string) (string, bool) {
	switch strings.ToLower(s) {
	case "true", "1", "yes", "on":
		return "true", true
	case "false", "0", "no", "off":
		return "false", true
	}
	return "", false
}

// exactArgs is cobra.ExactArgs with a usage error naming what is expected.
func exactArgs(n int, names string) cobra.PositionalArgs {
	return func(cmd *cobra.Command, args []string) error {
		if len(args) != n {
			return usageError{fmt.Errorf("%s expects %s, got %d argument(s)", cmd.CommandPath(), names, len(args))}
		}
		return nil
	}
}

// rangeArgs accepts between lo and hi positional arguments.
func rangeArgs(lo, hi int, names string) cobra.PositionalArgs {
	return func(cmd *cobra.Command, args []string) error {
		if len(args) < lo || len(args) > hi {
			return usageError{fmt.Errorf("%s expects %s, got %d argument(s)", cmd.CommandPath(), names, len(args))}
		}
		return nil
	}
}
