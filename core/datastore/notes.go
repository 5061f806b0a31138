package datastore

import "cairn/core"

// Notes returns a finished snapshot's notes (manifest.unprotected.notes),
// "" when it has none.
func (d *Datastore) Notes(ns core.Namespace, s core.Snapshot) (string, error) {
	d.refresh()
	if err := d.requireSnapshot(ns, s); err != nil {
		return "", err
	}
	m, _, err := d.ReadManifest(ns, s)
	if err != nil {
		return "", err
	}
	n, _ := m.Unprotected["notes"].(string)
	return n, nil
}

// UploadLog stores a client log with a finished snapshot (AddClientLog).
func (d *Datastore) UploadLog(ns core.Namespace, s core.Snapshot, blob []byte) error {
	return d.AddClientLog(ns, s, blob)
}
