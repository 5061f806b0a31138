package server

import (
	"cairn/core"
	"cairn/net/server/config"
)

// Namespace endpoints of the datastore API (protocol.md 5.3).

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
