package datastore

import (
	"fmt"
	"os"
	"path/filepath"

	"golang.org/x/sys/unix"

	"cairn/core"
)

// lockDir takes a non-blocking flock on a directory of the datastore, as
// upstream's legacy locking does (formats.md 9.3), and returns its release.
func lockDir(root, rel string, exclusive bool) (func(), error) {
	f, err := os.Open(filepath.Join(root, rel))
	if err != nil {
		return nil, err
	}
	how := unix.LOCK_SH
	if exclusive {
		how = unix.LOCK_EX
	}
	if err := unix.Flock(int(f.Fd()), how|unix.LOCK_NB); err != nil {
		f.Close()
		return nil, fmt.Errorf("%s is %w", rel, core.ErrLocked)
	}
	return func() { f.Close() }, nil
}
