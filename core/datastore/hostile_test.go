package datastore_test

import (
	"bytes"
	"context"
	"encoding/binary"
	"encoding/hex"
	"hash/crc32"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"

	"github.com/minio/minio-go/v7"
	"github.com/minio/minio-go/v7/pkg/credentials"

	"cairn/core"
	"cairn/core/blob"
	"cairn/core/datastore"
	"cairn/core/index"
	"cairn/core/manifest"
	"cairn/internal/testutil"
)

// fakeEncryptedChunk is what a hostile user uploads under another user's
// digest: a CRC-valid "encrypted" blob, which a server cannot check
// against the digest.
func fakeEncryptedChunk(n int) []byte {
	b := make([]byte, blob.EncryptedHeaderSize+n)
	copy(b, blob.MagicEncrypted[:])
	for i := blob.HeaderSize; i < len(b); i++ {
		b[i] = byte(i*7 + 3)
	}
	binary.LittleEndian.PutUint32(b[8:], crc32.ChecksumIEEE(b[blob.EncryptedHeaderSize:]))
	return b
}

func newDirStore(t *testing.T) *datastore.Datastore {
	t.Helper()
	dir := filepath.Join(testutil.TempDir(t), "store")
	if err := datastore.Create(dir); err != nil {
		t.Fatal(err)
	}
	ds, err := datastore.Open(dir, "alice@pbs")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ds.Close() })
	return ds
}

// snapshotDigests lists the chunk digests the indexes of a snapshot name.
func snapshotDigests(t *testing.T, root string, s core.Snapshot) [][32]byte {
	t.Helper()
	idx, _ := filepath.Glob(filepath.Join(root, string(s.Type), s.ID, s.TimeString(), "*.?idx"))
	if len(idx) == 0 {
		t.Fatalf("no index files in %s", s)
	}
	var out [][32]byte
	for _, p := range idx {
		data, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		ix, err := index.Open(data)
		if err != nil {
			t.Fatal(err)
		}
		for i := 0; i < ix.Count(); i++ {
			out = append(out, ix.ChunkDigest(i))
		}
	}
	return out
}

func chunkFile(root string, d [32]byte) string {
	h := hex.EncodeToString(d[:])
	return filepath.Join(root, ".chunks", h[:4], h)
}

func verifyOK(t *testing.T, ds *datastore.Datastore, s core.Snapshot) {
	t.Helper()
	rep, err := ds.Verify(context.Background(), "", nil, &s, nil)
	if err != nil {
		t.Fatalf("verify %s: %v", s, err)
	}
	if rep.Failed() != 0 || len(rep.BadChunks) != 0 || len(rep.Snapshots) != 1 {
		t.Fatalf("verify %s: %+v", s, rep)
	}
}

