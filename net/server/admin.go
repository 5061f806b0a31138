package server

import (
	"net/http"

	"cairn/core"
	"cairn/core/datastore"
	"cairn/net/server/config"
)

// The datastore API, /api2/json/admin/datastore/{store}/{sub} (protocol.md
// 5.3): the route table and what every endpoint shares (the privilege
// pre-check, the datastore handle, ownership). The endpoints live in
// admin_groups.go, admin_snapshots.go, admin_namespaces.go and
// admin_store.go.

// aclOn names the ACL path a route's privilege pre-check looks at.
type aclOn int

const (
	onNS       aclOn = iota // /datastore/{store}/{ns}
	onStore                 // /datastore/{store}
	onParent                // the namespace in the "parent" parameter
	onNSParent              // the parent of "ns" (which must not be the root)
	onStatus                // status: Audit, Backup or Read on the store, or any privilege below it
)

// dsRoute is one datastore endpoint.
type dsRoute struct {
	method, sub string
	// privs: the caller needs one of them on the on path, checked before
	// the datastore is opened, as upstream checks them before looking the
	// store up: a caller without them gets the same answer whether the
	// store exists or not. The handler then makes the finer checks (full
	// privilege, or partial privilege and owner).
	privs []string
	on    aclOn
	serve func(h *dsReq) (any, error)
	// raw, when set, writes the response itself (download).
	raw func(h *dsReq)
}

const (
	pAudit  = config.PrivDatastoreAudit
	pModify = config.PrivDatastoreModify
	pRead   = config.PrivDatastoreRead
	pVerify = config.PrivDatastoreVerify
	pBackup = config.PrivDatastoreBackup
	pPrune  = config.PrivDatastorePrune
)

// datastoreRoutes: every endpoint with its method (protocol.md 5.3).
var datastoreRoutes = []dsRoute{
	{method: "GET", sub: "groups", privs: []string{pAudit, pBackup}, serve: (*dsReq).groups},
	{method: "DELETE", sub: "groups", privs: []string{pModify, pPrune}, serve: (*dsReq).deleteGroup},
	{method: "GET", sub: "snapshots", privs: []string{pAudit, pBackup}, serve: (*dsReq).snapshots},
	{method: "DELETE", sub: "snapshots", privs: []string{pModify, pPrune}, serve: (*dsReq).deleteSnapshot},
	{method: "GET", sub: "files", privs: []string{pAudit, pRead, pBackup}, serve: (*dsReq).files},
	{method: "GET", sub: "notes", privs: []string{pAudit, pBackup}, serve: (*dsReq).getNotes},
	{method: "PUT", sub: "notes", privs: []string{pModify, pBackup}, serve: (*dsReq).putNotes},
	{method: "GET", sub: "protected", privs: []string{pAudit, pBackup}, serve: (*dsReq).getProtected},
	{method: "PUT", sub: "protected", privs: []string{pModify, pBackup}, serve: (*dsReq).putProtected},
	{method: "POST", sub: "prune", privs: []string{pModify, pPrune}, serve: (*dsReq).prune},
	{method: "POST", sub: "prune-datastore", privs: []string{pModify, pPrune}, serve: (*dsReq).pruneDatastore},
	{method: "GET", sub: "gc", privs: []string{pAudit}, on: onStore, serve: (*dsReq).gcStatus},
	{method: "POST", sub: "gc", privs: []string{pModify}, on: onStore, serve: (*dsReq).startGC},
	{method: "GET", sub: "status", on: onStatus, serve: (*dsReq).status},
	{method: "GET", sub: "namespace", privs: []string{pAudit, pModify, pBackup}, on: onParent, serve: (*dsReq).listNamespaces},
	{method: "POST", sub: "namespace", privs: []string{pModify}, on: onParent, serve: (*dsReq).createNamespace},
	{method: "DELETE", sub: "namespace", privs: []string{pModify}, on: onNSParent, serve: (*dsReq).deleteNamespace},
	{method: "GET", sub: "catalog", privs: []string{pRead, pBackup}, raw: (*dsReq).serveCatalog}, // streamed: catalogstream.go
	{method: "GET", sub: "download", privs: []string{pRead, pBackup}, raw: (*dsReq).serveDownload},
	{method: "POST", sub: "verify", privs: []string{pVerify, pBackup}, serve: (*dsReq).verify},
	{method: "POST", sub: "change-owner", privs: []string{pModify, pBackup}, serve: (*dsReq).changeOwner},
	{method: "POST", sub: "upload-backup-log", privs: []string{pBackup}, serve: (*dsReq).uploadBackupLog},
}

