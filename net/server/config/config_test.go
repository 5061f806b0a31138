package config

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestACLEvaluation(t *testing.T) {
	c := &Config{ACLs: []ACL{
		{Path: "/datastore", Role: "DatastoreAudit", AuthID: "a@pbs", Propagate: true},
		{Path: "/datastore/s1", Role: "DatastoreBackup", AuthID: "a@pbs", Propagate: true},
		{Path: "/datastore/s2", Role: "DatastoreAdmin", AuthID: "a@pbs", Propagate: false},
		{Path: "/datastore/s1", Role: "DatastoreAdmin", AuthID: "a@pbs!tok", Propagate: true},
	}}
	if p := c.Privileges("a@pbs", "/datastore/s1/ns1"); !p.Has(PrivDatastoreBackup) || p.Has(PrivDatastoreAudit) {
		t.Errorf("more specific entry must replace inherited ones: %v", p)
	}
	if p := c.Privileges("a@pbs", "/datastore/s3"); !p.Has(PrivDatastoreAudit) || p.Has(PrivDatastoreBackup) {
		t.Errorf("propagated: %v", p)
	}
	if p := c.Privileges("a@pbs", "/datastore/s2"); !p.Has(PrivDatastoreModify) {
		t.Errorf("exact path: %v", p)
	}
	if p := c.Privileges("a@pbs", "/datastore/s2/x"); p.Has(PrivDatastoreModify) {
		t.Errorf("non-propagating entry leaked below: %v", p)
	}
	// A token gets the intersection with its user.
	if p := c.Privileges("a@pbs!tok", "/datastore/s1"); !p.Has(PrivDatastoreBackup) || p.Has(PrivDatastoreModify) {
		t.Errorf("token: %v", p)
	}
	if p := c.Privileges("root@pam", "/anything"); !p.Has(PrivDatastoreModify, PrivSysModify) {
		t.Errorf("root: %v", p)
	}
	if p := c.Privileges("nobody@pbs", "/datastore/s1"); len(p) != 0 {
		t.Errorf("nobody: %v", p)
	}
}

func TestUpdateAndSecrets(t *testing.T) {
	dir := t.TempDir()
	err := Update(dir, func(c *Config) error {
		h, err := HashSecret("s3cret-pw")
		c.Users["u@pbs"] = User{Hash: h, Enable: true}
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	b, _ := os.ReadFile(filepath.Join(dir, UserFile))
	if strings.Contains(string(b), "s3cret-pw") {
		t.Fatal("password stored in clear")
	}
	c, err := Load(dir)
	if err != nil {
		t.Fatal(err)
	}
	if !CheckSecret(c.Users["u@pbs"].Hash, "s3cret-pw") || CheckSecret(c.Users["u@pbs"].Hash, "wrong") {
		t.Fatal("CheckSecret")
	}
	if s := NewTokenSecret(); len(s) != 36 || strings.Count(s, "-") != 4 {
		t.Fatalf("token secret %q", s)
	}
	if _, _, err := ParseUserID("a@b@pbs"); err != nil {
		t.Fatal(err)
	}
	for _, bad := range []string{"nouser", "@pbs", "a b@pbs", "a/b@pbs", "a@p"} {
		if _, _, err := ParseUserID(bad); err == nil {
			t.Errorf("%q accepted", bad)
		}
	}
	if _, err := CheckACLPath("/datastore/../x"); err == nil {
		t.Error("ACL path with .. accepted")
	}
}

func TestKeysAndCert(t *testing.T) {
	dir := t.TempDir()
	k1, err := AuthKey(dir)
	if err != nil {
		t.Fatal(err)
	}
	k2, _ := AuthKey(dir)
	if !k1.Equal(k2) {
		t.Fatal("auth key not persistent")
	}
	c1, err := Certificate(dir)
	if err != nil {
		t.Fatal(err)
	}
	c2, _ := Certificate(dir)
	fp := Fingerprint(c1.Certificate[0])
	if fp != Fingerprint(c2.Certificate[0]) || len(fp) != 95 || strings.Count(fp, ":") != 31 {
		t.Fatalf("fingerprint %q", fp)
	}
}
