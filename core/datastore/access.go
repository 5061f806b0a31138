package datastore

import (
	"errors"
	"fmt"
	"io/fs"
	"path"

	"cairn/core"
)

// Helpers for callers (the server) that need a datastore's files beyond the
// core.Repository API. They go through the backend, so they work the same on
// a directory and on an S3 bucket; paths never touch Root() directly.

// BackendType names the backend as upstream's datastore status does:
// "filesystem" or "s3".
func (d *Datastore) BackendType() string {
	if _, ok := d.backend.(*s3Backend); ok {
		return "s3"
	}
	return "filesystem"
}

// NamespaceExists reports whether ns exists (the root always does).
func (d *Datastore) NamespaceExists(ns core.Namespace) bool { return d.nsExists(ns) }

// GroupExists reports whether the group's directory exists.
func (d *Datastore) GroupExists(ns core.Namespace, g core.Group) bool {
	st, err := d.backend.Stat(groupPath(ns, g))
	return err == nil && st.IsDir()
}

// SnapshotExists reports whether the snapshot's directory exists (finished
// or not).
func (d *Datastore) SnapshotExists(ns core.Namespace, s core.Snapshot) bool {
	st, err := d.backend.Stat(snapshotPath(ns, s))
	return err == nil && st.IsDir()
}

// GroupOwner is the group's owner as its owner file records it ("" when the
// group or the file does not exist).
func (d *Datastore) GroupOwner(ns core.Namespace, g core.Group) string {
	return d.readOwner(ns, g)
}

// SetGroupOwner replaces an existing group's owner file atomically.
func (d *Datastore) SetGroupOwner(ns core.Namespace, g core.Group, owner string) error {
	if !d.GroupExists(ns, g) {
		return fmt.Errorf("backup group %s %w", g, core.ErrNotFound)
	}
	return d.backend.WriteFile(path.Join(groupPath(ns, g), OwnerName), []byte(owner+"\n"))
}

// ReadSnapshotFile reads one file of a snapshot (finished or not). A missing
// file is an error wrapping fs.ErrNotExist and core.ErrNotFound.
func (d *Datastore) ReadSnapshotFile(ns core.Namespace, s core.Snapshot, name string) ([]byte, error) {
	if err := validFileName(name); err != nil {
		return nil, err
	}
	b, err := d.backend.ReadFile(path.Join(snapshotPath(ns, s), name))
	if errors.Is(err, fs.ErrNotExist) {
		return nil, &notFound{fmt.Errorf("file %q not found in snapshot %s: %w", name, s, fs.ErrNotExist)}
	}
	return b, err
}

// notFound is an error that is both fs.ErrNotExist and core.ErrNotFound.
type notFound struct{ err error }

func (e *notFound) Error() string { return e.err.Error() }
func (e *notFound) Unwrap() []error {
	return []error{e.err, core.ErrNotFound}
}

// SnapshotFileNames lists the names of the files in a snapshot's directory,
// skipping subdirectories (the caller filters dot and temp files).
func (d *Datastore) SnapshotFileNames(ns core.Namespace, s core.Snapshot) ([]string, error) {
	ents, err := d.backend.ReadDir(snapshotPath(ns, s))
	if err != nil {
		return nil, err
	}
	var out []string
	for _, e := range ents {
		if !e.IsDir() {
			out = append(out, e.Name())
		}
	}
	return out, nil
}

// SetNotes replaces a finished snapshot's notes (manifest.unprotected.notes)
// under the manifest lock.
func (d *Datastore) SetNotes(ns core.Namespace, s core.Snapshot, notes string) error {
	return d.updateManifest(ns, s, func(u map[string]any) { u["notes"] = notes })
}

// GCStatusName is the file the last garbage collection's summary is kept in.
const GCStatusName = ".gc-status"

// ReadGCStatus returns the raw summary of the last garbage collection.
func (d *Datastore) ReadGCStatus() ([]byte, error) { return d.backend.ReadFile(GCStatusName) }

// WriteGCStatus replaces the garbage collection summary.
func (d *Datastore) WriteGCStatus(data []byte) error { return d.backend.WriteFile(GCStatusName, data) }

// Refresh reloads a cached view of the datastore's tree (S3: the key
// listing), so changes made through another handle show up; a no-op for the
// directory backend.
func (d *Datastore) Refresh() { d.refresh() }
