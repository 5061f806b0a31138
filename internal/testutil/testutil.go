// Package testutil has helpers shared by tests.
package testutil

import (
	"os"
	"testing"
)

// TempDir is t.TempDir, on tmpfs when the machine has one: datastores do
// many small fsyncs, and server datastores (manager datastore create) make
// upstream's 65536 chunk directories, both slow on a slow disk and quick in
// memory. The files are just as real.
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
