package backup_test

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"path/filepath"
	"testing"
	"time"

	"cairn/core"
	"cairn/core/backup"
	"cairn/core/datastore/datastoretest"
	"cairn/core/snapshot"
	"cairn/internal/testutil"
	"cairn/pxar"
)

// smallFilesTree writes n files of 1–40 KiB in a few directories, with
// fixed mtimes, so that runs of unchanged files share payload chunks.
func smallFilesTree(t *testing.T, dir string, n int, seed uint64) {
	t.Helper()
	r := rand.New(rand.NewPCG(seed, 1))
	tree := testutil.Tree{}
	for i := range n {
		data := make([]byte, 1024+r.IntN(40<<10))
		for k := range data {
			data[k] = byte(r.Uint32())
		}
		tree[fmt.Sprintf("d%02d/f%04d", i%7, i)] = testutil.File(data)
	}
	testutil.WriteTree(t, dir, tree, time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC))
}

// runSplitBackup backs src up as root.pxar of host/split at when, in change
// detection mode, and returns the reuse summary and the events but progress.
func runSplitBackup(t *testing.T, repo core.Repository, when int64, mode, src string) (*core.ReuseSummary, []core.Event) {
	t.Helper()
	sp, err := backup.ParseSpec("root.pxar:" + src)
	if err != nil {
		t.Fatal(err)
	}
	var events []core.Event
	var sum *core.ReuseSummary
	_, err = backup.Run(context.Background(), backup.Options{
		Repo: repo, Snapshot: core.Snapshot{Group: core.Group{Type: core.TypeHost, ID: "split"}, Time: when},
		Specs: []backup.Spec{sp}, ChunkSize: 64 << 10, ChangeDetection: mode,
		Events: func(ev core.Event) {
			if ev.Kind != core.EventProgress {
				events = append(events, ev)
			}
			if ev.Reuse != nil {
				sum = ev.Reuse
			}
		},
	})
	if err != nil {
		t.Fatalf("backup: %v", err)
	}
	return sum, events
}

// readSplit returns every regular file of a stored split archive by
// following its payload references, checking each PAYLOAD header.
func readSplit(t *testing.T, repo core.Repository, when int64) map[string][]byte {
	t.Helper()
	ctx := context.Background()
	s, err := snapshot.Open(ctx, repo, "", core.Snapshot{Group: core.Group{Type: core.TypeHost, ID: "split"}, Time: when})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if _, ok := s.Manifest.Lookup("catalog.pcat1.didx"); ok {
		t.Error("a split-archive snapshot has a catalog")
	}
	meta, err := s.ReadAll(ctx, "root.mpxar.didx")
	if err != nil {
		t.Fatal(err)
	}
	payload, err := s.ReadAll(ctx, "root.ppxar.didx")
	if err != nil {
		t.Fatal(err)
	}
	files := map[string][]byte{}
	d := pxar.NewDecoder(bytes.NewReader(meta))
	last := uint64(0)
	for {
		e, err := d.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		if e.Kind != pxar.KindFile {
			continue
		}
		off := e.PayloadOffset
		if off < last {
			t.Fatalf("%s: payload reference %d goes backwards (after %d)", e.Path, off, last)
		}
		last = off
		if off+16+e.Size > uint64(len(payload)) {
			t.Fatalf("%s: payload reference %d+%d beyond the stream (%d)", e.Path, off, e.Size, len(payload))
		}
		if h := binary.LittleEndian.Uint64(payload[off:]); h != 0x28147a1b0b7c1a25 {
			t.Fatalf("%s: no PAYLOAD header at %d", e.Path, off)
		}
		if n := binary.LittleEndian.Uint64(payload[off+8:]); n != 16+e.Size {
			t.Fatalf("%s: PAYLOAD size %d, want %d", e.Path, n, 16+e.Size)
		}
		files[e.Path] = payload[off+16 : off+16+e.Size]
	}
	return files
}

