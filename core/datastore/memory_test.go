package datastore_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"cairn/core"
	"cairn/core/datastore"
	"cairn/core/datastore/datastoretest"
	"cairn/internal/testutil"
)

// The memory datastore does what S3's round trip asks of a backend:
// backup, restore, protect, prune, GC by the datastore clock, verify.
func TestMemoryBackupRestorePruneGC(t *testing.T) {
	ds := datastoretest.Memory(t)
	clk := &clock{}
	ds.SetClock(clk.now)
	src := filepath.Join(t.TempDir(), "src")
	makeTree(t, src)
	threeBackups(t, ds, src)
	restoreAndCompare(t, ds, "host/elsa", src)
	pruneGCRoundTrip(t, ds, clk, src, nil)
	state := ds.Root()
	ds.Close()
	if _, err := os.Stat(state); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("Close left the state directory: %v", err)
	}
}

// The memory and directory backends answer the same datastore calls the
// same way: namespaces, groups, snapshots, notes, protection, locks and
// the errors of each.
func TestMemoryBehavesAsDirectory(t *testing.T) {
	src := filepath.Join(t.TempDir(), "src")
	testutil.WriteTree(t, src, testutil.Files(map[string]string{"a": "alpha\n", "d/b": "beta\n"}), testutil.SampleMTime)

	script := func(ds *datastore.Datastore) string {
		var b strings.Builder
		say := func(what string, err error) { fmt.Fprintf(&b, "%s: %v\n", what, err) }
		say("ns a", ds.CreateNamespace("a"))
		say("ns a/b", ds.CreateNamespace("a/b"))
		say("ns a again", ds.CreateNamespace("a"))
		say("ns x/y", ds.CreateNamespace("x/y"))
		nss, err := ds.ListNamespaces("", -1)
		say(fmt.Sprintf("namespaces %v", nss), err)
		for i, id := range []string{"elsa", "elsa", "anna"} {
			say("backup "+id, runBackup(t, ds, id, 1700000000+int64(i)*100, src))
		}
		groups, err := ds.ListGroups("")
		for _, g := range groups {
			fmt.Fprintf(&b, "group %s %d %s %d %v\n", g.Group, g.BackupCount, g.Owner, g.LastBackup, g.Files)
		}
		say("groups", err)
		snaps, err := ds.ListSnapshots("", nil)
		for _, s := range snaps {
			fmt.Fprintf(&b, "snapshot %s finished=%v files=%d\n", s.Snapshot, s.Finished, len(s.Files))
		}
		say("snapshots", err)
		if len(snaps) > 0 {
			s := snaps[0].Snapshot
			say("set notes", ds.SetNotes("", s, "hello"))
			n, err := ds.Notes("", s)
			say("notes "+n, err)
			say("protect", ds.SetProtected("", s, true))
			say("forget protected", ds.ForgetSnapshot("", s))
			say("unprotect", ds.SetProtected("", s, false))
			say("forget", ds.ForgetSnapshot("", s))
			say("forget again", ds.ForgetSnapshot("", s))
		}
		// A second backup into a group being written is refused.
		w, err := ds.StartBackup(context.Background(), core.BackupOptions{Snapshot: core.Snapshot{Group: core.Group{Type: core.TypeHost, ID: "busy"}, Time: 1700001000}})
		say("start", err)
		_, err = ds.StartBackup(context.Background(), core.BackupOptions{Snapshot: core.Snapshot{Group: core.Group{Type: core.TypeHost, ID: "busy"}, Time: 1700002000}})
		say(fmt.Sprintf("start while busy locked=%v", errors.Is(err, core.ErrLocked)), nil)
		if w != nil {
			say("abort", w.Abort())
		}
		say("delete ns a", ds.DeleteNamespace("a", false))
		say("delete ns nope", ds.DeleteNamespace("nope", false))
		nss, err = ds.ListNamespaces("", -1)
		say(fmt.Sprintf("namespaces %v", nss), err)
		return b.String()
	}
	dir := filepath.Join(testutil.TempDir(t), "store")
	if err := datastore.Create(dir); err != nil {
		t.Fatal(err)
	}
	onDisk, err := datastore.Open(dir, "root@pam")
	if err != nil {
		t.Fatal(err)
	}
	defer onDisk.Close()
	want := script(onDisk)
	// Errors name paths: the directory's and the memory store's differ.
	want = strings.ReplaceAll(want, dir, "STORE")
	got := strings.ReplaceAll(script(datastoretest.Memory(t)), "memory:", "STORE")
	if got != want {
		t.Errorf("memory datastore:\n%s\ndirectory datastore:\n%s", got, want)
	}
}
