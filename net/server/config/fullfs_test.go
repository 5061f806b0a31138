package config

import (
	"errors"
	"syscall"
	"testing"

	"cairn/internal/atomicfile/atomicfiletest"
)

// TestUpdateFullFileSystem: a config update on a full file system fails and
// leaves every config file as it was.
func TestUpdateFullFileSystem(t *testing.T) {
	m := atomicfiletest.Mount(t, 64<<10)
	if err := Update(m.Dir, func(c *Config) error {
		c.Datastores["store1"] = Datastore{Path: "/srv/store1"}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	m.Fill()
	err := Update(m.Dir, func(c *Config) error {
		c.Datastores["store2"] = Datastore{Path: "/srv/store2"}
		return nil
	})
	if !errors.Is(err, syscall.ENOSPC) {
		t.Errorf("Update on a full file system: %v, want ENOSPC", err)
	}
	m.Unchanged()
}