func checkSplit(t *testing.T, repo core.Repository, when int64, src string) {
	t.Helper()
	got := readSplit(t, repo, when)
	n := 0
	filepath.Walk(src, func(p string, fi os.FileInfo, err error) error {
		if err != nil || !fi.Mode().IsRegular() {
			return err
		}
		n++
		rel, _ := filepath.Rel(src, p)
		want, _ := os.ReadFile(p)
		if !bytes.Equal(got["/"+rel], want) {
			t.Errorf("%s: stored data differs from the file (%d vs %d bytes)", rel, len(got["/"+rel]), len(want))
		}
		return nil
	})
	if len(got) != n {
		t.Errorf("archive has %d files, tree %d", len(got), n)
	}
}

func TestMetadataModeReusesUnchangedFiles(t *testing.T) {
	src := filepath.Join(t.TempDir(), "src")
	smallFilesTree(t, src, 400, 1)
	ds := datastoretest.Memory(t)

	first, _ := runSplitBackup(t, ds, 1700000000, backup.ModeMetadata, src)
	if first.ReusedFiles != 0 || first.ChangedFiles != 400 {
		t.Fatalf("first backup: %+v", first)
	}
	checkSplit(t, ds, 1700000000, src)

	again, events := runSplitBackup(t, ds, 1700000100, backup.ModeMetadata, src)
	if again.ReusedFiles != 400 || again.ChangedFiles != 0 || again.PaddingBytes > 16 /* the old tail marker */ {
		t.Fatalf("unchanged backup: %+v", again)
	}
	for _, ev := range events {
		if ev.Kind == core.EventArchiveDone && ev.Progress.ChunksNew != 0 {
			t.Errorf("unchanged backup stored %d new chunks in %s", ev.Progress.ChunksNew, ev.Progress.Archive)
		}
	}
	checkSplit(t, ds, 1700000100, src)

	// Change a few files in place (same size: only the mtime tells), delete
	// and add some.
	r := rand.New(rand.NewPCG(9, 9))
	for i := 0; i < 400; i += 37 {
		p := filepath.Join(src, fmt.Sprintf("d%02d/f%04d", i%7, i))
		data, _ := os.ReadFile(p)
		data[r.IntN(len(data))] ^= 0xff
		os.WriteFile(p, data, 0o644)
		when := time.Date(2026, 1, 2, 0, 0, 0, 0, time.UTC)
		os.Chtimes(p, when, when)
	}
	os.Remove(filepath.Join(src, "d03/f0010"))
	os.WriteFile(filepath.Join(src, "d03/f0010a"), []byte("new file"), 0o644)
	mutated, _ := runSplitBackup(t, ds, 1700000200, backup.ModeMetadata, src)
	if mutated.ChangedFiles < 12 || mutated.ReusedFiles < 300 || mutated.ReusedFiles+mutated.ChangedFiles != mutated.Files {
		t.Fatalf("mutated backup: %+v", mutated)
	}
	checkSplit(t, ds, 1700000200, src)

	// Data mode reads everything again but stays a split archive.
	data, _ := runSplitBackup(t, ds, 1700000300, backup.ModeData, src)
	if data != nil {
		t.Fatalf("data mode reported reuse: %+v", data)
	}
	checkSplit(t, ds, 1700000300, src)

	// And a metadata backup after that one reuses again.
	last, _ := runSplitBackup(t, ds, 1700000400, backup.ModeMetadata, src)
	if last.ReusedFiles != last.Files {
		t.Fatalf("backup after data mode: %+v", last)
	}
	checkSplit(t, ds, 1700000400, src)
}

