package datastore

import (
	"errors"
	"fmt"
	"io/fs"
	"path"
	"regexp"
	"sort"
	"strings"

	"cairn/core"
	"cairn/core/blob"
	"cairn/core/manifest"
)

// ManifestName is the manifest blob (manifest.BlobName); its presence makes
// a snapshot finished (formats.md 9.4).
const (
	ManifestName  = manifest.BlobName
	ProtectedName = ".protected"
	OwnerName     = "owner"
)

var snapshotFileRe = regexp.MustCompile(`^.*\.([fd]idx|blob)$`)

// IsSnapshotFile reports whether name is an index or blob a snapshot may
// hold (upstream's BACKUP_FILE_REGEX).
func IsSnapshotFile(name string) bool { return snapshotFileRe.MatchString(name) }

// listGroupsOf returns the groups of one namespace, sorted by type and id.
func (d *Datastore) listGroupsOf(ns core.Namespace) ([]core.Group, error) {
	if err := d.requireNamespace(ns); err != nil {
		return nil, err
	}
	var out []core.Group
	for _, t := range core.BackupTypes {
		ents, err := d.backend.ReadDir(path.Join(nsPath(ns), string(t)))
		if errors.Is(err, fs.ErrNotExist) {
			continue
		}
		if err != nil {
			return nil, err
		}
		for _, e := range ents {
			if e.IsDir() && core.ValidBackupID(e.Name()) {
				out = append(out, core.Group{Type: t, ID: e.Name()})
			}
		}
	}
	return out, nil
}

// snapshotTimes lists the snapshot directories of a group, oldest first.
func (d *Datastore) snapshotTimes(ns core.Namespace, g core.Group) ([]int64, error) {
	ents, err := d.backend.ReadDir(groupPath(ns, g))
	if errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("backup group %s %w", g, core.ErrNotFound)
	}
	if err != nil {
		return nil, err
	}
	var out []int64
	for _, e := range ents {
		if !e.IsDir() {
			continue
		}
		if t, err := core.ParseSnapshotTime(e.Name()); err == nil {
			out = append(out, t)
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i] < out[j] })
	return out, nil
}

// ReadManifest loads and decodes a snapshot's manifest.
func (d *Datastore) ReadManifest(ns core.Namespace, s core.Snapshot) (*manifest.Manifest, []byte, error) {
	raw, err := d.backend.ReadFile(path.Join(snapshotPath(ns, s), ManifestName))
	if err != nil {
		return nil, nil, err
	}
	data, err := blob.Decode(raw, nil)
	if err != nil {
		return nil, nil, fmt.Errorf("manifest of %s: %w", s, err)
	}
	m, err := manifest.Parse(data)
	if err != nil {
		return nil, nil, fmt.Errorf("manifest of %s: %w", s, err)
	}
	return m, raw, nil
}

func (d *Datastore) isFinished(ns core.Namespace, s core.Snapshot) bool {
	_, err := d.backend.Stat(path.Join(snapshotPath(ns, s), ManifestName))
	return err == nil
}

// IsProtected reports whether a snapshot carries the .protected marker.
func (d *Datastore) IsProtected(ns core.Namespace, s core.Snapshot) bool {
	_, err := d.backend.Stat(path.Join(snapshotPath(ns, s), ProtectedName))
	return err == nil
}

func (d *Datastore) readOwner(ns core.Namespace, g core.Group) string {
	b, err := d.backend.ReadFile(path.Join(groupPath(ns, g), OwnerName))
	if err != nil {
		return ""
	}
	line, _, _ := strings.Cut(string(b), "\n")
	return strings.TrimRight(line, " \t\r")
}

