package cli

import (
	"bufio"
	"errors"
	"fmt"
	"os"
	"os/user"
	"strings"

	"golang.org/x/term"

	"github.com/spf13/cobra"

	"cairn/core"
	"cairn/core/datastore"
	"cairn/core/ratelimit"
	"cairn/net/client"
)

// repoFlags are the options every repository command takes.
type repoFlags struct {
	repository string
	ns         string
	rate       *rateFlags // nil unless the command took addRate
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
// With --rate (addRate) the repository's transfers are limited: a server's
// connections, or an in-process datastore's reads and writes.
func (f *repoFlags) open(create bool) (core.Repository, error) {
	limit := f.rate.config()
	repo, err := f.openRepo(create, limit)
	if err != nil || !limit.Enabled() {
		return repo, err
	}
	if _, remote := repo.(*client.Repository); remote {
		return repo, nil // limited on its connections
	}
	return ratelimit.Repository(repo, ratelimit.NewPair(limit)), nil
}

func (f *repoFlags) openRepo(create bool, limit ratelimit.Config) (core.Repository, error) {
	t, err := f.target()
	if err != nil {
		return nil, err
	}
	if t.local == "" {
		return openRemote(t.spec, limit)
	}
	if create {
		return datastore.OpenOrCreate(t.local, localOwner())
	}
	return datastore.Open(t.local, localOwner())
}

// value is the repository as given (--repository, else PBS_REPOSITORY).
func (f *repoFlags) value() string {
	if f.repository != "" {
		return f.repository
	}
	return os.Getenv("PBS_REPOSITORY")
}

// repoTarget is what the repository value names: an embedded datastore
// opened in-process (a path, or an s3:// bucket with credentials from
// AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY), or a server.
type repoTarget struct {
	local string        // the embedded datastore's location; "" for a server
	spec  core.RepoSpec // the server, when local is ""
}

// target resolves and parses the repository value.
func (f *repoFlags) target() (repoTarget, error) {
	value := f.value()
	if datastore.IsLocation(value) {
		return repoTarget{local: value}, nil
	}
	spec, err := core.ParseRepository(value)
	if err != nil {
		return repoTarget{}, err
	}
	return repoTarget{spec: spec}, nil
}

// isServer reports that the repository is a server, not a local datastore
// (a path or an s3:// bucket opened in-process). A value that does not
// parse counts as a server: opening it reports why.
func (f *repoFlags) isServer() bool {
	t, err := f.target()
	return err != nil || t.local == ""
}

// localExists reports that a path repository is an existing datastore (an
// s3:// one, or a server, is taken to exist).
func (f *repoFlags) localExists() bool {
	t, err := f.target()
	return err != nil || !core.IsLocalPath(t.local) || datastore.Exists(t.local)
}

// openWithArg is the start of the commands on one repository object: it
// parses --ns and the argument with parse (both usage errors, found before
// anything is opened), then opens the repository.
func openWithArg[T any](rf *repoFlags, arg string, parse func(string) (T, error)) (core.Repository, core.Namespace, T, error) {
	var v T
	ns, err := rf.namespace()
	if err != nil {
		return nil, "", v, usageError{err}
	}
	if v, err = parse(arg); err != nil {
		return nil, "", v, usageError{err}
	}
	repo, err := rf.open(false)
	if err != nil {
		return nil, "", v, err
	}
	return repo, ns, v, nil
}

// snapshotArgs opens the repository for a command on one snapshot
// (TYPE/ID/TIME).
func snapshotArgs(rf *repoFlags, arg string) (core.Repository, core.Namespace, core.Snapshot, error) {
	return openWithArg(rf, arg, core.ParseSnapshot)
}

// groupArgs opens the repository for a command on one group (TYPE/ID).
func groupArgs(rf *repoFlags, arg string) (core.Repository, core.Namespace, core.Group, error) {
	return openWithArg(rf, arg, core.ParseGroup)
}

// refArgs opens the repository for a command on a snapshot or a group (for
// its newest snapshot): it checks the argument's form only, the caller
// resolves it.
func refArgs(rf *repoFlags, arg string) (core.Repository, core.Namespace, error) {
	repo, ns, _, err := openWithArg(rf, arg, func(s string) (bool, error) {
		_, isGroup, err := core.ParseGroupOrSnapshot(s)
		return isGroup, err
	})
	return repo, ns, err
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

// remoteOptions gathers what a server connection needs from the environment:
// PBS_PASSWORD (and twins), PBS_FINGERPRINT, ALL_PROXY, and the terminal
// for prompts (protocol.md 9.2).
func remoteOptions(spec core.RepoSpec) (client.Options, error) {
	opts := client.Options{Spec: spec, Prompt: promptSecret, Confirm: confirmFingerprint}
	pw, ok, err := secretFromEnv("PBS_PASSWORD")
	if err != nil {
		return opts, err
	}
	if ok {
		opts.Password = pw
	}
	fp, ok, err := secretFromEnv("PBS_FINGERPRINT")
	if err != nil {
		return opts, err
	}
	if ok && strings.TrimSpace(string(fp)) != "" {
		norm, err := client.NormalizeFingerprint(string(fp))
		if err != nil {
			return opts, fmt.Errorf("PBS_FINGERPRINT: %w", err)
		}
		opts.Fingerprint = norm
	}
	opts.Proxy = os.Getenv("ALL_PROXY")
	if opts.Proxy == "" {
		opts.Proxy = os.Getenv("all_proxy")
	}
	return opts, nil
}

// openRemote opens a repository on a server, its connections limited to
// limit.
func openRemote(spec core.RepoSpec, limit ratelimit.Config) (core.Repository, error) {
	opts, err := remoteOptions(spec)
	if err != nil {
		return nil, err
	}
	opts.RateLimit = limit
	return client.Open(opts)
}

// confirmFingerprint asks on the terminal whether to trust a certificate.
func confirmFingerprint(fp string) (bool, error) {
	if terminalTaken.Load() {
		return false, errTerminalTaken
	}
	tty, err := os.OpenFile("/dev/tty", os.O_RDWR, 0)
	if err != nil || !term.IsTerminal(int(tty.Fd())) {
		if tty != nil {
			tty.Close()
		}
		return false, errors.New("no terminal to confirm the server certificate fingerprint; set PBS_FINGERPRINT")
	}
	defer tty.Close()
	fmt.Fprintf(tty, "fingerprint: %s\n", fp)
	rd := bufio.NewReader(tty)
	for {
		fmt.Fprint(tty, "Are you sure you want to continue connecting? (y/n): ")
		line, err := rd.ReadString('\n')
		switch strings.TrimSpace(line) {
		case "y", "Y":
			return true, nil
		case "n", "N":
			return false, nil
		}
		if err != nil {
			return false, err
		}
	}
}
