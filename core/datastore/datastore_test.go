package datastore

import (
	"cairn/internal/testutil"
	"context"
	"errors"
	"os"
	"path/filepath"
	"testing"

	"cairn/core"
	"cairn/core/blob"
	"cairn/core/manifest"
)

func newStore(t *testing.T) *Datastore {
	t.Helper()
	dir := filepath.Join(testutil.TempDir(t), "store")
	if err := Create(dir); err != nil {
		t.Fatal(err)
	}
	ds, err := Open(dir, "root@pam")
	if err != nil {
		t.Fatal(err)
	}
	return ds
}

func TestCreateLayout(t *testing.T) {
	ds := newStore(t)
	// A path repository: prefix directories are made on demand.
	if _, err := os.Stat(filepath.Join(ds.Root(), ".lock")); err != nil {
		t.Errorf("missing .lock: %v", err)
	}
	if ents, err := os.ReadDir(filepath.Join(ds.Root(), ".chunks")); err != nil || len(ents) != 0 {
		t.Errorf("new .chunks: %d entries, %v", len(ents), err)
	}
	// Upstream's full layout, for a server datastore.
	if err := CreateFull(ds.Root()); err != nil {
		t.Fatal(err)
	}
	for _, p := range []string{".chunks/0000", ".chunks/ffff", ".chunks/a342", ".lock"} {
		if _, err := os.Stat(filepath.Join(ds.Root(), p)); err != nil {
			t.Errorf("missing %s: %v", p, err)
		}
	}
	ents, _ := os.ReadDir(filepath.Join(ds.Root(), ".chunks"))
	if len(ents) != 65536 {
		t.Errorf("%d prefix directories, want 65536", len(ents))
	}
	if _, err := Open(filepath.Join(t.TempDir(), "nope"), "x"); !errors.Is(err, core.ErrNotFound) {
		t.Errorf("open of a missing datastore: %v", err)
	}
}

// finishSnapshot writes a minimal finished snapshot.
func finishSnapshot(t *testing.T, ds *Datastore, ns core.Namespace, id string, when int64) core.Snapshot {
	t.Helper()
	s := core.Snapshot{Group: core.Group{Type: core.TypeHost, ID: id}, Time: when}
	w, err := ds.StartBackup(context.Background(), core.BackupOptions{Namespace: ns, Snapshot: s})
	if err != nil {
		t.Fatal(err)
	}
	conf, _ := blob.Encode([]byte("x=1\n"), true, nil)
	if err := w.WriteFile("a.conf.blob", conf); err != nil {
		t.Fatal(err)
	}
	m := &manifest.Manifest{BackupType: "host", BackupID: id, BackupTime: when, Unprotected: map[string]any{},
		Files: []manifest.File{{Filename: "a.conf.blob", CryptMode: "none", Size: uint64(len(conf)), Csum: "00000000000000000000000000000000000000000000000000000000000000ff"}}}
	data, err := m.Encode()
	if err != nil {
		t.Fatal(err)
	}
	mb, _ := blob.Encode(data, true, nil)
	if err := w.Finish(mb); err != nil {
		t.Fatal(err)
	}
	return s
}

func TestNamespaces(t *testing.T) {
	ds := newStore(t)
	if err := ds.CreateNamespace("a/b"); err == nil {
		t.Fatal("created a namespace without its parent")
	}
	for _, ns := range []core.Namespace{"a", "a/b", "a/b/c", "z"} {
		if err := ds.CreateNamespace(ns); err != nil {
			t.Fatal(err)
		}
	}
	if err := ds.CreateNamespace("a"); !errors.Is(err, core.ErrExists) {
		t.Fatalf("duplicate namespace: %v", err)
	}
	if _, err := os.Stat(filepath.Join(ds.Root(), "ns/a/ns/b/ns/c")); err != nil {
		t.Fatal("namespace a/b/c is not at ns/a/ns/b/ns/c")
	}
	list, _ := ds.ListNamespaces("", -1)
	if len(list) != 5 || list[3] != "a/b/c" {
		t.Fatalf("list: %v", list)
	}
	list, _ = ds.ListNamespaces("a", 1)
	if len(list) != 2 || list[1] != "a/b" {
		t.Fatalf("list a depth 1: %v", list)
	}
	finishSnapshot(t, ds, "a/b/c", "box", 1000)
	if l, _ := ds.ListSnapshots("", nil); len(l) != 0 {
		t.Fatal("root namespace shows a snapshot of a/b/c")
	}
	if l, _ := ds.ListSnapshots("a/b/c", nil); len(l) != 1 || !l[0].Finished || l[0].Owner != "root@pam" {
		t.Fatalf("a/b/c: %+v", l)
	}
	if err := ds.DeleteNamespace("a", false); err == nil {
		t.Fatal("deleted a namespace with groups without --delete-groups")
	}
	if err := ds.DeleteNamespace("a", true); err != nil {
		t.Fatal(err)
	}
	if list, _ := ds.ListNamespaces("", -1); len(list) != 2 {
		t.Fatalf("after delete: %v", list)
	}
	if _, err := ds.ListSnapshots("nope", nil); !errors.Is(err, core.ErrNotFound) {
		t.Fatalf("missing namespace: %v", err)
	}
}