// snapshotInfo describes one snapshot as protocol.md 5.4 lists it.
func (d *Datastore) snapshotInfo(ns core.Namespace, s core.Snapshot, owner string) core.SnapshotInfo {
	info := core.SnapshotInfo{Snapshot: s, Owner: owner, Protected: d.IsProtected(ns, s)}
	m, raw, err := d.ReadManifest(ns, s)
	if err != nil {
		// Unfinished (or unreadable): list the files that are there.
		ents, _ := d.backend.ReadDir(snapshotPath(ns, s))
		for _, e := range ents {
			if !e.IsDir() && snapshotFileRe.MatchString(e.Name()) {
				info.Files = append(info.Files, core.FileInfo{Filename: e.Name()})
			}
		}
		return info
	}
	info.Finished = true
	info.HasSize = true
	for _, f := range m.Files {
		info.Files = append(info.Files, core.FileInfo{Filename: f.Filename, CryptMode: f.CryptMode, Size: f.Size})
		info.Size += f.Size
	}
	mode := "none"
	if m.Signature != "" {
		mode = "sign-only"
	}
	info.Files = append(info.Files, core.FileInfo{Filename: ManifestName, CryptMode: mode, Size: uint64(len(raw))})
	info.Size += uint64(len(raw))
	// Upstream lists the directory too (get_all_snapshot_files): files
	// added after the backup, such as client.log.blob, show without a size
	// or crypt mode.
	listed := make(map[string]bool, len(info.Files))
	for _, f := range info.Files {
		listed[f.Filename] = true
	}
	ents, _ := d.backend.ReadDir(snapshotPath(ns, s))
	for _, e := range ents {
		if !e.IsDir() && snapshotFileRe.MatchString(e.Name()) && !listed[e.Name()] {
			info.Files = append(info.Files, core.FileInfo{Filename: e.Name()})
		}
	}
	if fp, ok := m.Unprotected["key-fingerprint"].(string); ok {
		info.Fingerprint = fp
	}
	if notes, ok := m.Unprotected["notes"].(string); ok {
		info.Comment, _, _ = strings.Cut(notes, "\n")
	}
	if vs, ok := m.Unprotected["verify_state"].(map[string]any); ok {
		st, _ := vs["state"].(string)
		upid, _ := vs["upid"].(string)
		info.Verification = &core.VerifyState{State: st, UPID: upid}
	}
	return info
}

// ListGroups lists the groups of a namespace (protocol.md 5.3 "groups").
func (d *Datastore) ListGroups(ns core.Namespace) ([]core.GroupInfo, error) {
	d.refresh()
	groups, err := d.listGroupsOf(ns)
	if err != nil {
		return nil, err
	}
	var out []core.GroupInfo
	for _, g := range groups {
		times, err := d.snapshotTimes(ns, g)
		if err != nil {
			return nil, err
		}
		if len(times) == 0 {
			// A group whose only backup was aborted (or a benchmark's)
			// is not listed, as upstream's list_groups skips it.
			continue
		}
		gi := core.GroupInfo{Group: g, BackupCount: len(times), Owner: d.readOwner(ns, g)}
		// Newest finished snapshot; a lone unfinished one counts too.
		for i := len(times) - 1; i >= 0; i-- {
			s := core.Snapshot{Group: g, Time: times[i]}
			if d.isFinished(ns, s) || len(times) == 1 {
				gi.LastBackup = times[i]
				for _, f := range d.snapshotInfo(ns, s, "").Files {
					gi.Files = append(gi.Files, f.Filename)
				}
				break
			}
		}
		out = append(out, gi)
	}
	return out, nil
}

// ListSnapshots lists snapshots of one group or of every group of ns,
// unfinished ones included, sorted by group and time.
func (d *Datastore) ListSnapshots(ns core.Namespace, group *core.Group) ([]core.SnapshotInfo, error) {
	d.refresh()
	var groups []core.Group
	if group != nil {
		groups = []core.Group{*group}
		if err := d.requireNamespace(ns); err != nil {
			return nil, err
		}
	} else {
		var err error
		if groups, err = d.listGroupsOf(ns); err != nil {
			return nil, err
		}
	}
	out := []core.SnapshotInfo{}
	for _, g := range groups {
		times, err := d.snapshotTimes(ns, g)
		if err != nil {
			return nil, err
		}
		owner := d.readOwner(ns, g)
		for _, t := range times {
			out = append(out, d.snapshotInfo(ns, core.Snapshot{Group: g, Time: t}, owner))
		}
	}
	return out, nil
}

