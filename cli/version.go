package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"runtime/debug"

	"github.com/spf13/cobra"

	"cairn/cli/format"
	"cairn/net/client"
)

// cairn's version, the one place it is written down. Upstream splits its
// version the same way (3.2.4 is version "3.2", release "4") and prints
// "<version>.<release>".
const (
	Version = "0.1"
	Release = "0"
)

// repoID is the commit cairn was built from, when the build recorded one
// (upstream's repoid); "" otherwise.
func repoID() string {
	if bi, ok := debug.ReadBuildInfo(); ok {
		for _, s := range bi.Settings {
			if s.Key == "vcs.revision" {
				return s.Value
			}
		}
	}
	return ""
}

// newVersionCmd: version — the client's version and, when a repository is
// configured and its server answers, the server's (GET /version).
func newVersionCmd() *cobra.Command {
	var rf repoFlags
	var of outputFlag
	cmd := &cobra.Command{
		Use:   "version",
		Short: "Show the client's version, and the server's when a repository is set",
		Args:  exactArgs(0, "no arguments"),
		RunE: func(cmd *cobra.Command, args []string) error {
			opts, err := of.options()
			if err != nil {
				return err
			}
			info := map[string]any{"client": map[string]any{"version": Version, "release": Release, "repoid": repoID()}}
			server, err := serverVersion(cmd.Context(), &rf, cmd.ErrOrStderr())
			if err != nil {
				return err
			}
			if server != nil {
				info["server"] = server
			}
			if opts.Format != format.Text {
				return format.Render(stdout, opts, info, nil)
			}
			out := fmt.Sprintf("client version: %s.%s\n", Version, Release)
			if m, ok := server.(map[string]any); ok {
				out += fmt.Sprintf("server version: %s.%s\n", str(m["version"]), str(m["release"]))
			}
			_, err = fmt.Fprint(stdout, out)
			return err
		},
	}
	rf.add(cmd, false)
	of.add(cmd)
	return cmd
}

// serverVersion asks the repository's server for its version. nil without a
// repository or for a local datastore. As upstream, a server that cannot be
// reached or refuses the login is reported on errw and left out; a bad
// repository or no way to get a password is an error.
func serverVersion(ctx context.Context, rf *repoFlags, errw io.Writer) (any, error) {
	if rf.value() == "" {
		return nil, nil
	}
	t, err := rf.target()
	if err != nil {
		return nil, err
	}
	if t.local != "" {
		return nil, nil
	}
	opts, err := remoteOptions(t.spec)
	if err != nil {
		return nil, err
	}
	c, err := client.New(opts)
	if err != nil {
		return nil, err
	}
	defer c.Close()
	v, err := c.VersionData(ctx)
	if errors.Is(err, client.ErrNoPassword) {
		return nil, err
	}
	if err != nil {
		fmt.Fprintf(errw, "could not connect to server - %v\n", err)
		return nil, nil
	}
	if _, ok := v.(map[string]any); !ok {
		fmt.Fprintf(errw, "could not connect to server - unexpected version answer\n")
		return nil, nil
	}
	return v, nil
}
