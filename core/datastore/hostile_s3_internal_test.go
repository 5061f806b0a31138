package datastore

import (
	"bytes"
	"crypto/sha256"
	"path/filepath"
	"testing"

	"github.com/minio/minio-go/v7"

	"cairn/core/blob"
	"cairn/internal/testutil"
)

func openTestS3(t *testing.T, m *testutil.MinIO, bucket string) (*Datastore, *s3Backend) {
	t.Helper()
	cfg := S3Config{Endpoint: m.Addr, Bucket: bucket, Prefix: "store", AccessKey: m.User, SecretKey: m.Password,
		PathStyle: true, Insecure: true, CacheDir: filepath.Join(t.TempDir(), "cache"), CacheBytes: 64 << 20, MaxRetries: 2}
	if err := CreateS3(cfg); err != nil {
		t.Fatal(err)
	}
	ds, err := OpenS3(cfg, "alice@pbs")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ds.Close() })
	return ds, ds.backend.(*s3Backend)
}

// Item 4 of issue 16 on S3: an upload decides by HEAD that a chunk is
// missing, then PUTs it; another backup may store the chunk in between.
// The late PUT (here bob's fake, sent after alice's chunk was stored) must
// not replace the stored object, nor land in the local chunk cache.
func TestS3LatePutNeverReplacesStoredChunk(t *testing.T) {
	m := testutil.StartMinIO(t, "cairn-test-user", "cairn-test-secret-0123456789")
	ds, b := openTestS3(t, m, "race")
	plain := bytes.Repeat([]byte("alice's data "), 1000)
	good, _ := blob.Encode(plain, true, nil)
	dg := sha256.Sum256(plain)
	if existed, err := ds.Backend().InsertChunk(dg, good); err != nil || existed {
		t.Fatal(existed, err)
	}
	fake := append(append([]byte{}, blob.MagicEncrypted[:]...), bytes.Repeat([]byte{9}, 200)...)
	if err := b.putChunk(dg, fake); err != nil {
		t.Fatal(err)
	}
	if err := b.Sync(); err != nil {
		t.Fatal(err)
	}
	stored, err := b.get(chunkKey(dg))
	if err != nil || !bytes.Equal(stored, good) {
		t.Fatalf("stored chunk replaced (err %v, %d bytes)", err, len(stored))
	}
	if got, err := ds.Backend().ReadChunk(dg); err != nil || !bytes.Equal(got, good) {
		t.Fatalf("read chunk (cached) differs: %v", err)
	}

	// An empty object is replaced, and only with If-Match on it.
	var dg2 [32]byte
	dg2[0] = 0x42
	if _, err := b.put(chunkKey(dg2), nil, minio.PutObjectOptions{}); err != nil {
		t.Fatal(err)
	}
	if ok, err := b.TouchChunk(dg2); err != nil || ok {
		t.Fatalf("empty chunk object counted as stored: %v %v", ok, err)
	}
	if err := b.putChunk(dg2, good); err != nil {
		t.Fatal(err)
	}
	if stored, err := b.get(chunkKey(dg2)); err != nil || !bytes.Equal(stored, good) {
		t.Fatalf("empty chunk object not replaced: %v, %d bytes", err, len(stored))
	}
}