// Item 4 of issue 16, on a directory store: bob uploads fake chunks under
// the digests of alice's data and holds them uncommitted; alice backs up
// and verifies; bob commits. Alice's snapshot must still verify and
// restore byte-identical: a commit never replaces a stored chunk.
func TestHeldFakeChunksNeverReplaceStoredOnes(t *testing.T) {
	src := filepath.Join(t.TempDir(), "src")
	makeTree(t, src)
	alice := core.Snapshot{Group: core.Group{Type: core.TypeHost, ID: "alice"}, Time: 1700000000}

	// The digests alice's backup will have, learnt from a scratch store.
	probe := newDirStore(t)
	if err := runBackup(t, probe, "alice", alice.Time, src); err != nil {
		t.Fatal(err)
	}
	digests := snapshotDigests(t, probe.Root(), alice)

	ds := newDirStore(t)
	bob := core.Snapshot{Group: core.Group{Type: core.TypeHost, ID: "bob"}, Time: 1700000000}
	bw, err := ds.StartBackup(context.Background(), core.BackupOptions{Snapshot: bob, Owner: "bob@pbs"})
	if err != nil {
		t.Fatal(err)
	}
	fake := fakeEncryptedChunk(4096)
	for _, d := range digests {
		if _, _, err := bw.UploadChunk(d, 4096, func() ([]byte, error) { return fake, nil }); err != nil {
			t.Fatal(err)
		}
	}

	if err := runBackup(t, ds, "alice", alice.Time, src); err != nil {
		t.Fatal(err)
	}
	verifyOK(t, ds, alice)
	restoreAndCompare(t, ds, alice.String(), src)

	// Bob commits his held chunks (an index write commits them, as Finish does).
	if err := bw.WriteFile("x.img.fidx", []byte("whatever")); err != nil {
		t.Fatal(err)
	}
	if err := bw.Finish([]byte("manifest")); err != nil {
		t.Fatal(err)
	}
	for _, d := range digests {
		got, err := os.ReadFile(chunkFile(ds.Root(), d))
		if err != nil {
			t.Fatal(err)
		}
		if bytes.Equal(got, fake) {
			t.Fatalf("chunk %x was replaced by bob's fake", d)
		}
	}
	verifyOK(t, ds, alice)
	restoreAndCompare(t, ds, alice.String(), src)
	// No temporary file of bob's is left behind.
	tmps, _ := filepath.Glob(filepath.Join(ds.Root(), ".chunks", "*", "*.tmp_*"))
	if len(tmps) != 0 {
		t.Fatalf("temporary chunk files left: %v", tmps)
	}
}

// Item 7 of issue 16: a chunk truncated to 0 bytes (or one that cannot be
// opened as a chunk: here a symlink) counts as missing, so a fresh backup
// stores it again instead of reporting success over it.
func TestEmptyOrUnreadableChunkIsStoredAgain(t *testing.T) {
	for _, kind := range []string{"empty", "symlink"} {
		t.Run(kind, func(t *testing.T) {
			src := filepath.Join(t.TempDir(), "src")
			makeTree(t, src)
			ds := newDirStore(t)
			first := core.Snapshot{Group: core.Group{Type: core.TypeHost, ID: "first"}, Time: 1700000000}
			if err := runBackup(t, ds, "first", first.Time, src); err != nil {
				t.Fatal(err)
			}
			digests := snapshotDigests(t, ds.Root(), first)
			good := map[[32]byte][]byte{}
			for _, d := range digests {
				p := chunkFile(ds.Root(), d)
				data, err := os.ReadFile(p)
				if err != nil {
					t.Fatal(err)
				}
				good[d] = data
				switch kind {
				case "empty":
					err = os.Truncate(p, 0)
				case "symlink":
					outside := filepath.Join(t.TempDir(), hex.EncodeToString(d[:]))
					os.WriteFile(outside, fakeEncryptedChunk(100), 0o644)
					if err = os.Remove(p); err == nil {
						err = os.Symlink(outside, p)
					}
				}
				if err != nil {
					t.Fatal(err)
				}
			}
			// A fresh group: no previous snapshot, every chunk is offered.
			again := core.Snapshot{Group: core.Group{Type: core.TypeHost, ID: "again"}, Time: 1700000100}
			if err := runBackup(t, ds, "again", again.Time, src); err != nil {
				t.Fatal(err)
			}
			for _, d := range digests {
				p := chunkFile(ds.Root(), d)
				st, err := os.Lstat(p)
				if err != nil || !st.Mode().IsRegular() || st.Size() == 0 {
					t.Fatalf("chunk %x after the new backup: %v %v", d, st, err)
				}
				if got, _ := os.ReadFile(p); !bytes.Equal(got, good[d]) {
					t.Fatalf("chunk %x differs from what was uploaded", d)
				}
			}
			verifyOK(t, ds, again)
			restoreAndCompare(t, ds, again.String(), src)
			restoreAndCompare(t, ds, first.String(), src)
		})
	}
}

