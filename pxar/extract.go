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
	path string // file system path, for messages
	name string // name in its parent directory ("" for the root)
	// fd is the open directory once it is created (or found, with
	// AllowExistingDirs), -1 before and after: every entry in it is made
	// relative to it.
	fd      int
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
	o    ExtractOptions
	dest string
	// rootfd is the open restore target: hardlink targets are resolved
	// below it.
	rootfd int
	stack  []*extractDir
	isRoot bool
	buf    []byte
	// destExisted: the target directory was there before the extract.
	destExisted bool
	bg          *bgWriter // nil: no background writes
	// lateDirs had background files unfinished at their goodbye: their
	// metadata is applied when those files are written.
	lateDirs []*extractDir
}

// Extract reads an archive sequentially from r and recreates it under dest
// (created if missing). Directory metadata is applied when the directory's
// GOODBYE is reached, so files written into it cannot disturb its mtime.
//
// A non-empty existing dest is refused unless AllowExistingDirs is set, as upstream
// does; its own metadata is then left as it was, unless Overwrite is set.
//
// Nothing outside dest is ever written or changed: entries are made
// relative to open directory fds, one name at a time, and no symlink is
// followed (see extractfs.go). dest itself may be a symlink.
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
	defer x.close()
	if payload != nil && o.BackgroundPayload != nil {
		x.bg = newBgWriter(x, o.BackgroundPayload)
	}
	err = x.run(meta, payload)
	if err != nil && x.bg != nil {
		x.bg.abort(err) // write nothing further
	}
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
			err = x.applyMetaFD(d.fd, d.path, &d.meta, KindDirectory)
		}
		x.release(d)
	}
	x.lateDirs = nil
	return err
}

// close releases every directory fd still open (after an error, or at the
// end); background writes must be over.
func (x *extractor) close() {
	for _, d := range x.stack {
		x.release(d)
	}
	for _, d := range x.lateDirs {
		x.release(d)
	}
	x.stack, x.lateDirs = nil, nil
	if x.rootfd >= 0 {
		unix.Close(x.rootfd)
		x.rootfd = -1
	}
}

// release closes a directory's fd (the target's own stays open for
// hardlinks until close).
func (x *extractor) release(d *extractDir) {
	if d.fd >= 0 && d.fd != x.rootfd {
		unix.Close(d.fd)
	}
	d.fd = -1
}

// openExtractor checks and creates the restore target and returns an
// extractor writing into it. The target path is the user's: it is
// followed, symlinks included; nothing below it is.
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
	fd, err := unix.Open(dest, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil, fmt.Errorf("open %s: %w", dest, err)
	}
	return &extractor{o: o, dest: dest, rootfd: fd, isRoot: os.Geteuid() == 0, buf: make([]byte, 256<<10), destExisted: existed}, nil
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
	for c := range strings.SplitSeq(rel, "/") {
		if c == "" || c == "." || c == ".." {
			return "", fmt.Errorf("pxar: refusing path %q: bad component %q", p, c)
		}
	}
	return rel, nil
}

