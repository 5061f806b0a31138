package server

import (
	"context"
	"errors"
	"fmt"
	"net/http"

	"cairn/core"
	"cairn/net/server/config"
)

// Snapshot endpoints of the datastore API (protocol.md 5.3): list, delete,
// files, notes, protection, download, catalog, verify.

func (h *dsReq) snapshots() (any, error) {
	a := h.access(h.store, h.ns)
	if !a.privs.Any(config.PrivDatastoreAudit, config.PrivDatastoreBackup) {
		return nil, permDenied(a.path, config.PrivDatastoreAudit, config.PrivDatastoreBackup)
	}
	g, err := h.p.optGroup()
	if err != nil {
		return nil, err
	}
	if err := h.requireNS(); err != nil {
		return nil, err
	}
	if g != nil {
		if !h.ds.GroupExists(h.ns, *g) {
			return []any{}, nil
		}
	}
	list, err := h.ds.ListSnapshots(h.ns, g)
	if err != nil {
		return nil, err
	}
	out := []map[string]any{}
	for _, si := range list {
		if !a.privs.Has(config.PrivDatastoreAudit) && !isOwner(h.id.authID, si.Owner) {
			continue
		}
		out = append(out, snapshotItem(si))
	}
	return out, nil
}

func snapshotItem(si core.SnapshotInfo) map[string]any {
	files := si.Files
	if files == nil {
		files = []core.FileInfo{}
	}
	item := map[string]any{"backup-type": si.Snapshot.Type, "backup-id": si.Snapshot.ID,
		"backup-time": si.Snapshot.Time, "files": files, "protected": si.Protected}
	if si.Comment != "" {
		item["comment"] = si.Comment
	}
	if si.Verification != nil {
		item["verification"] = si.Verification
	}
	if si.Fingerprint != "" {
		item["fingerprint"] = si.Fingerprint
	}
	if si.HasSize {
		item["size"] = si.Size
	}
	if si.Owner != "" {
		item["owner"] = si.Owner
	}
	return item
}

func (h *dsReq) deleteSnapshot() (any, error) {
	snap, err := h.snapshotParam()
	if err != nil {
		return nil, err
	}
	if err := h.need(h.access(h.store, h.ns), config.PrivDatastoreModify, config.PrivDatastorePrune, h.ownership(snap.Group)); err != nil {
		return nil, err
	}
	if err := h.ds.ForgetSnapshot(h.ns, snap); err != nil {
		if errors.Is(err, core.ErrNotFound) {
			return nil, err
		}
		return nil, badRequest("failed to delete snapshot - %v", err)
	}
	return nil, nil
}

// snapshotOf reads BackupDir params, checks the snapshot exists and reads
// its group's owner.
func (h *dsReq) snapshotOf() (core.Snapshot, ownership, error) {
	snap, err := h.snapshotParam()
	if err != nil {
		return snap, ownership{}, err
	}
	if !h.ds.SnapshotExists(h.ns, snap) {
		return snap, ownership{}, errorf(http.StatusNotFound, "snapshot %s does not exist.", snapshotLabel(h.ns, snap))
	}
	return snap, h.ownership(snap.Group), nil
}

func (h *dsReq) files() (any, error) {
	snap, owner, err := h.snapshotOf()
	if err != nil {
		return nil, err
	}
	a := h.access(h.store, h.ns)
	if !a.privs.Any(config.PrivDatastoreAudit, config.PrivDatastoreRead) {
		if err := h.need(a, config.PrivDatastoreAudit, config.PrivDatastoreBackup, owner); err != nil {
			return nil, err
		}
	}
	list, err := h.ds.ListSnapshots(h.ns, &snap.Group)
	if err != nil {
		return nil, err
	}
	for _, si := range list {
		if si.Snapshot.Time != snap.Time {
			continue
		}
		out := si.Files
		if out == nil {
			out = []core.FileInfo{}
		}
		return out, nil
	}
	return nil, errorf(http.StatusNotFound, "snapshot %s does not exist.", snapshotLabel(h.ns, snap))
}

func (h *dsReq) getProtected() (any, error) {
	snap, err := h.snapshotFor(config.PrivDatastoreAudit)
	if err != nil {
		return nil, err
	}
	return h.ds.IsProtected(h.ns, snap), nil
}

func (h *dsReq) putProtected() (any, error) {
	snap, err := h.snapshotFor(config.PrivDatastoreModify)
	if err != nil {
		return nil, err
	}
	v, err := h.p.boolean("protected", false)
	if err != nil {
		return nil, err
	}
	if _, err := h.p.required("protected"); err != nil {
		return nil, err
	}
	return nil, h.ds.SetProtected(h.ns, snap, v)
}

func (h *dsReq) getNotes() (any, error) {
	snap, err := h.snapshotFor(config.PrivDatastoreAudit)
	if err != nil {
		return nil, err
	}
	m, _, err := h.ds.ReadManifest(h.ns, snap)
	if err != nil {
		return nil, err
	}
	n, _ := m.Unprotected["notes"].(string)
	return n, nil
}

// putNotes is PUT notes: it changes manifest.unprotected.notes under the
// manifest lock, as the datastore does for verify states.
func (h *dsReq) putNotes() (any, error) {
	snap, err := h.snapshotFor(config.PrivDatastoreModify)
	if err != nil {
		return nil, err
	}
	return nil, h.ds.SetNotes(h.ns, snap, h.p.str("notes"))
}

// snapshotFor is snapshotOf for a request that needs the privilege full
// on the namespace, or Datastore.Backup and owning the snapshot's group.
func (h *dsReq) snapshotFor(full string) (core.Snapshot, error) {
	snap, owner, err := h.snapshotOf()
	if err != nil {
		return snap, err
	}
	return snap, h.need(h.access(h.store, h.ns), full, config.PrivDatastoreBackup, owner)
}

// serveDownload is GET download: the raw bytes of one snapshot file.
func (h *dsReq) serveDownload() {
	data, err := h.download()
	if err != nil {
		h.reply(nil, err)
		return
	}
	writeRaw(h.w, data)
}

func (h *dsReq) download() ([]byte, error) {
	snap, err := h.snapshotFor(config.PrivDatastoreRead)
	if err != nil {
		return nil, err
	}
	name, err := h.p.safeName("file-name", "")
	if err != nil {
		return nil, err
	}
	b, err := h.ds.ReadSnapshotFile(h.ns, snap, name)
	if err != nil {
		return nil, errorf(http.StatusNotFound, "open file '%s' failed - not found", name)
	}
	return b, nil
}

func (h *dsReq) verify() (any, error) {
	a := h.access(h.store, h.ns)
	g, err := h.p.optGroup()
	if err != nil {
		return nil, err
	}
	var snap *core.Snapshot
	if h.p.has("backup-time") {
		s, err := h.p.snapshot()
		if err != nil {
			return nil, err
		}
		snap = &s
	}
	if !a.privs.Has(config.PrivDatastoreVerify) {
		if g == nil || !a.privs.Has(config.PrivDatastoreBackup) || !h.ownership(*g).ownedBy(h.id.authID) {
			return nil, permDenied(a.path, config.PrivDatastoreVerify, config.PrivDatastoreBackup)
		}
	}
	ds, err := h.openStore(h.store)
	if err != nil {
		return nil, err
	}
	return h.runTask("verify", ds, func(ctx context.Context, t *task) error {
		rep, err := ds.Verify(ctx, h.ns, g, snap, t.sink())
		if err == nil && rep != nil && rep.Failed() > 0 {
			err = fmt.Errorf("verification failed on %d snapshot(s)", rep.Failed())
		}
		return err
	}), nil
}
