package pxar

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync/atomic"
	"unsafe"

	"golang.org/x/sys/unix"
)

// The extractor never resolves a path through the file system as a whole.
// It holds an open file descriptor of every directory it writes into and
// creates entries with the *at system calls relative to it, one name at a
// time; metadata goes through an fd of the entry itself, or through the
// parent's fd with no-follow semantics. Names are single components
// (checkFilename refuses "/", "." and ".."), so a symlink the archive made
// (or anyone else made) is never followed, and nothing outside the target
// can be reached: not by a symlink swapped in for a name between two calls,
// nor by a hardlink whose target path runs through a symlink.

// openDirFlags open a directory the extractor writes into; O_NOFOLLOW
// refuses a symlink in its place.
const openDirFlags = unix.O_RDONLY | unix.O_DIRECTORY | unix.O_NOFOLLOW | unix.O_CLOEXEC

// openat2Missing is set once openat2 turned out to be unavailable (old
// kernel, or a seccomp filter that refuses it); openBeneath then walks.
var openat2Missing atomic.Bool

// openBeneath opens the directory rel (a relative path whose components
// safeRel checked) below the directory dirfd, never through a symlink and
// never above dirfd: openat2 with RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS,
// or, without openat2, one O_NOFOLLOW openat per component. The result is
// an O_PATH fd, good as the directory fd of *at calls.
func openBeneath(dirfd int, rel string) (int, error) {
	if !openat2Missing.Load() {
		fd, err := unix.Openat2(dirfd, rel, &unix.OpenHow{
			Flags:   unix.O_PATH | unix.O_DIRECTORY | unix.O_CLOEXEC,
			Resolve: unix.RESOLVE_BENEATH | unix.RESOLVE_NO_SYMLINKS | unix.RESOLVE_NO_MAGICLINKS,
		})
		if errors.Is(err, unix.EAGAIN) { // a rename raced the lookup: walk this once
			return walkBeneath(dirfd, rel)
		}
		if err == nil || !(errors.Is(err, unix.ENOSYS) || errors.Is(err, unix.EPERM)) {
			return fd, err
		}
		openat2Missing.Store(true)
	}
	return walkBeneath(dirfd, rel)
}

// walkBeneath is openBeneath without openat2.
func walkBeneath(dirfd int, rel string) (int, error) {
	cur := dirfd
	for c := range strings.SplitSeq(rel, "/") {
		if c == "" || c == "." || c == ".." {
			if cur != dirfd {
				unix.Close(cur)
			}
			return -1, unix.EXDEV
		}
		fd, err := unix.Openat(cur, c, unix.O_PATH|unix.O_DIRECTORY|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
		if cur != dirfd {
			unix.Close(cur)
		}
		if err != nil {
			return -1, err
		}
		cur = fd
	}
	if cur == dirfd { // empty path: a new fd all the same
		return unix.Openat(dirfd, ".", unix.O_PATH|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	}
	return cur, nil
}

// futimens sets the times of the file fd refers to (utimensat with a NULL
// path, as the C library's futimens does).
func futimens(fd int, ts *[2]unix.Timespec) error {
	_, _, e := unix.Syscall6(unix.SYS_UTIMENSAT, uintptr(fd), 0, uintptr(unsafe.Pointer(&ts[0])), 0, 0, 0)
	if e != 0 {
		return e
	}
	return nil
}

// procFD is the /proc path of an fd: a "magic link" that leads to exactly
// the inode the fd holds, whatever happened to its name since.
func procFD(fd int) string { return "/proc/self/fd/" + strconv.Itoa(fd) }

// openNode opens an entry that must not be opened for I/O (device node,
// fifo, socket) as an O_PATH fd, and checks that it still is of the given
// file type (a symlink in its place is refused).
func openNode(dirfd int, name string, ftype uint32) (int, error) {
	fd, err := unix.Openat(dirfd, name, unix.O_PATH|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
	if err != nil {
		return -1, err
	}
	var st unix.Stat_t
	if err := unix.Fstat(fd, &st); err != nil {
		unix.Close(fd)
		return -1, err
	}
	if st.Mode&unix.S_IFMT != ftype {
		unix.Close(fd)
		return -1, fmt.Errorf("file type changed to %o meanwhile: %w", st.Mode&unix.S_IFMT, unix.ESTALE)
	}
	return fd, nil
}

// chmodNode sets the mode of an entry that has no fd of its own (device
// node, fifo, socket): fchmodat2 with AT_SYMLINK_NOFOLLOW (Linux 6.6), or
// else chmod of the /proc path of an O_PATH fd.
func chmodNode(dirfd int, name string, ftype, mode uint32) error {
	err := unix.Fchmodat(dirfd, name, mode, unix.AT_SYMLINK_NOFOLLOW)
	if err == nil || !(errors.Is(err, unix.EOPNOTSUPP) || errors.Is(err, unix.ENOSYS) || errors.Is(err, unix.EPERM)) {
		return err
	}
	fd, err := openNode(dirfd, name, ftype)
	if err != nil {
		return err
	}
	defer unix.Close(fd)
	if err := unix.Chmod(procFD(fd), mode); err != nil {
		if errors.Is(err, unix.ENOENT) {
			return fmt.Errorf("no fchmodat2 and no /proc to change its mode safely: %w", err)
		}
		return err
	}
	return nil
}