// The backup-time bounds upstream has (issue 16, "absurd backup times"): a
// time past year 9999 made a finished snapshot no listing shows.
func TestAbsurdBackupTimesRefused(t *testing.T) {
	ds := newDirStore(t)
	for _, tm := range []int64{1 << 40, datastore.MaxBackupTime + 1, 0, -1, -1 << 40} {
		s := core.Snapshot{Group: core.Group{Type: core.TypeHost, ID: "x"}, Time: tm}
		w, err := ds.StartBackup(context.Background(), core.BackupOptions{Snapshot: s})
		if err == nil {
			w.Abort()
			t.Errorf("backup time %d accepted", tm)
			continue
		}
		if msg := err.Error(); !strings.Contains(msg, "backup time "+strconv.FormatInt(tm, 10)+" ") || strings.Contains(msg, "\n") {
			t.Errorf("backup time %d: %q", tm, msg)
		}
	}
	entries, _ := os.ReadDir(filepath.Join(ds.Root(), "host", "x"))
	for _, e := range entries {
		if e.IsDir() {
			t.Errorf("snapshot directory %s made for a refused time", e.Name())
		}
	}
	// The bounds themselves are fine and listed.
	for _, tm := range []int64{datastore.MinBackupTime, datastore.MaxBackupTime} {
		s := core.Snapshot{Group: core.Group{Type: core.TypeHost, ID: "edge"}, Time: tm}
		w, err := ds.StartBackup(context.Background(), core.BackupOptions{Snapshot: s})
		if err != nil {
			t.Fatalf("backup time %d: %v", tm, err)
		}
		m := &manifest.Manifest{BackupType: "host", BackupID: "edge", BackupTime: tm, Unprotected: map[string]any{}}
		j, err := m.Encode()
		if err != nil {
			t.Fatal(err)
		}
		mb, _ := blob.Encode(j, true, nil)
		if err := w.Finish(mb); err != nil {
			t.Fatal(err)
		}
	}
	l, err := ds.ListSnapshots("", nil)
	if err != nil || len(l) != 2 {
		t.Fatalf("listing: %v %+v", err, l)
	}
}

// asNobody runs cat as uid/gid 65534 and reports whether it read the file.
func asNobody(t *testing.T, p string) bool {
	t.Helper()
	cmd := exec.Command("cat", p)
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: 65534, Gid: 65534}}
	out, err := cmd.CombinedOutput()
	if err != nil && !strings.Contains(string(out), "ermission denied") {
		t.Fatalf("cat %s as nobody: %v: %s", p, err, out)
	}
	return err == nil
}

