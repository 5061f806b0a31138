package config

import (
	"fmt"
	"strings"
)

// The rules for users, API tokens and ACL entries, kept here so every
// front end (`cairn manager` today) applies the same ones. Validation
// (CheckNewUserID, CheckPassword, CheckTokenName, CheckRole) needs no
// configuration; the Config methods check against what exists and are
// meant to run inside Update.

// MinPasswordLen is the shortest password a pbs-realm user may have.
const MinPasswordLen = 5

// CheckNewUserID checks the id of a user to create: NAME@REALM, no token
// part. It returns the realm.
func CheckNewUserID(id string) (realm string, err error) {
	_, realm, err = ParseUserID(id)
	if err != nil || strings.Contains(id, "!") {
		return "", fmt.Errorf("invalid user id %q (expected NAME@REALM, e.g. alice@pbs)", id)
	}
	return realm, nil
}

// CheckPassword checks a new password of userID.
func CheckPassword(userID, password string) error {
	if len(password) < MinPasswordLen {
		return fmt.Errorf("password for %s is too short (at least %d characters)", userID, MinPasswordLen)
	}
	return nil
}

// CheckTokenName checks the name of a new API token (a SAFE-ID).
func CheckTokenName(name string) error {
	if !ValidSafeID(name) {
		return fmt.Errorf("invalid token name %q", name)
	}
	return nil
}

// CheckRole checks that role is one of Roles.
func CheckRole(role string) error {
	if _, ok := Roles[role]; !ok {
		return fmt.Errorf("unknown role %q (one of %s)", role, strings.Join(RoleNames(), ", "))
	}
	return nil
}

// TokenID is the auth id of token name of userID: user@realm!name.
func TokenID(userID, name string) string { return userID + "!" + name }

// AddUser adds a user; the id must be new.
func (c *Config) AddUser(id string, u User) error {
	if _, ok := c.Users[id]; ok {
		return fmt.Errorf("user '%s' already exists", id)
	}
	c.Users[id] = u
	return nil
}

// UpdateUser changes an existing user.
func (c *Config) UpdateUser(id string, change func(u *User)) error {
	u, ok := c.Users[id]
	if !ok {
		return fmt.Errorf("user '%s' does not exist", id)
	}
	change(&u)
	c.Users[id] = u
	return nil
}

// RemoveUser removes a user with its API tokens and every ACL entry of the
// user and its tokens.
func (c *Config) RemoveUser(id string) error {
	if _, ok := c.Users[id]; !ok {
		return fmt.Errorf("user '%s' does not exist", id)
	}
	delete(c.Users, id)
	for t := range c.Tokens {
		if strings.HasPrefix(t, id+"!") {
			delete(c.Tokens, t)
		}
	}
	c.dropACLs(func(a ACL) bool { return a.AuthID == id || strings.HasPrefix(a.AuthID, id+"!") })
	return nil
}

// AddToken adds API token name of userID and returns its id. The user must
// exist (root@pam always does); the token must be new.
func (c *Config) AddToken(userID, name string, t Token) (string, error) {
	id := TokenID(userID, name)
	if _, ok := c.Users[userID]; !ok && userID != "root@pam" {
		return "", fmt.Errorf("user '%s' does not exist", userID)
	}
	if _, ok := c.Tokens[id]; ok {
		return "", fmt.Errorf("token '%s' already exists", id)
	}
	c.Tokens[id] = t
	return id, nil
}

// RemoveToken removes an API token and its ACL entries.
func (c *Config) RemoveToken(id string) error {
	if _, ok := c.Tokens[id]; !ok {
		return fmt.Errorf("token '%s' does not exist", id)
	}
	delete(c.Tokens, id)
	c.dropACLs(func(a ACL) bool { return a.AuthID == id })
	return nil
}

// SetACL grants a.Role on a.Path to a.AuthID, replacing the same entry, or
// with remove revokes it. The path must have passed CheckACLPath, the role
// CheckRole and the auth id ParseAuthID; the user or token must exist
// (root@pam always does).
func (c *Config) SetACL(a ACL, remove bool) error {
	user, tok, _ := strings.Cut(a.AuthID, "!")
	if tok == "" {
		if _, ok := c.Users[user]; !ok && user != "root@pam" {
			return fmt.Errorf("user '%s' does not exist", user)
		}
	} else if _, ok := c.Tokens[a.AuthID]; !ok {
		return fmt.Errorf("token '%s' does not exist", a.AuthID)
	}
	c.dropACLs(func(e ACL) bool { return e.Path == a.Path && e.AuthID == a.AuthID && e.Role == a.Role })
	if !remove {
		c.ACLs = append(c.ACLs, a)
	}
	return nil
}

// dropACLs removes the entries drop matches, keeping the others' order.
// An empty result is nil, as the entries were never set.
func (c *Config) dropACLs(drop func(ACL) bool) {
	var acls []ACL
	for _, a := range c.ACLs {
		if !drop(a) {
			acls = append(acls, a)
		}
	}
	c.ACLs = acls
}
