package datastore

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"

	"cairn/core"
	"cairn/core/blob"
	"cairn/core/index"
	"cairn/core/manifest"
)

type testChunk struct {
	digest [32]byte
	data   []byte
	enc    []byte
}

func newChunk(t *testing.T, data []byte) testChunk {
	t.Helper()
	enc, err := blob.Encode(data, true, nil)
	if err != nil {
		t.Fatal(err)
	}
	return testChunk{sha256.Sum256(data), data, enc}
}

// countingBudget is a Budget that records what it lent.
type countingBudget struct{ held, most, calls atomic.Int64 }

func (b *countingBudget) Acquire(_ context.Context, n int64) error {
	b.calls.Add(1)
	if h := b.held.Add(n); h > b.most.Load() {
		b.most.Store(h)
	}
	return nil
}
func (b *countingBudget) Release(n int64) { b.held.Add(-n) }

func startSession(t *testing.T, ds *Datastore, id string, when int64, budget Budget) *BackupSession {
	t.Helper()
	snap := core.Snapshot{Group: core.Group{Type: core.TypeHost, ID: id}, Time: when}
	s, err := ds.StartSession(context.Background(), core.BackupOptions{Snapshot: snap}, budget)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.LoadPrevious(); err != nil {
		t.Fatal(err)
	}
	return s
}

func wantRequestErr(t *testing.T, err error, substr string) {
	t.Helper()
	var re *RequestError
	if !errors.As(err, &re) {
		t.Fatalf("error %v, want a RequestError with %q", err, substr)
	}
	if !strings.Contains(err.Error(), substr) {
		t.Fatalf("error %q, want %q", err, substr)
	}
}

func upload(t *testing.T, s *BackupSession, wid int, c testChunk) {
	t.Helper()
	if err := s.UploadChunk(context.Background(), wid, c.digest, int64(len(c.data)), int64(len(c.enc)), bytes.NewReader(c.enc)); err != nil {
		t.Fatal(err)
	}
}

// dynamicArchive writes a dynamic index of chunks; it returns its size and
// checksum.
func dynamicArchive(t *testing.T, s *BackupSession, name string, chunks []testChunk) (uint64, [32]byte) {
	t.Helper()
	wid, err := s.CreateDynamic(name)
	if err != nil {
		t.Fatal(err)
	}
	var entries []IndexEntry
	var off uint64
	var body []byte
	for _, c := range chunks {
		upload(t, s, wid, c)
		entries = append(entries, IndexEntry{Digest: c.digest, Offset: off})
		off += uint64(len(c.data))
		body = binary.LittleEndian.AppendUint64(body, off)
		body = append(body, c.digest[:]...)
	}
	if err := s.Append(wid, false, entries); err != nil {
		t.Fatal(err)
	}
	csum := sha256.Sum256(body)
	if _, err := s.CloseWriter(wid, false, uint64(len(chunks)), off+1, csum); err == nil {
		t.Fatal("close with a wrong size accepted")
	}
	if _, err := s.CloseWriter(wid, false, uint64(len(chunks)), off, [32]byte{1}); err == nil {
		t.Fatal("close with a wrong checksum accepted")
	}
	st, err := s.CloseWriter(wid, false, uint64(len(chunks)), off, csum)
	if err != nil {
		t.Fatal(err)
	}
	if st.Name != name || st.Size != off || st.Count != uint64(len(chunks)) || st.Csum != csum {
		t.Fatalf("stats %+v", st)
	}
	return off, csum
}

