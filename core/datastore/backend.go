package datastore

import (
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"time"

	"golang.org/x/sys/unix"

	"cairn/core"
	"cairn/core/manifest"
)

// Backend stores a datastore's bytes: chunk files by digest and snapshot
// files by slash path relative to the datastore root. The engine only talks
// to a datastore through this interface, so an object-store backend can
// replace the directory one.
type Backend interface {
	// InsertChunk stores an encoded chunk unless a usable one with that
	// digest exists; it never replaces a usable chunk (see placeChunk).
	InsertChunk(digest [32]byte, blob []byte) (existed bool, err error)
	// TouchChunk marks a chunk as in use (its atime, for GC) and reports
	// whether it exists and can be relied on: an empty or unreadable chunk
	// counts as missing, so the caller stores it again.
	TouchChunk(digest [32]byte) (exists bool, err error)
	// ReadChunk returns an encoded chunk.
	ReadChunk(digest [32]byte) ([]byte, error)
	// ReadFile, WriteFile (atomic and durable), Remove, RemoveAll, Mkdir and
	// ReadDir work on snapshot files and directories.
	ReadFile(path string) ([]byte, error)
	WriteFile(path string, data []byte) error
	Mkdir(path string, exclusive bool) error
	ReadDir(path string) ([]fs.DirEntry, error)
	Stat(path string) (fs.FileInfo, error)
	Remove(path string) error
	RemoveAll(path string) error
	// Sync makes everything written so far durable (for an object store:
	// waits for every pending upload and reports the first failure).
	Sync() error

	// CreateFile writes a new file unless it exists (fs.ErrExist then), as
	// the group owner file is created (formats.md 9.1).
	CreateFile(path string, data []byte) error
	// LockDir takes a non-blocking lock on a group or snapshot directory, or
	// on the chunk store (".lock"), as upstream's legacy locking does
	// (formats.md 9.3); it returns the release.
	LockDir(path string, exclusive bool) (func(), error)
	// LockManifest takes the blocking manifest lock of a snapshot directory.
	LockManifest(snapDir string) (func(), error)
	// StateDir is a local directory for process coordination: the writer
	// registry and the GC lock live there.
	StateDir() string
	// ListIndexFiles lists every .didx/.fidx below the root as slash paths,
	// skipping dot entries (.chunks, locks) as upstream does.
	ListIndexFiles() ([]string, error)
	// StartGC begins a garbage collection: its start time on the clock that
	// chunk uses are stamped with, and the session that marks and sweeps.
	StartGC() (time.Time, GCSession, error)
	// MarkBad sets a corrupt chunk aside as <digest>.<n>.bad, so a later
	// backup stores it again; it returns the new name.
	MarkBad(digest [32]byte) (string, error)
}

// GCSession is one garbage collection run of a backend.
type GCSession interface {
	// Mark records that an index references the chunk; exists is false when
	// the backend knows it is missing.
	Mark(digest [32]byte) (exists bool, err error)
	// Sweep removes chunks not marked and not used since minUse; chunks used
	// since minUse but before oldest (the oldest writer's start) count as
	// pending.
	Sweep(ctx context.Context, minUse, oldest time.Time, st *core.GCStatus, events core.Sink) error
}

// dirBackend is the plain-directory backend: upstream's layout on a local
// file system.
type dirBackend struct {
	root string
}

// chunkPath is .chunks/<first two bytes as 4 hex digits>/<digest hex> (formats.md 3.2).
func chunkPath(root string, digest [32]byte) string {
	h := hex.EncodeToString(digest[:])
	return filepath.Join(root, ".chunks", h[:4], h)
}

func (b *dirBackend) abs(p string) (string, error) {
	clean := filepath.Clean("/" + p)
	if clean == "/" && p != "" && p != "." && p != "/" {
		return "", fmt.Errorf("invalid datastore path %q", p)
	}
	for _, c := range strings.Split(p, "/") {
		if c == ".." {
			return "", fmt.Errorf("invalid datastore path %q", p)
		}
	}
	return filepath.Join(b.root, clean), nil
}

// tmpSeq numbers temporary files process-wide: a server opens a backend
// per request, and two sessions may write the same chunk at once.
var tmpSeq atomic.Uint64

func (b *dirBackend) tmpName(final string) string {
	return fmt.Sprintf("%s.tmp_%d_%d", final, os.Getpid(), tmpSeq.Add(1))
}

