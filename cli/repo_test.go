package cli

import (
	"errors"
	"os"
	"path/filepath"
	"testing"
)

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

func TestRepoIsServerAndLocalExists(t *testing.T) {
	store := t.TempDir()
	if err := os.Mkdir(filepath.Join(store, ".chunks"), 0o755); err != nil {
		t.Fatal(err)
	}
	missing := filepath.Join(t.TempDir(), "none")
	t.Setenv("PBS_REPOSITORY", "")
	for _, tc := range []struct {
		value          string
		server, exists bool
	}{
		{store, false, true},
		{missing, false, false},
		{"s3://minio:9000/b", false, true},
		{"store1", true, true},
		{"", true, true},
		{"not a repository!", true, true},
	} {
		rf := repoFlags{repository: tc.value}
		if got := rf.isServer(); got != tc.server {
			t.Errorf("%q: isServer = %v", tc.value, got)
		}
		if got := rf.localExists(); got != tc.exists {
			t.Errorf("%q: localExists = %v", tc.value, got)
		}
	}
}

func TestGroupAndSnapshotArgsRefuseBadArguments(t *testing.T) {
	rf := repoFlags{repository: filepath.Join(t.TempDir(), "none"), ns: "a/b"}
	var ue usageError
	if _, _, _, err := groupArgs(&rf, "nogroup"); !errors.As(err, &ue) {
		t.Errorf("groupArgs: %v, want a usage error", err)
	}
	if _, _, _, err := snapshotArgs(&rf, "host/x"); !errors.As(err, &ue) {
		t.Errorf("snapshotArgs: %v, want a usage error", err)
	}
	if _, _, err := refArgs(&rf, "host"); !errors.As(err, &ue) {
		t.Errorf("refArgs: %v, want a usage error", err)
	}
	if _, _, err := refArgs(&rf, "host/x"); err == nil || errors.As(err, &ue) {
		t.Errorf("refArgs of a missing datastore: %v, want the open error", err)
	}
	rf.ns = "bad ns!"
	if _, _, _, err := groupArgs(&rf, "host/x"); !errors.As(err, &ue) {
		t.Errorf("groupArgs with a bad namespace: %v, want a usage error", err)
	}
}
