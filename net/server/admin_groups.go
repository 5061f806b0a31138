package server

import (
	"fmt"
	"net/http"
	"strings"

	"cairn/core"
	"cairn/core/datastore"
	"cairn/net/server/config"
)

// Group endpoints of the datastore API (protocol.md 5.3): list, delete,
// change owner, prune (one group, or a namespace tree).

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

func (h *dsReq) deleteGroup() (any, error) {
	g, err := h.groupParam()
	if err != nil {
		return nil, err
	}
	errOnProt, err := h.p.boolean("error-on-protected", true)
	if err != nil {
		return nil, err
	}
	if err := h.need(h.access(h.store, h.ns), config.PrivDatastoreModify, config.PrivDatastorePrune, h.ownership(g)); err != nil {
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
	g, err := h.groupParam()
	if err != nil {
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
	if err := h.need(h.access(h.store, h.ns), config.PrivDatastoreModify, config.PrivDatastorePrune, h.ownership(g)); err != nil {
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
	logResult := func(res []core.PruneResult, err error) {
		for _, r := range res {
			t.logf("%s %s", r.Snapshot, r.Mark)
		}
		t.finish(err)
	}
	if useTask && !dry {
		ds, err := h.openStore(h.store)
		if err != nil {
			t.finish(err)
			return nil, err
		}
		go func() {
			defer ds.Close()
			logResult(pruneGroup(ds, h.ns, g, opts, false))
		}()
		return t.upid, nil
	}
	res, err := pruneGroup(h.ds, h.ns, g, opts, dry)
	if t != nil {
		logResult(res, err)
	}
	if err != nil {
		return nil, err
	}
	return pruneItems(h.ns, res), nil
}

// pruneGroup prunes g by opts; when opts keep everything it only lists
// the group, every snapshot kept.
func pruneGroup(ds *datastore.Datastore, ns core.Namespace, g core.Group, opts core.KeepOptions, dry bool) ([]core.PruneResult, error) {
	if opts.KeepsAll() {
		res, err := ds.Prune(ns, g, opts, true)
		for i := range res {
			res[i].Keep = true
		}
		return res, err
	}
	return ds.Prune(ns, g, opts, dry)
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

// changeOwner is POST change-owner (protocol.md 5.3). Datastore.Modify may
// give any existing group, also an ownerless one, a new owner; Backup
// alone only moves an owned group between the user and its tokens.
func (h *dsReq) changeOwner() (any, error) {
	g, err := h.groupParam()
	if err != nil {
		return nil, err
	}
	newOwner, err := h.p.required("new-owner")
	if err != nil {
		return nil, err
	}
	nUser, nTok, err := config.ParseAuthID(newOwner)
	if err != nil {
		return nil, badRequest("parameter verification failed - 'new-owner': %v", err)
	}
	cur := h.ownership(g)
	if !cur.exists {
		return nil, errorf(http.StatusNotFound, "backup group %s does not exist", g)
	}
	a := h.access(h.store, h.ns)
	if !a.privs.Has(config.PrivDatastoreModify) {
		if !a.privs.Has(config.PrivDatastoreBackup) {
			return nil, permDenied(a.path, config.PrivDatastoreModify, config.PrivDatastoreBackup)
		}
		if cur.ownerless() {
			return nil, cur.check(h.id.authID)
		}
		cUser, cTok, _ := strings.Cut(cur.owner, "!")
		if !cur.ownedBy(h.id.authID) || cUser != nUser || (cTok == "" && nTok == "") {
			return nil, errorf(http.StatusUnauthorized, "%s does not have permission to change owner of backup group '%s' to %s", h.id.authID, g, newOwner)
		}
	}
	if nTok == "" {
		if !userUsable(h.cfg, nUser, timeNow()) {
			return nil, badRequest("user '%s' is disabled or does not exist", newOwner)
		}
	} else if t, ok := h.cfg.Tokens[newOwner]; !ok || !t.Enable {
		return nil, badRequest("token '%s' is disabled or does not exist", newOwner)
	}
	if err := h.ds.SetGroupOwner(h.ns, g, newOwner); err != nil {
		return nil, fmt.Errorf("change owner of %s failed - %w", g, err)
	}
	return nil, nil
}