// LastFinished returns the group's newest finished snapshot.
func (d *Datastore) LastFinished(ns core.Namespace, g core.Group) (core.Snapshot, bool, error) {
	times, err := d.snapshotTimes(ns, g)
	if err != nil {
		return core.Snapshot{}, false, err
	}
	for i := len(times) - 1; i >= 0; i-- {
		s := core.Snapshot{Group: g, Time: times[i]}
		if d.isFinished(ns, s) {
			return s, true, nil
		}
	}
	return core.Snapshot{}, false, nil
}

func (d *Datastore) requireSnapshot(ns core.Namespace, s core.Snapshot) error {
	if err := d.requireNamespace(ns); err != nil {
		return err
	}
	st, err := d.backend.Stat(snapshotPath(ns, s))
	if err != nil || !st.IsDir() {
		where := ""
		if !ns.IsRoot() {
			where = fmt.Sprintf(" in namespace '%s'", ns)
		}
		return core.NotFoundf("snapshot %s does not exist%s.", s, where)
	}
	return nil
}

// ForgetSnapshot deletes a snapshot unless it is protected or in use.
func (d *Datastore) ForgetSnapshot(ns core.Namespace, s core.Snapshot) error {
	d.refresh()
	if err := d.requireSnapshot(ns, s); err != nil {
		return err
	}
	if d.IsProtected(ns, s) {
		return fmt.Errorf("cannot forget snapshot %s: %w", s, core.ErrProtected)
	}
	unlock, err := d.backend.LockDir(snapshotPath(ns, s), true)
	if err != nil {
		return fmt.Errorf("cannot forget snapshot %s: %w", s, err)
	}
	defer unlock()
	// Drop the manifest first, so an interrupted removal never looks finished.
	d.backend.Remove(path.Join(snapshotPath(ns, s), ManifestName))
	if err := d.backend.RemoveAll(snapshotPath(ns, s)); err != nil {
		return fmt.Errorf("forget snapshot %s: %w", s, err)
	}
	return nil
}

// deleteGroup removes every unprotected snapshot of a group, and the group
// itself when nothing protected remains. kept reports protected leftovers.
func (d *Datastore) deleteGroup(ns core.Namespace, g core.Group) (kept bool, err error) {
	times, err := d.snapshotTimes(ns, g)
	if err != nil {
		return false, err
	}
	for _, t := range times {
		s := core.Snapshot{Group: g, Time: t}
		if d.IsProtected(ns, s) {
			kept = true
			continue
		}
		if err := d.ForgetSnapshot(ns, s); err != nil {
			return kept, err
		}
	}
	if kept {
		return true, nil
	}
	return false, d.backend.RemoveAll(groupPath(ns, g))
}

// updateManifest changes a finished snapshot's unprotected manifest data
// (verify state, notes) under the manifest lock, re-encodes it and replaces
// it atomically; the signed part stays as it is (formats.md 6.5).
func (d *Datastore) updateManifest(ns core.Namespace, s core.Snapshot, change func(unprotected map[string]any)) error {
	dir := snapshotPath(ns, s)
	unlock, err := d.backend.LockManifest(dir)
	if err != nil {
		return err
	}
	defer unlock()
	m, _, err := d.ReadManifest(ns, s)
	if err != nil {
		return err
	}
	if m.Unprotected == nil {
		m.Unprotected = map[string]any{}
	}
	change(m.Unprotected)
	data, err := m.Encode()
	if err != nil {
		return err
	}
	b, err := blob.Encode(data, true, nil)
	if err != nil {
		return err
	}
	return d.backend.WriteFile(path.Join(dir, ManifestName), b)
}
