// Package snapshottest writes snapshots with pxar archives of both forms —
// unified (NAME.pxar.didx with catalog.pcat1.didx) and split
// (NAME.mpxar.didx + NAME.ppxar.didx, no catalog) — straight into a
// repository, for the tests of everything that reads them.
package snapshottest

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"testing"

	"cairn/core"
	"cairn/core/blob"
	"cairn/core/catalog"
	"cairn/core/index"
	"cairn/core/manifest"
	"cairn/keys"
	"cairn/pxar"
	"cairn/pxar/pxartest"
)

// Archive is one pxar archive of a snapshot.
type Archive struct {
	Name  string // NAME of NAME.pxar
	Dir   string // the directory archived
	Split bool
	// Layout shapes a split archive's payload stream (gaps, reused payload).
	Layout pxartest.Options
	// DropPayload leaves a split archive's payload stream out: a broken
	// snapshot.
	DropPayload bool
	// Meta, when set, is stored as the archive instead of one made of Dir:
	// crafted streams (hostile archives). With Payload it is a split
	// pair's metadata stream, without a unified archive (and left out of
	// the catalog).
	Meta, Payload []byte
}

// Options tune the written snapshot; the zero value is plain chunks of 64
// KiB in a group owned by root@pam.
type Options struct {
	ChunkSize int
	Owner     string
	// Crypt, when set, encrypts the chunks and signs the manifest.
	Crypt *keys.CryptConfig
	// NoCatalog leaves catalog.pcat1.didx out even for unified archives.
	NoCatalog bool
}

// Write stores a finished snapshot holding the archives. Unified archives
// share one catalog, as a backup makes it; split archives get none.
func Write(t testing.TB, repo core.Repository, ns core.Namespace, snap core.Snapshot, o Options, archives ...Archive) {
	t.Helper()
	if err := write(repo, ns, snap, o, archives); err != nil {
		t.Fatalf("write snapshot %s: %v", snap, err)
	}
}

type writer struct {
	w     core.BackupWriter
	o     Options
	files []manifest.File
}

func write(repo core.Repository, ns core.Namespace, snap core.Snapshot, o Options, archives []Archive) error {
	if o.ChunkSize <= 0 {
		o.ChunkSize = 64 << 10
	}
	if o.Owner == "" {
		o.Owner = "root@pam"
	}
	bw, err := repo.StartBackup(context.Background(), core.BackupOptions{Namespace: ns, Snapshot: snap, Owner: o.Owner})
	if err != nil {
		return err
	}
	w := &writer{w: bw, o: o}
	if err := w.archives(archives); err != nil {
		bw.Abort()
		return err
	}
	if err := w.finish(snap); err != nil {
		bw.Abort()
		return err
	}
	return nil
}

func (w *writer) archives(archives []Archive) error {
	var cat bytes.Buffer
	cw, err := catalog.NewWriter(&cat)
	if err != nil {
		return err
	}
	unified := false
	for _, a := range archives {
		if a.Meta != nil {
			if a.Payload == nil {
				if err := w.stream(a.Name+".pxar.didx", a.Meta); err != nil {
					return err
				}
				continue
			}
			if err := w.stream(a.Name+".mpxar.didx", a.Meta); err != nil {
				return err
			}
			if err := w.stream(a.Name+".ppxar.didx", a.Payload); err != nil {
				return err
			}
			continue
		}
		if a.Split {
			if err := w.split(a); err != nil {
				return err
			}
			continue
		}
		unified = true
		name := a.Name + ".pxar.didx"
		if err := cw.StartDirectory([]byte(name)); err != nil {
			return err
		}
		var buf bytes.Buffer
		if err := pxar.Create(&buf, a.Dir, pxar.CreateOptions{Catalog: cw}); err != nil {
			return err
		}
		if err := cw.EndDirectory(); err != nil {
			return err
		}
		if err := w.stream(name, buf.Bytes()); err != nil {
			return err
		}
	}
	if !unified || w.o.NoCatalog {
		return nil
	}
	if err := cw.Finish(); err != nil {
		return err
	}
	return w.stream(manifest.CatalogName, cat.Bytes())
}

func (w *writer) split(a Archive) error {
	var buf bytes.Buffer
	if err := pxar.Create(&buf, a.Dir, pxar.CreateOptions{}); err != nil {
		return err
	}
	meta, payload, err := pxartest.Split(buf.Bytes(), a.Layout)
	if err != nil {
		return err
	}
	if err := w.stream(a.Name+".mpxar.didx", meta); err != nil {
		return err
	}
	if a.DropPayload {
		return nil
	}
	return w.stream(a.Name+".ppxar.didx", payload)
}

// stream stores data as a dynamic index cut into fixed-size chunks (any
// cut points make a valid index).
func (w *writer) stream(name string, data []byte) error {
	up, err := core.BeginArchive(w.w, core.Archive{Name: name})
	if err != nil {
		return err
	}
	idx := &index.Dynamic{Ctime: 1700000000}
	for off := 0; off < len(data); off += w.o.ChunkSize {
		chunk := data[off:min(off+w.o.ChunkSize, len(data))]
		digest, err := w.upload(up, chunk)
		if err != nil {
			return fmt.Errorf("%s: %w", name, err)
		}
		idx.Ends = append(idx.Ends, uint64(off+len(chunk)))
		idx.Digests = append(idx.Digests, digest)
	}
	if err := w.w.WriteFile(name, idx.Encode()); err != nil {
		return err
	}
	csum := idx.Csum()
	w.files = append(w.files, manifest.File{Filename: name, CryptMode: w.cryptMode(), Size: idx.Size(), Csum: hex.EncodeToString(csum[:])})
	return nil
}

func (w *writer) upload(up core.ChunkUploader, chunk []byte) ([32]byte, error) {
	digest := sha256.Sum256(chunk)
	var c blob.Cipher
	if w.o.Crypt != nil {
		digest, c = w.o.Crypt.Digest(chunk), w.o.Crypt
	}
	_, _, err := up.UploadChunk(digest, uint64(len(chunk)), func() ([]byte, error) {
		return blob.Encode(chunk, true, c)
	})
	return digest, err
}

func (w *writer) cryptMode() string {
	if w.o.Crypt != nil {
		return "encrypt"
	}
	return "none"
}

func (w *writer) finish(snap core.Snapshot) error {
	m := &manifest.Manifest{BackupType: string(snap.Type), BackupID: snap.ID, BackupTime: snap.Time,
		Files: w.files, Unprotected: map[string]any{}}
	if c := w.o.Crypt; c != nil {
		m.Unprotected["key-fingerprint"] = c.Fingerprint().String()
		if err := m.Sign(c.IDKey()); err != nil {
			return err
		}
	}
	data, err := m.Encode()
	if err != nil {
		return err
	}
	mb, err := blob.Encode(data, true, nil)
	if err != nil {
		return err
	}
	return w.w.Finish(mb)
}
