package core

import "testing"

func TestParseRepository(t *testing.T) {
	good := map[string]RepoSpec{
		"store1":                           {AuthID: "root@pam", Host: "localhost", Port: 8007, Store: "store1"},
		"backup-server:store1":             {AuthID: "root@pam", Host: "backup-server", Port: 8007, Store: "store1"},
		"root@pam@host:store":              {AuthID: "root@pam", Host: "host", Port: 8007, Store: "store"},
		"user@pbs!tok@10.0.0.1:8007:store": {AuthID: "user@pbs!tok", Host: "10.0.0.1", Port: 8007, Store: "store"},
		"[fe80::01]:store":                 {AuthID: "root@pam", Host: "[fe80::01]", Port: 8007, Store: "store"},
		"alice@pbs@127.0.0.1:20001:store1": {AuthID: "alice@pbs", Host: "127.0.0.1", Port: 20001, Store: "store1"},
		"/srv/store":                       {Local: "/srv/store"},
		"./relative":                       {Local: "./relative"},
	}
	for in, want := range good {
		got, err := ParseRepository(in)
		if err != nil || got != want {
			t.Errorf("ParseRepository(%q) = %+v, %v; want %+v", in, got, err, want)
		}
	}
	for _, bad := range []string{"a@b@c@d:::", "", "host:", "host:99999:store", ":store", "host:store/x"} {
		if _, err := ParseRepository(bad); err == nil {
			t.Errorf("ParseRepository(%q) accepted a bad value", bad)
		}
	}
}

func TestParseSnapshot(t *testing.T) {
	s, err := ParseSnapshot("host/elsa/2019-12-03T09:35:01Z")
	if err != nil || s.String() != "host/elsa/2019-12-03T09:35:01Z" || s.Time != 1575365701 {
		t.Fatalf("got %v %v", s, err)
	}
	for _, bad := range []string{"host/elsa", "foo/elsa/2019-12-03T09:35:01Z", "host/../2019-12-03T09:35:01Z", "host/elsa/2019-12-03 09:35:01", "host/e/l/2019-12-03T09:35:01Z"} {
		if _, err := ParseSnapshot(bad); err == nil {
			t.Errorf("ParseSnapshot(%q) accepted", bad)
		}
	}
	for _, bad := range []string{"a//b", "../x", "a/b/c/d/e/f/g/h", "a b"} {
		if _, err := ParseNamespace(bad); err == nil {
			t.Errorf("ParseNamespace(%q) accepted", bad)
		}
	}
}
