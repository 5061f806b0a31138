package cli

import (
	"context"
	"errors"
	"fmt"
	"io"

	"github.com/spf13/cobra"
	"golang.org/x/sys/unix"

	"cairn/cli/format"
	"cairn/core"
	"cairn/net/client"
)

// newStatusCmd: status — the datastore's disk usage (GET status,
// protocol.md 5.5 and 9.4).
func newStatusCmd() *cobra.Command {
	var rf repoFlags
	var of outputFlag
	cmd := &cobra.Command{
		Use:   "status",
		Short: "Show the datastore's disk usage: total, used and available bytes",
		Long: `Show the disk usage of the datastore: total, used and available bytes of
its file system, each with its share of the total. For a local datastore
path, the file system that path is on.`,
		Args: exactArgs(0, "no arguments"),
		RunE: func(cmd *cobra.Command, args []string) error {
			opts, err := of.options()
			if err != nil {
				return err
			}
			repo, err := rf.open(false)
			if err != nil {
				return err
			}
			defer repo.Close()
			data, err := statusData(cmd.Context(), repo)
			if err != nil {
				return err
			}
			return printStatus(opts, data, cmd.ErrOrStderr())
		},
	}
	rf.add(cmd, false)
	of.add(cmd)
	return cmd
}

// rootedStore is a local datastore: a directory (or an S3 datastore's
// local cache directory) whose file system its status reports.
type rootedStore interface {
	Root() string
	BackendType() string
}

// statusData is the DataStoreStatus of a repository: a server's answer as
// it came, or, for a local datastore, what a server reports for it (statfs
// of the datastore directory, as upstream's disk_usage).
func statusData(ctx context.Context, repo core.Repository) (any, error) {
	if r, ok := repo.(*client.Repository); ok {
		return r.StatusData(ctx)
	}
	rs, ok := repo.(rootedStore)
	if !ok {
		return nil, fmt.Errorf("status: %s has no file system to report on", repo.Name())
	}
	var st unix.Statfs_t
	if err := unix.Statfs(rs.Root(), &st); err != nil {
		return nil, fmt.Errorf("statfs %s: %w", rs.Root(), err)
	}
	bs := uint64(st.Bsize)
	return map[string]any{
		"total":        st.Blocks * bs,
		"used":         (st.Blocks - st.Bfree) * bs,
		"avail":        st.Bavail * bs,
		"backend-type": rs.BackendType(),
	}, nil
}

// errZeroTotal is upstream's renderer error for a file system of size 0.
//
//lint:ignore ST1005 upstream's exact words
var errZeroTotal = errors.New("Cannot render total percentage: denominator is zero")

// printStatus prints a DataStoreStatus: JSON as it is; text as upstream's
// Name/Value table without header, rows total, used and avail, each
// "<bytes>" and " (<p> %)" right-aligned in 8 columns.
func printStatus(opts format.Options, data any, errw io.Writer) error {
	if opts.Format != format.Text {
		return format.Render(stdout, opts, data, nil)
	}
	rec, err := format.Generic(data)
	if err != nil {
		return err
	}
	obj, _ := rec.(map[string]any)
	total, _ := asUint64(obj["total"])
	if total == 0 {
		// Upstream reports the renderer's error and prints no table.
		fmt.Fprintf(errw, "unable to format result: %v\n", errZeroTotal)
		return nil
	}
	render := func(v any, _ map[string]any) string {
		n, _ := asUint64(v)
		return totalPercentage(n, total)
	}
	opts.NoHeader = true
	return format.Render(stdout, opts, obj, []format.Column{
		{Key: "total", RightAlign: true, Render: render},
		{Key: "used", RightAlign: true, Render: render},
		{Key: "avail", RightAlign: true, Render: render},
	})
}

// totalPercentage renders v as "<v> (<p> %)" with p rounded as upstream
// does, in integer arithmetic: ((v + total/200) * 100) / total
// (protocol.md 9.4).
func totalPercentage(v, total uint64) string {
	p := ((v + total/200) * 100) / total
	return fmt.Sprintf("%d %8s", v, fmt.Sprintf(" (%d %%)", p))
}
