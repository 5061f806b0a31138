package server

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"cairn/core/datastore"
	"cairn/core/index"
	"cairn/core/manifest"
)

func uploadFixedChunk(t *testing.T, s *h2session, wid int, c chunk) {
	t.Helper()
	s.must("POST", "fixed_chunk", url.Values{"wid": {fmt.Sprint(wid)}, "digest": {hex.EncodeToString(c.digest[:])},
		"size": {fmt.Sprint(len(c.data))}, "encoded-size": {fmt.Sprint(len(c.enc))}}, "application/octet-stream", c.enc)
}

// rawAppend sends a PUT *_index body as given (offsets as JSON numbers of
// any size).
func rawAppend(s *h2session, path string, wid int, digests []string, offsets []string) (int, string) {
	body := fmt.Sprintf(`{"wid":%d,"digest-list":["%s"],"offset-list":[%s]}`, wid, strings.Join(digests, `","`), strings.Join(offsets, ","))
	code, b := s.call("PUT", path, nil, "application/json", []byte(body))
	return code, string(b)
}

// TestFixedAppendOffsetOverflow is issue 16 item 9: an append at offset
// 2^64 - 4 MiB made offset+size wrap to 0, which passed the checks and
// panicked on the slot index (HTTP 500). Every out-of-range offset is 400
// and the writer still works.
func TestFixedAppendOffsetOverflow(t *testing.T) {
	e := newEnv(t)
	a, _ := e.login("alice@pbs", "alice@pbs-pw")
	s, code, msg := e.upgrade(a, "backup", BackupProtocol, backupQuery("ovf", 1700000000))
	if code != 101 {
		t.Fatalf("upgrade: %d %s", code, msg)
	}
	defer s.close()
	img := bytes.Repeat([]byte("overflow"), (2*datastore.FixedChunkSize)/8)
	c1, c2 := mkChunk(t, img[:datastore.FixedChunkSize]), mkChunk(t, img[datastore.FixedChunkSize:])
	var wid int
	json.Unmarshal(s.must("POST", "fixed_index", url.Values{"archive-name": {"disk.img.fidx"}, "size": {fmt.Sprint(len(img))}}, "", nil), &wid)
	uploadFixedChunk(t, s, wid, c1)
	uploadFixedChunk(t, s, wid, c2)
	d1 := hex.EncodeToString(c1.digest[:])
	for _, off := range []string{"18446744073705357312", "18446744073709551615", "18446744073709551616", "1e30", "-4194304", "4194304.5", "8388608", "12582912"} {
		code, body := rawAppend(s, "fixed_index", wid, []string{d1}, []string{off})
		if code != 400 {
			t.Errorf("append at offset %s: HTTP %d %s, want 400", off, code, body)
		}
	}
	if code, body := rawAppend(s, "fixed_index", wid, []string{d1, hex.EncodeToString(c2.digest[:])}, []string{"0", "4194304"}); code != 200 {
		t.Fatalf("valid append after the refused ones: %d %s", code, body)
	}
	csum := sha256.Sum256(append(append([]byte{}, c1.digest[:]...), c2.digest[:]...))
	s.must("POST", "fixed_close", url.Values{"wid": {fmt.Sprint(wid)}, "chunk-count": {"2"}, "size": {fmt.Sprint(len(img))}, "csum": {hex.EncodeToString(csum[:])}}, "", nil)
}

// TestIndexStateOnDisk: writers keep their entries in sparse scratch files
// in the snapshot directory, not in memory; a 64 TiB image's writer costs
// no disk until written, and an unfinished session leaves nothing behind.
func TestIndexStateOnDisk(t *testing.T) {
	e := newEnv(t)
	a, _ := e.login("alice@pbs", "alice@pbs-pw")
	s, code, msg := e.upgrade(a, "backup", BackupProtocol, backupQuery("disk", 1700000000))
	if code != 101 {
		t.Fatalf("upgrade: %d %s", code, msg)
	}
	var wid int
	json.Unmarshal(s.must("POST", "fixed_index", url.Values{"archive-name": {"huge.img.fidx"}, "size": {fmt.Sprint(int64(1) << 46)}}, "", nil), &wid)
	snapDir := filepath.Join(e.store, "host", "disk", "2023-11-14T22:13:20Z")
	scratch, _ := filepath.Glob(filepath.Join(snapDir, ".huge.img.fidx.tmp_*"))
	if len(scratch) != 1 {
		t.Fatalf("scratch files %v", scratch)
	}
	st, err := os.Stat(scratch[0])
	if err != nil {
		t.Fatal(err)
	}
	if want := int64(index.HeaderSize + (1<<46)/datastore.FixedChunkSize*32); st.Size() != want {
		t.Errorf("scratch file of %d bytes, want %d", st.Size(), want)
	}
	if used := diskUsage(st); used > 1<<20 {
		t.Errorf("scratch file of a 64 TiB image uses %d bytes", used)
	}
	// Too large an image: refused.
	if code, b := s.call("POST", "fixed_index", url.Values{"archive-name": {"huger.img.fidx"}, "size": {fmt.Sprint(int64(1)<<46 + 1)}}, "", nil); code != 400 {
		t.Errorf("image of 64 TiB + 1: %d %s", code, b)
	}
	s.close()
	waitFor(t, func() bool { _, err := os.Stat(snapDir); return os.IsNotExist(err) })
}

