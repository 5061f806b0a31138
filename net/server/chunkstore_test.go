package server

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"hash/crc32"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"cairn/core"
	"cairn/core/blob"
	"cairn/core/datastore"
	"cairn/core/index"
)

// Issue 16, items 4 and 7 and "absurd backup times", through the server.

func chunkPathOf(store string, d [32]byte) string {
	h := hex.EncodeToString(d[:])
	return filepath.Join(store, ".chunks", h[:4], h)
}

// fakeEncrypted is a CRC-valid "encrypted" chunk: the server cannot check
// it against the digest it is uploaded under.
func fakeEncrypted(n int) []byte {
	b := make([]byte, blob.EncryptedHeaderSize+n)
	copy(b, blob.MagicEncrypted[:])
	for i := blob.HeaderSize; i < len(b); i++ {
		b[i] = byte(i * 13)
	}
	binary.LittleEndian.PutUint32(b[8:], crc32.ChecksumIEEE(b[blob.EncryptedHeaderSize:]))
	return b
}

// readBack restores an archive of a snapshot through the reader protocol.
func readBack(t *testing.T, e *testEnv, a *auth, id string, tm int64) ([]byte, error) {
	t.Helper()
	r, code, msg := e.upgrade(a, "reader", ReaderProtocol, backupQuery(id, tm))
	if code != 101 {
		t.Fatalf("reader upgrade: %d %s", code, msg)
	}
	defer r.close()
	code, idxData := r.call("GET", "download", url.Values{"file-name": {"root.pxar.didx"}}, "", nil)
	if code != 200 {
		t.Fatalf("download: %d %s", code, idxData)
	}
	idx, err := index.Open(idxData)
	if err != nil {
		t.Fatal(err)
	}
	var got []byte
	for i := 0; i < idx.Count(); i++ {
		d := idx.ChunkDigest(i)
		code, raw := r.call("GET", "chunk", url.Values{"digest": {hex.EncodeToString(d[:])}}, "", nil)
		if code != 200 {
			return nil, fmt.Errorf("chunk %x: HTTP %d %s", d, code, raw)
		}
		plain, err := blob.Decode(raw, nil)
		if err != nil {
			return nil, fmt.Errorf("chunk %x: %v", d, err)
		}
		if sha256.Sum256(plain) != d {
			return nil, fmt.Errorf("chunk %x: wrong content", d)
		}
		got = append(got, plain...)
	}
	return got, nil
}

func verifyStore(t *testing.T, store string, id string, tm int64) {
	t.Helper()
	ds, err := datastore.Open(store, "")
	if err != nil {
		t.Fatal(err)
	}
	defer ds.Close()
	s := core.Snapshot{Group: core.Group{Type: core.TypeHost, ID: id}, Time: tm}
	rep, err := ds.Verify(context.Background(), "", nil, &s, nil)
	if err != nil || rep.Failed() != 0 || len(rep.BadChunks) != 0 {
		t.Fatalf("verify %s: %v %+v", s, err, rep)
	}
}

// Item 4: bob uploads CRC-valid fake chunks under the digests of alice's
// data and holds his session; alice backs up and verifies; bob then
// closes his index, which commits his held chunks. Alice's snapshot must
// still restore byte-identical.
func TestHeldFakeChunksDoNotOverwriteAnotherUsersChunks(t *testing.T) {
	e := newEnv(t)
	alice, _ := e.login("alice@pbs", "alice@pbs-pw")
	bob, _ := e.login("bob@pbs", "bob@pbs-pw")
	payload := [][]byte{bytes.Repeat([]byte("alice's disk "), 5000), bytes.Repeat([]byte{1, 2, 3}, 7000), []byte("tail")}
	var digests []string
	var offsets []uint64
	var csumBody []byte
	var off uint64

	bs, code, msg := e.upgrade(bob, "backup", BackupProtocol, backupQuery("bob", 1700000000))
	if code != 101 {
		t.Fatalf("bob's upgrade: %d %s", code, msg)
	}
	defer bs.close()
	var wid int
	json.Unmarshal(bs.must("POST", "dynamic_index", url.Values{"archive-name": {"root.pxar.didx"}}, "", nil), &wid)
	for _, p := range payload {
		d := sha256.Sum256(p)
		fake := fakeEncrypted(len(p))
		bs.must("POST", "dynamic_chunk", url.Values{"wid": {fmt.Sprint(wid)}, "digest": {hex.EncodeToString(d[:])},
			"size": {fmt.Sprint(len(p))}, "encoded-size": {fmt.Sprint(len(fake))}}, "application/octet-stream", fake)
		digests = append(digests, hex.EncodeToString(d[:]))
		offsets = append(offsets, off)
		off += uint64(len(p))
		csumBody = binary.LittleEndian.AppendUint64(csumBody, off)
		csumBody = append(csumBody, d[:]...)
	}

	fullBackup(t, e, alice, "alice", 1700000000, payload)
	verifyStore(t, e.store, "alice", 1700000000)
	if got, err := readBack(t, e, alice, "alice", 1700000000); err != nil || !bytes.Equal(got, bytes.Join(payload, nil)) {
		t.Fatalf("alice's restore before bob's commit: %v", err)
	}

	body, _ := json.Marshal(map[string]any{"wid": wid, "digest-list": digests, "offset-list": offsets})
	bs.must("PUT", "dynamic_index", nil, "application/json", body)
	csum := sha256.Sum256(csumBody)
	bs.must("POST", "dynamic_close", url.Values{"wid": {fmt.Sprint(wid)}, "chunk-count": {fmt.Sprint(len(payload))},
		"size": {fmt.Sprint(off)}, "csum": {hex.EncodeToString(csum[:])}}, "", nil)

	for _, p := range payload {
		want := mkChunk(t, p)
		got, err := os.ReadFile(chunkPathOf(e.store, want.digest))
		if err != nil || !bytes.Equal(got, want.enc) {
			t.Fatalf("chunk %x on disk is not alice's after bob's commit (%v)", want.digest, err)
		}
	}
	verifyStore(t, e.store, "alice", 1700000000)
	got, err := readBack(t, e, alice, "alice", 1700000000)
	if err != nil || !bytes.Equal(got, bytes.Join(payload, nil)) {
		t.Fatalf("alice's restore after bob's commit: %v", err)
	}
}