// writeDurable writes data to a temp name, fsyncs it and renames it into place.
func (b *dirBackend) writeDurable(final string, data []byte) error {
	tmp, err := b.writeTemp(final, data, true)
	if err != nil {
		return err
	}
	if err := os.Rename(tmp, final); err != nil {
		os.Remove(tmp)
		return err
	}
	return nil
}

// writeTemp writes data under a temporary name next to final and returns
// that name. durable fsyncs it; otherwise writeback is only started, not
// waited for (the caller syncs the file system later).
func (b *dirBackend) writeTemp(final string, data []byte, durable bool) (string, error) {
	tmp := b.tmpName(final)
	f, err := os.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_EXCL, fileMode)
	if err != nil {
		return "", err
	}
	_, err = f.Write(data)
	switch {
	case err != nil:
	case durable:
		err = f.Sync()
	default:
		// Start writing it out now: the later sync finds little left to
		// do, and disk and CPU overlap.
		unix.SyncFileRange(int(f.Fd()), 0, 0, unix.SYNC_FILE_RANGE_WRITE)
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		os.Remove(tmp)
		return "", err
	}
	return tmp, nil
}

func (b *dirBackend) InsertChunk(digest [32]byte, blob []byte) (bool, error) {
	p := chunkPath(b.root, digest)
	if st, err := inspectChunk(p); err != nil {
		return false, fmt.Errorf("store chunk %x: %w", digest, err)
	} else if st == chunkUsable {
		return true, nil
	}
	tmp, err := b.writeTemp(p, blob, true)
	if errors.Is(err, fs.ErrNotExist) {
		// Its prefix directory is not there yet: a durable insert makes
		// the new directory entry durable too.
		var made bool
		if made, err = makeChunkDir(p); err == nil && made {
			err = syncDir(filepath.Dir(filepath.Dir(p)))
		}
		if err == nil {
			tmp, err = b.writeTemp(p, blob, true)
		}
	}
	if err != nil {
		return false, fmt.Errorf("store chunk %x: %w", digest, err)
	}
	existed, err := placeChunk(digest, tmp, p)
	if err != nil {
		return false, fmt.Errorf("store chunk %x: %w", digest, err)
	}
	return existed, nil
}

// writeChunkTemp writes an encoded chunk next to its final path under a
// temporary name, without fsync (the backup writer syncs and renames). A
// missing prefix directory is made first, unsynced like the chunk: the
// writer's syncfs before it renames the chunk into place and before the
// manifest makes the directory durable with everything else.
func (b *dirBackend) writeChunkTemp(digest [32]byte, blob []byte) (string, error) {
	p := chunkPath(b.root, digest)
	tmp, err := b.writeTemp(p, blob, false)
	if errors.Is(err, fs.ErrNotExist) {
		if _, err := makeChunkDir(p); err != nil {
			return "", err
		}
		tmp, err = b.writeTemp(p, blob, false)
	}
	return tmp, err
}

// makeChunkDir makes the prefix directory of chunk file p, which is made
// on demand, and reports whether this call made it. One made meanwhile by
// another writer (or process) is as good.
func makeChunkDir(p string) (bool, error) {
	err := os.Mkdir(filepath.Dir(p), dirMode)
	switch {
	case err == nil:
		return true, nil
	case errors.Is(err, fs.ErrExist):
		return false, nil
	}
	return false, err
}

// touch sets a chunk's atime to now, leaving mtime alone, as GC's mark phase does.
func touch(p string) error {
	ts := []unix.Timespec{{Nsec: unix.UTIME_NOW}, {Nsec: unix.UTIME_OMIT}}
	return unix.UtimesNanoAt(unix.AT_FDCWD, p, ts, 0)
}

// TouchChunk stamps the chunk's atime and reports whether a backup may
// rely on it: an empty or unreadable chunk file counts as missing, so the
// upload that asked stores the chunk again (see inspectChunk).
func (b *dirBackend) TouchChunk(digest [32]byte) (bool, error) {
	st, err := inspectChunk(chunkPath(b.root, digest))
	if err != nil {
		return false, fmt.Errorf("touch chunk %x: %w", digest, err)
	}
	return st == chunkUsable, nil
}

// markChunk is GC's mark: the chunk's atime, and whether it exists at all.
func (b *dirBackend) markChunk(digest [32]byte) (bool, error) {
	err := touch(chunkPath(b.root, digest))
	if errors.Is(err, unix.ENOENT) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("touch chunk %x: %w", digest, err)
	}
	return true, nil
}

