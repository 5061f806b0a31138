package datastore

import (
	"errors"
	"fmt"
	"io/fs"
	"path"
	"path/filepath"
	"time"

	"cairn/core"
	"cairn/core/prune"
)

// SetProtected sets or clears a snapshot's .protected marker.
func (d *Datastore) SetProtected(ns core.Namespace, s core.Snapshot, protected bool) error {
	d.refresh()
	if err := d.requireSnapshot(ns, s); err != nil {
		return err
	}
	p := path.Join(snapshotPath(ns, s), ProtectedName)
	if !protected {
		if err := d.backend.Remove(p); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return fmt.Errorf("unprotect %s: %w", s, err)
		}
	} else if err := d.backend.CreateFile(p, nil); err != nil && !errors.Is(err, fs.ErrExist) {
		return fmt.Errorf("protect %s: %w", s, err)
	}
	if b, ok := d.backend.(*dirBackend); ok {
		return syncDir(filepath.Join(b.root, path.Dir(p)))
	}
	return nil
}

// Prune applies a retention policy to one group (protocol.md 7); with dryRun
// it only reports. Buckets use the local time zone.
func (d *Datastore) Prune(ns core.Namespace, g core.Group, opts core.KeepOptions, dryRun bool) ([]core.PruneResult, error) {
	if err := opts.Validate(); err != nil {
		return nil, err
	}
	d.refresh()
	if err := d.requireNamespace(ns); err != nil {
		return nil, err
	}
	times, err := d.snapshotTimes(ns, g)
	if err != nil {
		return nil, err
	}
	var list []prune.Snapshot
	for _, t := range times {
		s := core.Snapshot{Group: g, Time: t}
		list = append(list, prune.Snapshot{Snapshot: s, Finished: d.isFinished(ns, s), Protected: d.IsProtected(ns, s)})
	}
	res := prune.Results(prune.Select(list, opts, time.Local))
	if dryRun {
		return res, nil
	}
	var firstErr error
	for _, r := range res {
		if r.Keep {
			continue
		}
		if err := d.ForgetSnapshot(ns, r.Snapshot); err != nil && firstErr == nil {
			firstErr = fmt.Errorf("prune %s: %w", r.Snapshot, err)
		}
	}
	return res, firstErr
}

// DeleteGroup removes a group's unprotected snapshots, and the group when
// nothing protected remains. It reports how many snapshots went and stayed.
func (d *Datastore) DeleteGroup(ns core.Namespace, g core.Group) (removed, kept int, err error) {
	d.refresh()
	if err := d.requireNamespace(ns); err != nil {
		return 0, 0, err
	}
	times, err := d.snapshotTimes(ns, g)
	if err != nil {
		return 0, 0, err
	}
	for _, t := range times {
		if d.IsProtected(ns, core.Snapshot{Group: g, Time: t}) {
			kept++
		}
	}
	if _, err := d.deleteGroup(ns, g); err != nil {
		return 0, kept, err
	}
	return len(times) - kept, kept, nil
}
