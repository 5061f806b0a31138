package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/spf13/cobra"

	"cairn/core"
	"cairn/core/backup"
	"cairn/core/datastore"
	"cairn/core/manifest"
	"cairn/internal/backupflags"
	"cairn/keys"
)

func cryptOf(k *loadedKey) *keys.CryptConfig {
	if k == nil {
		return nil
	}
	return k.crypt
}

type backupOptions struct {
	repo repoFlags
	// flags are the options the TUI's backup form shares (--backup-id,
	// --ns, --exclude, --keyfile, --crypt-mode, …): one flag set, one parser.
	flags      backupflags.Values
	backupTime int64
	crypt      cryptFlags
	dryRun     bool
}

func newBackupCmd() *cobra.Command {
	o := &backupOptions{}
	cmd := &cobra.Command{
		Use:   "backup SPEC...",
		Short: "Create a backup: SPEC is NAME.pxar:DIR, NAME.img:FILE, NAME.conf:FILE or NAME.log:FILE",
		Long: `Create a backup snapshot of one or more archives.

Exit codes: 0 the snapshot is finished; 1 the backup failed and left no
snapshot behind; 2 bad usage.`,
		Args: func(cmd *cobra.Command, args []string) error {
			if len(args) == 0 {
				return usageError{fmt.Errorf("backup needs at least one backup specification (NAME.pxar:DIR)")}
			}
			return nil
		},
		RunE: func(cmd *cobra.Command, args []string) error {
			// --ns, --keyfile and --crypt-mode are in the shared set; the
			// repository and key code read them from their own flags.
			o.repo.ns, o.crypt.keyfile, o.crypt.mode = o.flags.Namespace, o.flags.KeyFile, o.flags.CryptMode
			return runBackup(cmd.Context(), o, args, cmd.ErrOrStderr())
		},
	}
	o.repo.add(cmd, false)
	o.repo.addRate(cmd)
	o.crypt.addMaster(cmd)
	f := cmd.Flags()
	o.flags.Add(f)
	f.Var(&o.crypt.keyfd, "keyfd", "read the encryption key from this open file descriptor (instead of --keyfile)")
	f.Int64Var(&o.backupTime, "backup-time", 0, "backup time as Unix epoch (default: now)")
	f.BoolVar(&o.dryRun, "dry-run", false, "say what would be uploaded, upload nothing")
	return cmd
}

func runBackup(ctx context.Context, o *backupOptions, args []string, stderr io.Writer) error {
	var specs []backup.Spec
	for _, a := range args {
		s, err := backup.ParseSpec(a)
		if err != nil {
			return usageError{err}
		}
		specs = append(specs, s)
	}
	ns, group, err := o.flags.Check(backup.HostName())
	if err != nil {
		return usageError{err}
	}
	t := o.backupTime
	if t == 0 {
		t = time.Now().Unix()
	} else if err := datastore.CheckBackupTime(t); err != nil {
		return usageError{fmt.Errorf("--backup-time: %v", err)}
	}
	for _, s := range specs {
		if err := s.Check(); err != nil {
			return err
		}
	}
	bc, err := o.crypt.forBackup(stderr)
	if err != nil {
		return err
	}
	rsaKey, err := bc.rsaEncryptedKey()
	if err != nil {
		return err
	}
	// A dry run creates no local datastore; it still opens a server's
	// backup session, as upstream does, to check rights and ownership.
	var repo core.Repository
	server := o.repo.isServer()
	if !o.dryRun || server || o.repo.localExists() {
		if repo, err = o.repo.open(!o.dryRun); err != nil {
			return err
		}
		defer repo.Close()
	}

	if o.backupTime == 0 && repo != nil {
		t = backup.NextTime(ctx, repo, ns, group)
	}
	snap := core.Snapshot{Group: group, Time: t}
	// Ctrl-C (or a TERM or HUP) stops the backup wherever it is; the
	// unfinished snapshot is removed before the command ends.
	ctx, stop := signal.NotifyContext(ctx, os.Interrupt, syscall.SIGTERM, syscall.SIGHUP)
	defer stop()
	if ns.IsRoot() {
		fmt.Fprintf(stderr, "Starting backup: %s\n", snap)
	} else {
		fmt.Fprintf(stderr, "Starting backup: [%s]:%s\n", ns, snap)
	}
	fmt.Fprintf(stderr, "Client name: %s\n", backup.HostName())
	fmt.Fprintf(stderr, "Starting backup protocol: %s\n", time.Now().Format(time.ANSIC))
	for _, line := range bc.lines {
		fmt.Fprintln(stderr, line)
	}
	pr := &backupPrinter{w: stderr, last: time.Now()}
	bo := backup.Options{
		Repo: repo, RepoName: o.repo.value(), Namespace: ns, Snapshot: snap, Specs: specs, Events: pr.event,
		CryptMode: bc.mode, Crypt: cryptOf(bc.key), RSAEncryptedKey: rsaKey,
	}
	o.flags.Options(&bo)
	if o.dryRun {
		return backup.DryRun(ctx, bo, server)
	}
	res, err := backup.Run(ctx, bo)
	if errors.Is(err, context.Canceled) {
		return errors.New("interrupted: the backup stopped and its unfinished snapshot was removed")
	}
	if err != nil {
		return err
	}
	tot := res.Totals
	secs := res.Duration.Seconds()
	fmt.Fprintf(stderr, "Uploaded %d chunks in %d seconds (%.0f MB/s).\n", tot.ChunksNew, int(secs+0.5), float64(tot.BytesRead)/secs/1e6)
	fmt.Fprintf(stderr, "Duration: %.2fs\n", secs)
	fmt.Fprintf(stderr, "End Time: %s\n", time.Now().Format(time.RFC3339))
	return nil
}