func TestSnapshotsAndForget(t *testing.T) {
	ds := newStore(t)
	s1 := finishSnapshot(t, ds, "", "elsa", 1000)
	s2 := finishSnapshot(t, ds, "", "elsa", 2000)
	// Not newer than the last one: refused.
	if _, err := ds.StartBackup(context.Background(), core.BackupOptions{Snapshot: s1}); err == nil {
		t.Fatal("backup older than the last snapshot accepted")
	}
	groups, _ := ds.ListGroups("")
	if len(groups) != 1 || groups[0].BackupCount != 2 || groups[0].LastBackup != 2000 {
		t.Fatalf("groups: %+v", groups)
	}
	os.WriteFile(filepath.Join(ds.Root(), "host/elsa", s1.TimeString(), ProtectedName), nil, 0o644)
	if err := ds.ForgetSnapshot("", s1); !errors.Is(err, core.ErrProtected) {
		t.Fatalf("forget of a protected snapshot: %v", err)
	}
	if err := ds.ForgetSnapshot("", s2); err != nil {
		t.Fatal(err)
	}
	if err := ds.ForgetSnapshot("", s2); !errors.Is(err, core.ErrNotFound) {
		t.Fatalf("second forget: %v", err)
	}
	l, _ := ds.ListSnapshots("", nil)
	if len(l) != 1 || !l[0].Protected {
		t.Fatalf("after forget: %+v", l)
	}
}

func TestUnfinishedSnapshotIsNotReadable(t *testing.T) {
	ds := newStore(t)
	s := core.Snapshot{Group: core.Group{Type: core.TypeHost, ID: "x"}, Time: 5}
	w, err := ds.StartBackup(context.Background(), core.BackupOptions{Snapshot: s})
	if err != nil {
		t.Fatal(err)
	}
	w.WriteFile("root.pxar.didx", []byte("partial"))
	l, _ := ds.ListSnapshots("", nil)
	if len(l) != 1 || l[0].Finished {
		t.Fatalf("unfinished snapshot listed as %+v", l)
	}
	if _, err := ds.OpenSnapshot(context.Background(), "", s); err == nil {
		t.Fatal("opened an unfinished snapshot")
	}
	w.Abort()
	if l, _ := ds.ListSnapshots("", nil); len(l) != 0 {
		t.Fatal("aborted snapshot still listed")
	}
}

func TestChunkInsertIsAtomicAndDeduplicated(t *testing.T) {
	ds := newStore(t)
	var d [32]byte
	d[0], d[1] = 0xa3, 0x42
	existed, err := ds.Backend().InsertChunk(d, []byte("blob-bytes"))
	if err != nil || existed {
		t.Fatal(existed, err)
	}
	if existed, _ := ds.Backend().InsertChunk(d, []byte("other")); !existed {
		t.Fatal("second insert rewrote the chunk")
	}
	got, _ := ds.Backend().ReadChunk(d)
	if string(got) != "blob-bytes" {
		t.Fatalf("chunk content %q", got)
	}
	ents, _ := os.ReadDir(filepath.Join(ds.Root(), ".chunks/a342"))
	if len(ents) != 1 {
		t.Fatalf("temp files left: %v", ents)
	}
}
