package cli

import (
	"fmt"
	"os"
	"os/user"

	"github.com/spf13/cobra"

	"cairn/core"
	"cairn/core/datastore"
)

// repoFlags are the options every repository command takes.
type repoFlags struct {
	repository string
	ns         string
}

func (f *repoFlags) add(cmd *cobra.Command, withNS bool) {
	cmd.Flags().StringVar(&f.repository, "repository", "", "repository: [[user@realm@]host[:port]:]datastore, or a local datastore path (env PBS_REPOSITORY)")
	if withNS {
		cmd.Flags().StringVar(&f.ns, "ns", "", "namespace (default: the root namespace)")
	}
}

func (f *repoFlags) namespace() (core.Namespace, error) {
	return core.ParseNamespace(f.ns)
}

// open opens the repository; create makes a missing local datastore.
func (f *repoFlags) open(create bool) (core.Repository, error) {
	value := f.repository
	if value == "" {
		value = os.Getenv("PBS_REPOSITORY")
	}
	spec, err := core.ParseRepository(value)
	if err != nil {
		return nil, err
	}
	if spec.Local == "" {
		return nil, fmt.Errorf("repository %q is a server; the network client is not part of this build yet — use a local datastore path (starting with /, ./ or ../)", value)
	}
	if create && !datastore.Exists(spec.Local) {
		if ents, err := os.ReadDir(spec.Local); err == nil && len(ents) > 0 {
			return nil, fmt.Errorf("%q is not a datastore (no .chunks directory) and not empty", spec.Local)
		}
		if err := datastore.Create(spec.Local); err != nil {
			return nil, err
		}
	}
	return datastore.Open(spec.Local, localOwner())
}

// localOwner is the auth id recorded for groups in a local datastore.
func localOwner() string {
	if os.Geteuid() == 0 {
		return "root@pam"
	}
	if u, err := user.Current(); err == nil {
		return u.Username + "@pam"
	}
	return "root@pam"
}
