package pxar

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"

	"golang.org/x/sys/unix"

	"cairn/pxar/pattern"
)

// ExtractOptions controls Extract.
type ExtractOptions struct {
	AllowExistingDirs bool
	// Overwrite replaces existing files, symlinks and hardlinks: all three
	// Overwrite* flags below at once (--overwrite).
	Overwrite bool
	// OverwriteFiles lets a file entry replace an existing non-directory
	// at its path (--overwrite-files). Device nodes, fifos and sockets
	// count as files here: upstream has no flag of their own for them.
	OverwriteFiles bool
	// OverwriteSymlinks lets a symlink entry replace an existing
	// non-directory (--overwrite-symlinks).
	OverwriteSymlinks bool
	// OverwriteHardlinks lets a hardlink entry replace an existing
	// non-directory (--overwrite-hardlinks).
	OverwriteHardlinks bool
	// Without the entry kind's flag, an existing entry is an error.
	// Directories are never replaced (see AllowExistingDirs).

	// The parts of the metadata not to restore, as upstream's feature
	// flags (pbs-client Flags): IgnoreACLs drops WITH_ACL (access and
	// default ACLs), IgnoreXattrs WITH_XATTRS (plain extended attributes;
	// file capabilities are IgnoreFCaps), IgnoreOwnership WITH_OWNER (no
	// chown), IgnorePermissions WITH_PERMISSIONS (no chmod: entries keep
	// the mode they were created with, 0600 files and 0700 directories
	// less the umask).
	IgnoreACLs        bool
	IgnoreXattrs      bool
	IgnoreFCaps       bool
	IgnoreOwnership   bool
	IgnorePermissions bool
	// IgnoreDeviceErrors turns a failure to extract a device node (mknod
	// refused, e.g. EPERM without root, or its metadata) into a warning;
	// extraction goes on (--ignore-extract-device-errors).
	IgnoreDeviceErrors bool
	// SkipDeviceNodes, SkipFifos and SkipSockets leave those entries out
	// (upstream pxar extract --no-device-nodes, --no-fifos, --no-sockets).
	SkipDeviceNodes bool
	SkipFifos       bool
	SkipSockets     bool

	// Patterns, if non-empty, select what is extracted: the last matching
	// pattern decides; entries no pattern matches inherit their directory's
	// decision (the root starts as "not selected"), as upstream does.
	Patterns  pattern.List
	OnWarning func(msg string)
	// Prelude, when set, receives a split archive's PRELUDE bytes (the
	// exclude patterns of the backup), if it has one.
	Prelude io.Writer
	// BackgroundPayload, for a split archive, is a second reader of the
	// payload stream: large files are then read through it and written in
	// the background while extraction goes on. It must be safe to use from
	// another goroutine; nil writes every file in order.
	BackgroundPayload io.ReaderAt
}

type extractDir struct {
	path    string // file system path
	meta    Metadata
	matched bool
	created bool
	// keepMeta leaves a directory's metadata alone: the restore target
	// existed before, so it is the user's, not the archive's.
	keepMeta bool
	// bgFiles counts its files still being written in the background.
	bgFiles atomic.Int32
}

type extractor struct {
	o      ExtractOptions
	dest   string
	stack  []*extractDir
	isRoot bool
	buf    []byte
	// destExisted: the target directory was there before the extract.
	destExisted bool
	bg          *bgWriter // nil: no background writes
	// lateDirs had background files unfinished at their goodbye: their
	// metadata is applied when the background writer is done.
	lateDirs []*extractDir
}

// Extract reads an archive sequentially from r and recreates it under dest
// (created if missing). Directory metadata is applied when the directory's
// GOODBYE is reached, so files written into it cannot disturb its mtime.
//
// A non-empty existing dest is refused unless AllowExistingDirs is set, as upstream
// does; its own metadata is then left as it was, unless Overwrite is set.
func Extract(r io.Reader, dest string, o ExtractOptions) error {
	return ExtractSplit(r, nil, dest, o)
}

// ExtractSplit is Extract for a split archive (spec 1.9): entries come
// sequentially from meta, file data from the payload stream at the offsets
// the entries give. A nil payload extracts a unified archive from meta.
func ExtractSplit(meta io.Reader, payload io.ReaderAt, dest string, o ExtractOptions) error {
	x, err := openExtractor(dest, o)
	if err != nil {
		return err
	}
	if payload != nil && o.BackgroundPayload != nil {
		x.bg = newBgWriter(x, o.BackgroundPayload)
	}
	err = x.run(meta, payload)
	if cerr := x.finish(); err == nil {
		err = cerr
	}
	return err
}

