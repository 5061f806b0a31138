package cli

import "testing"

func TestRepoTarget(t *testing.T) {
	for _, tc := range []struct {
		flag, env string
		local     string // "" for a server
		server    string // spec.String() for a server
		err       bool
	}{
		{flag: "/srv/store", local: "/srv/store"},
		{flag: "./store", env: "/ignored", local: "./store"},
		{env: "../store", local: "../store"},
		{flag: "s3://minio:9000/bucket/prefix", local: "s3://minio:9000/bucket/prefix"},
		{env: "s3+http://127.0.0.1:9000/b", local: "s3+http://127.0.0.1:9000/b"},
		{flag: "store1", server: "root@pam@localhost:8007:store1"},
		{env: "alice@pbs@backup.example:8008:s", server: "alice@pbs@backup.example:8008:s"},
		{err: true},
		{flag: "not a repository!", err: true},
	} {
		t.Setenv("PBS_REPOSITORY", tc.env)
		rf := repoFlags{repository: tc.flag}
		got, err := rf.target()
		if tc.err {
			if err == nil {
				t.Errorf("%q/%q: no error", tc.flag, tc.env)
			}
			continue
		}
		if err != nil {
			t.Errorf("%q/%q: %v", tc.flag, tc.env, err)
			continue
		}
		if got.local != tc.local {
			t.Errorf("%q/%q: local %q, want %q", tc.flag, tc.env, got.local, tc.local)
		}
		if tc.local == "" && got.spec.String() != tc.server {
			t.Errorf("%q/%q: server %q, want %q", tc.flag, tc.env, got.spec.String(), tc.server)
		}
	}
}