func manifestFor(t *testing.T, id string, when int64, files []manifest.File) []byte {
	t.Helper()
	m := &manifest.Manifest{BackupType: "host", BackupID: id, BackupTime: when, Files: files}
	j, err := m.Encode()
	if err != nil {
		t.Fatal(err)
	}
	b, err := blob.Encode(j, true, nil)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func uploadBlob(s *BackupSession, name string, data []byte) error {
	_, err := s.UploadBlob(context.Background(), name, int64(len(data)), bytes.NewReader(data))
	return err
}

// TestSessionDynamicBackup: a whole session, with the checks of Finish.
func TestSessionDynamicBackup(t *testing.T) {
	ds := newStore(t)
	budget := &countingBudget{}
	s := startSession(t, ds, "dyn", 1700000000, budget)
	chunks := []testChunk{newChunk(t, []byte("first chunk")), newChunk(t, []byte("second chunk"))}
	if err := s.Finish(); err == nil || !strings.Contains(err.Error(), "file count == 0") {
		t.Fatalf("finish of an empty backup: %v", err)
	}
	size, csum := dynamicArchive(t, s, "root.pxar.didx", chunks)
	if err := s.Finish(); err == nil || !strings.Contains(err.Error(), "no manifest") {
		t.Fatalf("finish without a manifest: %v", err)
	}
	// A manifest that misses the archive, then one for another snapshot.
	if err := uploadBlob(s, ManifestName, manifestFor(t, "dyn", 1700000000, nil)); err != nil {
		t.Fatal(err)
	}
	wantRequestErr(t, s.Finish(), "is not listed in the manifest")
	files := []manifest.File{{Filename: "root.pxar.didx", CryptMode: "none", Size: size, Csum: hex.EncodeToString(csum[:])}}
	if err := uploadBlob(s, ManifestName, manifestFor(t, "other", 1700000000, files)); err != nil {
		t.Fatal(err)
	}
	wantRequestErr(t, s.Finish(), "manifest does not match the backup")
	if err := uploadBlob(s, ManifestName, manifestFor(t, "dyn", 1700000000, files)); err != nil {
		t.Fatal(err)
	}
	if err := s.Finish(); err != nil {
		t.Fatal(err)
	}
	if !s.Finished() || !s.End() {
		t.Fatal("session not finished")
	}
	if budget.held.Load() != 0 || budget.calls.Load() == 0 {
		t.Errorf("budget: %d held after %d calls", budget.held.Load(), budget.calls.Load())
	}
	m, _, err := ds.ReadManifest("", core.Snapshot{Group: core.Group{Type: core.TypeHost, ID: "dyn"}, Time: 1700000000})
	if err != nil {
		t.Fatal(err)
	}
	st, _ := m.Unprotected["chunk_upload_stats"].(map[string]any)
	if fmt.Sprint(st["count"]) != "2" {
		t.Errorf("chunk_upload_stats %v", st)
	}
}

// TestSessionChunkChecks: an upload must be what it announced.
func TestSessionChunkChecks(t *testing.T) {
	ds := newStore(t)
	s := startSession(t, ds, "chunks", 1700000000, nil)
	defer func() { s.End(); s.Abort() }()
	c := newChunk(t, []byte("a chunk of data"))
	ctx := context.Background()
	up := func(wid int, digest [32]byte, size int, body []byte, encSize int) error {
		return s.UploadChunk(ctx, wid, digest, int64(size), int64(encSize), bytes.NewReader(body))
	}
	wantRequestErr(t, up(1, c.digest, len(c.data), c.enc, len(c.enc)), "no such open writer 1")
	wid, err := s.CreateDynamic("a.pxar.didx")
	if err != nil {
		t.Fatal(err)
	}
	wantRequestErr(t, up(wid, c.digest, len(c.data), append(c.enc, 0), len(c.enc)), "larger than announced")
	wantRequestErr(t, up(wid, c.digest, len(c.data), c.enc[:len(c.enc)-1], len(c.enc)), "unexpected size")
	wantRequestErr(t, up(wid, [32]byte{1}, len(c.data), c.enc, len(c.enc)), "wrong digest")
	wantRequestErr(t, up(wid, c.digest, len(c.data)-1, c.enc, len(c.enc)), "wrong length")
	// Unknown chunks cannot be appended.
	wantRequestErr(t, s.Append(wid, false, []IndexEntry{{Digest: c.digest}}), "no such chunk")
	if err := up(wid, c.digest, len(c.data), c.enc, len(c.enc)); err != nil {
		t.Fatal(err)
	}
	wantRequestErr(t, s.Append(wid, true, []IndexEntry{{Digest: c.digest}}), "is not a fixed index writer")
	wantRequestErr(t, s.Append(wid, false, []IndexEntry{{Digest: c.digest, Offset: 1}}), "strange chunk offset")
	wantRequestErr(t, uploadBlob(s, "a.pxar.didx", manifestFor(t, "chunks", 1700000000, nil)), "being written as an index")
}

// TestSessionWriterNames: one writer per archive, an archive once, and at
// most MaxWriters writers.
func TestSessionWriterNames(t *testing.T) {
	ds := newStore(t)
	s := startSession(t, ds, "names", 1700000000, nil)
	defer func() { s.End(); s.Abort() }()
	if _, err := s.CreateDynamic("a.pxar.didx"); err != nil {
		t.Fatal(err)
	}
	_, err := s.CreateDynamic("a.pxar.didx")
	wantRequestErr(t, err, "is already being written")
	conf, _ := blob.Encode([]byte("x"), true, nil)
	if err := uploadBlob(s, "b.conf.blob", conf); err != nil {
		t.Fatal(err)
	}
	_, err = s.CreateDynamic("b.conf.blob")
	wantRequestErr(t, err, "was already uploaded")
	for i := 2; i <= MaxWriters; i++ {
		if _, err := s.CreateDynamic(strings.Repeat("x", i%7+1) + string(rune('a'+i%26)) + hex.EncodeToString([]byte{byte(i)}) + ".didx"); err != nil {
			t.Fatalf("writer %d: %v", i, err)
		}
	}
	_, err = s.CreateDynamic("last.didx")
	wantRequestErr(t, err, "too many index writers")
	wantRequestErr(t, s.Finish(), "found open index writer")
}

// TestDynamicEntryCap: a dynamic index takes at most maxIndexEntries
// entries.
func TestDynamicEntryCap(t *testing.T) {
	old := maxIndexEntries
	maxIndexEntries = 100
	defer func() { maxIndexEntries = old }()
	ds := newStore(t)
	s := startSession(t, ds, "cap", 1700000000, nil)
	defer func() { s.End(); s.Abort() }()
	c := newChunk(t, []byte("one small chunk"))
	wid, err := s.CreateDynamic("a.pxar.didx")
	if err != nil {
		t.Fatal(err)
	}
	upload(t, s, wid, c)
	batch := func(start, n int) error {
		var es []IndexEntry
		for i := start; i < start+n; i++ {
			es = append(es, IndexEntry{Digest: c.digest, Offset: uint64(i * len(c.data))})
		}
		return s.Append(wid, false, es)
	}
	if err := batch(0, 90); err != nil {
		t.Fatalf("90 entries: %v", err)
	}
	wantRequestErr(t, batch(90, 11), "too many chunks")
	if err := batch(90, 10); err != nil {
		t.Fatalf("up to the cap: %v", err)
	}
}

// TestSessionFixedBounds: a fixed writer takes only aligned chunks inside
// its image, one short chunk at the end, and closes only once every slot
// was written.
func TestSessionFixedBounds(t *testing.T) {
	ds := newStore(t)
	s := startSession(t, ds, "img", 1700000000, nil)
	defer func() { s.End(); s.Abort() }()
	_, err := s.CreateFixed("huge.img.fidx", maxIndexEntries*FixedChunkSize+1, "")
	wantRequestErr(t, err, "is too large")
	img := bytes.Repeat([]byte("image..."), (FixedChunkSize+1024)/8)
	c1, c2 := newChunk(t, img[:FixedChunkSize]), newChunk(t, img[FixedChunkSize:])
	wid, err := s.CreateFixed("disk.img.fidx", uint64(len(img)), "")
	if err != nil {
		t.Fatal(err)
	}
	upload(t, s, wid, c1)
	upload(t, s, wid, c2)
	for _, off := range []uint64{1<<64 - FixedChunkSize, 1<<64 - 1, 2 * FixedChunkSize, FixedChunkSize} {
		wantRequestErr(t, s.Append(wid, true, []IndexEntry{{Digest: c1.digest, Offset: off}}), "ends after the image")
	}
	wantRequestErr(t, s.Append(wid, true, []IndexEntry{{Digest: c2.digest, Offset: 512}}), "unaligned")
	csum := sha256.Sum256(append(append([]byte{}, c1.digest[:]...), c2.digest[:]...))
	if err := s.Append(wid, true, []IndexEntry{{Digest: c2.digest, Offset: FixedChunkSize}}); err != nil {
		t.Fatal(err)
	}
	wantRequestErr(t, s.Append(wid, true, []IndexEntry{{Digest: c2.digest, Offset: FixedChunkSize}}), "more than one short chunk")
	_, err = s.CloseWriter(wid, true, 1, uint64(len(img)), csum)
	wantRequestErr(t, err, "wrong number of chunks")
	_, err = s.CloseWriter(wid, false, 2, uint64(len(img)), csum)
	wantRequestErr(t, err, "of the other index kind")
	if err := s.Append(wid, true, []IndexEntry{{Digest: c1.digest, Offset: 0}}); err != nil {
		t.Fatal(err)
	}
	_, err = s.CloseWriter(wid, true, 2, uint64(len(img))-1, csum)
	wantRequestErr(t, err, "size does not match")
	st, err := s.CloseWriter(wid, true, 2, uint64(len(img)), csum)
	if err != nil {
		t.Fatal(err)
	}
	if st.Size != uint64(len(img)) || st.Csum != csum || st.Upload != uint64(len(img)) {
		t.Errorf("stats %+v", st)
	}
	_, err = s.CloseWriter(wid, true, 2, uint64(len(img)), csum)
	wantRequestErr(t, err, "no such open writer")
}

// TestSessionEndRemovesScratch: the scratch files of writers never closed
// go when the session ends, and Abort removes the snapshot.
func TestSessionEndRemovesScratch(t *testing.T) {
	ds := newStore(t)
	s := startSession(t, ds, "scratch", 1700000000, nil)
	if _, err := s.CreateFixed("huge.img.fidx", 1<<40, ""); err != nil {
		t.Fatal(err)
	}
	snapDir := filepath.Join(ds.Root(), "host", "scratch", "2023-11-14T22:13:20Z")
	scratch, _ := filepath.Glob(filepath.Join(snapDir, ".huge.img.fidx.tmp_*"))
	if len(scratch) != 1 {
		t.Fatalf("scratch files %v", scratch)
	}
	if want := int64(index.HeaderSize + (1<<40)/FixedChunkSize*32); fileSize(scratch[0]) != want {
		t.Errorf("scratch file of %d bytes, want %d", fileSize(scratch[0]), want)
	}
	if s.End() {
		t.Fatal("an unfinished session ended finished")
	}
	if _, err := os.Stat(scratch[0]); !os.IsNotExist(err) {
		t.Errorf("scratch file left: %v", err)
	}
	_, err := s.CreateDynamic("late.didx")
	wantRequestErr(t, err, "backup session ended")
	if err := s.Abort(); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(snapDir); !os.IsNotExist(err) {
		t.Errorf("snapshot left after Abort: %v", err)
	}
}

func fileSize(p string) int64 {
	st, err := os.Stat(p)
	if err != nil {
		return -1
	}
	return st.Size()
}

// TestSessionPrevious: the previous snapshot's index is served once
// checked, and its chunks become known, so an incremental backup appends
// them without uploading.
func TestSessionPrevious(t *testing.T) {
	ds := newStore(t)
	chunks := []testChunk{newChunk(t, []byte("kept chunk"))}
	s := startSession(t, ds, "inc", 1700000000, nil)
	size, csum := dynamicArchive(t, s, "root.pxar.didx", chunks)
	files := []manifest.File{{Filename: "root.pxar.didx", CryptMode: "none", Size: size, Csum: hex.EncodeToString(csum[:])}}
	if err := uploadBlob(s, ManifestName, manifestFor(t, "inc", 1700000000, files)); err != nil {
		t.Fatal(err)
	}
	if err := s.Finish(); err != nil {
		t.Fatal(err)
	}
	s.End()

	s = startSession(t, ds, "inc", 1700000100, nil)
	defer func() { s.End(); s.Abort() }()
	if p := s.PreviousSnapshot(); p == nil || p.Time != 1700000000 {
		t.Fatalf("previous %v", p)
	}
	if _, _, err := s.PreviousFile("missing.didx"); !errors.Is(err, core.ErrNotFound) {
		t.Fatalf("missing file: %v", err)
	}
	wid, err := s.CreateDynamic("root.pxar.didx")
	if err != nil {
		t.Fatal(err)
	}
	wantRequestErr(t, s.Append(wid, false, []IndexEntry{{Digest: chunks[0].digest}}), "no such chunk")
	rc, n, err := s.PreviousFile("root.pxar.didx")
	if err != nil {
		t.Fatal(err)
	}
	info, err := ScanIndex(rc, n, nil)
	rc.Close()
	if err != nil || info.Csum != csum || info.Count != 1 {
		t.Fatalf("previous index %+v, %v", info, err)
	}
	if err := s.Append(wid, false, []IndexEntry{{Digest: chunks[0].digest}}); err != nil {
		t.Fatal(err)
	}
}

func TestParseDigest(t *testing.T) {
	if _, err := ParseDigest(strings.Repeat("ab", 32)); err != nil {
		t.Error(err)
	}
	for _, s := range []string{"", "ab", strings.Repeat("zz", 32), strings.Repeat("ab", 33)} {
		if _, err := ParseDigest(s); err == nil {
			t.Errorf("%q accepted", s)
		}
	}
}

func TestReadBody(t *testing.T) {
	b, err := ReadBody(bytes.NewReader(make([]byte, 100)), 10)
	if err != nil || len(b) != 11 {
		t.Errorf("an oversized body: %d bytes, %v", len(b), err)
	}
	b, err = ReadBody(bytes.NewReader(make([]byte, 200<<10)), 300<<10)
	if err != nil || len(b) != 200<<10 {
		t.Errorf("a short body: %d bytes, %v", len(b), err)
	}
}

// TestScanIndex: a scan checks the structure and the stored checksum.
func TestScanIndex(t *testing.T) {
	d1, d2 := sha256.Sum256([]byte("1")), sha256.Sum256([]byte("2"))
	var body []byte
	body = binary.LittleEndian.AppendUint64(body, 10)
	body = append(body, d1[:]...)
	body = binary.LittleEndian.AppendUint64(body, 25)
	body = append(body, d2[:]...)
	csum := sha256.Sum256(body)
	file := append(indexHeader(false, [16]byte{}, 0, 0), body...)
	copy(file[32:], csum[:])
	var ends []uint64
	info, err := ScanIndex(bytes.NewReader(file), int64(len(file)), func(_ [32]byte, _, end uint64) error {
		ends = append(ends, end)
		return nil
	})
	if err != nil || info.Fixed || info.Count != 2 || info.Size != 25 || info.Csum != csum || len(ends) != 2 {
		t.Fatalf("scan: %+v %v %v", info, ends, err)
	}
	for name, bad := range map[string]func([]byte){
		"checksum":       func(b []byte) { b[len(b)-1] ^= 1 },
		"shrinking ends": func(b []byte) { b[index.HeaderSize+40] = 5 },
		"magic":          func(b []byte) { b[0] ^= 1 },
	} {
		b := bytes.Clone(file)
		bad(b)
		if _, err := ScanIndex(bytes.NewReader(b), int64(len(b)), nil); !errors.Is(err, index.ErrCorrupt) {
			t.Errorf("%s: %v", name, err)
		}
	}
	if _, err := ScanIndex(bytes.NewReader(file), int64(len(file))-1, nil); !errors.Is(err, index.ErrCorrupt) {
		t.Errorf("truncated: %v", err)
	}
}