// finish waits for background writes, then applies the metadata of the
// directories that waited for them.
func (x *extractor) finish() error {
	if x.bg == nil {
		return nil
	}
	err := x.bg.close()
	for _, d := range x.lateDirs {
		if err == nil {
			err = x.applyMeta(d.path, &d.meta, KindDirectory)
		}
	}
	return err
}

// openExtractor checks and creates the restore target and returns an
// extractor writing into it.
func openExtractor(dest string, o ExtractOptions) (*extractor, error) {
	existed := false
	if st, err := os.Stat(dest); err == nil {
		if !st.IsDir() {
			return nil, fmt.Errorf("restore target %s exists and is not a directory", dest)
		}
		if ents, _ := os.ReadDir(dest); len(ents) > 0 && !o.AllowExistingDirs {
			return nil, fmt.Errorf("restore target %s already exists and is not empty (allow existing directories to restore into it)", dest)
		}
		existed = true
	}
	if err := os.MkdirAll(dest, 0o700); err != nil {
		return nil, fmt.Errorf("create %s: %w", dest, err)
	}
	return &extractor{o: o, dest: dest, isRoot: os.Geteuid() == 0, buf: make([]byte, 256<<10), destExisted: existed}, nil
}

func (x *extractor) run(meta io.Reader, payload io.ReaderAt) error {
	d := NewDecoder(meta)
	if payload != nil {
		d.SetPayload(payload)
	}
	if x.o.Prelude != nil {
		d.SetPreludeWriter(x.o.Prelude)
	}
	for {
		e, err := d.Next()
		if err == io.EOF {
			if len(x.stack) != 0 {
				return corruptf("archive ended inside a directory")
			}
			return nil
		}
		if err != nil {
			return err
		}
		if err := x.entry(e); err != nil {
			return err
		}
	}
}

func (x *extractor) warn(format string, args ...any) {
	if x.o.OnWarning != nil {
		x.o.OnWarning(fmt.Sprintf(format, args...))
	}
}

// safeRel turns an archive path into a relative file system path, refusing
// anything that could leave dest.
func safeRel(p string) (string, error) {
	rel := strings.TrimPrefix(p, "/")
	if rel == "" {
		return "", fmt.Errorf("pxar: empty path")
	}
	for _, c := range strings.Split(rel, "/") {
		if c == "" || c == "." || c == ".." {
			return "", fmt.Errorf("pxar: refusing path %q: bad component %q", p, c)
		}
	}
	return rel, nil
}

func (x *extractor) entry(e *Entry) error {
	if e.Kind == KindGoodbye {
		d := x.stack[len(x.stack)-1]
		x.stack = x.stack[:len(x.stack)-1]
		if d.created && !d.keepMeta {
			if x.bg != nil && x.bg.busy(d) {
				x.lateDirs = append(x.lateDirs, d)
				return nil
			}
			return x.applyMeta(d.path, &d.meta, KindDirectory)
		}
		return nil
	}
	if e.FilenameOffset < 0 { // root
		x.stack = append(x.stack, &extractDir{path: x.dest, meta: e.Metadata, matched: len(x.o.Patterns) == 0, created: true, keepMeta: x.destExisted && !x.o.Overwrite})
		return nil
	}
	if len(x.stack) == 0 {
		return corruptf("entry %q outside the root directory", e.Path)
	}
	if err := checkFilename(e.Name); err != nil {
		return err
	}
	rel, err := safeRel(e.Path)
	if err != nil {
		return err
	}
	parent := x.stack[len(x.stack)-1]
	matched := parent.matched
	if len(x.o.Patterns) > 0 {
		// Restore patterns select: a plain pattern includes, "!" excludes
		// (upstream parses them with MatchType::Include as the default),
		// the reverse of how the pattern package types exclusion lines.
		switch x.o.Patterns.Match(rel, e.Kind == KindDirectory) {
		case pattern.Exclude:
			matched = true
		case pattern.Include:
			matched = false
		}
	}
	path := filepath.Join(parent.path, string(e.Name))
	if e.Kind == KindDirectory {
		d := &extractDir{path: path, meta: e.Metadata, matched: matched}
		x.stack = append(x.stack, d)
		if matched {
			return x.ensureDirs()
		}
		return nil
	}
	if !matched {
		return nil
	}
	if err := x.ensureDirs(); err != nil {
		return err
	}
	return x.create(e, path)
}

