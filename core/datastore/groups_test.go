package datastore

import (
	"context"
	"strings"
	"testing"

	"cairn/core"
)

// A group whose only backup was aborted (a benchmark session's too) has no
// snapshot left and is not listed, as upstream's list_groups skips it.
func TestListGroupsSkipsEmptyGroups(t *testing.T) {
	d := newStore(t)
	w, err := d.StartBackup(context.Background(), core.BackupOptions{Snapshot: core.Snapshot{Group: core.Group{Type: core.TypeHost, ID: "benchmark"}, Time: 1700000000}})
	if err != nil {
		t.Fatal(err)
	}
	if err := w.Abort(); err != nil {
		t.Fatal(err)
	}
	groups, err := d.ListGroups("")
	if err != nil {
		t.Fatal(err)
	}
	if len(groups) != 0 {
		t.Fatalf("groups %+v, want none", groups)
	}
}

// A namespace whose only group has no snapshot left is still not empty:
// deleting it needs --delete-groups, and then works.
func TestDeleteNamespaceWithEmptyGroup(t *testing.T) {
	d := newStore(t)
	if err := d.CreateNamespace("a"); err != nil {
		t.Fatal(err)
	}
	w, err := d.StartBackup(context.Background(), core.BackupOptions{Namespace: "a", Snapshot: core.Snapshot{Group: core.Group{Type: core.TypeHost, ID: "x"}, Time: 1700000000}})
	if err != nil {
		t.Fatal(err)
	}
	w.Abort()
	if err := d.DeleteNamespace("a", false); err == nil || !strings.Contains(err.Error(), "groups") {
		t.Fatalf("delete without --delete-groups: %v", err)
	}
	if err := d.DeleteNamespace("a", true); err != nil {
		t.Fatalf("delete with --delete-groups: %v", err)
	}
	if list, _ := d.ListNamespaces("", -1); len(list) != 1 {
		t.Fatalf("namespaces left: %v", list)
	}
}
