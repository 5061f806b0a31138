package pxar

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"golang.org/x/sys/unix"

	"cairn/pxar/pattern"
)

// CatalogSink receives the tree as it is archived (implemented by
// *catalog.Writer in cairn/core/catalog).
type CatalogSink interface {
	StartDirectory(name []byte) error
	EndDirectory() error
	AddFile(name []byte, size uint64, mtime int64) error
	AddSymlink(name []byte) error
	AddHardlink(name []byte) error
	AddBlockDevice(name []byte) error
	AddCharDevice(name []byte) error
	AddFifo(name []byte) error
	AddSocket(name []byte) error
}

// CreateOptions controls Create.
type CreateOptions struct {
	Excludes         []*pattern.Pattern // from --exclude, apply at root, before .pxarexclude files
	SkipLostAndFound bool
	AllFileSystems   bool
	IncludeDevs      []uint64    // st_dev values of extra file systems to descend into
	Catalog          CatalogSink // may be nil
	OnWarning        func(msg string)
	OnEntry          func(path string) // called with "/rel/path" per archived entry

	// Payload, when set, makes a split archive (format version 2): file
	// data goes here, the metadata stream to Create's w (spec 1.9).
	Payload io.Writer
	// Previous and Injector turn on metadata change detection for split
	// archives: files whose metadata match the previous snapshot are not
	// read; their old payload is injected instead.
	Previous *Previous
	Injector Injector
	Reuse    *ReuseStats // filled in when set

	// SkipE2BigXattr skips extended attributes the kernel refuses to list
	// or read with E2BIG (more than 64 KiB), instead of failing.
	SkipE2BigXattr bool
	// EntriesMax bounds the directory entries held in memory at once: the
	// names of every directory on the path being archived (upstream's
	// --entries-max, default DefaultEntriesMax). 0 means the default.
	EntriesMax int

	// Context, when set, stops the walk once it is done: Create returns
	// its error before the next entry.
	Context context.Context
	// Omit leaves entries out of the archive altogether, by device and
	// inode: the datastore a backup writes to, when it lies inside the
	// source, must not be archived into itself.
	Omit []FileID
}

// FileID names a file system object by device and inode.
type FileID struct{ Dev, Ino uint64 }

// DefaultEntriesMax is upstream's default --entries-max.
const DefaultEntriesMax = 1 << 20

const (
	excludeFile    = ".pxarexclude"
	excludeCLIFile = ".pxarexclude-cli"
)

type devIno struct{ dev, ino uint64 }

type linkTarget struct {
	path   string
	offset uint64
}

type creator struct {
	o         CreateOptions
	root      string
	enc       *Encoder
	rootDev   uint64
	patterns  pattern.List
	hardlinks map[devIno]linkTarget
	cliData   []byte // contents of the synthetic .pxarexclude-cli, nil if none
	buf       []byte
	entries   int // directory entries held now (EntriesMax)
}

// Create writes an archive of directory root to w: format version 1, or with
// o.Payload a split archive whose metadata stream is w. Memory use is
// bounded by the open directories' name lists and the hardlink map.
func Create(w io.Writer, root string, o CreateOptions) error {
	c := &creator{o: o, root: root, hardlinks: map[devIno]linkTarget{}, buf: make([]byte, 256<<10)}
	if c.o.Reuse == nil {
		c.o.Reuse = &ReuseStats{}
	}
	if c.o.EntriesMax <= 0 {
		c.o.EntriesMax = DefaultEntriesMax
	}
	c.patterns = append(c.patterns, o.Excludes...)
	if o.SkipLostAndFound {
		p, err := pattern.Parse("lost+found")
		if err != nil {
			return err
		}
		c.patterns = append(c.patterns, p)
	}
	if len(c.patterns) > 0 {
		// Legacy archives record the command-line patterns (spec 1.10, 10.5).
		var sb strings.Builder
		for _, p := range c.patterns {
			sb.WriteString(p.CLILine())
			sb.WriteByte('\n')
		}
		c.cliData = []byte(sb.String())
	}

	fd, err := unix.Open(root, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return fmt.Errorf("open %s: %w", root, err)
	}
	if isVirtualFS(fd) {
		unix.Close(fd)
		return fmt.Errorf("refusing to archive %s: it is a virtual file system", root)
	}
	var st unix.Stat_t
	if err := unix.Fstat(fd, &st); err != nil {
		unix.Close(fd)
		return fmt.Errorf("stat %s: %w", root, err)
	}
	c.rootDev = st.Dev
	m, names, err := c.readDir(fd, root, &st)
	unix.Close(fd)
	if err != nil {
		return err
	}
	if o.Payload != nil {
		c.enc, err = NewSplitEncoder(w, o.Payload, m, c.prelude())
		c.cliData = nil // the prelude carries the patterns instead
	} else {
		c.enc, err = NewEncoder(w, m)
	}
	if err != nil {
		return err
	}
	if err := c.dirContents(root, "", names); err != nil {
		return err
	}
	return c.enc.Finish()
}

