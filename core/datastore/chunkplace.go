package datastore

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"sync"
	"sync/atomic"
	"unsafe"

	"golang.org/x/sys/unix"
)

// How a chunk file of a directory store looks to a backup that wants to
// store the chunk.
type chunkState int

const (
	chunkMissing  chunkState = iota
	chunkUsable              // a non-empty regular file that opens for reading
	chunkUnusable            // empty, unreadable or a symlink: stored again over it
)

// inspectChunk says whether the chunk file p can be relied on, and stamps
// its atime (GC's mark) when it is there, usable or not: GC then leaves an
// unusable one alone until a backup has replaced it. An empty file (a
// truncated chunk, a crash on a file system without ordered writes) or one
// that does not open for reading counts as unusable, as upstream
// overwrites empty chunks; a backup stores the chunk again rather than
// relying on it. Errors that say nothing about the file (no file
// descriptors left, no memory) are returned: they must not make a usable
// chunk look replaceable.
func inspectChunk(p string) (chunkState, error) {
	// O_NONBLOCK: a FIFO planted at the name must not block the open.
	fd, err := unix.Open(p, unix.O_RDONLY|unix.O_NOFOLLOW|unix.O_NONBLOCK|unix.O_CLOEXEC, 0)
	switch {
	case err == nil:
	case errors.Is(err, unix.ENOENT):
		return chunkMissing, nil
	case errors.Is(err, unix.EACCES), errors.Is(err, unix.EPERM), errors.Is(err, unix.ELOOP),
		errors.Is(err, unix.EIO), errors.Is(err, unix.ENXIO), errors.Is(err, unix.ENODEV):
		touchNoFollow(p)
		return chunkUnusable, nil
	default:
		return 0, err
	}
	defer unix.Close(fd)
	var st unix.Stat_t
	if err := unix.Fstat(fd, &st); err != nil {
		return 0, err
	}
	if st.Mode&unix.S_IFMT != unix.S_IFREG {
		return 0, fmt.Errorf("%s: unexpected file type (mode %o), not a chunk file", p, st.Mode)
	}
	if err := futimensAtimeNow(fd); err != nil && st.Size > 0 {
		return 0, err
	}
	if st.Size == 0 {
		return chunkUnusable, nil
	}
	return chunkUsable, nil
}

// futimensAtimeNow sets the atime of an open file to now, leaving its
// mtime: utimensat(fd, NULL, ...), which is what futimens is.
func futimensAtimeNow(fd int) error {
	ts := [2]unix.Timespec{{Nsec: unix.UTIME_NOW}, {Nsec: unix.UTIME_OMIT}}
	_, _, e := unix.Syscall6(unix.SYS_UTIMENSAT, uintptr(fd), 0, uintptr(unsafe.Pointer(&ts[0])), 0, 0, 0)
	if e != 0 {
		return e
	}
	return nil
}

func touchNoFollow(p string) {
	ts := []unix.Timespec{{Nsec: unix.UTIME_NOW}, {Nsec: unix.UTIME_OMIT}}
	unix.UtimesNanoAt(unix.AT_FDCWD, p, ts, unix.AT_SYMLINK_NOFOLLOW)
}

// placeMu serialises, per digest stripe, the replacement of an unusable
// chunk file within this process (a server serves every user from one
// process): between the check that the file is unusable and the rename
// over it, no other commit of this process can put a chunk there.
var placeMu [256]sync.Mutex

// What the file system refused, learnt once: then link + unlink stands in
// for renameat2(RENAME_NOREPLACE), and a check before a plain rename for
// both.
var noRenameNoReplace, noHardLinks atomic.Bool

// errNoAtomicPlace: the file system has neither RENAME_NOREPLACE nor hard links.
var errNoAtomicPlace = errors.New("no atomic create-only rename on this file system")

// renameNoReplace moves tmp to p unless p exists (an error satisfying
// errors.Is(err, fs.ErrExist) then). It is atomic: of two racing callers
// one wins, and an existing file is never replaced.
func renameNoReplace(tmp, p string) error {
	if !noRenameNoReplace.Load() {
		err := unix.Renameat2(unix.AT_FDCWD, tmp, unix.AT_FDCWD, p, unix.RENAME_NOREPLACE)
		if err == nil || !(errors.Is(err, unix.EINVAL) || errors.Is(err, unix.ENOSYS) || errors.Is(err, unix.EOPNOTSUPP)) {
			if err != nil {
				return &os.LinkError{Op: "rename", Old: tmp, New: p, Err: err}
			}
			return nil
		}
		noRenameNoReplace.Store(true)
	}
	if !noHardLinks.Load() {
		err := os.Link(tmp, p)
		if err == nil {
			os.Remove(tmp)
			return nil
		}
		var le *os.LinkError
		if !errors.As(err, &le) || !(errors.Is(le.Err, unix.EPERM) || errors.Is(le.Err, unix.EOPNOTSUPP) || errors.Is(le.Err, unix.EMLINK)) {
			return err
		}
		noHardLinks.Store(true)
	}
	return errNoAtomicPlace
}

// placeChunk moves a chunk written under the temporary name tmp to its
// final name p, unless a usable chunk is there already: existed is true
// then. tmp is gone when it returns, whatever the outcome.
//
// A usable chunk is never replaced. Chunks wait under temporary names
// until the backup that uploaded them writes an index, so a user could
// upload fake chunks under the digests of another user's data, hold them,
// and have them renamed over that user's stored and verified chunks when
// committing. Here the commit is renameat2(RENAME_NOREPLACE) (or link +
// unlink where the file system lacks it), and the upload that finds a
// chunk in place is dropped, as upstream's insert_chunk keeps the chunk
// it has. An unusable one (empty, unreadable, a symlink) is replaced, as
// upstream overwrites empty chunks.
func placeChunk(digest [32]byte, tmp, p string) (existed bool, err error) {
	defer func() {
		if existed || err != nil {
			os.Remove(tmp)
		}
	}()
	mu := &placeMu[digest[31]]
	for attempt := 0; attempt < 8; attempt++ {
		err := renameNoReplace(tmp, p)
		switch {
		case err == nil:
			return false, nil
		case errors.Is(err, errNoAtomicPlace):
			// Neither primitive: check, then rename, under the lock. Two
			// processes may still race here; one process cannot.
			mu.Lock()
			st, err := inspectChunk(p)
			if err == nil && st != chunkUsable {
				err = os.Rename(tmp, p)
			}
			mu.Unlock()
			return st == chunkUsable && err == nil, err
		case !errors.Is(err, fs.ErrExist):
			return false, err
		}
		mu.Lock()
		st, err := inspectChunk(p)
		switch {
		case err != nil:
			mu.Unlock()
			return false, err
		case st == chunkUsable:
			mu.Unlock()
			return true, nil
		case st == chunkMissing:
			mu.Unlock()
			continue // removed meanwhile (GC swept it): place ours
		}
		// Unusable, and just touched, so GC leaves it: no commit of this
		// process can put a usable chunk there while we hold the lock (a
		// create-only rename fails on the unusable file).
		err = os.Rename(tmp, p)
		mu.Unlock()
		return false, err
	}
	return false, fmt.Errorf("%s: keeps appearing and vanishing", p)
}
