package datastore

import (
	"path/filepath"
	"strings"
	"testing"
)

func TestParseS3Repository(t *testing.T) {
	t.Setenv("AWS_ACCESS_KEY_ID", "AKID")
	t.Setenv("AWS_SECRET_ACCESS_KEY", "s3cr3tval")
	t.Setenv("AWS_REGION", "")
	t.Setenv("AWS_DEFAULT_REGION", "eu-1")
	t.Setenv("XDG_CACHE_HOME", "/xdg")
	c, err := ParseS3Repository("s3://s3.example.com/backups/site/a")
	if err != nil {
		t.Fatal(err)
	}
	if c.Endpoint != "s3.example.com" || c.Bucket != "backups" || c.Prefix != "site/a" || c.Insecure || !c.PathStyle ||
		c.AccessKey != "AKID" || c.SecretKey != "s3cr3tval" || c.Region != "eu-1" ||
		c.CacheDir != filepath.FromSlash("/xdg/cairn/s3/s3.example.com/backups/site/a") {
		t.Fatalf("%+v", c)
	}
	if c.String() != "s3://s3.example.com/backups/site/a" || strings.Contains(c.String(), "s3cr3tval") {
		t.Fatal(c.String())
	}
	c, err = ParseS3Repository("s3+http://127.0.0.1:9000/b?region=r&path-style=0&cache=/tmp/c&cache-bytes=100")
	if err != nil || !c.Insecure || c.Endpoint != "127.0.0.1:9000" || c.Prefix != "" || c.PathStyle || c.Region != "r" || c.CacheDir != "/tmp/c" || c.CacheBytes != 100 {
		t.Fatalf("%+v %v", c, err)
	}
	if c, err = ParseS3Repository("s3://127.0.0.1:9000/b?insecure=1"); err != nil || !c.Insecure {
		t.Fatalf("%+v %v", c, err)
	}
	for _, bad := range []string{"s3://", "s3://host", "s3://host/", "s3://u:p@host/b", "s3://host:99999/b", "s3://host/b?x=1", "/path", "s3://host/b/../c/.."} {
		if _, err := ParseS3Repository(bad); err == nil {
			t.Errorf("%q parsed", bad)
		} else if strings.Contains(err.Error(), "s3cr3tval") {
			t.Errorf("error shows the secret: %v", err)
		}
	}
}
