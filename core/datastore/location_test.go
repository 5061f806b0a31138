package datastore_test

import (
	"errors"
	"os"
	"path/filepath"
	"testing"

	"cairn/core"
	"cairn/core/datastore"
)

func TestOpenLocationDirectory(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "store")
	if _, err := datastore.Open(dir, "root@pam"); !errors.Is(err, core.ErrNotFound) {
		t.Fatalf("Open of a missing datastore: %v, want ErrNotFound", err)
	}
	ds, err := datastore.OpenOrCreate(dir, "root@pam")
	if err != nil {
		t.Fatal(err)
	}
	ds.Close()
	if !datastore.Exists(dir) {
		t.Fatal("OpenOrCreate made no datastore")
	}
	ds, err = datastore.Open(dir, "root@pam")
	if err != nil {
		t.Fatal(err)
	}
	if ds.Name() != dir {
		t.Errorf("Name = %q, want %q", ds.Name(), dir)
	}
	ds.Close()
	// A second OpenOrCreate opens what is there.
	ds, err = datastore.OpenOrCreate(dir, "root@pam")
	if err != nil {
		t.Fatal(err)
	}
	ds.Close()
}

func TestOpenOrCreateRefusesForeignDirectory(t *testing.T) {
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "photo.jpg"), []byte("x"), 0o644); err != nil {
		t.Fatal(err)
	}
	_, err := datastore.OpenOrCreate(dir, "root@pam")
	want := `"` + dir + `" is not a datastore (no .chunks directory) and not empty`
	if err == nil || err.Error() != want {
		t.Fatalf("err = %v, want %q", err, want)
	}
	if datastore.Exists(dir) {
		t.Error("a foreign directory was taken over")
	}
}

// TestOpenLocationS3 checks that an s3:// location goes to the S3 backend:
// a bad one fails with ParseS3Repository's own error, before any network.
func TestOpenLocationS3(t *testing.T) {
	for _, loc := range []string{"s3://user:pw@host/bucket", "s3+http:///bucket"} {
		_, perr := datastore.ParseS3Repository(loc)
		if perr == nil {
			t.Fatalf("%s: parses", loc)
		}
		for name, open := range map[string]func(string, string) (*datastore.Datastore, error){
			"Open": datastore.Open, "OpenOrCreate": datastore.OpenOrCreate,
		} {
			if _, err := open(loc, "root@pam"); err == nil || err.Error() != perr.Error() {
				t.Errorf("%s(%s) = %v, want %v", name, loc, err, perr)
			}
		}
	}
}

func TestIsLocation(t *testing.T) {
	for s, want := range map[string]bool{
		"/srv/store": true, "./s": true, "../s": true, ".": true,
		"s3://host/bucket": true, "s3+http://host:9000/b": true,
		"store1": false, "alice@pbs@host:store1": false, "": false, "s3:/x": false,
	} {
		if got := datastore.IsLocation(s); got != want {
			t.Errorf("IsLocation(%q) = %v, want %v", s, got, want)
		}
	}
}