// Item 7: a chunk truncated to 0 bytes counts as missing: a fresh backup
// that uploads it stores it again, and both snapshots restore.
func TestBackupOverEmptyChunkStoresItAgain(t *testing.T) {
	e := newEnv(t)
	a, _ := e.login("alice@pbs", "alice@pbs-pw")
	payload := [][]byte{bytes.Repeat([]byte("hello "), 1000), []byte("second chunk"), bytes.Repeat([]byte{7}, 5000)}
	fullBackup(t, e, a, "first", 1700000000, payload)
	for _, p := range payload {
		if err := os.Truncate(chunkPathOf(e.store, sha256.Sum256(p)), 0); err != nil {
			t.Fatal(err)
		}
	}
	fullBackup(t, e, a, "again", 1700000100, payload)
	for _, p := range payload {
		c := mkChunk(t, p)
		if got, err := os.ReadFile(chunkPathOf(e.store, c.digest)); err != nil || !bytes.Equal(got, c.enc) {
			t.Fatalf("chunk %x not stored again: %d bytes, %v", c.digest, len(got), err)
		}
	}
	verifyStore(t, e.store, "again", 1700000100)
	for _, id := range []string{"again", "first"} {
		tm := map[string]int64{"first": 1700000000, "again": 1700000100}[id]
		if got, err := readBack(t, e, a, id, tm); err != nil || !bytes.Equal(got, bytes.Join(payload, nil)) {
			t.Fatalf("restore of %s: %v", id, err)
		}
	}
}

// "Absurd backup times": a backup-time upstream refuses is refused at the
// upgrade, with a one-line 400 naming the value, and no snapshot appears.
func TestAbsurdBackupTimeRefused(t *testing.T) {
	e := newEnv(t)
	a, _ := e.login("alice@pbs", "alice@pbs-pw")
	for _, tm := range []int64{1 << 40, datastore.MaxBackupTime + 1} {
		s, code, msg := e.upgrade(a, "backup", BackupProtocol, backupQuery("absurd", tm))
		if s != nil {
			s.close()
		}
		if code != 400 || !strings.Contains(msg, fmt.Sprint(tm)) || strings.Contains(strings.TrimSpace(msg), "\n") {
			t.Errorf("backup-time %d: HTTP %d %q", tm, code, msg)
		}
	}
	if _, err := os.Stat(filepath.Join(e.store, "host", "absurd")); err == nil {
		entries, _ := os.ReadDir(filepath.Join(e.store, "host", "absurd"))
		for _, en := range entries {
			if en.IsDir() {
				t.Errorf("snapshot directory %s made", en.Name())
			}
		}
	}
	// The last second of year 9999 is fine, and listed.
	fullBackup(t, e, a, "edge", datastore.MaxBackupTime, [][]byte{[]byte("x")})
	found := false
	for _, s := range snapshotsOf(t, e, a) {
		if s["backup-id"] == "edge" {
			found = true
		}
	}
	if !found {
		t.Fatal("snapshot at the last valid time not listed")
	}
}
