package datastore_test

import (
	"bytes"
	"context"
	"errors"
	"path/filepath"
	"testing"

	"cairn/core"
	"cairn/core/blob"
	"cairn/core/datastore"
	"cairn/core/manifest"
	"cairn/internal/testutil"
)

// finished writes a snapshot with one blob and its manifest; with finish
// false it leaves the backup running (the returned writer aborts it).
func finished(t *testing.T, ds *datastore.Datastore, ns core.Namespace, id string, when int64, finish bool) (core.Snapshot, core.BackupWriter) {
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
	if !finish {
		return s, w
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
	return s, nil
}

func testAddClientLog(t *testing.T, ds *datastore.Datastore) {
	if err := ds.CreateNamespace("a"); err != nil {
		t.Fatal(err)
	}
	for _, ns := range []core.Namespace{"", "a"} {
		s, _ := finished(t, ds, ns, "h", 1700000000, true)
		log, _ := blob.Encode(bytes.Repeat([]byte("a log line\n"), 1000), true, nil)

		bad := bytes.Clone(log)
		bad[len(bad)-1] ^= 0xff
		if err := ds.AddClientLog(ns, s, bad); !errors.Is(err, blob.ErrCorrupt) {
			t.Fatalf("corrupt blob: %v", err)
		}
		if err := ds.AddClientLog(ns, s, []byte("no")); !errors.Is(err, blob.ErrCorrupt) {
			t.Fatalf("short blob: %v", err)
		}
		missing := core.Snapshot{Group: s.Group, Time: s.Time + 1}
		if err := ds.AddClientLog(ns, missing, log); !errors.Is(err, core.ErrNotFound) {
			t.Fatalf("missing snapshot: %v", err)
		}
		if _, err := ds.ReadSnapshotFile(ns, s, datastore.ClientLogName); !errors.Is(err, core.ErrNotFound) {
			t.Fatalf("a refused log was stored: %v", err)
		}

		if err := ds.AddClientLog(ns, s, log); err != nil {
			t.Fatal(err)
		}
		got, err := ds.ReadSnapshotFile(ns, s, datastore.ClientLogName)
		if err != nil || !bytes.Equal(got, log) {
			t.Fatalf("read back: %v", err)
		}
		if err := ds.AddClientLog(ns, s, log); !errors.Is(err, core.ErrExists) {
			t.Fatalf("second log: %v", err)
		}
		names, _ := ds.SnapshotFileNames(ns, s)
		for _, n := range names {
			if n != "a.conf.blob" && n != datastore.ManifestName && n != datastore.ClientLogName && n[0] != '.' {
				t.Errorf("unexpected file %q", n)
			}
		}
		// The snapshot is forgotten with its log.
		if err := ds.ForgetSnapshot(ns, s); err != nil {
			t.Fatal(err)
		}
		if ds.SnapshotExists(ns, s) {
			t.Fatal("forgotten snapshot is still there")
		}

		// A running backup takes no log.
		r, w := finished(t, ds, ns, "run", 1700000000, false)
		if err := ds.AddClientLog(ns, r, log); !errors.Is(err, core.ErrNotFound) {
			t.Fatalf("unfinished snapshot: %v", err)
		}
		w.Abort()
	}
}

func TestAddClientLogDir(t *testing.T) {
	dir := filepath.Join(testutil.TempDir(t), "store")
	if err := datastore.Create(dir); err != nil {
		t.Fatal(err)
	}
	ds, err := datastore.Open(dir, "root@pam")
	if err != nil {
		t.Fatal(err)
	}
	defer ds.Close()
	testAddClientLog(t, ds)
}

func TestAddClientLogS3(t *testing.T) {
	m := startMinio(t)
	ds := openS3(t, s3Config(m, t, "clientlog"))
	testAddClientLog(t, ds)
}
