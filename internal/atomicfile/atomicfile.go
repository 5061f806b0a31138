// Package atomicfile writes whole files so that a reader, a crash or a full
// file system only ever leaves the old content or the complete new one:
// a temporary file in the target's directory (a unique dot name, created
// with O_EXCL and the final mode), written, fsynced and closed, then renamed
// over the target (or, exclusively, moved to a name that must not exist),
// and the directory fsynced. Every error is returned; on any failure before
// the rename the temporary file is removed and the target is untouched.
//
// The new file belongs to the writing process (as with any rename into
// place); the old file's owner is not carried over.
//
// It imports nothing of cairn, so every package may use it.
package atomicfile

import (
	"errors"
	"fmt"
	"io/fs"
	"math/rand/v2"
	"os"
	"path/filepath"

	"golang.org/x/sys/unix"
)

// WriteFile replaces path with data, mode perm (exactly, regardless of the
// umask).
func WriteFile(path string, data []byte, perm fs.FileMode) error {
	return write(path, data, perm, false)
}

// WriteFileExclusive creates path with data, mode perm; it fails with an
// error matching fs.ErrExist, and leaves the existing file alone, if path
// exists (checked atomically at the final step, not before writing).
func WriteFileExclusive(path string, data []byte, perm fs.FileMode) error {
	return write(path, data, perm, true)
}

func write(path string, data []byte, perm fs.FileMode, exclusive bool) error {
	f, err := Create(path, perm)
	if err != nil {
		return err
	}
	defer f.Abort()
	if _, err := f.Write(data); err != nil {
		return err
	}
	if exclusive {
		return f.CommitExclusive()
	}
	return f.Commit()
}

// File is the temporary file that becomes the target on Commit. Its Write
// errors are sticky: Commit fails if any Write failed, even one whose error
// the caller did not look at.
type File struct {
	f    *os.File
	path string
	tmp  string
	err  error
	done bool
}

// tempSuffix is what a temporary name adds to the target's base name:
// ".tmp-" and 16 hex digits.
const tempSuffix = len(".tmp-") + 16

// nameMax is NAME_MAX of Linux file systems.
const nameMax = 255

// Create opens a new temporary file next to path, with mode perm. Write to
// it, then Commit (or CommitExclusive); Abort, safe to defer, removes it
// unless it was committed.
func Create(path string, perm fs.FileMode) (*File, error) {
	dir, base := filepath.Split(path)
	if base == "" || base == "." || base == ".." {
		return nil, &fs.PathError{Op: "create", Path: path, Err: errors.New("not a file name")}
	}
	if dir == "" {
		dir = "."
	}
	// A dot name (hidden from listings); a long target name is shortened so
	// the temporary name stays within NAME_MAX.
	if limit := nameMax - 1 - tempSuffix; len(base) > limit {
		base = base[:limit]
	}
	var (
		f   *os.File
		tmp string
		err error
	)
	for range 100 {
		tmp = filepath.Join(dir, "."+base+".tmp-"+fmt.Sprintf("%016x", rand.Uint64()))
		// The umask may only narrow perm here; the Chmod below makes it
		// exact. The file never has more permissions than perm.
		f, err = os.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_EXCL, perm.Perm())
		if !errors.Is(err, fs.ErrExist) {
			break
		}
	}
	if err != nil {
		return nil, onTarget(err, path)
	}
	af := &File{f: f, path: path, tmp: tmp}
	if err := f.Chmod(perm); err != nil {
		af.Abort()
		return nil, onTarget(err, path)
	}
	return af, nil
}

// onTarget names the target, not the temporary file, in a file error: the
// user knows the one, never sees the other.
func onTarget(err error, path string) error {
	var pe *fs.PathError
	if errors.As(err, &pe) {
		return &fs.PathError{Op: pe.Op, Path: path, Err: pe.Err}
	}
	return err
}

// Name is the temporary file's name.
func (f *File) Name() string { return f.tmp }

// Write writes to the temporary file.
func (f *File) Write(p []byte) (int, error) {
	if f.done {
		return 0, fs.ErrClosed
	}
	if f.err != nil {
		return 0, f.err
	}
	n, err := f.f.Write(p)
	if err != nil {
		err = onTarget(err, f.path)
		f.err = err
	}
	return n, err
}

// Commit fsyncs and closes the temporary file, renames it over the target
// and fsyncs the directory. On an error before the rename the temporary
// file is removed and the target is as it was; an error fsyncing the
// directory comes after the new file is in place.
func (f *File) Commit() error {
	return f.commit(func() error {
		return os.Rename(f.tmp, f.path)
	})
}

// CommitExclusive is Commit that moves the file to the target only if no
// file of that name exists; otherwise it fails with an error matching
// fs.ErrExist and the existing file is untouched.
func (f *File) CommitExclusive() error {
	return f.commit(func() error {
		err := renameNoReplace(f.tmp, f.path)
		if errors.Is(err, unix.EINVAL) || errors.Is(err, unix.ENOSYS) || errors.Is(err, unix.EOPNOTSUPP) {
			// A file system without RENAME_NOREPLACE: link(2) refuses an
			// existing target just as atomically.
			if err := os.Link(f.tmp, f.path); err != nil {
				return err
			}
			if err := os.Remove(f.tmp); err != nil {
				// The target is complete and in place; only the
				// temporary name is left over.
				return fmt.Errorf("%s written, but its temporary name stays: %w", f.path, err)
			}
			return nil
		}
		if err != nil {
			return &os.LinkError{Op: "rename", Old: f.tmp, New: f.path, Err: err}
		}
		return nil
	})
}

func (f *File) commit(place func() error) error {
	if f.done {
		return fs.ErrClosed
	}
	err := f.err
	if err == nil {
		err = onTarget(f.f.Sync(), f.path)
	}
	if cerr := f.f.Close(); err == nil {
		err = onTarget(cerr, f.path)
	}
	if err == nil {
		err = place()
	}
	if err != nil {
		f.done = true
		os.Remove(f.tmp)
		return err
	}
	f.done = true
	return syncDir(filepath.Dir(f.path))
}

// Abort closes and removes the temporary file unless it was committed. It
// is safe to call more than once and after Commit.
func (f *File) Abort() {
	if f.done {
		return
	}
	f.done = true
	f.f.Close()
	os.Remove(f.tmp)
}

// renameNoReplace is renameat2(RENAME_NOREPLACE); tests replace it.
var renameNoReplace = func(oldpath, newpath string) error {
	return unix.Renameat2(unix.AT_FDCWD, oldpath, unix.AT_FDCWD, newpath, unix.RENAME_NOREPLACE)
}

// syncDir makes a rename in dir durable. File systems that cannot fsync a
// directory (EINVAL) have nothing to make durable that way.
func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	err = d.Sync()
	if errors.Is(err, unix.EINVAL) || errors.Is(err, unix.ENOTSUP) {
		err = nil
	}
	if cerr := d.Close(); err == nil {
		err = cerr
	}
	return err
}
