package cli

import (
	"slices"
	"strings"
	"testing"
)

// TestVerbs pins the command tree verbs builds: every top-level verb once,
// and the catalog's subcommands, which other files used to add from init.
func TestVerbs(t *testing.T) {
	var names []string
	for _, c := range verbs() {
		names = append(names, c.Name())
	}
	slices.Sort(names)
	want := "backup benchmark catalog change-owner files forget garbage-collect group key list login logout manager map mount namespace prune pxar restore serve snapshot snapshots status task tui umount unmap upload-log verify version"
	if got := strings.Join(names, " "); got != want {
		t.Errorf("verbs:\n got %s\nwant %s", got, want)
	}
	root := newRoot()
	cat, _, err := root.Find([]string{"catalog", "shell"})
	if err != nil || cat.Name() != "shell" {
		t.Errorf("catalog shell: %v", err)
	}
	for _, a := range []string{"snapshots", "files", "forget", "upload-log"} {
		c, _, err := root.Find([]string{a})
		if err != nil || !strings.Contains(c.Short, "; same as 'snapshot ") {
			t.Errorf("alias %s: %v %q", a, err, c.Short)
		}
	}
}
