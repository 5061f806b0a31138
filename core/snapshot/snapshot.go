package snapshot

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"sort"

	"cairn/core"
	"cairn/core/blob"
	"cairn/core/index"
	"cairn/core/manifest"
	"cairn/keys"
)

// Resolve turns "type/id/time" or "type/id" (the group's newest
// snapshot) into a snapshot of the repository.
func Resolve(repo core.Repository, ns core.Namespace, arg string) (core.Snapshot, error) {
	snap, isGroup, err := core.ParseGroupOrSnapshot(arg)
	if err != nil {
		return core.Snapshot{}, err
	}
	if !isGroup {
		return snap, nil
	}
	list, err := repo.ListSnapshots(ns, &snap.Group)
	if err != nil {
		return core.Snapshot{}, err
	}
	var finished []core.SnapshotInfo
	for _, s := range list {
		if s.Finished {
			finished = append(finished, s)
		}
	}
	if len(finished) == 0 {
		return core.Snapshot{}, core.NotFoundf("backup group %s does not contain any snapshots.", snap.Group)
	}
	sort.Slice(finished, func(i, j int) bool { return finished[i].Snapshot.Time > finished[j].Snapshot.Time })
	return finished[0].Snapshot, nil
}

// Snapshot is an open snapshot with its verified manifest.
type Snapshot struct {
	Reader      core.SnapshotReader
	Manifest    *manifest.Manifest
	ManifestRaw []byte // the blob as stored
	// Crypt is the key, once UseKey accepted it.
	Crypt *keys.CryptConfig
}

// KeyFingerprint is the fingerprint the manifest records, "" if none.
func (s *Snapshot) KeyFingerprint() string {
	fp, _ := s.Manifest.Unprotected["key-fingerprint"].(string)
	return fp
}

// NeedsKey tells whether any file of the snapshot is encrypted.
func (s *Snapshot) NeedsKey() bool {
	for _, f := range s.Manifest.Files {
		if f.CryptMode == "encrypt" {
			return true
		}
	}
	return false
}

// UseKey checks that c is the key the snapshot was made with and verifies
// the manifest signature with it.
func (s *Snapshot) UseKey(c *keys.CryptConfig) error {
	if fp := s.KeyFingerprint(); fp != "" {
		want, err := keys.ParseFingerprint(fp)
		if err != nil {
			return fmt.Errorf("manifest of %s: %w", s.Reader.Snapshot(), err)
		}
		if want != c.Fingerprint() {
			return fmt.Errorf("wrong key - manifest's key %s does not match provided key %s", want.Short(), c.Fingerprint().Short())
		}
	}
	if s.Manifest.Signature != "" {
		if err := s.Manifest.Verify(c.IDKey()); err != nil {
			return fmt.Errorf("manifest of %s: signature check failed (tampered manifest or wrong key): %w", s.Reader.Snapshot(), core.ErrCorrupt)
		}
	}
	s.Crypt = c
	return nil
}

// Unlock loads and checks the key when one was named, or when the snapshot
// was made with one. load may be nil when no key is available at all.
func (s *Snapshot) Unlock(load func() (*keys.CryptConfig, error), explicit bool) error {
	if load == nil || (!explicit && s.KeyFingerprint() == "" && !s.NeedsKey()) {
		return nil
	}
	c, err := load()
	if err != nil {
		return err
	}
	if c == nil {
		return nil
	}
	return s.UseKey(c)
}

// cryptFor gives the key a file's chunks are sealed with, or a clear error
// when the file is encrypted and no key was given.
func (s *Snapshot) cryptFor(f *manifest.File) (*keys.CryptConfig, error) {
	if f.CryptMode != "encrypt" {
		return nil, nil
	}
	if s.Crypt == nil {
		return nil, &MissingKeyError{File: f.Filename}
	}
	return s.Crypt, nil
}

// MissingKeyError says a file is encrypted and no key was given.
type MissingKeyError struct{ File string }

func (e *MissingKeyError) Error() string {
	return fmt.Sprintf("archive '%s' is encrypted - missing key (use --keyfile or create the default key)", e.File)
}

// Stream opens a chunk reader over an index file of the snapshot.
func (s *Snapshot) Stream(ctx context.Context, name string) (*ChunkReader, index.Index, error) {
	idx, f, err := s.Index(name)
	if err != nil {
		return nil, nil, err
	}
	c, err := s.cryptFor(f)
	if err != nil {
		return nil, nil, err
	}
	return NewChunkReader(ctx, s.Reader, idx, c, 4), idx, nil
}

