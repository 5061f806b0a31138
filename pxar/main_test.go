package pxar

import (
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"testing"
)

var (
	treesOnce sync.Once
	treesDir  string
	treesErr  error
	treesTmp  string
)

func TestMain(m *testing.M) {
	code := m.Run()
	if treesTmp != "" {
		os.RemoveAll(treesTmp)
	}
	os.Exit(code)
}

// fixtureTrees builds the reference input trees once per test binary with the
// fixtures' make-trees.sh. The archives were made as root, so without root the
// trees differ and byte comparisons are pointless.
func fixtureTrees(t testing.TB) string {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("make-trees.sh needs root (device nodes, chown 1234:5678); the fixture archives were made as root")
	}
	for _, tool := range []string{"bash", "python3", "touch", "mknod"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Skipf("make-trees.sh needs %s: %v", tool, err)
		}
	}
	treesOnce.Do(func() {
		treesTmp, treesErr = os.MkdirTemp("", "pxar-trees-")
		if treesErr != nil {
			return
		}
		script, _ := filepath.Abs(filepath.Join("testdata", "make-trees.sh"))
		cmd := exec.Command("bash", script, treesTmp)
		out, err := cmd.CombinedOutput()
		if err != nil {
			treesErr = &treeError{err: err, out: string(out)}
			return
		}
		treesDir = treesTmp
	})
	if treesErr != nil {
		t.Fatalf("make-trees.sh: %v", treesErr)
	}
	return treesDir
}

type treeError struct {
	err error
	out string
}

func (e *treeError) Error() string { return e.err.Error() + "\n" + e.out }
