package datastore

import (
	"fmt"
	"path"
	"path/filepath"

	"cairn/core"
	"cairn/core/blob"
	"cairn/core/manifest"
)

// ClientLogName is the client's log a finished snapshot may carry, added
// after the backup (upstream's CLIENT_LOG_BLOB_NAME; `snapshot upload-log`).
// It is not listed in the manifest.
const ClientLogName = manifest.ClientLogName

// AddClientLog stores data, an encoded DataBlob (compressed, maybe
// encrypted), as a finished snapshot's client.log.blob, as upstream's
// upload-backup-log does. The blob's magic and CRC are checked (that needs
// no key). The file is written atomically and durably through the backend
// (directory: temp file, fsync, rename, fsync of the directory; S3: one PUT).
//
// Errors: core.ErrNotFound when the snapshot does not exist or is not
// finished, core.ErrExists when it already has a log, core.ErrLocked when
// the snapshot is being removed, blob.ErrCorrupt for a bad blob.
func (d *Datastore) AddClientLog(ns core.Namespace, s core.Snapshot, data []byte) error {
	d.refresh()
	if err := d.requireSnapshot(ns, s); err != nil {
		return err
	}
	if !d.isFinished(ns, s) {
		return fmt.Errorf("snapshot %s is not finished: %w", s, core.ErrNotFound)
	}
	dir := snapshotPath(ns, s)
	// A shared snapshot lock keeps a concurrent forget (exclusive) out, as a
	// reader's does; the manifest lock makes two uploads take turns, so the
	// existence check below holds until the write.
	unlockDir, err := d.backend.LockDir(dir, false)
	if err != nil {
		return fmt.Errorf("cannot add a log to snapshot %s: %w", s, err)
	}
	defer unlockDir()
	unlock, err := d.backend.LockManifest(dir)
	if err != nil {
		return err
	}
	defer unlock()
	p := path.Join(dir, ClientLogName)
	if _, err := d.backend.Stat(p); err == nil {
		return fmt.Errorf("backup already contains a log: %w", core.ErrExists)
	}
	// Checked after the existence test, in upstream's order.
	if err := blob.VerifyCRC(data); err != nil {
		return fmt.Errorf("invalid client log blob: %w", err)
	}
	if err := d.backend.WriteFile(p, data); err != nil {
		return fmt.Errorf("write %s of %s: %w", ClientLogName, s, err)
	}
	if b, ok := d.backend.(*dirBackend); ok {
		return syncDir(filepath.Join(b.root, dir))
	}
	return nil
}
