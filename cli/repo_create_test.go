package cli

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"cairn/internal/testutil"
	"cairn/net/server/config"
)

// Issue 15: an interrupted creation of a path repository is finished by the
// next command; a path repository makes its chunk directories on demand;
// the manager gives a server datastore upstream's full layout and adopts
// an existing path repository.

func prefixDirs(t *testing.T, repo string) int {
	t.Helper()
	ents, err := os.ReadDir(filepath.Join(repo, ".chunks"))
	if err != nil {
		t.Fatal(err)
	}
	return len(ents)
}

func TestInterruptedRepositoryCreationIsFinished(t *testing.T) {
	isolateClient(t)
	src := sourceTree(t)
	leftovers := map[string]func(repo string){
		// What an older cairn killed while creating left.
		"chunks.tmp": func(repo string) {
			for i := 0; i < 500; i++ {
				os.MkdirAll(filepath.Join(repo, ".chunks.tmp", fmt.Sprintf("%04x", i)), 0o755)
			}
		},
		// What a kill between .lock and .chunks leaves.
		"lock": func(repo string) {
			os.MkdirAll(repo, 0o755)
			os.WriteFile(filepath.Join(repo, ".lock"), nil, 0o644)
		},
	}
	for name, leave := range leftovers {
		t.Run(name, func(t *testing.T) {
			repo := localRepo(t)
			leave(repo)
			mustRun(t, "snapshot", "list", "--repository", repo)
			mustRun(t, "backup", "root.pxar:"+src, "--repository", repo, "--backup-id", "elsa")
			out := mustRun(t, "snapshot", "list", "--repository", repo, "--output-format", "json").stdout
			if !strings.Contains(out, `"backup-id":"elsa"`) {
				t.Fatalf("snapshot list: %s", out)
			}
			mustRun(t, "restore", "host/elsa", "root.pxar", filepath.Join(t.TempDir(), "dst"), "--repository", repo)
			mustRun(t, "verify", "--repository", repo)
			mustRun(t, "garbage-collect", "--repository", repo)
			if _, err := os.Stat(filepath.Join(repo, ".chunks.tmp")); !os.IsNotExist(err) {
				t.Fatalf(".chunks.tmp left behind: %v", err)
			}
		})
	}
	// Someone else's directory is still refused.
	repo := localRepo(t)
	os.MkdirAll(repo, 0o755)
	os.WriteFile(filepath.Join(repo, "notes.txt"), []byte("mine"), 0o644)
	if r := cairnRun(t, "backup", "root.pxar:"+src, "--repository", repo); r.code == 0 || !strings.Contains(r.stderr, "not a datastore") {
		t.Fatalf("backup into a foreign directory: %d %s", r.code, r.stderr)
	}
}

func TestPathRepositoryMakesChunkDirectoriesOnDemand(t *testing.T) {
	isolateClient(t)
	src := sourceTree(t)
	repo := localRepo(t)
	mustRun(t, "backup", "root.pxar:"+src, "--repository", repo, "--backup-id", "elsa")
	if n := prefixDirs(t, repo); n == 0 || n > 20 {
		t.Fatalf("first backup of a small tree made %d prefix directories", n)
	}
}

func TestManagerDatastoreCreateFullLayoutAndAdopt(t *testing.T) {
	isolateClient(t)
	cfg := t.TempDir()
	// A new server datastore: upstream's full layout.
	store := filepath.Join(testutil.TempDir(t), "store1")
	mustRun(t, "manager", "--config-dir", cfg, "datastore", "create", "store1", store)
	if n := prefixDirs(t, store); n != 65536 {
		t.Fatalf("server datastore has %d prefix directories, want 65536", n)
	}
	// A path repository with a backup in it, adopted and completed.
	src := sourceTree(t)
	repo := localRepo(t)
	mustRun(t, "backup", "root.pxar:"+src, "--repository", repo, "--backup-id", "elsa")
	// Whatever made it (this version, an older one, a copy that dropped
	// empty directories), it lacks prefix directories.
	ents, _ := os.ReadDir(filepath.Join(repo, ".chunks"))
	for _, e := range ents {
		os.Remove(filepath.Join(repo, ".chunks", e.Name())) // only empty ones go
	}
	if n := prefixDirs(t, repo); n == 0 || n > 20 {
		t.Fatalf("path repository with %d prefix directories", n)
	}
	mustRun(t, "manager", "--config-dir", cfg, "datastore", "create", "store2", repo)
	if n := prefixDirs(t, repo); n != 65536 {
		t.Fatalf("adopted datastore has %d prefix directories, want 65536", n)
	}
	c, err := config.Load(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if abs, _ := filepath.Abs(repo); c.Datastores["store2"].Path != abs {
		t.Fatalf("store2 configured as %+v", c.Datastores["store2"])
	}
	mustRun(t, "verify", "--repository", repo)
	mustRun(t, "restore", "host/elsa", "root.pxar", filepath.Join(t.TempDir(), "dst"), "--repository", repo)
}
