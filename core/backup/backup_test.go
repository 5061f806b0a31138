package backup_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"cairn/core"
	"cairn/core/backup"
	"cairn/core/datastore"
	"cairn/core/datastore/datastoretest"
	"cairn/core/restore"
	"cairn/internal/testutil"
)

// makeTree writes a small tree with every common kind of entry.
func makeTree(t testing.TB, dir string) {
	t.Helper()
	testutil.WriteTree(t, dir, testutil.Tree{
		"etc/conf.d":         testutil.Dir(),
		"home/user":          testutil.Dir().Mode(0o700),
		"empty":              testutil.Dir(),
		"etc/hostname":       testutil.File("hello\n"),
		"etc/empty":          testutil.File("").Mode(0o600),
		"home/user/big.bin":  testutil.File(testutil.RandomBytes(5<<20 + 123)).Mode(0o640),
		"home/user/text.txt": testutil.File(strings.Repeat("all work and no play\n", 50000)),
		"home/link":          testutil.Symlink("../etc/hostname"),
		"etc/hostname.hard":  testutil.HardLink("etc/hostname"),
		"etc/fifo":           testutil.Fifo(),
	}, time.Date(2024, 5, 1, 12, 0, 0, 123456789, time.UTC))
}

// describe lists a tree's entries with type, mode, size, mtime and content hash.
func describe(t testing.TB, dir string) string {
	t.Helper()
	var b strings.Builder
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(dir, p)
		st, err := os.Lstat(p)
		if err != nil {
			return err
		}
		fmt.Fprintf(&b, "%s %v %d", rel, st.Mode(), st.ModTime().UnixNano())
		switch {
		case st.Mode().IsRegular():
			data, _ := os.ReadFile(p)
			fmt.Fprintf(&b, " %d %x", len(data), data[:min(len(data), 16)])
		case st.Mode()&fs.ModeSymlink != 0:
			l, _ := os.Readlink(p)
			fmt.Fprintf(&b, " -> %s", l)
		}
		b.WriteString("\n")
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return b.String()
}

func runBackup(t testing.TB, repo core.Repository, id string, when int64, specs ...string) (*backup.Result, []core.Event) {
	t.Helper()
	var parsed []backup.Spec
	for _, s := range specs {
		sp, err := backup.ParseSpec(s)
		if err != nil {
			t.Fatal(err)
		}
		parsed = append(parsed, sp)
	}
	var events []core.Event
	res, err := backup.Run(context.Background(), backup.Options{
		Repo: repo, Snapshot: core.Snapshot{Group: core.Group{Type: core.TypeHost, ID: id}, Time: when},
		Specs: parsed, Events: func(ev core.Event) {
			if ev.Kind != core.EventProgress {
				events = append(events, ev)
			}
		},
	})
	if err != nil {
		t.Fatalf("backup: %v", err)
	}
	return res, events
}

func TestBackupRestoreRoundTrip(t *testing.T) {
	src := filepath.Join(t.TempDir(), "src")
	makeTree(t, src)
	ds := datastoretest.Dir(t)
	res, _ := runBackup(t, ds, "elsa", 1700000000, "root.pxar:"+src)
	if res.Snapshot.String() != "host/elsa/2023-11-14T22:13:20Z" {
		t.Fatalf("snapshot %s", res.Snapshot)
	}
	list, err := ds.ListSnapshots("", nil)
	if err != nil || len(list) != 1 || !list[0].Finished {
		t.Fatalf("list: %+v %v", list, err)
	}
	var names []string
	for _, f := range list[0].Files {
		names = append(names, f.Filename)
	}
	if got := strings.Join(names, " "); got != "root.pxar.didx catalog.pcat1.didx index.json.blob" {
		t.Fatalf("files: %s", got)
	}
	dst := filepath.Join(t.TempDir(), "dst")
	err = restore.Run(context.Background(), restore.Options{Repo: ds, Snapshot: "host/elsa", Archive: "root.pxar", Target: dst})
	if err != nil {
		t.Fatalf("restore: %v", err)
	}
	if a, b := describe(t, src), describe(t, dst); a != b {
		t.Fatalf("restored tree differs:\n--- source\n%s--- restored\n%s", a, b)
	}
	var s1, s2 syscall.Stat_t
	syscall.Stat(filepath.Join(dst, "etc/hostname"), &s1)
	syscall.Stat(filepath.Join(dst, "etc/hostname.hard"), &s2)
	if s1.Ino != s2.Ino {
		t.Error("hardlink not restored as a hardlink")
	}
}

