package server

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"net/http"
	"sort"
	"strings"

	"golang.org/x/sys/unix"

	"cairn/core"
	"cairn/core/catalog"
	"cairn/core/datastore"
	"cairn/core/restore"
	"cairn/net/server/config"
)

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

// access describes what the caller may do in a datastore namespace.
type access struct {
	privs config.Privs
	path  string
}

func (c *reqCtx) access(store string, ns core.Namespace) access {
	return access{privs: c.privs(store, string(ns)), path: config.DatastoreACLPath(store, string(ns))}
}

// need checks full-or-owner access: full privilege acts on every group,
// partial only on the caller's own groups (owner "" = not yet created).
func (c *reqCtx) need(a access, full, partial string, owner string) error {
	if a.privs.Has(full) {
		return nil
	}
	if partial != "" && a.privs.Has(partial) {
		if owner == "" || isOwner(c.id.authID, owner) {
			return nil
		}
		return errorf(http.StatusForbidden, "backup owner check failed (%s != %s)", c.id.authID, owner)
	}
	if partial != "" {
		return permDenied(a.path, full, partial)
	}
	return permDenied(a.path, full)
}

func (s *Server) handleDatastore(c *reqCtx, store, sub string) {
	p, err := parseParams(c.r)
	if err != nil {
		c.reply(nil, err)
		return
	}
	ds, err := c.openStore(store)
	if err != nil {
		// Do not reveal which stores exist to callers without any access.
		if !c.cfg.HasAnyPrivsBelow(c.id.authID, "/datastore/"+store, config.PrivDatastoreAudit, config.PrivDatastoreBackup, config.PrivDatastoreRead, config.PrivDatastoreModify) {
			err = permDenied("/datastore/"+store, config.PrivDatastoreAudit)
		}
		c.reply(nil, err)
		return
	}
	defer ds.Close()
	ns, err := p.namespace()
	if err != nil {
		c.reply(nil, err)
		return
	}
	h := &dsReq{reqCtx: c, ds: ds, store: store, ns: ns, p: p}
	m := c.r.Method
	switch sub {
	case "groups":
		switch m {
		case http.MethodGet:
			c.reply(h.groups())
		case http.MethodDelete:
			c.reply(h.deleteGroup())
		default:
			c.reply(nil, errorf(http.StatusMethodNotAllowed, "method not allowed"))
		}
	case "snapshots":
		switch m {
		case http.MethodGet:
			c.reply(h.snapshots())
		case http.MethodDelete:
			c.reply(h.deleteSnapshot())
		default:
			c.reply(nil, errorf(http.StatusMethodNotAllowed, "method not allowed"))
		}
	case "files":
		c.reply(h.files())
	case "protected":
		c.reply(h.protected(m == http.MethodPut))
	case "notes":
		c.reply(h.notes(m == http.MethodPut))
	case "prune":
		c.reply(h.prune())
	case "prune-datastore":
		c.reply(h.pruneDatastore())
	case "gc":
		if m == http.MethodPost {
			c.reply(h.startGC())
		} else {
			c.reply(h.gcStatus())
		}
	case "status":
		c.reply(h.status())
	case "namespace":
		switch m {
		case http.MethodGet:
			c.reply(h.listNamespaces())
		case http.MethodPost:
			c.reply(h.createNamespace())
		case http.MethodDelete:
			c.reply(h.deleteNamespace())
		default:
			c.reply(nil, errorf(http.StatusMethodNotAllowed, "method not allowed"))
		}
	case "catalog":
		c.reply(h.catalog())
	case "download":
		data, err := h.download()
		if err != nil {
			c.reply(nil, err)
			return
		}
		writeRaw(c.w, data)
	case "verify":
		c.reply(h.verify())
	case "change-owner":
		c.reply(h.changeOwner())
	case "upload-backup-log":
		c.reply(h.uploadBackupLog())
	default:
		c.reply(nil, errorf(http.StatusNotFound, "Path '%s' not found.", c.r.URL.Path))
	}
}

type dsReq struct {
	*reqCtx
	ds    *datastore.Datastore
	store string
	ns    core.Namespace
	p     params
}

func (h *dsReq) requireNS() error {
	if !nsExists(h.ds, h.ns) {
		return errorf(http.StatusNotFound, "namespace '%s' does not exist", h.ns)
	}
	return nil
}