// ensureDirs creates the directories on the stack that do not exist yet
// (directories are created lazily so pattern-filtered extracts stay minimal).
func (x *extractor) ensureDirs() error {
	for _, d := range x.stack {
		if d.created {
			continue
		}
		err := unix.Mkdir(d.path, 0o700)
		if errors.Is(err, unix.EEXIST) {
			var st unix.Stat_t
			if x.o.AllowExistingDirs && unix.Lstat(d.path, &st) == nil && st.Mode&unix.S_IFMT == unix.S_IFDIR {
				err = nil
			}
		}
		if err != nil {
			return fmt.Errorf("create directory %s: %w", d.path, err)
		}
		d.created = true
	}
	return nil
}

// overwrites reports whether an entry of kind may replace an existing
// non-directory at its path (upstream's OverwriteFlags).
func (o *ExtractOptions) overwrites(kind Kind) bool {
	if o.Overwrite {
		return true
	}
	switch kind {
	case KindSymlink:
		return o.OverwriteSymlinks
	case KindHardlink:
		return o.OverwriteHardlinks
	}
	return o.OverwriteFiles
}

// overwriteFlag names the option that lets an entry of kind replace an
// existing one, for error messages.
func overwriteFlag(kind Kind) string {
	switch kind {
	case KindSymlink:
		return "overwrite symlinks"
	case KindHardlink:
		return "overwrite hardlinks"
	}
	return "overwrite files"
}

// retryExisting runs create; if the target exists and entries of kind may
// overwrite, it removes the old non-directory entry and tries once more.
// Otherwise an existing entry is an error that names the option.
func (x *extractor) retryExisting(path string, kind Kind, create func() error) error {
	err := create()
	if !errors.Is(err, unix.EEXIST) {
		return err
	}
	if !x.o.overwrites(kind) {
		return &existsError{err: err, kind: kind}
	}
	var st unix.Stat_t
	if unix.Lstat(path, &st) == nil && st.Mode&unix.S_IFMT == unix.S_IFDIR {
		return err
	}
	if rerr := unix.Unlink(path); rerr != nil {
		return rerr
	}
	return create()
}

// existsError is an entry that is in the way and may not be replaced.
type existsError struct {
	err  error
	kind Kind
}

func (e *existsError) Error() string {
	return fmt.Sprintf("%v (%s to replace it)", e.err, overwriteFlag(e.kind))
}

func (e *existsError) Unwrap() error { return e.err }

func (x *extractor) create(e *Entry, path string) error {
	var err error
	switch e.Kind {
	case KindFile:
		if e.Contents == nil {
			return errNoPayload(e.Path)
		}
		if x.bg != nil && e.Size >= bigFile {
			if _, ok := e.Contents.(*refContents); ok {
				return x.bg.submit(path, e, x.stack[len(x.stack)-1])
			}
		}
		return x.finishFile(path, e, func(f *os.File) error {
			_, err := io.CopyBuffer(onlyWriter{f}, e.Contents, x.buf)
			return err
		})
	case KindSymlink:
		err = x.retryExisting(path, KindSymlink, func() error { return unix.Symlink(e.LinkTarget, path) })
	case KindHardlink:
		rel, terr := safeRel(e.LinkTarget)
		if terr != nil {
			return terr
		}
		target := filepath.Join(x.dest, rel)
		if x.bg != nil {
			if err := x.bg.drain(); err != nil { // the target may be in the queue
				return err
			}
		}
		err = x.retryExisting(path, KindHardlink, func() error { return unix.Link(target, path) })
		if errors.Is(err, unix.ENOENT) && len(x.o.Patterns) > 0 {
			x.warn("skip hardlink %s: target %s was not extracted", e.Path, e.LinkTarget)
			return nil
		}
		if err != nil {
			return fmt.Errorf("hardlink %s -> %s: %w", path, target, err)
		}
		return nil // a hardlink shares its target's metadata
	case KindDevice, KindFifo, KindSocket:
		if (e.Kind == KindDevice && x.o.SkipDeviceNodes) || (e.Kind == KindFifo && x.o.SkipFifos) || (e.Kind == KindSocket && x.o.SkipSockets) {
			return nil
		}
		err := x.special(e, path)
		if err != nil && e.Kind == KindDevice && x.o.IgnoreDeviceErrors {
			// Upstream's --ignore-extract-device-errors: any error of a
			// device node's extraction is passed over.
			x.warn("ignoring error extracting device node %s: %v", e.Path, err)
			return nil
		}
		return err
	default:
		return fmt.Errorf("pxar: cannot extract %s of kind %s", e.Path, e.Kind)
	}
	if err != nil {
		return fmt.Errorf("extract %s: %w", path, err)
	}
	return x.applyMeta(path, &e.Metadata, e.Kind)
}