// prelude is the compact JSON upstream puts first into split archives made
// with exclude patterns (spec 1.4 PRELUDE), nil without patterns.
func (c *creator) prelude() []byte {
	if c.cliData == nil {
		return nil
	}
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false) // serde_json leaves <, > and & alone
	if err := enc.Encode(struct {
		Patterns string `json:"exclude-patterns"`
	}{string(c.cliData)}); err != nil {
		return nil
	}
	return bytes.TrimSuffix(b.Bytes(), []byte("\n"))
}

func (c *creator) warn(format string, args ...any) {
	if c.o.OnWarning != nil {
		c.o.OnWarning(fmt.Sprintf(format, args...))
	}
}

// xattrs reads extended attributes through fd, or path when fd < 0.
func (c *creator) xattrs(fd int, path string) xattrSource {
	return xattrSource{fd: fd, path: path, skipE2Big: c.o.SkipE2BigXattr}
}

// readDir collects a directory's metadata and sorted child names, then the
// caller closes it: descending with open fds would run out of them on deep trees.
func (c *creator) readDir(fd int, path string, st *unix.Stat_t) (*Metadata, []string, error) {
	m := &Metadata{Stat: statToStat(st)}
	m.Stat.Flags = readFlags(fd)
	if err := readXattrs(c.xattrs(fd, ""), true, m); err != nil {
		return nil, nil, fmt.Errorf("read xattrs of %s: %w", path, err)
	}
	names, err := readDirNames(fd)
	if err != nil {
		return nil, nil, fmt.Errorf("read directory %s: %w", path, err)
	}
	slices.Sort(names) // Go string order is byte order, as upstream sorts
	// The names of every directory on the current path are held at once;
	// dirContents gives them back when the directory is done.
	c.entries += len(names)
	if c.entries > c.o.EntriesMax {
		return nil, nil, fmt.Errorf("exceeded allowed number of file entries (> %d) in %s (see --entries-max)", c.o.EntriesMax, path)
	}
	return m, names, nil
}

// skipContents reports whether a directory on device dev is a mount point
// whose contents stay out of the archive (spec 1.10).
func (c *creator) skipContents(fd int, dev uint64) bool {
	if dev == c.rootDev {
		return false
	}
	if isVirtualFS(fd) {
		return true
	}
	return !c.o.AllFileSystems && !slices.Contains(c.o.IncludeDevs, dev)
}

func joinRel(rel, name string) string {
	if rel == "" {
		return name
	}
	return rel + "/" + name
}

// dirContents archives the children of the directory at path (archive-relative rel).
func (c *creator) dirContents(path, rel string, names []string) error {
	defer func() { c.entries -= len(names) }()
	saved := len(c.patterns)
	defer func() { c.patterns = c.patterns[:saved] }()
	if slices.Contains(names, excludeFile) {
		c.loadExcludeFile(filepath.Join(path, excludeFile), rel)
	}
	for _, name := range names {
		if rel == "" && name == excludeCLIFile && c.cliData != nil {
			continue // replaced by the synthetic file below
		}
		if err := c.child(path, rel, name); err != nil {
			return err
		}
	}
	if rel == "" && c.cliData != nil {
		m := &Metadata{Stat: Stat{Mode: ModeIFREG | 0o600, UID: uint32(os.Getuid()), GID: uint32(os.Getgid())}}
		n := []byte(excludeCLIFile)
		if _, err := c.enc.AddFile(n, m, uint64(len(c.cliData)), strings.NewReader(string(c.cliData))); err != nil {
			return err
		}
		if err := c.catalog(func(s CatalogSink) error { return s.AddFile(n, uint64(len(c.cliData)), 0) }); err != nil {
			return err
		}
		c.entry(excludeCLIFile)
	}
	return nil
}

func (c *creator) loadExcludeFile(path, rel string) {
	var st unix.Stat_t
	if err := unix.Lstat(path, &st); err != nil || st.Mode&unix.S_IFMT != unix.S_IFREG {
		return
	}
	data, err := os.ReadFile(path)
	if err != nil {
		// Upstream drops the whole file when reading fails midway.
		c.warn("failed to read %s: %v", path, err)
		return
	}
	list, err := pattern.ParseExcludeFile(data, rel)
	if err != nil {
		c.warn("%v", err)
	}
	c.patterns = append(c.patterns, list...)
}

func (c *creator) catalog(f func(CatalogSink) error) error {
	if c.o.Catalog == nil {
		return nil
	}
	return f(c.o.Catalog)
}

