package config

import (
	"fmt"
	"sort"
	"strings"
)

// Privileges (protocol.md 5.1), in upstream's order.
const (
	PrivSysAudit          = "Sys.Audit"
	PrivSysModify         = "Sys.Modify"
	PrivDatastoreAudit    = "Datastore.Audit"
	PrivDatastoreAllocate = "Datastore.Allocate"
	PrivDatastoreModify   = "Datastore.Modify"
	PrivDatastoreRead     = "Datastore.Read"
	PrivDatastoreVerify   = "Datastore.Verify"
	PrivDatastoreBackup   = "Datastore.Backup"
	PrivDatastorePrune    = "Datastore.Prune"
	PrivPermissionsModify = "Permissions.Modify"
)

// AllPrivileges lists every privilege name upstream knows.
var AllPrivileges = []string{"Sys.Audit", "Sys.Modify", "Sys.PowerManagement", "Datastore.Audit",
	"Datastore.Allocate", "Datastore.Modify", "Datastore.Read", "Datastore.Verify",
	"Datastore.Backup", "Datastore.Prune", "Permissions.Modify", "Remote.Audit",
	"Remote.Modify", "Remote.Read", "Remote.DatastoreBackup", "Remote.DatastoreModify",
	"Remote.DatastorePrune", "Sys.Console", "Tape.Audit", "Tape.Modify", "Tape.Write",
	"Tape.Read", "Realm.Allocate"}

// Roles maps role names to their privileges.
var Roles = map[string][]string{
	"Admin":              AllPrivileges,
	"Audit":              {PrivSysAudit, PrivDatastoreAudit},
	"NoAccess":           {},
	"DatastoreAdmin":     {PrivDatastoreAudit, PrivDatastoreModify, PrivDatastoreRead, PrivDatastoreVerify, PrivDatastoreBackup, PrivDatastorePrune},
	"DatastoreReader":    {PrivDatastoreAudit, PrivDatastoreVerify, PrivDatastoreRead},
	"DatastoreBackup":    {PrivDatastoreBackup},
	"DatastorePowerUser": {PrivDatastorePrune, PrivDatastoreBackup},
	"DatastoreAudit":     {PrivDatastoreAudit},
}

// RoleNames lists the roles, sorted.
func RoleNames() []string {
	var out []string
	for r := range Roles {
		out = append(out, r)
	}
	sort.Strings(out)
	return out
}

// Privs is a set of privilege names.
type Privs map[string]bool

// Has reports whether every name is in the set.
func (p Privs) Has(names ...string) bool {
	for _, n := range names {
		if !p[n] {
			return false
		}
	}
	return true
}

// Any reports whether one of names is in the set.
func (p Privs) Any(names ...string) bool {
	for _, n := range names {
		if p[n] {
			return true
		}
	}
	return false
}

// CheckACLPath validates an ACL path: "/", "/datastore", "/datastore/STORE[/ns...]", "/system/...".
func CheckACLPath(p string) (string, error) {
	if !strings.HasPrefix(p, "/") {
		return "", fmt.Errorf("invalid ACL path %q: must start with '/'", p)
	}
	p = "/" + strings.Trim(p, "/")
	if p == "/" {
		return p, nil
	}
	for _, c := range strings.Split(p[1:], "/") {
		if !ValidSafeID(c) {
			return "", fmt.Errorf("invalid ACL path %q: bad component %q", p, c)
		}
	}
	return p, nil
}

func pathComponents(p string) []string {
	p = strings.Trim(p, "/")
	if p == "" {
		return nil
	}
	return strings.Split(p, "/")
}

// privsFor evaluates the ACL entries of exactly one auth id on path: walking
// from "/" down, the entries of a deeper path replace those above; entries
// of ancestors apply only when they propagate.
func (c *Config) privsFor(authID, path string) Privs {
	comps := pathComponents(path)
	var roles []string
	for depth := 0; depth <= len(comps); depth++ {
		cur := "/" + strings.Join(comps[:depth], "/")
		var here []string
		found := false
		for _, a := range c.ACLs {
			if a.AuthID != authID || a.Path != cur {
				continue
			}
			if depth < len(comps) && !a.Propagate {
				continue
			}
			found = true
			here = append(here, a.Role)
		}
		if found {
			roles = here
		}
	}
	out := Privs{}
	for _, r := range roles {
		for _, p := range Roles[r] {
			out[p] = true
		}
	}
	return out
}

// Privileges returns what authID may do on path. root@pam may do
// everything; a token gets the intersection of its own and its user's.
func (c *Config) Privileges(authID, path string) Privs {
	user, token, err := ParseAuthID(authID)
	if err != nil {
		return Privs{}
	}
	userPrivs := Privs{}
	if user == "root@pam" {
		for _, p := range AllPrivileges {
			userPrivs[p] = true
		}
	} else {
		userPrivs = c.privsFor(user, path)
	}
	if token == "" {
		return userPrivs
	}
	tp := c.privsFor(authID, path)
	out := Privs{}
	for p := range tp {
		if userPrivs[p] {
			out[p] = true
		}
	}
	return out
}

// HasAnyPrivsBelow reports whether authID has any of names on path or on
// any path below it (used for listing datastores).
func (c *Config) HasAnyPrivsBelow(authID, path string, names ...string) bool {
	if c.Privileges(authID, path).Any(names...) {
		return true
	}
	user, _, _ := ParseAuthID(authID)
	prefix := strings.TrimRight(path, "/") + "/"
	for _, a := range c.ACLs {
		if (a.AuthID == authID || a.AuthID == user) && strings.HasPrefix(a.Path, prefix) {
			if c.Privileges(authID, a.Path).Any(names...) {
				return true
			}
		}
	}
	return false
}

// DatastoreACLPath is /datastore/STORE[/ns1/ns2...].
func DatastoreACLPath(store, ns string) string {
	p := "/datastore/" + store
	if ns != "" {
		p += "/" + ns
	}
	return p
}