// special creates a device node, fifo or socket and applies its metadata.
func (x *extractor) special(e *Entry, path string) error {
	dev := 0
	if e.Kind == KindDevice {
		dev = int(unix.Mkdev(uint32(e.Device.Major), uint32(e.Device.Minor)))
	}
	mode := uint32(e.Stat.FileType()) | 0o600
	if err := x.retryExisting(path, e.Kind, func() error { return unix.Mknod(path, mode, dev) }); err != nil {
		return fmt.Errorf("extract %s: %w", path, err)
	}
	return x.applyMeta(path, &e.Metadata, e.Kind)
}

// finishFile creates a regular file (replacing an old one when allowed),
// fills it with write and applies its metadata; the extractor and the
// background writer both use it.
func (x *extractor) finishFile(path string, e *Entry, write func(*os.File) error) error {
	err := x.retryExisting(path, KindFile, func() error {
		f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
		if err != nil {
			return err
		}
		if err := write(f); err != nil {
			f.Close()
			return err
		}
		return f.Close()
	})
	if err != nil {
		return fmt.Errorf("extract %s: %w", path, err)
	}
	return x.applyMeta(path, &e.Metadata, KindFile)
}

// onlyWriter hides ReadFrom so CopyBuffer uses our buffer and plain writes.
type onlyWriter struct{ w io.Writer }

func (o onlyWriter) Write(p []byte) (int, error) { return o.w.Write(p) }

// applyMeta restores ownership, xattrs, fcaps, ACLs, mode and mtime in an
// order where no step undoes an earlier one (chown clears set-id bits and
// capabilities, so it goes first). The Ignore* options leave parts out.
func (x *extractor) applyMeta(path string, m *Metadata, kind Kind) error {
	st := &m.Stat
	if x.isRoot && !x.o.IgnoreOwnership {
		if err := unix.Lchown(path, int(st.UID), int(st.GID)); err != nil {
			return fmt.Errorf("chown %s: %w", path, err)
		}
	}
	if kind != KindSymlink {
		if !x.o.IgnoreXattrs {
			for _, xa := range m.Xattrs {
				if err := unix.Lsetxattr(path, string(xa.Name), xa.Value, 0); err != nil {
					x.warn("%s: cannot set xattr %s: %v", path, xa.Name, err)
				}
			}
		}
		if m.FCaps != nil && !x.o.IgnoreFCaps {
			if err := unix.Lsetxattr(path, xattrFCaps, m.FCaps, 0); err != nil {
				x.warn("%s: cannot set file capabilities: %v", path, err)
			}
		}
		if !x.o.IgnorePermissions {
			if err := unix.Chmod(path, uint32(st.Mode&0o7777)); err != nil {
				return fmt.Errorf("chmod %s: %w", path, err)
			}
		}
		if !x.o.IgnoreACLs {
			x.applyACLs(path, m, kind)
		}
	}
	ts := []unix.Timespec{
		{Nsec: unix.UTIME_NOW}, // the archive stores no atime
		{Sec: st.MtimeSec, Nsec: int64(st.MtimeNsec)},
	}
	if err := unix.UtimesNanoAt(unix.AT_FDCWD, path, ts, unix.AT_SYMLINK_NOFOLLOW); err != nil {
		return fmt.Errorf("set mtime of %s: %w", path, err)
	}
	return nil
}

// applyACLs sets the access ACL and, on a directory, the default ACL.
func (x *extractor) applyACLs(path string, m *Metadata, kind Kind) {
	if b := accessACLXattr(&m.ACL, m.Stat.Mode); b != nil {
		if err := unix.Lsetxattr(path, xattrACLAccess, b, 0); err != nil {
			x.warn("%s: cannot set ACL: %v", path, err)
		}
	}
	if kind == KindDirectory {
		if b := defaultACLXattr(&m.ACL); b != nil {
			if err := unix.Lsetxattr(path, xattrACLDefault, b, 0); err != nil {
				x.warn("%s: cannot set default ACL: %v", path, err)
			}
		}
	}
}