func TestMetadataModeSeesSameSizeChange(t *testing.T) {
	src := filepath.Join(t.TempDir(), "src")
	smallFilesTree(t, src, 20, 2)
	ds := datastoretest.Memory(t)
	runSplitBackup(t, ds, 1700000000, backup.ModeMetadata, src)
	p := filepath.Join(src, "d01/f0001")
	data, _ := os.ReadFile(p)
	data[0] ^= 1
	os.WriteFile(p, data, 0o644)
	os.Chmod(filepath.Join(src, "d02/f0002"), 0o600) // metadata only: read again too
	testutil.Stamp(t, src, time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC))
	os.Chtimes(p, time.Unix(1767225601, 0), time.Unix(1767225601, 0))
	sum, _ := runSplitBackup(t, ds, 1700000100, backup.ModeMetadata, src)
	// A file sharing a chunk with a changed one may be read again too
	// (padding policy); the two changed ones must be.
	if sum.ChangedFiles < 2 || sum.ChangedFiles > 4 || sum.ReusedFiles+sum.ChangedFiles != 20 {
		t.Fatalf("summary: %+v", sum)
	}
	checkSplit(t, ds, 1700000100, src)
}

// After a failed verification (a bad chunk moved aside), metadata mode does
// not refer to the previous snapshot: it reads everything again, and the
// new snapshot is whole.
func TestMetadataModeAfterFailedVerify(t *testing.T) {
	src := filepath.Join(t.TempDir(), "src")
	smallFilesTree(t, src, 40, 3)
	ds := datastoretest.Dir(t)
	dir := ds.Root()
	runSplitBackup(t, ds, 1700000000, backup.ModeMetadata, src)

	ctx := context.Background()
	snap := core.Snapshot{Group: core.Group{Type: core.TypeHost, ID: "split"}, Time: 1700000000}
	s, err := snapshot.Open(ctx, ds, "", snap)
	if err != nil {
		t.Fatal(err)
	}
	idx, _, err := s.Index("root.ppxar.didx")
	s.Close()
	if err != nil {
		t.Fatal(err)
	}
	d := idx.ChunkDigest(idx.Count() / 2)
	hexd := fmt.Sprintf("%x", d)
	p := filepath.Join(dir, ".chunks", hexd[:4], hexd)
	data, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	data[len(data)-1] ^= 0xff
	os.WriteFile(p, data, 0o644)
	if _, err := ds.Verify(ctx, "", nil, &snap, nil); err != nil {
		t.Logf("verify: %v", err)
	}

	sum, _ := runSplitBackup(t, ds, 1700000100, backup.ModeMetadata, src)
	if sum.ReusedFiles != 0 || sum.ChangedFiles != 40 {
		t.Fatalf("backup after a failed verify: %+v", sum)
	}
	checkSplit(t, ds, 1700000100, src)
}

// A previous payload chunk removed behind the datastore's back (no failed
// verify recorded): the files in it are read again, the backup succeeds and
// the new snapshot is whole.
func TestMetadataModeHealsMissingChunk(t *testing.T) {
	src := filepath.Join(t.TempDir(), "src")
	smallFilesTree(t, src, 40, 4)
	ds := datastoretest.Dir(t)
	dir := ds.Root()
	runSplitBackup(t, ds, 1700000000, backup.ModeMetadata, src)
	ctx := context.Background()
	s, err := snapshot.Open(ctx, ds, "", core.Snapshot{Group: core.Group{Type: core.TypeHost, ID: "split"}, Time: 1700000000})
	if err != nil {
		t.Fatal(err)
	}
	idx, _, err := s.Index("root.ppxar.didx")
	s.Close()
	if err != nil {
		t.Fatal(err)
	}
	hexd := fmt.Sprintf("%x", idx.ChunkDigest(idx.Count()/2))
	if err := os.Remove(filepath.Join(dir, ".chunks", hexd[:4], hexd)); err != nil {
		t.Fatal(err)
	}
	sum, _ := runSplitBackup(t, ds, 1700000100, backup.ModeMetadata, src)
	if sum.ChangedFiles == 0 || sum.ReusedFiles == 0 {
		t.Fatalf("summary: %+v", sum)
	}
	checkSplit(t, ds, 1700000100, src)
}
