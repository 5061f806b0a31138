package realserver

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	"cairn/core"
	"cairn/core/backup"
	"cairn/core/snapshot"
	"cairn/keys"
	"cairn/pxar"
)

// Metadata change detection over the network: the second backup injects
// the previous snapshot's payload chunks, which the server must accept as
// known, and stores no new payload chunk for unchanged files.
func TestRealServerMetadataMode(t *testing.T) {
	e := newEnv(t)
	repo := e.repo(t, "alice@pbs", "alice@pbs-pw")
	src := filepath.Join(t.TempDir(), "src")
	for i := range 60 {
		p := filepath.Join(src, fmt.Sprintf("d%d/f%02d", i%3, i))
		os.MkdirAll(filepath.Dir(p), 0o755)
		os.WriteFile(p, bytes.Repeat([]byte(fmt.Sprintf("file %d ", i)), 3000+i*100), 0o644)
	}
	var key [32]byte
	key[0] = 7
	crypt, err := keys.NewCryptConfig(key)
	if err != nil {
		t.Fatal(err)
	}
	sp, _ := backup.ParseSpec("root.pxar:" + src)
	run := func(when int64) *core.ReuseSummary {
		t.Helper()
		var sum *core.ReuseSummary
		var newPayload uint64
		_, err := backup.Run(context.Background(), backup.Options{Repo: repo,
			Snapshot: core.Snapshot{Group: core.Group{Type: core.TypeHost, ID: "split"}, Time: when},
			Specs:    []backup.Spec{sp}, ChunkSize: 64 << 10, ChangeDetection: backup.ModeMetadata,
			Crypt: crypt, CryptMode: "encrypt",
			Events: func(ev core.Event) {
				if ev.Reuse != nil {
					sum = ev.Reuse
				}
				if ev.Kind == core.EventArchiveDone && ev.Progress.Archive == "root.ppxar.didx" {
					newPayload = ev.Progress.ChunksNew
				}
			}})
		if err != nil {
			t.Fatalf("backup: %v", err)
		}
		if sum.ReusedFiles == sum.Files && newPayload > 1 {
			t.Errorf("unchanged backup uploaded %d payload chunks", newPayload)
		}
		return sum
	}
	run(1700000000)
	if s := run(1700000100); s.ReusedFiles != 60 {
		t.Fatalf("second backup reused %d of 60 files", s.ReusedFiles)
	}
	when := time.Unix(1767225600, 0)
	os.WriteFile(filepath.Join(src, "d1/f01"), []byte("changed"), 0o644)
	os.Chtimes(filepath.Join(src, "d1/f01"), when, when)
	if s := run(1700000200); s.ChangedFiles == 0 || s.ReusedFiles == 0 {
		t.Fatalf("mutated backup: %+v", s)
	}

	// Every file reads back through its payload reference.
	snap, err := snapshot.Open(context.Background(), repo, "", core.Snapshot{Group: core.Group{Type: core.TypeHost, ID: "split"}, Time: 1700000200})
	if err != nil {
		t.Fatal(err)
	}
	defer snap.Close()
	if err := snap.UseKey(crypt); err != nil {
		t.Fatal(err)
	}
	meta, err := snap.ReadAll(context.Background(), "root.mpxar.didx")
	if err != nil {
		t.Fatal(err)
	}
	payload, err := snap.ReadAll(context.Background(), "root.ppxar.didx")
	if err != nil {
		t.Fatal(err)
	}
	d := pxar.NewDecoder(bytes.NewReader(meta))
	files := 0
	for {
		ent, err := d.Next()
		if err != nil {
			break
		}
		if ent.Kind != pxar.KindFile {
			continue
		}
		files++
		want, _ := os.ReadFile(filepath.Join(src, ent.Path))
		got := payload[ent.PayloadOffset+16 : ent.PayloadOffset+16+ent.Size]
		if !bytes.Equal(got, want) {
			t.Errorf("%s: data differs", ent.Path)
		}
	}
	if files != 60 {
		t.Fatalf("%d files in the archive", files)
	}
}
