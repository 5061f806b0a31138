package restore

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"syscall"

	"cairn/core"
	"cairn/core/manifest"
	"cairn/core/snapshot"
	"cairn/internal/atomicfile"
	"cairn/keys"
	"cairn/pxar"
	"cairn/pxar/pattern"
)

// Options describe one restore.
type Options struct {
	Repo              core.Repository
	Namespace         core.Namespace
	Snapshot          string // "type/id/time" or a group for its newest snapshot
	Archive           string // as the user named it, e.g. root.pxar or index.json
	Target            string // directory or file; "-" for Stdout
	Stdout            io.Writer
	Patterns          []string
	AllowExistingDirs bool
	// Overwrite replaces existing files, symlinks and hardlinks
	// (--overwrite); the three Overwrite* flags each allow one kind
	// (--overwrite-files, -symlinks, -hardlinks). An image or blob target
	// is a file: Overwrite or OverwriteFiles replaces it.
	Overwrite          bool
	OverwriteFiles     bool
	OverwriteSymlinks  bool
	OverwriteHardlinks bool
	// The parts of a pxar archive's metadata not to restore
	// (--ignore-acls, --ignore-xattrs, --ignore-ownership,
	// --ignore-permissions), and device nodes that cannot be created
	// becoming warnings (--ignore-extract-device-errors); see
	// pxar.ExtractOptions.
	IgnoreACLs                bool
	IgnoreXattrs              bool
	IgnoreOwnership           bool
	IgnorePermissions         bool
	IgnoreExtractDeviceErrors bool
	// PreludeTarget, when set, is the file a split archive's prelude (the
	// backup's exclude patterns) is written to (--prelude-target).
	PreludeTarget string
	Events        core.Sink
	// Key loads the encryption key; KeyExplicit says the user named one
	// (--keyfile), so it is used even for unencrypted snapshots.
	Key         func() (*keys.CryptConfig, error)
	KeyExplicit bool
	// KeySource is upstream's line naming the key ("Using encryption key
	// from '…'.."), printed when a signed manifest is checked with it.
	KeySource string
}

// Run restores one archive.
func Run(ctx context.Context, o Options) error {
	var pats pattern.List
	for _, p := range o.Patterns {
		pat, err := pattern.Parse(p)
		if err != nil {
			return fmt.Errorf("invalid pattern %q: %w", p, err)
		}
		pats = append(pats, pat)
	}
	if len(pats) > 0 && o.Target == "-" {
		return fmt.Errorf("--pattern cannot be used when restoring to stdout")
	}
	s, err := o.open(ctx)
	if err != nil {
		return err
	}
	defer s.Close()

	an := manifest.ArchiveName(o.Archive)
	name := an.FileName()
	if name == manifest.EncryptedKeyName && o.Key == nil {
		o.Events.Info("Restoring encrypted key blob without original key - skipping manifest fingerprint check!")
	} else if err := s.Unlock(o.Key, o.KeyExplicit); err != nil {
		return err
	} else if s.Manifest.Signature != "" && s.Crypt != nil {
		// Upstream names the key and its fingerprint before restoring
		// from a signed manifest.
		if o.KeySource != "" {
			o.Events.Info(o.KeySource)
		}
		o.Events.Info("Fingerprint: " + s.Crypt.Fingerprint().Short())
	}
	if name == manifest.BlobName {
		// The manifest: the seed prints it as JSON (DESIGN.md decision).
		data, err := manifestJSON(s)
		if err != nil {
			return err
		}
		return writeOut(o, data)
	}
	switch {
	case an.IsBlob():
		data, err := s.Blob(name)
		if err != nil {
			return err
		}
		return writeOut(o, data)
	case an.IsPxar():
		return extractPxar(ctx, s, o, pats)
	}
	// An image, or a dynamic index that is no pxar archive (the catalog):
	// its raw stream.
	cr, _, err := s.Stream(ctx, name)
	if err != nil {
		return err
	}
	defer cr.Close()
	return copyOut(o, cr)
}

// open resolves and opens the snapshot to restore from.
func (o *Options) open(ctx context.Context) (*snapshot.Snapshot, error) {
	snap, err := snapshot.Resolve(o.Repo, o.Namespace, o.Snapshot)
	if err != nil {
		return nil, err
	}
	return snapshot.Open(ctx, o.Repo, o.Namespace, snap)
}

