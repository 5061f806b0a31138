package backup

import (
	"context"
	"errors"
	"fmt"
	"time"

	"cairn/core"
	"cairn/core/manifest"
	"cairn/core/snapshot"
)

// DryRun says what Run would upload (upstream's "Would upload …" lines) and
// uploads nothing. With session, it first opens a backup session and then
// abandons it, as upstream's client does, so that a server checks the
// caller's rights, the group's owner and the backup time; nothing of the
// session stays. Without session (a local datastore, where opening one would
// create the group) and with a nil Repo (a datastore not created yet), only
// the previous snapshot is looked up.
func DryRun(ctx context.Context, o Options, session bool) error {
	if _, err := prepare(&o); err != nil {
		return err
	}
	if o.Repo != nil && session {
		w, err := o.Repo.StartBackup(ctx, core.BackupOptions{Namespace: o.Namespace, Snapshot: o.Snapshot, Owner: o.Owner})
		if err != nil {
			return err
		}
		defer w.Abort()
	}
	prev := core.Snapshot{}
	var err error = core.ErrNotFound
	if o.Repo != nil {
		prev, err = snapshot.Resolve(o.Repo, o.Namespace, o.Snapshot.Group.String())
	}
	switch {
	case errors.Is(err, core.ErrNotFound):
		o.Events.Info("No previous manifest available.")
	case err != nil:
		o.Events.Info("Couldn't re-use previous manifest - " + err.Error())
	default:
		o.Events.Info(fmt.Sprintf("Downloading previous manifest (%s)", time.Unix(prev.Time, 0).Format(time.ANSIC)))
	}
	repo := o.RepoName
	if o.Repo != nil {
		repo = o.Repo.Name()
	}
	for _, s := range o.Specs {
		if err := ctx.Err(); err != nil {
			return err
		}
		o.Events.Info(fmt.Sprintf("Would upload %s '%s' to '%s' as %s", s.kindName(), s.Path, repo, dryRunName(o, s)))
	}
	o.Events.Info("dry-run: no upload happened")
	return nil
}

// dryRunName is the name the archive would get on the server: split
// archives announce their metadata half, as the real run's line does.
func dryRunName(o Options, s Spec) string {
	if s.Type == "pxar" && o.ChangeDetection != ModeLegacy {
		meta, _ := splitNames(s)
		return meta
	}
	return manifest.ArchiveName(s.Name).FileName()
}
