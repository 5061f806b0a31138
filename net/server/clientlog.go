package server

import (
	"errors"
	"io"
	"net/http"

	"cairn/core"
	"cairn/core/blob"
	"cairn/core/datastore"
	"cairn/net/server/config"
)

// maxClientLog bounds the upload-backup-log body: one DataBlob of at most
// the 16 MiB chunk maximum plus the encrypted header. Upstream reads any
// size; a larger body is refused here without being buffered.
const maxClientLog = datastore.MaxEncodedSize

// uploadBackupLog is POST upload-backup-log (protocol.md 5.3): the body, an
// encoded DataBlob, becomes client.log.blob of a finished snapshot.
// Upstream's rule (check_privs_and_load_store with no full privilege):
// Datastore.Backup on the namespace and the caller owns the group, even
// with Datastore.Modify.
func (h *dsReq) uploadBackupLog() (any, error) {
	if h.r.Method != http.MethodPost {
		return nil, errorf(http.StatusMethodNotAllowed, "method not allowed")
	}
	snap, err := h.p.snapshot()
	if err != nil {
		return nil, err
	}
	a := h.access(h.store, h.ns)
	if !a.privs.Has(config.PrivDatastoreBackup) {
		return nil, permDenied(a.path, config.PrivDatastoreBackup)
	}
	if err := h.requireNS(); err != nil {
		return nil, err
	}
	owner := groupOwner(h.ds, h.ns, snap.Group)
	if owner == "" || !h.ds.SnapshotExists(h.ns, snap) {
		return nil, errorf(http.StatusNotFound, "snapshot %s does not exist.", snapshotLabel(h.ns, snap))
	}
	if !isOwner(h.id.authID, owner) {
		return nil, errorf(http.StatusForbidden, "backup owner check failed (%s != %s)", h.id.authID, owner)
	}
	if h.r.ContentLength > maxClientLog {
		return nil, badRequest("backup log is too large (%d > %d bytes)", h.r.ContentLength, maxClientLog)
	}
	data, err := io.ReadAll(io.LimitReader(h.r.Body, maxClientLog+1))
	if err != nil {
		return nil, badRequest("reading request body failed - %v", err)
	}
	if len(data) > maxClientLog {
		return nil, badRequest("backup log is too large (more than %d bytes)", maxClientLog)
	}
	err = h.ds.AddClientLog(h.ns, snap, data)
	switch {
	case err == nil:
	case errors.Is(err, core.ErrExists):
		return nil, badRequest("backup already contains a log.")
	case errors.Is(err, blob.ErrCorrupt):
		return nil, badRequest("%v", err)
	default:
		return nil, err
	}
	h.s.logf("Upload backup log to %s %s/%s", h.store, snapshotLabel(h.ns, snap), datastore.ClientLogName)
	return nil, nil
}
