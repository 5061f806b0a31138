package client

import (
	"context"
	"crypto/sha256"
	"fmt"
	"testing"
	"time"

	"cairn/core"
	"cairn/core/blob"
	"cairn/core/index"
)

// An index of thousands of chunks is appended in requests the real server
// accepts: PBS 3.2.4 refuses a body of 64 KiB or more ("Request body too
// large", issue 19: an archive of some 800 chunks or more, 3 GiB at the
// default chunk size, failed against it).
func TestLargeIndexAppendsFitServerBodyLimit(t *testing.T) {
	isolate(t)
	f := newFakeServer(t)
	repo := openRepo(t, f, nil)
	w, err := repo.StartBackup(context.Background(), core.BackupOptions{Namespace: f.ns,
		Snapshot: core.Snapshot{Group: core.Group{Type: core.TypeHost, ID: "many"}, Time: time.Now().Unix()}})
	if err != nil {
		t.Fatal(err)
	}
	defer w.Abort()
	data := []byte("one chunk, referred to again and again")
	digest := sha256.Sum256(data)
	up, err := core.BeginArchive(w, core.Archive{Name: "many.pxar.didx"})
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := up.UploadChunk(digest, uint64(len(data)), func() ([]byte, error) { return blob.Encode(data, false, nil) }); err != nil {
		t.Fatal(err)
	}
	const n = 5000
	d := &index.Dynamic{Ctime: time.Now().Unix()}
	for i := range n {
		d.Ends = append(d.Ends, uint64(i+1)*uint64(len(data)))
		d.Digests = append(d.Digests, digest)
	}
	before := f.appends.Load()
	if err := w.WriteFile("many.pxar.didx", d.Encode()); err != nil {
		t.Fatalf("index of %d entries: %v", n, err)
	}
	if got := f.appends.Load() - before; got < n/800 {
		t.Fatalf("%d entries in %d requests: bodies over 64 KiB", n, got)
	}
}

// Uploads wait for a free stream when the server limits concurrent
// streams (SETTINGS_MAX_CONCURRENT_STREAMS; cairn serve: 256): small
// chunks put hundreds of uploads in flight, and a request beyond the limit
// failed the backup with "http2: client conn not usable" (issue 19).
func TestUploadsRespectServerStreamLimit(t *testing.T) {
	isolate(t)
	f := newFakeServer(t)
	f.maxStreams = 4
	repo := openRepo(t, f, nil)
	w, err := repo.StartBackup(context.Background(), core.BackupOptions{Namespace: f.ns,
		Snapshot: core.Snapshot{Group: core.Group{Type: core.TypeHost, ID: "streams"}, Time: time.Now().Unix()}})
	if err != nil {
		t.Fatal(err)
	}
	defer w.Abort()
	up, err := core.BeginArchive(w, core.Archive{Name: "many.pxar.didx"})
	if err != nil {
		t.Fatal(err)
	}
	d := &index.Dynamic{Ctime: time.Now().Unix()}
	var end uint64
	for i := range 300 {
		data := []byte(fmt.Sprintf("chunk %d of many small ones", i))
		digest := sha256.Sum256(data)
		if _, _, err := up.UploadChunk(digest, uint64(len(data)), func() ([]byte, error) { return blob.Encode(data, false, nil) }); err != nil {
			t.Fatalf("chunk %d: %v", i, err)
		}
		end += uint64(len(data))
		d.Ends = append(d.Ends, end)
		d.Digests = append(d.Digests, digest)
	}
	if err := w.WriteFile("many.pxar.didx", d.Encode()); err != nil {
		t.Fatalf("300 uploads with a limit of 4 streams: %v", err)
	}
}