func (x *extractor) entry(e *Entry) error {
	if e.Kind == KindGoodbye {
		if len(x.stack) == 0 {
			return corruptf("GOODBYE outside a directory")
		}
		d := x.stack[len(x.stack)-1]
		x.stack = x.stack[:len(x.stack)-1]
		return x.closeDir(d)
	}
	if e.FilenameOffset < 0 { // root
		if len(x.stack) != 0 {
			return corruptf("second root directory %q", e.Path)
		}
		x.stack = append(x.stack, &extractDir{path: x.dest, fd: x.rootfd, meta: e.Metadata, matched: len(x.o.Patterns) == 0, created: true, keepMeta: x.destExisted && !x.o.Overwrite})
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
	name := string(e.Name)
	path := filepath.Join(parent.path, name)
	if e.Kind == KindDirectory {
		d := &extractDir{path: path, name: name, fd: -1, meta: e.Metadata, matched: matched}
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
	return x.create(e, x.stack[len(x.stack)-1], name, path)
}

// closeDir ends a directory at its GOODBYE: its metadata is applied now,
// or, while background files of it are unwritten, once they are.
func (x *extractor) closeDir(d *extractDir) error {
	err := x.sweepLate()
	if d.created && !d.keepMeta {
		if x.bg != nil && x.bg.busy(d) {
			x.lateDirs = append(x.lateDirs, d)
			return err
		}
		if err == nil {
			err = x.applyMetaFD(d.fd, d.path, &d.meta, KindDirectory)
		}
	}
	x.release(d)
	return err
}

// sweepLate applies the metadata of late directories whose background
// files are now written, and closes them (so at most the directories of
// queued files stay open).
func (x *extractor) sweepLate() error {
	var err error
	keep := x.lateDirs[:0]
	for _, d := range x.lateDirs {
		if x.bg.busy(d) {
			keep = append(keep, d)
			continue
		}
		if err == nil {
			err = x.applyMetaFD(d.fd, d.path, &d.meta, KindDirectory)
		}
		x.release(d)
	}
	clear(x.lateDirs[len(keep):])
	x.lateDirs = keep
	return err
}

// ensureDirs creates the directories on the stack that do not exist yet
// (directories are created lazily so pattern-filtered extracts stay
// minimal) and opens them, each relative to its parent's fd.
func (x *extractor) ensureDirs() error {
	for i, d := range x.stack {
		if d.created {
			continue
		}
		pfd := x.stack[i-1].fd // the root is always created
		err := unix.Mkdirat(pfd, d.name, 0o700)
		if err != nil && !(errors.Is(err, unix.EEXIST) && x.o.AllowExistingDirs) {
			return fmt.Errorf("create directory %s: %w", d.path, err)
		}
		fd, oerr := unix.Openat(pfd, d.name, openDirFlags, 0)
		if oerr != nil {
			if errors.Is(oerr, unix.ELOOP) || errors.Is(oerr, unix.ENOTDIR) {
				// A symlink or a non-directory is in its place.
				oerr = unix.EEXIST
			}
			return fmt.Errorf("create directory %s: %w", d.path, oerr)
		}
		d.fd = fd
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

// retryExisting runs create; if name exists in dirfd and entries of kind
// may overwrite, it removes the old non-directory entry and tries once
// more. Otherwise an existing entry is an error that names the option.
func (x *extractor) retryExisting(dirfd int, name string, kind Kind, create func() error) error {
	err := create()
	if !errors.Is(err, unix.EEXIST) {
		return err
	}
	if !x.o.overwrites(kind) {
		return &existsError{err: err, kind: kind}
	}
	var st unix.Stat_t
	if unix.Fstatat(dirfd, name, &st, unix.AT_SYMLINK_NOFOLLOW) == nil && st.Mode&unix.S_IFMT == unix.S_IFDIR {
		return err
	}
	if rerr := unix.Unlinkat(dirfd, name, 0); rerr != nil {
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

// create makes a non-directory entry called name in dir (path is its file
// system path, for messages).
func (x *extractor) create(e *Entry, dir *extractDir, name, path string) error {
	var err error
	switch e.Kind {
	case KindFile:
		if e.Contents == nil {
			return errNoPayload(e.Path)
		}
		if x.bg != nil && e.Size >= bigFile {
			if _, ok := e.Contents.(*refContents); ok {
				return x.bg.submit(dir, name, path, e)
			}
		}
		return x.finishFile(dir.fd, name, path, e, func(w io.Writer) error {
			_, err := io.CopyBuffer(w, e.Contents, x.buf)
			return err
		})
	case KindSymlink:
		err = x.retryExisting(dir.fd, name, KindSymlink, func() error { return unix.Symlinkat(e.LinkTarget, dir.fd, name) })
	case KindHardlink:
		return x.hardlink(e, dir, name, path)
	case KindDevice, KindFifo, KindSocket:
		if (e.Kind == KindDevice && x.o.SkipDeviceNodes) || (e.Kind == KindFifo && x.o.SkipFifos) || (e.Kind == KindSocket && x.o.SkipSockets) {
			return nil
		}
		err := x.special(e, dir.fd, name, path)
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
	return x.applyMetaAt(dir.fd, name, path, &e.Metadata, KindSymlink)
}

// hardlink links name in dir to the entry extracted earlier at the
// archive path e.LinkTarget. The target's directory is resolved below the
// restore target without following any symlink, so a link can only ever
// point at a file the extraction made (or found) inside the target.
func (x *extractor) hardlink(e *Entry, dir *extractDir, name, path string) error {
	rel, err := safeRel(e.LinkTarget)
	if err != nil {
		return err
	}
	if x.bg != nil {
		if err := x.bg.drain(); err != nil { // the target may be in the queue
			return err
		}
	}
	srcDir, base := x.rootfd, rel
	if i := strings.LastIndexByte(rel, '/'); i >= 0 {
		base = rel[i+1:]
		srcDir, err = openBeneath(x.rootfd, rel[:i])
		if err == nil {
			defer unix.Close(srcDir)
		}
	}
	if err == nil {
		err = x.retryExisting(dir.fd, name, KindHardlink, func() error { return unix.Linkat(srcDir, base, dir.fd, name, 0) })
	}
	if errors.Is(err, unix.ENOENT) && len(x.o.Patterns) > 0 {
		x.warn("skip hardlink %s: target %s was not extracted", e.Path, e.LinkTarget)
		return nil
	}
	if errors.Is(err, unix.ELOOP) || errors.Is(err, unix.ENOTDIR) || errors.Is(err, unix.EXDEV) {
		return fmt.Errorf("hardlink %s -> %s: the target's path leads through a symlink or out of the restore target: %w", path, e.LinkTarget, err)
	}
	if err != nil {
		return fmt.Errorf("hardlink %s -> %s: %w", path, e.LinkTarget, err)
	}
	return nil // a hardlink shares its target's metadata
}

// special creates a device node, fifo or socket and applies its metadata.
func (x *extractor) special(e *Entry, dirfd int, name, path string) error {
	dev := 0
	if e.Kind == KindDevice {
		dev = int(unix.Mkdev(uint32(e.Device.Major), uint32(e.Device.Minor)))
	}
	mode := uint32(e.Stat.FileType()) | 0o600
	if err := x.retryExisting(dirfd, name, e.Kind, func() error { return unix.Mknodat(dirfd, name, mode, dev) }); err != nil {
		return fmt.Errorf("extract %s: %w", path, err)
	}
	return x.applyMetaAt(dirfd, name, path, &e.Metadata, e.Kind)
}

// finishFile creates the regular file name in dirfd (replacing an old one
// when allowed), fills it with write and applies its metadata through its
// fd; the extractor and the background writer both use it.
func (x *extractor) finishFile(dirfd int, name, path string, e *Entry, write func(io.Writer) error) error {
	fd := -1
	err := x.retryExisting(dirfd, name, KindFile, func() error {
		var err error
		// O_EXCL: never opens what is there, a symlink or a device
		// node included.
		fd, err = unix.Openat(dirfd, name, unix.O_WRONLY|unix.O_CREAT|unix.O_EXCL|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0o600)
		return err
	})
	if err != nil {
		return fmt.Errorf("extract %s: %w", path, err)
	}
	if err := write(fdWriter(fd)); err != nil {
		unix.Close(fd)
		return fmt.Errorf("extract %s: %w", path, err)
	}
	err = x.applyMetaFD(fd, path, &e.Metadata, KindFile)
	if cerr := unix.Close(fd); err == nil && cerr != nil {
		err = fmt.Errorf("extract %s: %w", path, cerr)
	}
	return err
}

// fdWriter writes to a file descriptor (plain writes: no ReadFrom, so
// io.CopyBuffer uses the caller's buffer).
type fdWriter int

func (w fdWriter) Write(p []byte) (int, error) {
	n := 0
	for n < len(p) {
		k, err := unix.Write(int(w), p[n:])
		if errors.Is(err, unix.EINTR) {
			continue
		}
		if err != nil {
			return n, err
		}
		if k <= 0 {
			return n, io.ErrShortWrite
		}
		n += k
	}
	return n, nil
}

// times is the atime/mtime pair to set: the archive stores no atime.
func times(st *Stat) [2]unix.Timespec {
	return [2]unix.Timespec{{Nsec: unix.UTIME_NOW}, {Sec: st.MtimeSec, Nsec: int64(st.MtimeNsec)}}
}

// applyMetaFD restores ownership, xattrs, fcaps, ACLs, mode and mtime of a
// file or directory through its open fd, in an order where no step undoes
// an earlier one (chown clears set-id bits and capabilities, so it goes
// first). The Ignore* options leave parts out.
func (x *extractor) applyMetaFD(fd int, path string, m *Metadata, kind Kind) error {
	st := &m.Stat
	if x.isRoot && !x.o.IgnoreOwnership {
		if err := unix.Fchown(fd, int(st.UID), int(st.GID)); err != nil {
			return fmt.Errorf("chown %s: %w", path, err)
		}
	}
	set := func(name string, value []byte) error { return unix.Fsetxattr(fd, name, value, 0) }
	x.applyXattrs(set, path, m, kind)
	if !x.o.IgnorePermissions {
		if err := unix.Fchmod(fd, uint32(st.Mode&0o7777)); err != nil {
			return fmt.Errorf("chmod %s: %w", path, err)
		}
	}
	if !x.o.IgnoreACLs {
		x.applyACLs(set, path, m, kind)
	}
	ts := times(st)
	if err := futimens(fd, &ts); err != nil {
		return fmt.Errorf("set mtime of %s: %w", path, err)
	}
	return nil
}

// applyMetaAt restores the metadata of a symlink, device node, fifo or
// socket, which have no fd to write through: chown and utimes act on
// name in dirfd without following it; mode, xattrs and ACLs of a node go
// through fchmodat2(AT_SYMLINK_NOFOLLOW) or an O_PATH fd's /proc path.
// Symlinks have no mode, xattrs or ACLs of their own to restore.
func (x *extractor) applyMetaAt(dirfd int, name, path string, m *Metadata, kind Kind) error {
	st := &m.Stat
	if x.isRoot && !x.o.IgnoreOwnership {
		if err := unix.Fchownat(dirfd, name, int(st.UID), int(st.GID), unix.AT_SYMLINK_NOFOLLOW); err != nil {
			return fmt.Errorf("chown %s: %w", path, err)
		}
	}
	if kind != KindSymlink {
		ftype := uint32(st.FileType())
		var set func(string, []byte) error
		if x.hasXattrs(m) {
			fd, err := openNode(dirfd, name, ftype)
			if err != nil {
				x.warn("%s: cannot set xattrs: %v", path, err)
			} else {
				defer unix.Close(fd)
				p := procFD(fd)
				set = func(name string, value []byte) error { return unix.Setxattr(p, name, value, 0) }
				x.applyXattrs(set, path, m, kind)
			}
		}
		if !x.o.IgnorePermissions {
			if err := chmodNode(dirfd, name, ftype, uint32(st.Mode&0o7777)); err != nil {
				return fmt.Errorf("chmod %s: %w", path, err)
			}
		}
		if set != nil && !x.o.IgnoreACLs {
			x.applyACLs(set, path, m, kind)
		}
	}
	ts := times(st)
	if err := unix.UtimesNanoAt(dirfd, name, ts[:], unix.AT_SYMLINK_NOFOLLOW); err != nil {
		return fmt.Errorf("set mtime of %s: %w", path, err)
	}
	return nil
}

// hasXattrs reports whether applyXattrs or applyACLs would set anything.
func (x *extractor) hasXattrs(m *Metadata) bool {
	return (len(m.Xattrs) > 0 && !x.o.IgnoreXattrs) || (m.FCaps != nil && !x.o.IgnoreFCaps) ||
		(!x.o.IgnoreACLs && (len(m.ACL.Users) > 0 || len(m.ACL.Groups) > 0 || m.ACL.GroupObj != nil ||
			m.ACL.Default != nil || len(m.ACL.DefaultUsers) > 0 || len(m.ACL.DefaultGroups) > 0))
}

// applyXattrs sets the plain xattrs and file capabilities with set.
func (x *extractor) applyXattrs(set func(string, []byte) error, path string, m *Metadata, kind Kind) {
	if !x.o.IgnoreXattrs {
		for _, xa := range m.Xattrs {
			if err := set(string(xa.Name), xa.Value); err != nil {
				x.warn("%s: cannot set xattr %s: %v", path, xa.Name, err)
			}
		}
	}
	if m.FCaps != nil && !x.o.IgnoreFCaps {
		if err := set(xattrFCaps, m.FCaps); err != nil {
			x.warn("%s: cannot set file capabilities: %v", path, err)
		}
	}
}

// applyACLs sets the access ACL and, on a directory, the default ACL.
func (x *extractor) applyACLs(set func(string, []byte) error, path string, m *Metadata, kind Kind) {
	if b := accessACLXattr(&m.ACL, m.Stat.Mode); b != nil {
		if err := set(xattrACLAccess, b); err != nil {
			x.warn("%s: cannot set ACL: %v", path, err)
		}
	}
	if kind == KindDirectory {
		if b := defaultACLXattr(&m.ACL); b != nil {
			if err := set(xattrACLDefault, b); err != nil {
				x.warn("%s: cannot set default ACL: %v", path, err)
			}
		}
	}
}
