package server

import (
	"context"
	"errors"

	"golang.org/x/sys/unix"

	"cairn/core"
	"cairn/net/server/config"
)

// Datastore-wide endpoints of the datastore API (protocol.md 5.3, 5.5,
// 5.6): garbage collection, status, namespaces.

func (h *dsReq) startGC() (any, error) {
	a := h.access(h.store, "")
	if !a.privs.Has(config.PrivDatastoreModify) {
		return nil, permDenied(a.path, config.PrivDatastoreModify)
	}
	ds, err := h.openStore(h.store)
	if err != nil {
		return nil, err
	}
	return h.runTask("garbage_collection", ds, func(ctx context.Context, t *task) error {
		st, err := ds.GarbageCollect(ctx, t.sink())
		if err == nil {
			st.UPID = t.upid
			writeGCSummary(t, st)
			b, _ := jsonMarshal(st)
			ds.WriteGCStatus(b)
		}
		return err
	}), nil
}

// runTask starts a worker task on ds (closed when it ends): work runs in
// the background with a context that the task's abort cancels. It returns
// the task's UPID.
func (h *dsReq) runTask(kind string, ds interface{ Close() error }, work func(ctx context.Context, t *task) error) string {
	t := h.s.tasks.start(kind, h.store, h.id.authID)
	go func() {
		defer ds.Close()
		ctx, cancel := context.WithCancel(context.Background())
		defer cancel()
		go func() {
			select {
			case <-t.abort:
				cancel()
			case <-ctx.Done():
			}
		}()
		err := work(ctx, t)
		if err != nil && t.abortRequested() && errors.Is(err, context.Canceled) {
			err = errAborted
		}
		t.finish(err)
	}()
	return t.upid
}

func writeGCSummary(t *task, st *core.GCStatus) {
	t.logf("Removed bytes: %d", st.RemovedBytes)
	t.logf("Removed chunks: %d", st.RemovedChunks)
	if st.PendingBytes > 0 {
		t.logf("Pending removals: %d (in %d chunks)", st.PendingBytes, st.PendingChunks)
	}
	if st.RemovedBad > 0 {
		t.logf("Removed bad chunks: %d", st.RemovedBad)
	}
	if st.StillBad > 0 {
		t.logf("Leftover bad chunks: %d", st.StillBad)
	}
	t.logf("Original data bytes: %d", st.IndexDataBytes)
	t.logf("Disk bytes: %d", st.DiskBytes)
	t.logf("Disk chunks: %d", st.DiskChunks)
	dedup := 1.0
	if st.DiskBytes > 0 {
		dedup = float64(st.IndexDataBytes) / float64(st.DiskBytes)
	}
	t.logf("Deduplication factor: %.2f", dedup)
	if st.DiskChunks > 0 {
		t.logf("Average chunk size: %d", st.DiskBytes/st.DiskChunks)
	}
}

func (h *dsReq) readGCStatus() map[string]any {
	out := map[string]any{}
	if b, err := h.ds.ReadGCStatus(); err == nil {
		jsonUnmarshal(b, &out)
	}
	for _, k := range []string{"index-file-count", "index-data-bytes", "disk-bytes", "disk-chunks", "removed-bytes",
		"removed-chunks", "pending-bytes", "pending-chunks", "removed-bad", "still-bad"} {
		if _, ok := out[k]; !ok {
			out[k] = 0
		}
	}
	return out
}

func (h *dsReq) gcStatus() (any, error) {
	a := h.access(h.store, "")
	if !a.privs.Has(config.PrivDatastoreAudit) {
		return nil, permDenied(a.path, config.PrivDatastoreAudit)
	}
	out := h.readGCStatus()
	out["store"] = h.store
	if upid, ok := out["upid"].(string); ok {
		if t := h.s.tasks.get(upid); t != nil {
			st := t.status()
			if st["status"] == "stopped" {
				out["last-run-state"] = st["exitstatus"]
				out["last-run-endtime"] = st["endtime"]
			}
		}
	}
	return out, nil
}

// status is GET status (protocol.md 5.5). Audit or Backup on the store
// give the file system's numbers, anything less zeros (the pre-check
// refused callers without any privilege on or below the store). The
// verbose counts cover what the caller may see, as upstream counts them:
// with Audit on the store every group; else, per namespace, every group
// where the caller has Audit or Read, only its own groups where it has
// Backup or Modify, none elsewhere.
func (h *dsReq) status() (any, error) {
	a := h.access(h.store, "")
	verbose, err := h.p.boolean("verbose", false)
	if err != nil {
		return nil, err
	}
	full := a.privs.Any(config.PrivDatastoreAudit, config.PrivDatastoreBackup)
	out := map[string]any{"total": 0, "used": 0, "avail": 0, "backend-type": h.ds.BackendType()}
	if full {
		// The file system of the datastore directory; for an S3 datastore,
		// of its local cache (a bucket has no size to report).
		var st unix.Statfs_t
		if err := unix.Statfs(h.ds.Root(), &st); err == nil {
			bs := uint64(st.Bsize)
			out["total"] = st.Blocks * bs
			out["avail"] = st.Bavail * bs
			out["used"] = (st.Blocks - st.Bfree) * bs
		}
		if verbose {
			out["gc-status"] = h.readGCStatus()
		}
	}
	if verbose {
		out["counts"] = h.visibleCounts(a.privs.Has(config.PrivDatastoreAudit))
	}
	return out, nil
}