// backupPrinter prints backup events as upstream's lines on stderr.
type backupPrinter struct {
	w    io.Writer
	last time.Time
}

func (p *backupPrinter) event(ev core.Event) {
	switch ev.Kind {
	case core.EventInfo, core.EventWarning:
		fmt.Fprintln(p.w, ev.Message)
	case core.EventProgress:
		// Upstream reports long uploads once a minute.
		if time.Since(p.last) >= time.Minute {
			p.last = time.Now()
			g := ev.Progress
			fmt.Fprintf(p.w, "processed %s in %s, uploaded %s\n", humanByte(g.BytesRead), g.Elapsed.Round(time.Second), humanByte(g.BytesNew))
		}
	case core.EventArchiveDone:
		g := ev.Progress
		name := manifest.ArchiveName(g.Archive).Plain()
		if r := ev.Reuse; r != nil {
			fmt.Fprintf(p.w, "Change detection summary:\n - %d total files (%d hardlinks)\n", r.Files+r.Hardlinks, r.Hardlinks)
			fmt.Fprintf(p.w, " - %d unchanged, reusable files with %s data\n", r.ReusedFiles, humanByte(r.ReusedBytes))
			fmt.Fprintf(p.w, " - %d changed or non-reusable files with %s data\n", r.ChangedFiles, humanByte(r.ChangedBytes))
			fmt.Fprintf(p.w, " - %s padding in %d partially reused chunks\n", humanByte(r.PaddingBytes), r.PaddingChunks)
			if r.InjectedChunks > 0 {
				fmt.Fprintf(p.w, "%s: reused %s from previous snapshot for unchanged files (%d chunks)\n",
					name, humanByte(r.InjectedBytes), r.InjectedChunks)
			}
		}
		secs := g.Elapsed.Seconds()
		avg := float64(g.BytesNew)
		if secs > 0 {
			avg /= secs
		}
		fmt.Fprintf(p.w, "%s: had to backup %s of %s (compressed %s) in %.2f s (average %s/s)\n",
			name, humanByte(g.BytesNew), humanByte(g.BytesRead), humanByte(g.BytesWritten), secs, humanByte(uint64(avg)))
		if g.BytesReused > 0 && g.BytesRead > 1<<20 {
			fmt.Fprintf(p.w, "%s: backup was done incrementally, reused %s (%.1f%%)\n",
				name, humanByte(g.BytesReused), float64(g.BytesReused)*100/float64(g.BytesRead))
		}
	}
}

// masterKeyCopy seals the key with the default master public key, for
// rsa-encrypted.key (formats.md 8.5); nil when no master key is configured.
func masterKeyCopy(key *loadedKey) ([]byte, error) {
	pubPEM, err := masterPublicKey()
	if err != nil {
		return nil, err
	}
	return (&backupCrypt{key: key, masterPEM: pubPEM}).rsaEncryptedKey()
}
