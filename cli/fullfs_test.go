package cli

import (
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/pem"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"cairn/internal/atomicfile/atomicfiletest"
	"cairn/internal/testutil"
	"cairn/net/client"
)

// On a full file system (a real 64 KiB tmpfs, filled) every command that
// rewrites or creates a user-visible file fails with a non-zero exit, and
// leaves the old file byte for byte as it was and no temporary file behind
// (issue 15 item 3: change-passphrase used to exit 0 with a 0-byte key).
// Each case mounts its own tmpfs; the test is skipped unless root.

// failsOnFullFS runs a command line on a full file system and checks it
// failed and changed nothing.
func failsOnFullFS(t *testing.T, m *atomicfiletest.Full, args ...string) {
	t.Helper()
	m.Fill()
	r := cairnRun(t, args...)
	if r.code == 0 {
		t.Errorf("cairn %q on a full file system: exit 0, stderr %q", args, r.stderr)
	} else if !strings.Contains(r.stderr, "no space left on device") {
		t.Errorf("cairn %q on a full file system: exit %d, stderr %q, want no space left on device", args, r.code, r.stderr)
	}
	m.Unchanged()
}

func TestFullFSKeyChangePassphrase(t *testing.T) {
	isolateClient(t)
	m := atomicfiletest.Mount(t, 64<<10)
	k := filepath.Join(m.Dir, "k.json")
	mustRun(t, "key", "create", k, "--kdf", "none")
	failsOnFullFS(t, m, "key", "change-passphrase", k, "--kdf", "none")
	// The key still loads.
	mustRun(t, "key", "show", k)
}

func TestFullFSKeyCreate(t *testing.T) {
	isolateClient(t)
	m := atomicfiletest.Mount(t, 64<<10)
	failsOnFullFS(t, m, "key", "create", filepath.Join(m.Dir, "new.json"), "--kdf", "none")
}

func TestFullFSKeyImportMasterPubkey(t *testing.T) {
	home := isolateClient(t)
	m := atomicfiletest.Mount(t, 64<<10)
	t.Setenv("XDG_CONFIG_HOME", m.Dir)
	pub := rsaPublicPEM(t)
	src := filepath.Join(home, "pub.pem")
	if err := os.WriteFile(src, pub, 0o644); err != nil {
		t.Fatal(err)
	}
	mustRun(t, "key", "import-master-pubkey", src)
	other := filepath.Join(home, "other.pem")
	if err := os.WriteFile(other, rsaPublicPEM(t), 0o644); err != nil {
		t.Fatal(err)
	}
	failsOnFullFS(t, m, "key", "import-master-pubkey", other)
}

func TestFullFSKeyCreateMasterKey(t *testing.T) {
	if testing.Short() {
		t.Skip("makes a 4096-bit RSA key")
	}
	isolateClient(t)
	m := atomicfiletest.Mount(t, 64<<10)
	t.Chdir(m.Dir)
	t.Setenv("PBS_ENCRYPTION_PASSWORD", "master password")
	failsOnFullFS(t, m, "key", "create-master-key")
}

func rsaPublicPEM(t *testing.T) []byte {
	t.Helper()
	k, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	der, err := x509.MarshalPKIXPublicKey(&k.PublicKey)
	if err != nil {
		t.Fatal(err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der})
}

func TestFullFSServerConfigUpdate(t *testing.T) {
	isolateClient(t)
	m := atomicfiletest.Mount(t, 64<<10)
	cfg := filepath.Join(m.Dir, "etc")
	mustRun(t, "manager", "--config-dir", cfg, "user", "create", "alice@pbs", "--password", "alice password")
	failsOnFullFS(t, m, "manager", "--config-dir", cfg, "user", "create", "bob@pbs", "--password", "bob password")
}

func TestFullFSTicketCache(t *testing.T) {
	isolateClient(t)
	m := atomicfiletest.Mount(t, 64<<10)
	t.Setenv("XDG_RUNTIME_DIR", m.Dir)
	now := time.Now().Unix()
	for _, u := range []string{"alice@pbs", "bob@pbs"} {
		if err := client.StoreTicket("backup.example", u, "PBS:"+u+":ticket", "csrf", now); err != nil {
			t.Fatal(err)
		}
	}
	failsOnFullFS(t, m, "logout", "--repository", "alice@pbs@backup.example:store1")
}

// TestFullFSRestoreFile: restoring a blob (the manifest) or an image over an
// existing file, or to a new name, on a full file system.
func TestFullFSRestoreFile(t *testing.T) {
	isolateClient(t)
	repo := localRepo(t)
	img := filepath.Join(t.TempDir(), "disk.img")
	if err := os.WriteFile(img, make([]byte, 256<<10), 0o644); err != nil {
		t.Fatal(err)
	}
	mustRun(t, "backup", "disk.img:"+img, "--repository", repo, "--backup-id", "vm")
	for _, c := range []struct {
		name, archive string
		overwrite     bool
	}{
		{"blob over a file", "index.json", true},
		{"image over a file", "disk.img", true},
		{"blob to a new file", "index.json", false},
		{"image to a new file", "disk.img", false},
	} {
		t.Run(c.name, func(t *testing.T) {
			m := atomicfiletest.Mount(t, 64<<10)
			target := filepath.Join(m.Dir, "target")
			args := []string{"restore", "host/vm", c.archive, target, "--repository", repo}
			if c.overwrite {
				if err := os.WriteFile(target, []byte("the old file\n"), 0o640); err != nil {
					t.Fatal(err)
				}
				args = append(args, "--overwrite")
			}
			failsOnFullFS(t, m, args...)
		})
	}
}

// TestFullFSRestorePrelude: --prelude-target --overwrite over an existing
// file on a full file system (the tree itself goes elsewhere).
func TestFullFSRestorePrelude(t *testing.T) {
	isolateClient(t)
	repo := localRepo(t)
	src := sourceTree(t)
	mustRun(t, "backup", "root.pxar:"+src, "--repository", repo, "--backup-id", "elsa",
		"--change-detection-mode", "metadata", "--exclude", "*.tmp")
	m := atomicfiletest.Mount(t, 64<<10)
	prelude := filepath.Join(m.Dir, "prelude.json")
	if err := os.WriteFile(prelude, []byte(`{"exclude-patterns":"old\n"}`), 0o600); err != nil {
		t.Fatal(err)
	}
	failsOnFullFS(t, m, "restore", "host/elsa", "root.pxar", filepath.Join(testutil.TempDir(t), "tree"),
		"--repository", repo, "--prelude-target", prelude, "--overwrite")
}