// visibleCounts counts the non-empty groups and their snapshots by backup
// type, over the namespaces and groups the caller may see (status).
func (h *dsReq) visibleCounts(storeAudit bool) map[string]map[string]int {
	counts := map[string]map[string]int{}
	nss, _ := h.ds.ListNamespaces("", -1)
	for _, ns := range nss {
		all := storeAudit
		if !all {
			np := h.privs(h.store, string(ns))
			if !np.Any(anyDatastorePriv...) {
				continue
			}
			all = np.Any(config.PrivDatastoreAudit, config.PrivDatastoreRead)
		}
		gs, err := h.ds.ListGroups(ns)
		if err != nil {
			continue
		}
		for _, g := range gs {
			if g.BackupCount == 0 || !all && !isOwner(h.id.authID, g.Owner) {
				continue
			}
			k := string(g.Group.Type)
			if counts[k] == nil {
				counts[k] = map[string]int{"groups": 0, "snapshots": 0}
			}
			counts[k]["groups"]++
			counts[k]["snapshots"] += g.BackupCount
		}
	}
	return counts
}

// listNamespaces is GET namespace. The pre-check required Audit, Modify
// or Backup on the parent (before the store was opened, so a caller without
// them cannot tell whether the store exists); the list holds the
// namespaces with one of them.
func (h *dsReq) listNamespaces() (any, error) {
	parent, err := core.ParseNamespace(h.p.str("parent"))
	if err != nil {
		return nil, badRequest("parameter verification failed - 'parent': %v", err)
	}
	depth, err := h.p.integer("max-depth", -1, 0, 7)
	if err != nil {
		return nil, err
	}
	nss, err := h.ds.ListNamespaces(parent, int(depth))
	if err != nil {
		return nil, err
	}
	out := []map[string]any{}
	for _, ns := range nss {
		if !h.cfg.Privileges(h.id.authID, config.DatastoreACLPath(h.store, string(ns))).Any(
			config.PrivDatastoreAudit, config.PrivDatastoreModify, config.PrivDatastoreBackup) {
			continue
		}
		out = append(out, map[string]any{"ns": string(ns)})
	}
	return out, nil
}

func (h *dsReq) createNamespace() (any, error) {
	name, err := h.p.required("name")
	if err != nil {
		return nil, err
	}
	if !core.ValidBackupID(name) {
		return nil, badRequest("parameter verification failed - 'name': value does not match the regex pattern")
	}
	parent, err := core.ParseNamespace(h.p.str("parent"))
	if err != nil {
		return nil, badRequest("parameter verification failed - 'parent': %v", err)
	}
	a := h.access(h.store, parent)
	if !a.privs.Has(config.PrivDatastoreModify) {
		return nil, permDenied(a.path, config.PrivDatastoreModify)
	}
	full := name
	if !parent.IsRoot() {
		full = string(parent) + "/" + name
	}
	ns, err := core.ParseNamespace(full)
	if err != nil {
		return nil, badRequest("%v", err)
	}
	if err := h.ds.CreateNamespace(ns); err != nil {
		return nil, err
	}
	return string(ns), nil
}

func (h *dsReq) deleteNamespace() (any, error) {
	if h.ns.IsRoot() {
		return nil, badRequest("parameter verification failed - 'ns': cannot delete the root namespace")
	}
	delGroups, err := h.p.boolean("delete-groups", false)
	if err != nil {
		return nil, err
	}
	a := h.access(h.store, h.ns.Parent())
	if !a.privs.Has(config.PrivDatastoreModify) {
		return nil, permDenied(a.path, config.PrivDatastoreModify)
	}
	removedGroups, removedSnaps, prot := 0, 0, 0
	if delGroups {
		nss, _ := h.ds.ListNamespaces(h.ns, -1)
		for _, ns := range nss {
			gs, _ := h.ds.ListGroups(ns)
			for _, g := range gs {
				r, k, err := h.ds.DeleteGroup(ns, g.Group)
				if err != nil {
					return nil, err
				}
				removedSnaps += r
				prot += k
				if k == 0 {
					removedGroups++
				}
			}
		}
	}
	if err := h.ds.DeleteNamespace(h.ns, delGroups); err != nil {
		if prot > 0 {
			if errOn, _ := h.p.boolean("error-on-protected", true); !errOn {
				return map[string]any{"removed-groups": removedGroups, "protected-snapshots": prot, "removed-snapshots": removedSnaps}, nil
			}
		}
		return nil, err
	}
	return map[string]any{"removed-groups": removedGroups, "protected-snapshots": prot, "removed-snapshots": removedSnaps}, nil
}
