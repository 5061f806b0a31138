package client

import (
	"cairn/core"
)

// Notes is GET notes: a snapshot's notes, "" when it has none.
func (r *Repository) Notes(ns core.Namespace, snap core.Snapshot) (string, error) {
	var notes string
	err := r.c.Get(r.ctx, r.path("notes"), snapQuery(ns, snap), &notes)
	return notes, err
}

// SetNotes is PUT notes.
func (r *Repository) SetNotes(ns core.Namespace, snap core.Snapshot, notes string) error {
	q := snapQuery(ns, snap)
	q.Set("notes", notes)
	return r.c.Put(r.ctx, r.path("notes"), q, nil)
}

// UploadLog is POST upload-backup-log: blob (an encoded DataBlob) becomes
// the finished snapshot's client.log.blob.
func (r *Repository) UploadLog(ns core.Namespace, snap core.Snapshot, blob []byte) error {
	return r.c.Upload(r.ctx, r.path("upload-backup-log"), snapQuery(ns, snap), "application/octet-stream", blob, nil)
}