// Open opens a snapshot and loads its manifest.
func Open(ctx context.Context, repo core.Repository, ns core.Namespace, snap core.Snapshot) (*Snapshot, error) {
	r, err := repo.OpenSnapshot(ctx, ns, snap)
	if err != nil {
		return nil, err
	}
	raw, err := r.ReadFile(manifest.BlobName)
	if err != nil {
		r.Close()
		return nil, fmt.Errorf("manifest of %s: %w", snap, err)
	}
	data, err := blob.Decode(raw, nil)
	if err != nil {
		r.Close()
		return nil, fmt.Errorf("manifest of %s is corrupt: %w", snap, err)
	}
	m, err := manifest.Parse(data)
	if err != nil {
		r.Close()
		return nil, fmt.Errorf("manifest of %s: %w", snap, err)
	}
	return &Snapshot{Reader: r, Manifest: m, ManifestRaw: raw}, nil
}

// Close releases the snapshot.
func (s *Snapshot) Close() error { return s.Reader.Close() }

// File returns the manifest entry of a stored file name, or a clear error.
func (s *Snapshot) File(name string) (*manifest.File, error) {
	f, ok := s.Manifest.Lookup(name)
	if !ok {
		return nil, core.NotFoundf("manifest does not contain file '%s'", name)
	}
	return f, nil
}

// Index loads an index file and checks it against the manifest (formats.md 6.3).
func (s *Snapshot) Index(name string) (index.Index, *manifest.File, error) {
	f, err := s.File(name)
	if err != nil {
		return nil, nil, err
	}
	raw, err := s.Reader.ReadFile(name)
	if err != nil {
		return nil, nil, err
	}
	idx, err := index.Open(raw)
	if err != nil {
		return nil, nil, fmt.Errorf("index %s is corrupt: %w", name, err)
	}
	csum := idx.Csum()
	if fmt.Sprintf("%x", csum[:]) != f.Csum || idx.Size() != f.Size {
		return nil, nil, fmt.Errorf("index %s does not match the manifest (checksum or size differ): %w", name, core.ErrCorrupt)
	}
	return idx, f, nil
}

// Blob loads a blob file, checks it against the manifest and decodes it.
func (s *Snapshot) Blob(name string) ([]byte, error) {
	f, err := s.File(name)
	if err != nil && name == manifest.ClientLogName {
		return s.clientLog()
	}
	if err != nil {
		return nil, err
	}
	raw, err := s.Reader.ReadFile(name)
	if err != nil {
		return nil, err
	}
	sum := sha256.Sum256(raw)
	if fmt.Sprintf("%x", sum[:]) != f.Csum || uint64(len(raw)) != f.Size {
		return nil, fmt.Errorf("blob %s does not match the manifest (checksum or size differ): %w", name, core.ErrCorrupt)
	}
	if name == manifest.EncryptedKeyName {
		// Listed as encrypted when the backup was, yet stored plain (its
		// payload is RSA-sealed): the master key's way back in needs no key.
		if k, err := blob.KindOf(raw); err == nil && !k.Encrypted {
			f = &manifest.File{Filename: name, CryptMode: "none"}
		}
	}
	return s.decodeBlob(f, raw)
}

// decodeBlob decodes a blob file with the key its entry asks for.
func (s *Snapshot) decodeBlob(f *manifest.File, raw []byte) ([]byte, error) {
	c, err := s.cryptFor(f)
	if err != nil {
		return nil, err
	}
	var ci blob.Cipher
	if c != nil {
		ci = c
	}
	data, err := blob.Decode(raw, ci)
	if err != nil {
		return nil, fmt.Errorf("blob %s: %w", f.Filename, err)
	}
	return data, nil
}

// clientLog reads the uploaded client log. With no manifest entry to check
// it against, its own CRC (and, when encrypted, the GCM tag) vouch for it;
// the blob's magic says whether the key is needed.
func (s *Snapshot) clientLog() ([]byte, error) {
	raw, err := s.Reader.ReadFile(manifest.ClientLogName)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) || errors.Is(err, core.ErrNotFound) {
			return nil, fmt.Errorf("archive '%s' not found in snapshot %s: %w", manifest.ClientLogName, s.Reader.Snapshot(), core.ErrNotFound)
		}
		return nil, err
	}
	kind, err := blob.KindOf(raw)
	if err != nil {
		return nil, fmt.Errorf("blob %s: %w", manifest.ClientLogName, err)
	}
	mode := "none"
	if kind.Encrypted {
		mode = "encrypt"
	}
	return s.decodeBlob(&manifest.File{Filename: manifest.ClientLogName, CryptMode: mode}, raw)
}

// ReadAll reads a whole dynamic or fixed stream into memory (catalogs).
func (s *Snapshot) ReadAll(ctx context.Context, name string) ([]byte, error) {
	cr, _, err := s.Stream(ctx, name)
	if err != nil {
		return nil, err
	}
	defer cr.Close()
	return io.ReadAll(cr)
}
