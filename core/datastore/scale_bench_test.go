package datastore

import (
	"context"
	"crypto/sha256"
	"encoding/binary"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"cairn/core"
	"cairn/core/blob"
	"cairn/core/index"
	"cairn/core/manifest"
)

// TestMakeScaleStore builds a datastore of many small synthetic chunks for
// bench/scale.sh, which then times `cairn garbage-collect` and `cairn verify`
// on it. It runs only with CAIRN_SCALE_STORE=DIR (a new directory) and
// CAIRN_SCALE_CHUNKS=N: snapshots whose data.pxar.didx reference N unique
// chunks of 32..95 bytes (uncompressed, unencrypted blobs) in all,
// CAIRN_SCALE_PER_SNAPSHOT of them each (default: all in one), plus N/10
// chunks no index references, dated two days back, for GC to remove.
func TestMakeScaleStore(t *testing.T) {
	dir := os.Getenv("CAIRN_SCALE_STORE")
	if dir == "" {
		t.Skip("CAIRN_SCALE_STORE not set")
	}
	n, err := strconv.Atoi(os.Getenv("CAIRN_SCALE_CHUNKS"))
	if err != nil || n <= 0 {
		t.Fatalf("CAIRN_SCALE_CHUNKS: %v", err)
	}
	if err := Create(dir); err != nil {
		t.Fatal(err)
	}
	ds, err := Open(dir, "root@pam")
	if err != nil {
		t.Fatal(err)
	}
	rng := rand.New(rand.NewPCG(15, 6))
	old := time.Now().Add(-48 * time.Hour)
	made := map[string]bool{}
	put := func(i int, orphan bool) ([32]byte, uint64) {
		data := make([]byte, 32+rng.IntN(64))
		binary.LittleEndian.PutUint64(data, uint64(i))
		for j := 8; j < len(data); j++ {
			data[j] = byte(rng.Uint32())
		}
		dg := sha256.Sum256(data)
		b, err := blob.Encode(data, false, nil)
		if err != nil {
			t.Fatal(err)
		}
		p := chunkPath(dir, dg)
		if d := filepath.Dir(p); !made[d] {
			if err := os.MkdirAll(d, dirMode); err != nil {
				t.Fatal(err)
			}
			made[d] = true
		}
		if err := os.WriteFile(p, b, fileMode); err != nil {
			t.Fatal(err)
		}
		if orphan {
			if err := os.Chtimes(p, old, old); err != nil {
				t.Fatal(err)
			}
		}
		return dg, uint64(len(data))
	}
	per := n
	if v, err := strconv.Atoi(os.Getenv("CAIRN_SCALE_PER_SNAPSHOT")); err == nil && v > 0 {
		per = v
	}
	base := time.Now().Add(-time.Hour).Unix() - int64(n/per+1)
	for first, k := 0, 0; first < n; first, k = first+per, k+1 {
		cnt := min(per, n-first)
		idx := &index.Dynamic{Ctime: time.Now().Unix(), Ends: make([]uint64, 0, cnt), Digests: make([][32]byte, 0, cnt)}
		var end uint64
		for i := first; i < first+cnt; i++ {
			dg, size := put(i, false)
			end += size
			idx.Ends = append(idx.Ends, end)
			idx.Digests = append(idx.Digests, dg)
		}
		writeScaleSnapshot(t, ds, idx, base+int64(k))
	}
	for i := range n / 10 {
		put(n+i, true)
	}
	t.Logf("%d referenced chunks in snapshots of %d, %d orphans", n, per, n/10)
}

func writeScaleSnapshot(t *testing.T, ds *Datastore, idx *index.Dynamic, when int64) {
	t.Helper()
	s := core.Snapshot{Group: core.Group{Type: core.TypeHost, ID: "scale"}, Time: when}
	w, err := ds.StartBackup(context.Background(), core.BackupOptions{Snapshot: s})
	if err != nil {
		t.Fatal(err)
	}
	if err := w.WriteFile("data.pxar.didx", idx.Encode()); err != nil {
		t.Fatal(err)
	}
	csum := idx.Csum()
	m := &manifest.Manifest{BackupType: "host", BackupID: "scale", BackupTime: when, Unprotected: map[string]any{},
		Files: []manifest.File{{Filename: "data.pxar.didx", CryptMode: "none", Size: idx.Size(), Csum: fmt.Sprintf("%x", csum[:])}}}
	data, err := m.Encode()
	if err != nil {
		t.Fatal(err)
	}
	mb, _ := blob.Encode(data, true, nil)
	if err := w.Finish(mb); err != nil {
		t.Fatal(err)
	}
}
