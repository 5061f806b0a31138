package config

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestParseS3EndpointURL(t *testing.T) {
	for _, c := range []struct {
		in       string
		insecure bool
		want     string
		ok       bool
	}{
		{"https://s3.example.com", false, "s3.example.com", true},
		{"s3.example.com:9000", false, "s3.example.com:9000", true},
		{"http://127.0.0.1:9000/", true, "127.0.0.1:9000", true},
		{"127.0.0.1:9000", true, "127.0.0.1:9000", true},
		{"http://127.0.0.1:9000", false, "", false},
		{"https://h", true, "", false},
		{"https://user:pw@h", false, "", false},
		{"https://h/bucket", false, "", false},
		{"ftp://h", false, "", false},
		{"https://h:99999", false, "", false},
		{"", false, "", false},
	} {
		got, err := ParseS3EndpointURL(c.in, c.insecure)
		if (err == nil) != c.ok || got != c.want {
			t.Errorf("%q insecure=%v: %q %v", c.in, c.insecure, got, err)
		}
		if err != nil && strings.Contains(err.Error(), "pw") {
			t.Errorf("error shows the password: %v", err)
		}
	}
}

func TestS3ConfigFiles(t *testing.T) {
	dir := t.TempDir()
	// A directory-only setup writes no S3 files.
	if err := Update(dir, func(c *Config) error { c.Datastores["d"] = Datastore{Path: "/x"}; return nil }); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(dir, S3SecretFile)); err == nil {
		t.Fatal("secret file written without endpoints")
	}
	err := Update(dir, func(c *Config) error {
		c.S3Endpoints["e"] = S3Endpoint{Endpoint: "h:1", PathStyle: true}
		c.S3Secrets["e"] = S3Secret{AccessKey: "AK", SecretKey: "very-secret"}
		c.Datastores["s"] = Datastore{Path: "/cache", Backend: BackendS3, S3Endpoint: "e", Bucket: "bkt", Prefix: "p"}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	pub, _ := os.ReadFile(filepath.Join(dir, S3File))
	if strings.Contains(string(pub), "very-secret") || strings.Contains(string(pub), "AK") {
		t.Fatalf("%s holds credentials: %s", S3File, pub)
	}
	st, err := os.Stat(filepath.Join(dir, S3SecretFile))
	if err != nil || st.Mode().Perm() != 0o600 {
		t.Fatalf("secret file %v %v", st, err)
	}
	c, err := Load(dir)
	if err != nil {
		t.Fatal(err)
	}
	s3, err := c.S3Config(c.Datastores["s"])
	if err != nil || s3.Endpoint != "h:1" || s3.SecretKey != "very-secret" || s3.AccessKey != "AK" || s3.Bucket != "bkt" ||
		s3.Prefix != "p" || s3.CacheDir != "/cache" || !s3.PathStyle || s3.Insecure {
		t.Fatalf("S3Config %v %v", s3, err)
	}
	if _, err := c.S3Config(Datastore{Backend: BackendS3, S3Endpoint: "nope"}); err == nil {
		t.Fatal("unknown endpoint accepted")
	}
	if s := fmt.Sprintf("%v %+v %#v", c.S3Secrets, c, c.S3Secrets["e"]); strings.Contains(s, "very-secret") {
		t.Fatalf("formatted config shows the secret: %s", s)
	}
	if !ValidBucketName("cairn-1.b") || ValidBucketName("Bad") || ValidBucketName("ab") || ValidBucketName("-ab") {
		t.Fatal("bucket name check")
	}
}