func (c *creator) entry(rel string) {
	if c.o.OnEntry != nil {
		c.o.OnEntry("/" + rel)
	}
}

// vanished reports errors that make upstream skip an entry with a warning.
func vanished(err error) bool {
	return errors.Is(err, unix.ENOENT) || errors.Is(err, unix.EACCES)
}

func (c *creator) child(dir, rel, name string) error {
	if c.o.Context != nil {
		if err := c.o.Context.Err(); err != nil {
			return err
		}
	}
	path := filepath.Join(dir, name)
	crel := joinRel(rel, name)
	bname := []byte(name)
	var st unix.Stat_t
	if err := unix.Lstat(path, &st); err != nil {
		if vanished(err) {
			c.warn("skip %s: %v", path, err)
			return nil
		}
		return fmt.Errorf("stat %s: %w", path, err)
	}
	if slices.Contains(c.o.Omit, FileID{Dev: st.Dev, Ino: st.Ino}) {
		return nil
	}
	typ := st.Mode & unix.S_IFMT
	if len(c.patterns) > 0 && c.patterns.Match(crel, typ == unix.S_IFDIR) == pattern.Exclude {
		return nil
	}
	switch typ {
	case unix.S_IFDIR:
		return c.directory(path, crel, bname)
	case unix.S_IFREG:
		return c.file(path, crel, bname, &st)
	}
	m := &Metadata{Stat: statToStat(&st)}
	var err error
	switch typ {
	case unix.S_IFLNK:
		var target string
		if target, err = os.Readlink(path); err != nil {
			if vanished(err) {
				c.warn("skip %s: %v", path, err)
				return nil
			}
			return fmt.Errorf("readlink %s: %w", path, err)
		}
		if err = c.enc.AddSymlink(bname, m, []byte(target)); err == nil {
			err = c.catalog(func(s CatalogSink) error { return s.AddSymlink(bname) })
		}
	case unix.S_IFBLK, unix.S_IFCHR:
		if err = readXattrs(c.xattrs(-1, path), false, m); err != nil {
			return fmt.Errorf("read xattrs of %s: %w", path, err)
		}
		if err = c.enc.AddDevice(bname, m, DeviceFromDev(st.Rdev)); err == nil {
			if typ == unix.S_IFBLK {
				err = c.catalog(func(s CatalogSink) error { return s.AddBlockDevice(bname) })
			} else {
				err = c.catalog(func(s CatalogSink) error { return s.AddCharDevice(bname) })
			}
		}
	case unix.S_IFIFO:
		if err = readXattrs(c.xattrs(-1, path), false, m); err != nil {
			return fmt.Errorf("read xattrs of %s: %w", path, err)
		}
		if err = c.enc.AddFifo(bname, m); err == nil {
			err = c.catalog(func(s CatalogSink) error { return s.AddFifo(bname) })
		}
	case unix.S_IFSOCK:
		if err = readXattrs(c.xattrs(-1, path), false, m); err != nil {
			return fmt.Errorf("read xattrs of %s: %w", path, err)
		}
		if err = c.enc.AddSocket(bname, m); err == nil {
			err = c.catalog(func(s CatalogSink) error { return s.AddSocket(bname) })
		}
	default:
		c.warn("skip %s: unknown file type %o", path, typ)
		return nil
	}
	if err != nil {
		return err
	}
	c.entry(crel)
	return nil
}

