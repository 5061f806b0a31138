package client

import (
	"context"
	"errors"
	"strings"
	"testing"

	"cairn/core"
)

// The server's error messages reach the user as upstream's client prints
// them (issue 19, measured against PBS 3.2.4): a 401 that is a permission
// check is not called an authentication failure, and a reader session on
// a missing snapshot says what the server said.
func TestServerErrorsPrintedAsUpstream(t *testing.T) {
	isolate(t)
	f := newFakeServer(t)
	repo := openRepo(t, f, nil)
	err := repo.ChangeOwner(context.Background(), f.ns, core.Group{Type: core.TypeHost, ID: "a"}, "bob@pbs")
	want := "alice@pbs does not have permission to change owner of backup group 'host/a' to bob@pbs"
	if err == nil || err.Error() != want {
		t.Fatalf("change-owner refused: got %v, want %q", err, want)
	}
	if !IsAuthError(err) {
		t.Fatalf("a 401 is still an auth error for callers: %v", err)
	}

	snap := core.Snapshot{Group: core.Group{Type: core.TypeHost, ID: "nope"}, Time: 1700000000}
	_, err = repo.OpenSnapshot(context.Background(), f.ns, snap)
	if err == nil || strings.HasPrefix(err.Error(), "open snapshot") || !errors.Is(err, core.ErrNotFound) {
		t.Fatalf("missing snapshot: got %v, want the server's message", err)
	}

	// A failed login still says what failed, with the server's message.
	bad := openRepo(t, f, func(o *Options) { o.Password = []byte("wrong") })
	_, err = bad.ListGroups(f.ns)
	if err == nil || err.Error() != "login as alice@pbs failed: wrong user name or password (permission check failed.)" {
		t.Fatalf("wrong password: got %v", err)
	}
}
