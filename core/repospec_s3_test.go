package core

import "testing"

func TestIsS3Repository(t *testing.T) {
	for s, want := range map[string]bool{"s3://h/b": true, "s3+http://127.0.0.1:9000/b/p": true, "/srv/store": false, "host:store": false, "store": false} {
		if IsS3Repository(s) != want {
			t.Errorf("IsS3Repository(%q) != %v", s, want)
		}
	}
}