func (h *dsReq) groups() (any, error) {
	a := h.access(h.store, h.ns)
	if !a.privs.Any(config.PrivDatastoreAudit, config.PrivDatastoreBackup) {
		return nil, permDenied(a.path, config.PrivDatastoreAudit, config.PrivDatastoreBackup)
	}
	gs, err := h.ds.ListGroups(h.ns)
	if err != nil {
		return nil, err
	}
	out := []map[string]any{}
	for _, g := range gs {
		if !a.privs.Has(config.PrivDatastoreAudit) && !isOwner(h.id.authID, g.Owner) {
			continue
		}
		files := g.Files
		item := map[string]any{"backup-type": g.Group.Type, "backup-id": g.Group.ID, "last-backup": g.LastBackup,
			"backup-count": g.BackupCount, "files": nonNil(files)}
		if g.Owner != "" {
			item["owner"] = g.Owner
		}
		if g.Comment != "" {
			item["comment"] = g.Comment
		}
		out = append(out, item)
	}
	return out, nil
}

func nonNil(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}

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
	snap, err := h.p.snapshot()
	if err != nil {
		return nil, err
	}
	if err := h.requireNS(); err != nil {
		return nil, err
	}
	if err := h.need(h.access(h.store, h.ns), config.PrivDatastoreModify, config.PrivDatastorePrune, groupOwner(h.ds, h.ns, snap.Group)); err != nil {
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

func (h *dsReq) deleteGroup() (any, error) {
	g, err := h.p.group()
	if err != nil {
		return nil, err
	}
	if err := h.requireNS(); err != nil {
		return nil, err
	}
	errOnProt, err := h.p.boolean("error-on-protected", true)
	if err != nil {
		return nil, err
	}
	if err := h.need(h.access(h.store, h.ns), config.PrivDatastoreModify, config.PrivDatastorePrune, groupOwner(h.ds, h.ns, g)); err != nil {
		return nil, err
	}
	removed, kept, err := h.ds.DeleteGroup(h.ns, g)
	if err != nil {
		return nil, err
	}
	if kept > 0 && errOnProt {
		return nil, badRequest("group %s still holds %d protected snapshot(s)", g, kept)
	}
	rg := 1
	if kept > 0 {
		rg = 0
	}
	return map[string]any{"removed-groups": rg, "protected-snapshots": kept, "removed-snapshots": removed}, nil
}

// snapshotOf reads BackupDir params and checks the snapshot exists.
func (h *dsReq) snapshotOf() (core.Snapshot, string, error) {
	snap, err := h.p.snapshot()
	if err != nil {
		return snap, "", err
	}
	if err := h.requireNS(); err != nil {
		return snap, "", err
	}
	if !h.ds.SnapshotExists(h.ns, snap) {
		return snap, "", errorf(http.StatusNotFound, "snapshot %s does not exist.", snapshotLabel(h.ns, snap))
	}
	return snap, groupOwner(h.ds, h.ns, snap.Group), nil
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

func (h *dsReq) protected(put bool) (any, error) {
	snap, owner, err := h.snapshotOf()
	if err != nil {
		return nil, err
	}
	a := h.access(h.store, h.ns)
	if put {
		if err := h.need(a, config.PrivDatastoreModify, config.PrivDatastoreBackup, owner); err != nil {
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
	if err := h.need(a, config.PrivDatastoreAudit, config.PrivDatastoreBackup, owner); err != nil {
		return nil, err
	}
	return h.ds.IsProtected(h.ns, snap), nil
}

func (h *dsReq) notes(put bool) (any, error) {
	snap, owner, err := h.snapshotOf()
	if err != nil {
		return nil, err
	}
	a := h.access(h.store, h.ns)
	if put {
		if err := h.need(a, config.PrivDatastoreModify, config.PrivDatastoreBackup, owner); err != nil {
			return nil, err
		}
		return nil, h.setNotes(snap)
	}
	if err := h.need(a, config.PrivDatastoreAudit, config.PrivDatastoreBackup, owner); err != nil {
		return nil, err
	}
	m, _, err := h.ds.ReadManifest(h.ns, snap)
	if err != nil {
		return nil, err
	}
	n, _ := m.Unprotected["notes"].(string)
	return n, nil
}

func keepOptions(p params) (core.KeepOptions, error) {
	var o core.KeepOptions
	for _, f := range []struct {
		name string
		dst  *int
	}{{"keep-last", &o.KeepLast}, {"keep-hourly", &o.KeepHourly}, {"keep-daily", &o.KeepDaily},
		{"keep-weekly", &o.KeepWeekly}, {"keep-monthly", &o.KeepMonthly}, {"keep-yearly", &o.KeepYearly}} {
		v, err := p.integer(f.name, 0, 1, 1<<31)
		if err != nil {
			return o, err
		}
		*f.dst = int(v)
	}
	return o, nil
}

func pruneItems(ns core.Namespace, res []core.PruneResult) []map[string]any {
	out := []map[string]any{}
	for _, r := range res {
		item := map[string]any{"backup-type": r.Snapshot.Type, "backup-id": r.Snapshot.ID,
			"backup-time": r.Snapshot.Time, "keep": r.Keep, "protected": r.Protected}
		if !ns.IsRoot() {
			item["ns"] = string(ns)
		}
		out = append(out, item)
	}
	return out
}

func (h *dsReq) prune() (any, error) {
	g, err := h.p.group()
	if err != nil {
		return nil, err
	}
	if err := h.requireNS(); err != nil {
		return nil, err
	}
	opts, err := keepOptions(h.p)
	if err != nil {
		return nil, err
	}
	dry, err := h.p.boolean("dry-run", false)
	if err != nil {
		return nil, err
	}
	useTask, err := h.p.boolean("use-task", false)
	if err != nil {
		return nil, err
	}
	if err := h.need(h.access(h.store, h.ns), config.PrivDatastoreModify, config.PrivDatastorePrune, groupOwner(h.ds, h.ns, g)); err != nil {
		return nil, err
	}
	if !h.ds.GroupExists(h.ns, g) {
		return nil, errorf(http.StatusNotFound, "backup group %s does not exist", g)
	}
	wid := fmt.Sprintf("%s:%s:%s", h.store, h.ns, g)
	var t *task
	if !dry {
		t = h.s.tasks.start("prune", wid, h.id.authID)
		if opts.KeepsAll() {
			t.logf("No prune selection - keeping all files.")
		} else {
			nsOpt := ""
			if !h.ns.IsRoot() {
				nsOpt = "--ns " + string(h.ns) + " "
			}
			t.logf("retention options: %s%s", nsOpt, opts)
		}
		t.logf("Starting prune on %s group \"%s\"", h.store, g)
	}
	run := func() ([]core.PruneResult, error) {
		if opts.KeepsAll() {
			res, err := h.ds.Prune(h.ns, g, opts, true)
			for i := range res {
				res[i].Keep = true
			}
			return res, err
		}
		return h.ds.Prune(h.ns, g, opts, dry)
	}
	if useTask && !dry {
		ds, err := h.openStore(h.store)
		if err != nil {
			t.finish(err)
			return nil, err
		}
		h2 := *h
		h2.ds = ds
		go func() {
			defer ds.Close()
			res, err := func() ([]core.PruneResult, error) {
				if opts.KeepsAll() {
					r, err := ds.Prune(h.ns, g, opts, true)
					for i := range r {
						r[i].Keep = true
					}
					return r, err
				}
				return ds.Prune(h.ns, g, opts, false)
			}()
			for _, r := range res {
				t.logf("%s %s", r.Snapshot, r.Mark)
			}
			t.finish(err)
		}()
		return t.upid, nil
	}
	res, err := run()
	if t != nil {
		for _, r := range res {
			t.logf("%s %s", r.Snapshot, r.Mark)
		}
		t.finish(err)
	}
	if err != nil {
		return nil, err
	}
	return pruneItems(h.ns, res), nil
}

func (h *dsReq) pruneDatastore() (any, error) {
	if err := h.requireNS(); err != nil {
		return nil, err
	}
	opts, err := keepOptions(h.p)
	if err != nil {
		return nil, err
	}
	dry, err := h.p.boolean("dry-run", false)
	if err != nil {
		return nil, err
	}
	depth, err := h.p.integer("max-depth", 7, 0, 7)
	if err != nil {
		return nil, err
	}
	a := h.access(h.store, h.ns)
	if !a.privs.Any(config.PrivDatastoreModify, config.PrivDatastorePrune) {
		return nil, permDenied(a.path, config.PrivDatastoreModify, config.PrivDatastorePrune)
	}
	ds, err := h.openStore(h.store)
	if err != nil {
		return nil, err
	}
	t := h.s.tasks.start("prune", fmt.Sprintf("%s:%s", h.store, h.ns), h.id.authID)
	go func() {
		defer ds.Close()
		t.logf("Starting datastore prune on %s, down to depth %d", h.store, depth)
		if dry {
			t.logf("(dry test run)")
		}
		if opts.KeepsAll() {
			t.logf("No prune selection - keeping all files.")
		} else {
			t.logf("retention options: %s", opts)
		}
		nss, err := ds.ListNamespaces(h.ns, int(depth))
		if err != nil {
			t.finish(err)
			return
		}
		for _, ns := range nss {
			np := h.cfg.Privileges(h.id.authID, config.DatastoreACLPath(h.store, string(ns)))
			gs, err := ds.ListGroups(ns)
			if err != nil {
				t.warn("listing groups of '%s' failed: %v", ns, err)
				continue
			}
			for _, g := range gs {
				if !np.Has(config.PrivDatastoreModify) && !(np.Has(config.PrivDatastorePrune) && isOwner(h.id.authID, g.Owner)) {
					continue
				}
				t.logf("Pruning group %s:\"%s\"", ns, g.Group)
				res, err := ds.Prune(ns, g.Group, opts, dry || opts.KeepsAll())
				for _, r := range res {
					act := r.Mark
					if opts.KeepsAll() {
						act = "keep"
					}
					if dry {
						act = "would " + act
					}
					t.logf("%s %s", act, r.Snapshot)
				}
				if err != nil {
					t.warn("%v", err)
				}
			}
		}
		t.finish(nil)
	}()
	return t.upid, nil
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

func (h *dsReq) status() (any, error) {
	a := h.access(h.store, "")
	verbose, err := h.p.boolean("verbose", false)
	if err != nil {
		return nil, err
	}
	full := a.privs.Any(config.PrivDatastoreAudit, config.PrivDatastoreBackup)
	if !full && !a.privs.Has(config.PrivDatastoreRead) {
		return nil, permDenied(a.path, config.PrivDatastoreAudit, config.PrivDatastoreBackup)
	}
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
		counts := map[string]map[string]int{}
		nss, _ := h.ds.ListNamespaces("", -1)
		for _, ns := range nss {
			gs, err := h.ds.ListGroups(ns)
			if err != nil {
				continue
			}
			for _, g := range gs {
				if g.BackupCount == 0 {
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
		out["counts"] = counts
	}
	return out, nil
}

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

// readAccess checks Read, or Backup on an owned group.
func (h *dsReq) readAccess(owner string) error {
	return h.need(h.access(h.store, h.ns), config.PrivDatastoreRead, config.PrivDatastoreBackup, owner)
}

func (h *dsReq) download() ([]byte, error) {
	snap, owner, err := h.snapshotOf()
	if err != nil {
		return nil, err
	}
	if err := h.readAccess(owner); err != nil {
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

// catalog lists one directory of a snapshot's catalog (protocol.md 5.7).
func (h *dsReq) catalog() (any, error) {
	snap, owner, err := h.snapshotOf()
	if err != nil {
		return nil, err
	}
	if err := h.readAccess(owner); err != nil {
		return nil, err
	}
	fp, err := h.p.required("filepath")
	if err != nil {
		return nil, err
	}
	dir := "/"
	if fp != "root" && fp != "/" {
		b, err := base64.StdEncoding.DecodeString(fp)
		if err != nil {
			return nil, badRequest("parameter verification failed - 'filepath': invalid base64")
		}
		dir = string(b)
	}
	cr, err := h.snapshotCatalog(snap)
	if err != nil {
		return nil, err
	}
	ent, err := cr.Lookup(dir)
	if err != nil {
		return nil, errorf(http.StatusNotFound, "%v", err)
	}
	entries, err := cr.ReadDir(ent)
	if err != nil {
		return nil, err
	}
	root := strings.Trim(dir, "/") == ""
	base := strings.TrimRight(dir, "/")
	out := []map[string]any{}
	for _, e := range entries {
		full := base + "/" + string(e.Name)
		item := map[string]any{"filepath": base64.StdEncoding.EncodeToString([]byte(full)), "text": string(e.Name),
			"type": e.Type.String(), "leaf": !e.IsDir()}
		if root {
			item["type"] = "v"
			item["leaf"] = false
		}
		if e.Type == catalog.TypeFile {
			item["size"] = e.Size
			item["mtime"] = e.Mtime
		}
		out = append(out, item)
	}
	return out, nil
}

// snapshotCatalog is the catalog of a snapshot's pxar archives, stored
// or, for split archives, rebuilt from their metadata archives. Without a
// key the server reads only unencrypted ones.
func (h *dsReq) snapshotCatalog(snap core.Snapshot) (*catalog.Reader, error) {
	ctx := context.Background()
	s, err := restore.Open(ctx, h.ds, h.ns, snap)
	if err != nil {
		return nil, err
	}
	defer s.Close()
	cr, err := s.Catalog(ctx)
	var mk *restore.MissingKeyError
	if errors.As(err, &mk) {
		return nil, badRequest("cannot decode '%s' - is encrypted", mk.File)
	}
	if errors.Is(err, core.ErrNotFound) {
		return nil, errorf(http.StatusNotFound, "%v", err)
	}
	return cr, err
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
	owner := ""
	if g != nil {
		owner = groupOwner(h.ds, h.ns, *g)
	}
	if !a.privs.Has(config.PrivDatastoreVerify) {
		if g == nil || !a.privs.Has(config.PrivDatastoreBackup) || !isOwner(h.id.authID, owner) {
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

var _ = io.EOF