func (c *creator) directory(path, rel string, name []byte) error {
	fd, err := unix.Open(path, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
	if err != nil {
		if vanished(err) {
			c.warn("skip %s: %v", path, err)
			return nil
		}
		return fmt.Errorf("open %s: %w", path, err)
	}
	var st unix.Stat_t
	if err := unix.Fstat(fd, &st); err != nil {
		unix.Close(fd)
		return fmt.Errorf("stat %s: %w", path, err)
	}
	skip := c.skipContents(fd, st.Dev)
	var m *Metadata
	var names []string
	if skip {
		m = &Metadata{Stat: statToStat(&st)}
		m.Stat.Flags = readFlags(fd)
		err = readXattrs(c.xattrs(fd, ""), true, m)
	} else {
		m, names, err = c.readDir(fd, path, &st)
	}
	unix.Close(fd)
	if err != nil {
		return err
	}
	if err := c.enc.CreateDirectory(name, m); err != nil {
		return err
	}
	if err := c.catalog(func(s CatalogSink) error { return s.StartDirectory(name) }); err != nil {
		return err
	}
	c.entry(rel)
	if skip {
		c.warn("skip mount point: %q", path)
	} else if err := c.dirContents(path, rel, names); err != nil {
		return err
	}
	if err := c.enc.FinishDirectory(); err != nil {
		return err
	}
	return c.catalog(func(s CatalogSink) error { return s.EndDirectory() })
}

func (c *creator) file(path, rel string, name []byte, lst *unix.Stat_t) error {
	key := devIno{lst.Dev, lst.Ino}
	if lst.Nlink > 1 {
		if t, ok := c.hardlinks[key]; ok {
			if err := c.enc.AddHardlink(name, t.path, t.offset); err != nil {
				return err
			}
			c.o.Reuse.Hardlinks++
			if err := c.catalog(func(s CatalogSink) error { return s.AddHardlink(name) }); err != nil {
				return err
			}
			c.entry(rel)
			return nil
		}
	}
	fd, err := unix.Open(path, unix.O_RDONLY|unix.O_NOFOLLOW|unix.O_CLOEXEC|unix.O_NOATIME, 0)
	if errors.Is(err, unix.EPERM) {
		fd, err = unix.Open(path, unix.O_RDONLY|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
	}
	if err != nil {
		if vanished(err) {
			c.warn("skip %s: %v", path, err)
			return nil
		}
		return fmt.Errorf("open %s: %w", path, err)
	}
	f := os.NewFile(uintptr(fd), path)
	defer f.Close()
	var st unix.Stat_t
	if err := unix.Fstat(fd, &st); err != nil {
		return fmt.Errorf("stat %s: %w", path, err)
	}
	m := &Metadata{Stat: statToStat(&st)}
	m.Stat.Flags = readFlags(fd)
	if err := readXattrs(c.xattrs(fd, ""), false, m); err != nil {
		return fmt.Errorf("read xattrs of %s: %w", path, err)
	}
	size := uint64(st.Size)
	c.o.Reuse.Files++
	off, reused, err := c.reuse(rel, name, m, size)
	if err != nil {
		return err
	}
	if !reused {
		c.o.Reuse.ChangedFiles++
		c.o.Reuse.Changed += size
		r := &fixedSizeReader{r: f, left: size}
		if off, err = c.enc.AddFile(name, m, size, r); err != nil {
			return err
		}
		if r.short {
			c.warn("%s: file shrank while reading, padded with zeros", path)
		} else if n, _ := f.Read(c.buf[:1]); n > 0 {
			c.warn("%s: file grew while reading, extra data ignored", path)
		}
	}
	if st.Nlink > 1 {
		c.hardlinks[key] = linkTarget{path: rel, offset: off}
	}
	if err := c.catalog(func(s CatalogSink) error { return s.AddFile(name, size, st.Mtim.Sec) }); err != nil {
		return err
	}
	c.entry(rel)
	return nil
}

// reuse refers to the previous snapshot's payload of an unchanged file
// instead of reading it; reused is false when the file must be read.
func (c *creator) reuse(rel string, name []byte, m *Metadata, size uint64) (off uint64, reused bool, err error) {
	if c.o.Previous == nil || c.o.Injector == nil || c.o.Payload == nil {
		return 0, false, nil
	}
	prev := c.o.Previous.Find(rel)
	if !reusable(prev, m, size) {
		return 0, false, nil
	}
	after := func(limit uint64) uint64 { return c.o.Previous.unchangedAfter(c.root, limit) }
	newOff, grown, ok, err := c.o.Injector.Reuse(c.enc.PayloadPosition(), prev.PayloadOffset, size, after)
	if err != nil || !ok {
		return 0, false, err
	}
	c.enc.AdvancePayload(grown)
	if off, err = c.enc.AddFileRef(name, m, size, newOff); err != nil {
		return 0, false, err
	}
	c.o.Reuse.ReusedFiles++
	c.o.Reuse.Reused += size
	return off, true, nil
}

// fixedSizeReader delivers exactly the size announced in the archive: a file
// that shrank is padded with zeros (upstream does the same, spec 1.10).
type fixedSizeReader struct {
	r     io.Reader
	left  uint64
	short bool
}

func (f *fixedSizeReader) Read(p []byte) (int, error) {
	if f.left == 0 {
		return 0, io.EOF
	}
	if uint64(len(p)) > f.left {
		p = p[:f.left]
	}
	if !f.short {
		n, err := f.r.Read(p)
		f.left -= uint64(n)
		if err != io.EOF {
			return n, err
		}
		f.short = true
		if n > 0 {
			return n, nil
		}
	}
	clear(p)
	f.left -= uint64(len(p))
	return len(p), nil
}

// readDirNames lists a directory through its raw fd; wrapping the fd in an
// os.File would hand its lifetime to the garbage collector.
func readDirNames(fd int) ([]string, error) {
	buf := make([]byte, 32<<10)
	var names []string
	for {
		n, err := unix.ReadDirent(fd, buf)
		if errors.Is(err, unix.EINTR) {
			continue
		}
		if err != nil {
			return nil, err
		}
		if n <= 0 {
			return names, nil
		}
		_, _, names = unix.ParseDirent(buf[:n], -1, names)
	}
}
