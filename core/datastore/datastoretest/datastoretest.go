// Package datastoretest opens datastores for tests, closed when the test
// ends: an in-memory one for tests of what the engine does, a directory one
// for tests of what a datastore directory holds.
package datastoretest

import (
	"path/filepath"
	"testing"

	"cairn/core/datastore"
	"cairn/internal/testutil"
)

// Owner is the auth id the datastores record for new groups.
const Owner = "root@pam"

// Memory is an empty in-memory datastore (datastore.NewMemory).
func Memory(tb testing.TB) *datastore.Datastore {
	tb.Helper()
	ds, err := datastore.NewMemory(Owner)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { ds.Close() })
	return ds
}

// Dir is a new datastore directory (on tmpfs when there is one, see
// testutil.TempDir); Root() is its path.
func Dir(tb testing.TB) *datastore.Datastore {
	tb.Helper()
	dir := filepath.Join(testutil.TempDir(tb), "store")
	if err := datastore.Create(dir); err != nil {
		tb.Fatal(err)
	}
	ds, err := datastore.Open(dir, Owner)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { ds.Close() })
	return ds
}