func (b *dirBackend) ReadChunk(digest [32]byte) ([]byte, error) {
	data, err := os.ReadFile(chunkPath(b.root, digest))
	if errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("chunk %x is missing from the datastore: %w", digest, fs.ErrNotExist)
	}
	if err != nil {
		return nil, fmt.Errorf("read chunk %x: %w", digest, err)
	}
	return data, nil
}

func (b *dirBackend) ReadFile(p string) ([]byte, error) {
	a, err := b.abs(p)
	if err != nil {
		return nil, err
	}
	return os.ReadFile(a)
}

func (b *dirBackend) WriteFile(p string, data []byte) error {
	a, err := b.abs(p)
	if err != nil {
		return err
	}
	return b.writeDurable(a, data)
}

func (b *dirBackend) Mkdir(p string, exclusive bool) error {
	a, err := b.abs(p)
	if err != nil {
		return err
	}
	if exclusive {
		return os.Mkdir(a, dirMode)
	}
	return os.MkdirAll(a, dirMode)
}

func (b *dirBackend) ReadDir(p string) ([]fs.DirEntry, error) {
	a, err := b.abs(p)
	if err != nil {
		return nil, err
	}
	return os.ReadDir(a)
}

func (b *dirBackend) Stat(p string) (fs.FileInfo, error) {
	a, err := b.abs(p)
	if err != nil {
		return nil, err
	}
	return os.Stat(a)
}

func (b *dirBackend) Remove(p string) error {
	a, err := b.abs(p)
	if err != nil {
		return err
	}
	return os.Remove(a)
}

func (b *dirBackend) RemoveAll(p string) error {
	a, err := b.abs(p)
	if err != nil {
		return err
	}
	if a == b.root {
		return fmt.Errorf("refusing to remove the datastore root")
	}
	return os.RemoveAll(a)
}

func (b *dirBackend) Sync() error {
	f, err := os.Open(b.root)
	if err != nil {
		return err
	}
	defer f.Close()
	return unix.Syncfs(int(f.Fd()))
}

// syncDir makes a rename inside dir durable.
func syncDir(dir string) error {
	f, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer f.Close()
	return f.Sync()
}

func (b *dirBackend) CreateFile(p string, data []byte) error {
	a, err := b.abs(p)
	if err != nil {
		return err
	}
	f, err := os.OpenFile(a, os.O_WRONLY|os.O_CREATE|os.O_EXCL, fileMode)
	if err != nil {
		return err
	}
	_, err = f.Write(data)
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	return err
}

func (b *dirBackend) LockDir(p string, exclusive bool) (func(), error) {
	return lockDir(b.root, p, exclusive)
}

func (b *dirBackend) LockManifest(dir string) (func(), error) {
	a, err := b.abs(dir)
	if err != nil {
		return nil, err
	}
	lock, err := os.OpenFile(filepath.Join(a, ".index.json.lck"), os.O_CREATE|os.O_RDWR, fileMode)
	if err != nil {
		return nil, err
	}
	if err := unix.Flock(int(lock.Fd()), unix.LOCK_EX); err != nil {
		lock.Close()
		return nil, err
	}
	return func() { lock.Close() }, nil
}

func (b *dirBackend) StateDir() string { return b.root }

func (b *dirBackend) ListIndexFiles() ([]string, error) {
	var out []string
	err := filepath.WalkDir(b.root, func(p string, e fs.DirEntry, err error) error {
		if err != nil {
			if errors.Is(err, fs.ErrNotExist) {
				return nil
			}
			return err
		}
		if p != b.root && strings.HasPrefix(e.Name(), ".") {
			if e.IsDir() {
				return filepath.SkipDir
			}
			return nil
		}
		if e.Type().IsRegular() && manifest.IsIndexFile(e.Name()) {
			rel, err := filepath.Rel(b.root, p)
			if err != nil {
				return err
			}
			out = append(out, filepath.ToSlash(rel))
		}
		return nil
	})
	return out, err
}

func (b *dirBackend) MarkBad(dg [32]byte) (string, error) {
	p := chunkPath(b.root, dg)
	for n := 0; n < 10; n++ {
		bad := fmt.Sprintf("%s.%d.bad", p, n)
		if _, err := os.Stat(bad); errors.Is(err, fs.ErrNotExist) || n == 9 {
			if err := os.Rename(p, bad); err != nil {
				return "", err
			}
			return bad, nil
		}
	}
	return "", nil
}
