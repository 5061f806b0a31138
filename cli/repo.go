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
	value := f.repository
	if value == "" {
		value = os.Getenv("PBS_REPOSITORY")
	}
	if core.IsS3Repository(value) {
		// The embedded datastore in a bucket: s3://HOST[:PORT]/bucket[/prefix],
		// credentials from AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY.
		cfg, err := datastore.ParseS3Repository(value)
		if err != nil {
			return nil, err
		}
		if create {
			if err := datastore.CreateS3(cfg); err != nil {
				return nil, err
			}
		}
		return datastore.OpenS3(cfg, localOwner())
	}
	spec, err := core.ParseRepository(value)
	if err != nil {
		return nil, err
	}
	if spec.Local == "" {
		return openRemote(spec, limit)
	}
	if create && !datastore.Exists(spec.Local) {
		// An interrupted creation (only its leftovers there) is finished.
		if datastore.Foreign(spec.Local) {
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