// extractPxar restores a unified or split pxar archive into the target
// directory; only a unified one can go to stdout, as its raw stream.
func extractPxar(ctx context.Context, s *snapshot.Snapshot, o Options, pats pattern.List) error {
	a, err := s.FindPxar(o.Archive)
	if err != nil {
		return err
	}
	if o.Target == "-" {
		if a.Split() {
			return errors.New("unable to pipe split archive")
		}
		cr, _, err := s.Stream(ctx, a.Meta)
		if err != nil {
			return err
		}
		defer cr.Close()
		_, err = io.Copy(o.Stdout, cr)
		return err
	}
	xo := o.ExtractOptions()
	xo.Patterns = pats
	if o.PreludeTarget == "" {
		return extractArchive(ctx, s, a, o.Target, xo, nil)
	}
	pf := &preludeFile{path: o.PreludeTarget, overwrite: o.overwriteFile()}
	xo.Prelude = pf
	if err := extractArchive(ctx, s, a, o.Target, xo, nil); err != nil {
		pf.Abort()
		return err
	}
	return pf.Close()
}

// ExtractOptions are the pxar extraction options the restore options ask
// for (without patterns, which Run parses).
func (o *Options) ExtractOptions() pxar.ExtractOptions {
	return pxar.ExtractOptions{
		AllowExistingDirs:  o.AllowExistingDirs,
		Overwrite:          o.Overwrite,
		OverwriteFiles:     o.OverwriteFiles,
		OverwriteSymlinks:  o.OverwriteSymlinks,
		OverwriteHardlinks: o.OverwriteHardlinks,
		IgnoreACLs:         o.IgnoreACLs,
		IgnoreXattrs:       o.IgnoreXattrs,
		IgnoreOwnership:    o.IgnoreOwnership,
		IgnorePermissions:  o.IgnorePermissions,
		IgnoreDeviceErrors: o.IgnoreExtractDeviceErrors,
		OnWarning:          func(msg string) { o.Events.Warn(msg) },
	}
}

// overwriteFile: an existing target file (image, blob, prelude) may be
// replaced.
func (o *Options) overwriteFile() bool { return o.Overwrite || o.OverwriteFiles }

// preludeFile creates the prelude target on the first write, so an archive
// without a prelude leaves no file behind; an existing file is kept unless
// overwrite. The file is written atomically: it is put in place by Close,
// after the extraction succeeded.
type preludeFile struct {
	path      string
	overwrite bool
	f         *atomicfile.File
}

func (p *preludeFile) Write(b []byte) (int, error) {
	if p.f == nil {
		if !p.overwrite {
			// Fail before extracting; CommitExclusive checks again.
			if _, err := os.Lstat(p.path); err == nil {
				return 0, &fs.PathError{Op: "open", Path: p.path, Err: syscall.EEXIST}
			}
		}
		f, err := atomicfile.Create(p.path, 0o600)
		if err != nil {
			return 0, err
		}
		p.f = f
	}
	return p.f.Write(b)
}

// Close puts the prelude in place, if the archive had one.
func (p *preludeFile) Close() error {
	if p.f == nil {
		return nil
	}
	if p.overwrite {
		return p.f.Commit()
	}
	return p.f.CommitExclusive()
}

// Abort drops a prelude written so far; the target is as it was.
func (p *preludeFile) Abort() {
	if p.f != nil {
		p.f.Abort()
	}
}

func manifestJSON(s *snapshot.Snapshot) ([]byte, error) {
	data, err := s.Manifest.Encode()
	if err != nil {
		return nil, err
	}
	return data, nil
}

// writeOut writes a decoded blob to stdout or to a new file (never over an
// existing one unless --overwrite).
func writeOut(o Options, data []byte) error {
	if o.Target == "-" {
		_, err := o.Stdout.Write(data)
		return err
	}
	return copyOut(o, bytes.NewReader(data))
}

func copyOut(o Options, r io.Reader) error {
	if o.Target == "-" {
		_, err := io.Copy(o.Stdout, r)
		return err
	}
	if !o.overwriteFile() {
		if _, err := os.Lstat(o.Target); err == nil {
			return fmt.Errorf("restore target %q already exists (use --overwrite or --overwrite-files)", o.Target)
		}
	}
	// A temp name and a rename: a failed restore leaves no partial file,
	// and an existing target as it was.
	f, err := atomicfile.Create(o.Target, 0o600)
	if err != nil {
		return fmt.Errorf("restore target %q: %w", o.Target, err)
	}
	defer f.Abort()
	if _, err := io.Copy(f, r); err != nil {
		return err
	}
	if o.overwriteFile() {
		return f.Commit()
	}
	// Refuses to replace a target that appeared meanwhile.
	if err := f.CommitExclusive(); err != nil {
		if errors.Is(err, fs.ErrExist) {
			return fmt.Errorf("restore target %q already exists (use --overwrite or --overwrite-files)", o.Target)
		}
		return fmt.Errorf("restore target %q: %w", o.Target, err)
	}
	return nil
}
