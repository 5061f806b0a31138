package server

import (
	"context"
	"errors"
	"sort"

	"golang.org/x/sys/unix"

	"cairn/core"
	"cairn/net/server/config"
)

// Datastore-wide endpoints (protocol.md 5.3, 5.5, 5.6): the list of
// datastores, garbage collection, status.

// listDatastores is GET /api2/json/admin/datastore: the stores the caller
// may see.
func (s *Server) listDatastores(c *reqCtx) (any, error) {
	out := []map[string]any{}
	names := make([]string, 0, len(c.cfg.Datastores))
	for n := range c.cfg.Datastores {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		if !c.cfg.HasAnyPrivsBelow(c.id.authID, "/datastore/"+n, config.PrivDatastoreAudit, config.PrivDatastoreBackup) {
			continue
		}
		item := map[string]any{"store": n, "backend-type": c.cfg.Datastores[n].BackendType()}
		if cm := c.cfg.Datastores[n].Comment; cm != "" {
			item["comment"] = cm
		}
		out = append(out, item)
	}
	return out, nil
}

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