// TestFixedReuse: an incremental image writer starts from the previous
// snapshot's index (copied from disk), takes only the changed chunk, and
// the stored index is the old one with that slot replaced.
func TestFixedReuse(t *testing.T) {
	e := newEnv(t)
	a, _ := e.login("alice@pbs", "alice@pbs-pw")
	img := make([]byte, 3*datastore.FixedChunkSize)
	for i := range img {
		img[i] = byte(i * 13)
	}
	chunks := []chunk{mkChunk(t, img[:datastore.FixedChunkSize]), mkChunk(t, img[datastore.FixedChunkSize:2*datastore.FixedChunkSize]), mkChunk(t, img[2*datastore.FixedChunkSize:])}
	fixedCsum := func(cs []chunk) [32]byte {
		var b []byte
		for _, c := range cs {
			b = append(b, c.digest[:]...)
		}
		return sha256.Sum256(b)
	}
	backup := func(tm int64, reuse string, upload []chunk, slots []int, all []chunk) (int, string) {
		s, code, msg := e.upgrade(a, "backup", BackupProtocol, backupQuery("vm", tm))
		if code != 101 {
			t.Fatalf("upgrade: %d %s", code, msg)
		}
		defer s.close()
		q := url.Values{"archive-name": {"disk.img.fidx"}, "size": {fmt.Sprint(len(img))}}
		if reuse != "" {
			q.Set("reuse-csum", reuse)
		}
		code, body := s.call("POST", "fixed_index", q, "", nil)
		if code != 200 {
			return code, string(body)
		}
		var out struct{ Data int }
		json.Unmarshal(body, &out)
		var ds, offs []string
		for i, c := range upload {
			uploadFixedChunk(t, s, out.Data, c)
			ds = append(ds, hex.EncodeToString(c.digest[:]))
			offs = append(offs, fmt.Sprint(slots[i]*datastore.FixedChunkSize))
		}
		if code, b := rawAppend(s, "fixed_index", out.Data, ds, offs); code != 200 {
			return code, b
		}
		csum := fixedCsum(all)
		s.must("POST", "fixed_close", url.Values{"wid": {fmt.Sprint(out.Data)}, "chunk-count": {fmt.Sprint(len(upload))}, "size": {fmt.Sprint(len(img))}, "csum": {hex.EncodeToString(csum[:])}}, "", nil)
		mb := manifestBlob(t, "vm", tm, []manifest.File{{Filename: "disk.img.fidx", CryptMode: "none", Size: uint64(len(img)), Csum: hex.EncodeToString(csum[:])}})
		s.must("POST", "blob", url.Values{"file-name": {"index.json.blob"}, "encoded-size": {fmt.Sprint(len(mb))}}, "application/octet-stream", mb)
		s.must("POST", "finish", nil, "", nil)
		return 200, ""
	}
	if code, msg := backup(1700000000, "", chunks, []int{0, 1, 2}, chunks); code != 200 {
		t.Fatalf("first backup: %d %s", code, msg)
	}
	old := fixedCsum(chunks)
	if code, msg := backup(1700000100, strings.Repeat("00", 32), nil, nil, chunks); code != 400 || !strings.Contains(msg, "doesn't match") {
		t.Fatalf("wrong reuse-csum: %d %s", code, msg)
	}
	changed := mkChunk(t, bytes.Repeat([]byte{9}, datastore.FixedChunkSize))
	next := []chunk{chunks[0], changed, chunks[2]}
	if code, msg := backup(1700000200, hex.EncodeToString(old[:]), []chunk{changed}, []int{1}, next); code != 200 {
		t.Fatalf("incremental backup: %d %s", code, msg)
	}
	data, err := os.ReadFile(filepath.Join(e.store, "host", "vm", "2023-11-14T22:16:40Z", "disk.img.fidx"))
	if err != nil {
		t.Fatal(err)
	}
	idx, err := index.ReadFixed(data)
	if err != nil {
		t.Fatal(err)
	}
	for i, c := range next {
		if idx.Digests[i] != c.digest {
			t.Errorf("slot %d: %x, want %x", i, idx.Digests[i], c.digest)
		}
	}
}

func diskUsage(st os.FileInfo) int64 {
	if sys, ok := st.Sys().(*syscall.Stat_t); ok {
		return sys.Blocks * 512
	}
	return 0
}
