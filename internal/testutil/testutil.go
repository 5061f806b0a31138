// Package testutil has helpers shared by tests.
package testutil

import (
	"os"
	"testing"
)

// TempDir is t.TempDir, on tmpfs when the machine has one: a datastore
// pre-creates 65536 chunk directories, which takes seconds on a slow disk
// and milliseconds in memory. The files are just as real.
func TempDir(tb testing.TB) string {
	tb.Helper()
	if st, err := os.Stat("/dev/shm"); err == nil && st.IsDir() {
		if dir, err := os.MkdirTemp("/dev/shm", "cairn-test-"); err == nil {
			tb.Cleanup(func() { os.RemoveAll(dir) })
			return dir
		}
	}
	return tb.TempDir()
}
