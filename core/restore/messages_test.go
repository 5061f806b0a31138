package restore_test

import (
	"errors"
	"path/filepath"
	"testing"

	"cairn/core"
	"cairn/core/restore"
	"cairn/core/snapshot"
	"cairn/core/snapshot/snapshottest"
	"cairn/internal/testutil"
)

// Errors a user meets on a restore read as upstream's client prints them
// (issue 19: the interop suite compares both clients' messages against the
// real server), and stay core.ErrNotFound for callers.
func TestRestoreNotFoundMessages(t *testing.T) {
	e := snapshottest.NewEnv(t)
	err := restoreArchive(t, e, "nope.pxar", filepath.Join(testutil.TempDir(t), "out"), restore.Options{})
	if err == nil || err.Error() != "manifest does not contain file 'nope.pxar.didx'" || !errors.Is(err, core.ErrNotFound) {
		t.Fatalf("missing archive: got %v", err)
	}
	s := e.Open(t)
	if _, err := s.Blob("nope.conf.blob"); err == nil || err.Error() != "manifest does not contain file 'nope.conf.blob'" || !errors.Is(err, core.ErrNotFound) {
		t.Fatalf("missing blob: got %v", err)
	}
	// A server answers the snapshot list of a group it does not have with
	// an empty list (PBS 3.2.4), as it does for a group of unfinished ones.
	_, err = snapshot.Resolve(noSnapshots{e.DS}, "", "host/nope")
	if err == nil || err.Error() != "backup group host/nope does not contain any snapshots." || !errors.Is(err, core.ErrNotFound) {
		t.Fatalf("group without snapshots: got %v", err)
	}
}

type noSnapshots struct{ core.Repository }

func (noSnapshots) ListSnapshots(core.Namespace, *core.Group) ([]core.SnapshotInfo, error) {
	return nil, nil
}