func TestSecondBackupReusesChunks(t *testing.T) {
	src := filepath.Join(t.TempDir(), "src")
	makeTree(t, src)
	ds := datastoretest.Memory(t)
	runBackup(t, ds, "elsa", 1700000000, "root.pxar:"+src)
	res, events := runBackup(t, ds, "elsa", 1700000100, "root.pxar:"+src)
	if res.Totals.ChunksNew != 0 || res.Totals.ChunksReused == 0 {
		t.Fatalf("second backup stored %d new chunks, reused %d", res.Totals.ChunksNew, res.Totals.ChunksReused)
	}
	found := false
	for _, ev := range events {
		if ev.Kind == core.EventArchiveDone && ev.Progress.Archive == "root.pxar.didx" {
			found = ev.Progress.BytesReused == ev.Progress.BytesRead
		}
	}
	if !found {
		t.Fatal("archive event does not report full reuse")
	}
}

func TestImageRoundTrip(t *testing.T) {
	dir := testutil.TempDir(t)
	img := make([]byte, 9000000)
	rand.Read(img)
	os.WriteFile(filepath.Join(dir, "disk.raw"), img, 0o644)
	os.WriteFile(filepath.Join(dir, "vm.conf"), []byte("memory: 2048\n"), 0o644)
	ds := datastoretest.Memory(t)
	runBackup(t, ds, "img", 1700000000, "mydata.img:"+filepath.Join(dir, "disk.raw"), "vm.conf:"+filepath.Join(dir, "vm.conf"))
	out := filepath.Join(dir, "disk.out")
	if err := restore.Run(context.Background(), restore.Options{Repo: ds, Snapshot: "host/img", Archive: "mydata.img", Target: out}); err != nil {
		t.Fatal(err)
	}
	got, _ := os.ReadFile(out)
	if !bytes.Equal(got, img) {
		t.Fatal("image differs after restore")
	}
	var conf bytes.Buffer
	if err := restore.Run(context.Background(), restore.Options{Repo: ds, Snapshot: "host/img", Archive: "vm.conf", Target: "-", Stdout: &conf}); err != nil {
		t.Fatal(err)
	}
	if conf.String() != "memory: 2048\n" {
		t.Fatalf("conf blob: %q", conf.String())
	}
	// A second restore to the same file must not overwrite silently.
	if err := restore.Run(context.Background(), restore.Options{Repo: ds, Snapshot: "host/img", Archive: "mydata.img", Target: out}); err == nil {
		t.Fatal("restore over an existing file succeeded without --overwrite")
	}
}

func TestCorruptChunkFailsRestoreNamingDigest(t *testing.T) {
	src := filepath.Join(t.TempDir(), "src")
	makeTree(t, src)
	ds := datastoretest.Dir(t)
	runBackup(t, ds, "elsa", 1700000000, "root.pxar:"+src)
	// Flip a byte in the middle of the largest chunk file.
	var victim string
	var size int64
	filepath.WalkDir(filepath.Join(ds.Root(), ".chunks"), func(p string, d fs.DirEntry, err error) error {
		if d != nil && !d.IsDir() {
			if st, _ := d.Info(); st.Size() > size {
				victim, size = p, st.Size()
			}
		}
		return nil
	})
	data, _ := os.ReadFile(victim)
	data[len(data)/2] ^= 0xff
	os.WriteFile(victim, data, 0o644)
	err := restore.Run(context.Background(), restore.Options{Repo: ds, Snapshot: "host/elsa", Archive: "root.pxar", Target: filepath.Join(t.TempDir(), "dst")})
	if err == nil {
		t.Fatal("restore of a corrupt chunk succeeded")
	}
	if !errors.Is(err, core.ErrCorrupt) || !strings.Contains(err.Error(), filepath.Base(victim)) {
		t.Fatalf("error does not name the chunk %s: %v", filepath.Base(victim), err)
	}
}

