package config

import (
	"reflect"
	"testing"
)

func newTestConfig() *Config {
	return &Config{Users: map[string]User{}, Tokens: map[string]Token{}}
}

func TestCheckNewUserID(t *testing.T) {
	for _, tc := range []struct {
		id, realm, err string
	}{
		{"alice@pbs", "pbs", ""},
		{"bob@pam", "pam", ""},
		{"alice", "", `invalid user id "alice" (expected NAME@REALM, e.g. alice@pbs)`},
		{"alice@pbs!tok", "", `invalid user id "alice@pbs!tok" (expected NAME@REALM, e.g. alice@pbs)`},
		{"al ice@pbs", "", `invalid user id "al ice@pbs" (expected NAME@REALM, e.g. alice@pbs)`},
		{"alice@p", "", `invalid user id "alice@p" (expected NAME@REALM, e.g. alice@pbs)`},
	} {
		realm, err := CheckNewUserID(tc.id)
		if got := errText(err); got != tc.err || realm != tc.realm {
			t.Errorf("CheckNewUserID(%q) = %q, %q; want %q, %q", tc.id, realm, got, tc.realm, tc.err)
		}
	}
}

func TestCheckPasswordTokenRole(t *testing.T) {
	if err := CheckPassword("a@pbs", "1234"); errText(err) != "password for a@pbs is too short (at least 5 characters)" {
		t.Errorf("short password: %v", err)
	}
	if err := CheckPassword("a@pbs", "12345"); err != nil {
		t.Errorf("5 characters: %v", err)
	}
	for name, ok := range map[string]bool{"client1": true, "a.b-c_d": true, "": false, "-x": false, "a b": false, "a!b": false} {
		if err := CheckTokenName(name); (err == nil) != ok {
			t.Errorf("CheckTokenName(%q) = %v", name, err)
		} else if err != nil && err.Error() != `invalid token name "`+name+`"` {
			t.Errorf("CheckTokenName(%q) = %v", name, err)
		}
	}
	if err := CheckRole("DatastoreBackup"); err != nil {
		t.Error(err)
	}
	want := `unknown role "Boss" (one of Admin, Audit, DatastoreAdmin, DatastoreAudit, DatastoreBackup, DatastorePowerUser, DatastoreReader, NoAccess)`
	if err := CheckRole("Boss"); errText(err) != want {
		t.Errorf("CheckRole = %v, want %s", err, want)
	}
}

func TestUsersAndTokens(t *testing.T) {
	c := newTestConfig()
	if err := c.AddUser("a@pbs", User{Enable: true}); err != nil {
		t.Fatal(err)
	}
	if err := c.AddUser("a@pbs", User{}); errText(err) != "user 'a@pbs' already exists" {
		t.Errorf("second AddUser: %v", err)
	}
	if err := c.UpdateUser("a@pbs", func(u *User) { u.Comment = "hi" }); err != nil || c.Users["a@pbs"].Comment != "hi" || !c.Users["a@pbs"].Enable {
		t.Errorf("UpdateUser: %v %+v", err, c.Users["a@pbs"])
	}
	if err := c.UpdateUser("b@pbs", func(*User) {}); errText(err) != "user 'b@pbs' does not exist" {
		t.Errorf("UpdateUser of nobody: %v", err)
	}
	id, err := c.AddToken("a@pbs", "t1", Token{Enable: true})
	if err != nil || id != "a@pbs!t1" {
		t.Fatalf("AddToken = %q, %v", id, err)
	}
	if _, err := c.AddToken("a@pbs", "t1", Token{}); errText(err) != "token 'a@pbs!t1' already exists" {
		t.Errorf("second AddToken: %v", err)
	}
	if _, err := c.AddToken("b@pbs", "t1", Token{}); errText(err) != "user 'b@pbs' does not exist" {
		t.Errorf("AddToken of nobody: %v", err)
	}
	if _, err := c.AddToken("root@pam", "t", Token{}); err != nil {
		t.Errorf("root@pam token: %v", err)
	}
	for _, a := range []ACL{
		{Path: "/datastore/s1", Role: "DatastoreBackup", AuthID: "a@pbs", Propagate: true},
		{Path: "/datastore/s1", Role: "DatastoreReader", AuthID: "a@pbs!t1", Propagate: true},
		{Path: "/", Role: "Admin", AuthID: "root@pam!t", Propagate: true},
	} {
		if err := c.SetACL(a, false); err != nil {
			t.Fatal(err)
		}
	}
	// Granting again replaces the entry (here: propagate off), at the end.
	if err := c.SetACL(ACL{Path: "/datastore/s1", Role: "DatastoreBackup", AuthID: "a@pbs"}, false); err != nil {
		t.Fatal(err)
	}
	if len(c.ACLs) != 3 || c.ACLs[2].Propagate || c.ACLs[2].AuthID != "a@pbs" {
		t.Errorf("re-grant: %+v", c.ACLs)
	}
	if err := c.SetACL(ACL{Path: "/", Role: "Admin", AuthID: "b@pbs"}, false); errText(err) != "user 'b@pbs' does not exist" {
		t.Errorf("ACL for nobody: %v", err)
	}
	if err := c.SetACL(ACL{Path: "/", Role: "Admin", AuthID: "a@pbs!t9"}, false); errText(err) != "token 'a@pbs!t9' does not exist" {
		t.Errorf("ACL for no token: %v", err)
	}
	if err := c.RemoveToken("a@pbs!t1"); err != nil {
		t.Fatal(err)
	}
	if err := c.RemoveToken("a@pbs!t1"); errText(err) != "token 'a@pbs!t1' does not exist" {
		t.Errorf("second RemoveToken: %v", err)
	}
	if err := c.SetACL(ACL{Path: "/", Role: "Admin", AuthID: "root@pam!t"}, true); err != nil {
		t.Fatal(err)
	}
	if want := []ACL{{Path: "/datastore/s1", Role: "DatastoreBackup", AuthID: "a@pbs"}}; !reflect.DeepEqual(c.ACLs, want) {
		t.Errorf("ACLs = %+v, want %+v", c.ACLs, want)
	}
	if _, err := c.AddToken("a@pbs", "t2", Token{}); err != nil {
		t.Fatal(err)
	}
	if err := c.RemoveUser("a@pbs"); err != nil {
		t.Fatal(err)
	}
	if _, ok := c.Tokens["a@pbs!t2"]; ok || c.ACLs != nil || len(c.Users) != 0 {
		t.Errorf("RemoveUser left %+v %+v %+v", c.Users, c.Tokens, c.ACLs)
	}
	if err := c.RemoveUser("a@pbs"); errText(err) != "user 'a@pbs' does not exist" {
		t.Errorf("second RemoveUser: %v", err)
	}
}

func errText(err error) string {
	if err == nil {
		return ""
	}
	return err.Error()
}
