package cli

import (
	"fmt"

	"github.com/spf13/cobra"

	"cairn/core"
	"cairn/net/client"
)

// serverSpec resolves --repository / PBS_REPOSITORY and insists on a server.
func (f *repoFlags) serverSpec(what string) (core.RepoSpec, error) {
	// An s3:// bucket is no server either: ParseRepository refuses it.
	spec, err := core.ParseRepository(f.value())
	if err != nil {
		return spec, err
	}
	if spec.Local != "" {
		return spec, usageError{fmt.Errorf("%s needs a server repository, not the local datastore %q", what, spec.Local)}
	}
	return spec, nil
}

// newLoginCmd: connect, log in and store the ticket (protocol.md 1.7).
func newLoginCmd() *cobra.Command {
	var rf repoFlags
	cmd := &cobra.Command{
		Use:   "login",
		Short: "Log in to the server and cache the ticket (valid two hours)",
		Args:  exactArgs(0, ""),
		RunE: func(cmd *cobra.Command, args []string) error {
			spec, err := rf.serverSpec("login")
			if err != nil {
				return err
			}
			opts, err := remoteOptions(spec)
			if err != nil {
				return err
			}
			c, err := client.New(opts)
			if err != nil {
				return err
			}
			defer c.Close()
			return c.Login(cmd.Context())
		},
	}
	rf.add(cmd, false)
	return cmd
}

// newLogoutCmd drops the cached ticket; it does not contact the server.
func newLogoutCmd() *cobra.Command {
	var rf repoFlags
	cmd := &cobra.Command{
		Use:   "logout",
		Short: "Remove the cached ticket of the repository's user",
		Args:  exactArgs(0, ""),
		RunE: func(cmd *cobra.Command, args []string) error {
			spec, err := rf.serverSpec("logout")
			if err != nil {
				return err
			}
			return client.RemoveTicket(spec.Host, spec.AuthID)
		},
	}
	rf.add(cmd, false)
	return cmd
}