// failingRepo fails chunk uploads after a number of calls (fault injection by embedding).
type failingRepo struct {
	*datastore.Datastore
	after int64
}

type failingWriter struct {
	core.BackupWriter
	left *atomic.Int64
}

func (f failingRepo) StartBackup(ctx context.Context, o core.BackupOptions) (core.BackupWriter, error) {
	w, err := f.Datastore.StartBackup(ctx, o)
	if err != nil {
		return nil, err
	}
	left := &atomic.Int64{}
	left.Store(f.after)
	return failingWriter{w, left}, nil
}

func (f failingWriter) UploadChunk(d [32]byte, n uint64, enc func() ([]byte, error)) (bool, int, error) {
	if f.left.Add(-1) < 0 {
		return false, 0, errors.New("disk on fire")
	}
	return f.BackupWriter.UploadChunk(d, n, enc)
}

func TestFailedBackupLeavesNoSnapshot(t *testing.T) {
	src := filepath.Join(t.TempDir(), "src")
	makeTree(t, src)
	ds := datastoretest.Dir(t)
	sp, _ := backup.ParseSpec("root.pxar:" + src)
	_, err := backup.Run(context.Background(), backup.Options{
		Repo: failingRepo{ds, 1}, Snapshot: core.Snapshot{Group: core.Group{Type: core.TypeHost, ID: "x"}, Time: 1700000000},
		Specs: []backup.Spec{sp, sp},
	})
	if err == nil {
		t.Fatal("duplicate target accepted")
	}
	_, err = backup.Run(context.Background(), backup.Options{
		Repo: failingRepo{ds, 1}, Snapshot: core.Snapshot{Group: core.Group{Type: core.TypeHost, ID: "x"}, Time: 1700000000},
		Specs: []backup.Spec{sp}, ChunkSize: 64 << 10,
	})
	if err == nil || !strings.Contains(err.Error(), "disk on fire") {
		t.Fatalf("expected the injected failure, got %v", err)
	}
	list, _ := ds.ListSnapshots("", nil)
	if len(list) != 0 {
		t.Fatalf("a failed backup left %d snapshot(s)", len(list))
	}
	if ents, _ := os.ReadDir(filepath.Join(ds.Root(), "host/x")); len(ents) != 1 || ents[0].Name() != "owner" {
		t.Fatalf("snapshot directory left behind: %v", ents)
	}
}

func TestGroupLockedDuringBackup(t *testing.T) {
	ds := datastoretest.Dir(t)
	snap := core.Snapshot{Group: core.Group{Type: core.TypeHost, ID: "a"}, Time: 1700000000}
	w, err := ds.StartBackup(context.Background(), core.BackupOptions{Snapshot: snap})
	if err != nil {
		t.Fatal(err)
	}
	defer w.Abort()
	snap.Time++
	if _, err := ds.StartBackup(context.Background(), core.BackupOptions{Snapshot: snap}); !errors.Is(err, core.ErrLocked) {
		t.Fatalf("second backup into a busy group: %v", err)
	}
}

func TestBadInputChangesNothing(t *testing.T) {
	ds := datastoretest.Dir(t)
	for _, bad := range []string{"no-colon-here", "x.tar:/tmp", "a b.pxar:/tmp"} {
		if _, err := backup.ParseSpec(bad); err == nil || !strings.Contains(err.Error(), bad) {
			t.Errorf("ParseSpec(%q): %v", bad, err)
		}
	}
	sp, _ := backup.ParseSpec("root.pxar:/does/not/exist")
	_, err := backup.Run(context.Background(), backup.Options{Repo: ds, Snapshot: core.Snapshot{Group: core.Group{Type: core.TypeHost, ID: "x"}, Time: 1}, Specs: []backup.Spec{sp}})
	if err == nil || !strings.Contains(err.Error(), "/does/not/exist") {
		t.Fatalf("missing source: %v", err)
	}
	if ents, _ := os.ReadDir(filepath.Join(ds.Root(), "host")); len(ents) != 0 {
		t.Fatal("a failing backup created a group")
	}
}