// datastoreHandler serves one datastore route: parameters (400), the
// privilege pre-check (403), the datastore (404), then the endpoint.
func (s *Server) datastoreHandler(rt dsRoute) http.Handler {
	return s.authed(func(c *reqCtx) {
		store := c.r.PathValue("store")
		if !config.ValidSafeID(store) {
			c.reply(nil, badRequest("invalid datastore name %q", store))
			return
		}
		p, err := parseParams(c.r)
		if err != nil {
			c.reply(nil, err)
			return
		}
		ns, err := p.namespace()
		if err != nil {
			c.reply(nil, err)
			return
		}
		if err := c.precheck(rt, store, ns, p); err != nil {
			c.reply(nil, err)
			return
		}
		ds, err := c.openStore(store)
		if err != nil {
			c.reply(nil, err)
			return
		}
		defer ds.Close()
		h := &dsReq{reqCtx: c, ds: ds, store: store, ns: ns, p: p}
		if rt.raw != nil {
			rt.raw(h)
			return
		}
		c.reply(rt.serve(h))
	})
}

// anyDatastorePriv: the privileges that let a caller see a datastore at all
// (upstream's NS_PRIVS_OK).
var anyDatastorePriv = []string{pAudit, pModify, pRead, pBackup}

// precheck is the route's privilege check before the datastore is opened.
func (c *reqCtx) precheck(rt dsRoute, store string, ns core.Namespace, p params) error {
	path := ns
	switch rt.on {
	case onStore:
		path = ""
	case onParent:
		parent, err := core.ParseNamespace(p.str("parent"))
		if err != nil {
			return badRequest("parameter verification failed - 'parent': %v", err)
		}
		path = parent
	case onNSParent:
		if ns.IsRoot() {
			return badRequest("parameter verification failed - 'ns': cannot delete the root namespace")
		}
		path = ns.Parent()
	case onStatus:
		if c.privs(store, "").Any(pAudit, pBackup, pRead) ||
			c.cfg.HasAnyPrivsBelow(c.id.authID, "/datastore/"+store, anyDatastorePriv...) {
			return nil
		}
		// Upstream's words; nothing tells whether the store exists.
		return errorf(http.StatusForbidden, "permission check failed")
	}
	a := c.access(store, path)
	if !a.privs.Any(rt.privs...) {
		return permDenied(a.path, rt.privs...)
	}
	return nil
}

// access describes what the caller may do in a datastore namespace.
type access struct {
	privs config.Privs
	path  string
}

func (c *reqCtx) access(store string, ns core.Namespace) access {
	return access{privs: c.privs(store, string(ns)), path: config.DatastoreACLPath(store, string(ns))}
}

// ownership is what an authorization check knows of a group's owner.
type ownership struct {
	group  core.Group
	owner  string // the owner file's first line; "" when missing, empty or unreadable
	exists bool   // the group's directory exists
}

// ownershipOf reads a group's owner for an authorization check.
func ownershipOf(ds *datastore.Datastore, ns core.Namespace, g core.Group) ownership {
	if owner := ds.GroupOwner(ns, g); owner != "" {
		return ownership{group: g, owner: owner, exists: true}
	}
	return ownership{group: g, exists: ds.GroupExists(ns, g)}
}

// ownedBy: authID owns the group (it is the owner, or the owner is one of
// its tokens). A group without a readable owner is owned by nobody.
func (o ownership) ownedBy(authID string) bool { return o.owner != "" && isOwner(authID, o.owner) }

// ownerless: the group exists, but its owner file is missing, empty or
// unreadable. Only full privileges (Datastore.Modify and the like) act on
// such a group: authorization fails closed.
func (o ownership) ownerless() bool { return o.exists && o.owner == "" }

// check is the owner check of a caller with only the partial privilege: it
// passes on the caller's own groups and on a group that does not exist yet.
func (o ownership) check(authID string) error {
	switch {
	case o.ownedBy(authID), !o.exists:
		return nil
	case o.owner == "":
		return errorf(http.StatusForbidden, "backup owner check failed - backup group %s has no owner", o.group)
	}
	return errorf(http.StatusForbidden, "backup owner check failed (%s != %s)", authID, o.owner)
}

// need checks full-or-owner access: the full privilege acts on every group,
// the partial one only on the caller's own groups (fail closed: never on an
// ownerless one).
func (c *reqCtx) need(a access, full, partial string, o ownership) error {
	if a.privs.Has(full) {
		return nil
	}
	if partial != "" && a.privs.Has(partial) {
		return o.check(c.id.authID)
	}
	if partial != "" {
		return permDenied(a.path, full, partial)
	}
	return permDenied(a.path, full)
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

// groupParam reads the group a request names (backup-type, backup-id) and
// checks that its namespace exists.
func (h *dsReq) groupParam() (core.Group, error) {
	g, err := h.p.group()
	if err == nil {
		err = h.requireNS()
	}
	return g, err
}

// snapshotParam reads the snapshot a request names (backup-type,
// backup-id, backup-time) and checks that its namespace exists.
func (h *dsReq) snapshotParam() (core.Snapshot, error) {
	s, err := h.p.snapshot()
	if err == nil {
		err = h.requireNS()
	}
	return s, err
}

// ownership reads the owner of a group in the request's namespace.
func (h *dsReq) ownership(g core.Group) ownership { return ownershipOf(h.ds, h.ns, g) }