// Issue 16, "datastore permissions": nothing of a datastore is
// world-readable, whatever the umask, for a path repository and a server's
// datastore (CreateFull) alike; another local user reads no chunk and no
// index.
func TestDatastoreNotWorldReadable(t *testing.T) {
	old := syscall.Umask(0) // the most permissive umask
	defer syscall.Umask(old)
	for _, full := range []bool{false, true} {
		name := map[bool]string{false: "path repository", true: "server datastore"}[full]
		t.Run(name, func(t *testing.T) {
			parent := testutil.TempDir(t)
			if err := os.Chmod(parent, 0o755); err != nil {
				t.Fatal(err)
			}
			dir := filepath.Join(parent, "store")
			create := datastore.Create
			if full {
				create = datastore.CreateFull
			}
			if err := create(dir); err != nil {
				t.Fatal(err)
			}
			ds, err := datastore.Open(dir, "alice@pbs")
			if err != nil {
				t.Fatal(err)
			}
			defer ds.Close()
			src := filepath.Join(t.TempDir(), "src")
			makeTree(t, src)
			s := core.Snapshot{Group: core.Group{Type: core.TypeHost, ID: "alice"}, Time: 1700000000}
			if err := runBackup(t, ds, "alice", s.Time, src); err != nil {
				t.Fatal(err)
			}
			digests := snapshotDigests(t, dir, s)
			snapDir := filepath.Join(dir, "host", "alice", s.TimeString())
			idx, _ := filepath.Glob(filepath.Join(snapDir, "*.didx"))
			check := func(p string, want os.FileMode) {
				st, err := os.Stat(p)
				if err != nil {
					t.Fatal(err)
				}
				if st.Mode().Perm() != want {
					t.Errorf("%s: mode %o, want %o", strings.TrimPrefix(p, dir), st.Mode().Perm(), want)
				}
			}
			check(dir, 0o750)
			check(filepath.Join(dir, ".chunks"), 0o750)
			check(filepath.Dir(chunkFile(dir, digests[0])), 0o750)
			if full {
				check(filepath.Join(dir, ".chunks", "ffff"), 0o750)
			}
			check(chunkFile(dir, digests[0]), 0o640)
			check(filepath.Join(dir, "host"), 0o750)
			check(filepath.Join(dir, "host", "alice"), 0o750)
			check(filepath.Join(dir, "host", "alice", "owner"), 0o640)
			check(snapDir, 0o750)
			check(filepath.Join(snapDir, "index.json.blob"), 0o640)
			check(idx[0], 0o640)
			check(filepath.Join(dir, ".lock"), 0o640)
			// Nothing in the store has a world bit.
			filepath.Walk(dir, func(p string, st os.FileInfo, err error) error {
				if err == nil && st.Mode().Perm()&0o007 != 0 {
					t.Errorf("%s: mode %o is world-accessible", strings.TrimPrefix(p, dir), st.Mode().Perm())
				}
				return nil
			})
			if os.Geteuid() != 0 {
				t.Skip("not root: cannot run a reader as another user")
			}
			// The harness works: nobody reads a world-readable file beside the store.
			control := filepath.Join(parent, "control")
			os.WriteFile(control, []byte("x"), 0o644)
			if !asNobody(t, control) {
				t.Fatal("nobody cannot read a world-readable file: the check would prove nothing")
			}
			if asNobody(t, chunkFile(dir, digests[0])) {
				t.Error("another user read a chunk")
			}
			if asNobody(t, idx[0]) {
				t.Error("another user read an index")
			}
		})
	}
}

// Item 7 of issue 16 on S3: an empty chunk object counts as missing, so a
// fresh backup uploads the chunk again over it.
func TestS3EmptyChunkIsStoredAgain(t *testing.T) {
	m := startMinio(t)
	cfg := s3Config(m, t, "empty")
	ds := openS3(t, cfg)
	src := filepath.Join(t.TempDir(), "src")
	makeTree(t, src)
	if err := runBackup(t, ds, "first", 1700000000, src); err != nil {
		t.Fatal(err)
	}
	c, err := minio.New(m.Addr, &minio.Options{Creds: credentials.NewStaticV4(minioUser, minioPassword, ""), Secure: false})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	var emptied []string
	for _, key := range s3Objects(t, c, "empty", "store/.chunks/") {
		if key == "" || strings.HasSuffix(key, "/") {
			continue
		}
		if _, err := c.PutObject(ctx, "empty", "store/.chunks/"+key, bytes.NewReader(nil), 0, minio.PutObjectOptions{}); err != nil {
			t.Fatal(err)
		}
		emptied = append(emptied, key)
	}
	if len(emptied) == 0 {
		t.Fatal("no chunk objects")
	}
	// A new process: no cache of what was stored.
	cfg.CacheDir = filepath.Join(t.TempDir(), "cache2")
	ds2 := openS3(t, cfg)
	if err := runBackup(t, ds2, "again", 1700000100, src); err != nil {
		t.Fatal(err)
	}
	for _, key := range emptied {
		st, err := c.StatObject(ctx, "empty", "store/.chunks/"+key, minio.StatObjectOptions{})
		if err != nil || st.Size == 0 {
			t.Fatalf("chunk %s still empty after the new backup (%v)", key, err)
		}
	}
	cfg.CacheDir = filepath.Join(t.TempDir(), "cache3")
	ds3 := openS3(t, cfg)
	restoreAndCompare(t, ds3, "host/again/2023-11-14T22:15:00Z", src)
	restoreAndCompare(t, ds3, "host/first/2023-11-14T22:13:20Z", src)
}
