package config

import "testing"

func TestCheckNewDatastore(t *testing.T) {
	c := &Config{Datastores: map[string]Datastore{
		"d1": {Path: "/srv/d1"},
		"s1": {Path: "/var/cache/s1", Backend: BackendS3, S3Endpoint: "e", Bucket: "b", Prefix: "p"},
	}}
	for _, tc := range []struct {
		name string
		d    Datastore
		err  string
	}{
		{"d2", Datastore{Path: "/srv/d2"}, ""},
		{"d1", Datastore{Path: "/srv/other"}, "datastore 'd1' already exists (at /srv/d1)"},
		{"d2", Datastore{Path: "/srv/d1"}, "path /srv/d1 is already used by datastore 'd1'"},
		{"s2", Datastore{Path: "/var/cache/s2", Backend: BackendS3, S3Endpoint: "e", Bucket: "b", Prefix: "p"},
			`bucket b (prefix "p") of S3 endpoint 'e' is already used by datastore 's1'`},
		{"s2", Datastore{Path: "/var/cache/s2", Backend: BackendS3, S3Endpoint: "e", Bucket: "b", Prefix: "q"}, ""},
		{"s2", Datastore{Path: "/var/cache/s1", Backend: BackendS3, S3Endpoint: "e", Bucket: "c"}, "path /var/cache/s1 is already used by datastore 's1'"},
	} {
		if got := errText(c.CheckNewDatastore(tc.name, tc.d)); got != tc.err {
			t.Errorf("%s %+v: %q, want %q", tc.name, tc.d, got, tc.err)
		}
	}
}
