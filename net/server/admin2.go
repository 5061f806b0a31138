package server

import (
	"fmt"
	"net/http"
	"strings"

	"cairn/core"
	"cairn/net/server/config"
)

// changeOwner is POST change-owner (protocol.md 5.3).
func (h *dsReq) changeOwner() (any, error) {
	g, err := h.p.group()
	if err != nil {
		return nil, err
	}
	if err := h.requireNS(); err != nil {
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
	cur := groupOwner(h.ds, h.ns, g)
	if cur == "" {
		return nil, errorf(http.StatusNotFound, "backup group %s does not exist", g)
	}
	a := h.access(h.store, h.ns)
	if !a.privs.Has(config.PrivDatastoreModify) {
		if !a.privs.Has(config.PrivDatastoreBackup) {
			return nil, permDenied(a.path, config.PrivDatastoreModify, config.PrivDatastoreBackup)
		}
		cUser, cTok, _ := strings.Cut(cur, "!")
		allowed := isOwner(h.id.authID, cur) && cUser == nUser && (cTok != "" || nTok != "")
		if !allowed {
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

// setNotes is PUT notes: it changes manifest.unprotected.notes under the
// manifest lock, as the datastore does for verify states.
func (h *dsReq) setNotes(snap core.Snapshot) error {
	return h.ds.SetNotes(h.ns, snap, h.p.str("notes"))
}
