package cli

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	"cairn/core"
	"cairn/internal/testserver"
)

// snapshotNames lists snapshot paths of a repository as JSON says them.
func snapshotNames(t *testing.T, repo string, extra ...string) []string {
	t.Helper()
	r := mustRun(t, append([]string{"snapshot", "list", "--repository", repo, "--output-format", "json"}, extra...)...)
	var items []struct {
		Type string `json:"backup-type"`
		ID   string `json:"backup-id"`
		Time int64  `json:"backup-time"`
	}
	if err := json.Unmarshal([]byte(r.stdout), &items); err != nil {
		t.Fatalf("snapshot list json %q: %v", r.stdout, err)
	}
	var out []string
	for _, it := range items {
		out = append(out, fmt.Sprintf("%s/%s/%d", it.Type, it.ID, it.Time))
	}
	return out
}

func TestBackupDryRunLocal(t *testing.T) {
	isolateClient(t)
	src := sourceTree(t)
	repo := localRepo(t)
	r := mustRun(t, "backup", "root.pxar:"+src, "etc.conf:"+filepath.Join(src, "etc/hostname"), "--repository", repo, "--dry-run")
	for _, want := range []string{
		"No previous manifest available.",
		fmt.Sprintf("Would upload directory '%s' to '%s' as root.pxar.didx", src, repo),
		fmt.Sprintf("Would upload config file '%s' to '%s' as etc.conf.blob", filepath.Join(src, "etc/hostname"), repo),
		"dry-run: no upload happened",
	} {
		if !strings.Contains(r.stderr, want) {
			t.Errorf("dry run output lacks %q:\n%s", want, r.stderr)
		}
	}
	if _, err := os.Stat(repo); !os.IsNotExist(err) {
		t.Fatalf("a dry run created the repository (%v)", err)
	}
	mustRun(t, "backup", "root.pxar:"+src, "--repository", repo, "--backup-id", "elsa")
	before := snapshotNames(t, repo)
	r = mustRun(t, "backup", "root.pxar:"+src, "--repository", repo, "--backup-id", "elsa", "--dry-run")
	if !strings.Contains(r.stderr, "Downloading previous manifest") {
		t.Errorf("dry run with a previous snapshot:\n%s", r.stderr)
	}
	mustRun(t, "backup", "root.pxar:"+src, "--repository", repo, "--backup-id", "new-group", "--dry-run")
	after := snapshotNames(t, repo)
	if strings.Join(before, " ") != strings.Join(after, " ") {
		t.Fatalf("dry runs changed the snapshots: %v -> %v", before, after)
	}
	groups := mustRun(t, "list", "--repository", repo, "--output-format", "json").stdout
	if strings.Contains(groups, "new-group") {
		t.Fatalf("a dry run made a group: %s", groups)
	}
}

func TestBackupDryRunServerChecksOwner(t *testing.T) {
	isolateClient(t)
	srv, repo := remoteRepo(t)
	src := sourceTree(t)
	mustRun(t, "backup", "root.pxar:"+src, "--repository", repo, "--backup-id", "elsa")
	r := mustRun(t, "backup", "root.pxar:"+src, "--repository", repo, "--backup-id", "elsa", "--dry-run")
	if !strings.Contains(r.stderr, "Would upload directory") || !strings.Contains(r.stderr, "Downloading previous manifest") {
		t.Fatalf("dry run:\n%s", r.stderr)
	}
	if n := len(snapshotNames(t, repo)); n != 1 {
		t.Fatalf("%d snapshots after a dry run, want 1", n)
	}
	// The session is real: bob may not back up into alice's group, dry or not.
	t.Setenv("PBS_PASSWORD", testserver.Users["bob@pbs"])
	r = cairnRun(t, "backup", "root.pxar:"+src, "--repository", srv.Repository("bob@pbs"), "--backup-id", "elsa", "--dry-run")
	if r.code == 0 || !strings.Contains(r.stderr, "owner") {
		t.Fatalf("bob's dry run into alice's group: exit %d, %s", r.code, r.stderr)
	}
}

// keyFiles makes an unprotected key and a master key pair in dir.
func keyFiles(t *testing.T, dir string) (key, masterPub, masterPriv string) {
	t.Helper()
	key = filepath.Join(dir, "k.json")
	mustRun(t, "key", "create", key, "--kdf", "none")
	t.Setenv("PBS_ENCRYPTION_PASSWORD", "master-pw-1")
	wd, _ := os.Getwd()
	if err := os.Chdir(dir); err != nil {
		t.Fatal(err)
	}
	defer os.Chdir(wd)
	mustRun(t, "key", "create-master-key")
	return key, filepath.Join(dir, "master-public.pem"), filepath.Join(dir, "master-private.pem")
}

// handOverFD opens path for a --*-fd option. The test keeps the file and
// closes it at the end: cairn reads a duplicate, so the caller's descriptor
// stays the caller's (an *os.File over it inside cairn once closed it when
// collected, and a later close here hit a reused number: a restore then
// failed with "bad file descriptor").
func handOverFD(t *testing.T, path string) *os.File {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.Close() })
	return f
}

func TestBackupKeyFromDescriptors(t *testing.T) {
	isolateClient(t)
	dir := t.TempDir()
	key, pub, priv := keyFiles(t, dir)
	src := sourceTree(t)
	repo := localRepo(t)
	kf, mf := handOverFD(t, key), handOverFD(t, pub)
	r := mustRun(t, "backup", "root.pxar:"+src, "--repository", repo, "--backup-id", "fd",
		"--keyfd", fmt.Sprint(kf.Fd()), "--master-pubkey-fd", fmt.Sprint(mf.Fd()))
	for _, want := range []string{"Using encryption key from file descriptor..", "Encryption key fingerprint: ",
		"Using master key from file descriptor..", "Upload RSA encoded key to"} {
		if !strings.Contains(r.stderr, want) {
			t.Errorf("backup output lacks %q:\n%s", want, r.stderr)
		}
	}
	// The descriptors stay the caller's: nothing in the process closes them,
	// not even a finalizer after the command is done with them.
	for i := 0; i < 3; i++ {
		runtime.GC()
		time.Sleep(10 * time.Millisecond)
	}
	for _, f := range []*os.File{kf, mf} {
		if _, err := f.Stat(); err != nil {
			t.Fatalf("--keyfd/--master-pubkey-fd descriptor closed behind the caller: %v", err)
		}
	}
	snap := "host/fd"
	files := mustRun(t, "snapshot", "files", lastSnapshot(t, repo), "--repository", repo, "--output-format", "json").stdout
	if !strings.Contains(files, `"filename":"rsa-encrypted.key.blob"`) || !strings.Contains(files, `"crypt-mode":"encrypt"`) {
		t.Fatalf("files of an encrypted backup with a master key: %s", files)
	}
	// Without the key the archive does not restore; with the key (from a
	// descriptor as well) it does, and so does the key recovered with the
	// master key.
	if r := cairnRun(t, "restore", snap, "root.pxar", filepath.Join(dir, "nokey"), "--repository", repo); r.code == 0 {
		t.Fatal("restore of an encrypted archive without a key succeeded")
	}
	mustRun(t, "restore", snap, "root.pxar", filepath.Join(dir, "withfd"), "--repository", repo, "--keyfd", fmt.Sprint(handOverFD(t, key).Fd()))
	sameFile(t, filepath.Join(src, "big"), filepath.Join(dir, "withfd", "big"))
	// As upstream: the key copy is listed with the backup's crypt mode and
	// restores without the key it protects.
	var listed []map[string]any
	json.Unmarshal([]byte(files), &listed)
	for _, f := range listed {
		if f["filename"] == "rsa-encrypted.key.blob" && f["crypt-mode"] != "encrypt" {
			t.Errorf("rsa-encrypted.key.blob listed as %v, want encrypt", f["crypt-mode"])
		}
	}
	enc := filepath.Join(dir, "rsa.key")
	if r := mustRun(t, "restore", snap, "rsa-encrypted.key.blob", enc, "--repository", repo); !strings.Contains(r.stderr, "Restoring encrypted key blob without original key - skipping manifest fingerprint check!") {
		t.Errorf("restore of the key copy: %s", r.stderr)
	}
	rec := filepath.Join(dir, "recovered.json")
	mustRun(t, "key", "import-with-master-key", rec, "--master-keyfile", priv, "--encrypted-keyfile", enc, "--kdf", "none")
	r = mustRun(t, "restore", snap, "root.pxar", filepath.Join(dir, "recovered"), "--repository", repo, "--keyfile", rec)
	if !strings.Contains(r.stderr, "Using encryption key from '"+rec+"'..") || !strings.Contains(r.stderr, "Fingerprint: ") {
		t.Errorf("encrypted restore does not name its key:\n%s", r.stderr)
	}
	sameFile(t, filepath.Join(src, "etc/hostname"), filepath.Join(dir, "recovered", "etc/hostname"))
}

func lastSnapshot(t *testing.T, repo string) string {
	t.Helper()
	names := snapshotNames(t, repo)
	if len(names) == 0 {
		t.Fatal("no snapshots")
	}
	r := mustRun(t, "snapshot", "list", "--repository", repo, "--output-format", "json")
	var items []struct {
		Type string `json:"backup-type"`
		ID   string `json:"backup-id"`
		Time int64  `json:"backup-time"`
	}
	json.Unmarshal([]byte(r.stdout), &items)
	last := items[len(items)-1]
	return fmt.Sprintf("%s/%s/%s", last.Type, last.ID, core.FormatSnapshotTime(last.Time))
}

func sameFile(t *testing.T, a, b string) {
	t.Helper()
	x, err := os.ReadFile(a)
	if err != nil {
		t.Fatal(err)
	}
	y, err := os.ReadFile(b)
	if err != nil {
		t.Fatal(err)
	}
	if string(x) != string(y) {
		t.Fatalf("%s and %s differ", a, b)
	}
}

// The crypt options follow upstream's crypto_parameters (protocol.md 9.7).
func TestBackupCryptOptionRules(t *testing.T) {
	home := isolateClient(t)
	dir := t.TempDir()
	key, pub, _ := keyFiles(t, dir)
	src := sourceTree(t)
	repo := localRepo(t)
	base := []string{"backup", "root.pxar:" + src, "--repository", repo, "--dry-run"}
	cases := []struct {
		name    string
		args    []string
		code    int
		message string
	}{
		{"keyfile and keyfd", []string{"--keyfile", key, "--keyfd", "0"}, 2, "--keyfile and --keyfd are mutually exclusive"},
		{"master file and fd", []string{"--keyfile", key, "--master-pubkey-file", pub, "--master-pubkey-fd", "0"}, 2, "--master-pubkey-file and --master-pubkey-fd are mutually exclusive"},
		{"key with mode none", []string{"--keyfile", key, "--crypt-mode", "none"}, 2, "--keyfile/--keyfd and --crypt-mode=none are mutually exclusive"},
		{"master with mode none", []string{"--master-pubkey-file", pub, "--crypt-mode", "none"}, 2, "--master-pubkey-file/--master-pubkey-fd and --crypt-mode=none are mutually exclusive"},
		{"master without a key", []string{"--master-pubkey-file", pub}, 1, "--master-pubkey-file/--master-pubkey-fd specified, but no key available"},
		{"mode without a key", []string{"--crypt-mode", "encrypt"}, 1, "--crypt-mode without --keyfile and no default key file available"},
		{"bad mode", []string{"--crypt-mode", "rot13"}, 2, `invalid crypt mode "rot13"`},
		{"bad fd", []string{"--keyfd", "x"}, 2, `"x" is not a file descriptor number`},
		{"entries-max 0", []string{"--entries-max", "0"}, 2, "invalid --entries-max 0"},
		{"key and master file", []string{"--keyfile", key, "--master-pubkey-file", pub}, 0, "Using master key from '" + pub + "'.."},
	}
	for _, c := range cases {
		r := cairnRun(t, append(base, c.args...)...)
		if r.code != c.code || !strings.Contains(r.stderr, c.message) {
			t.Errorf("%s: exit %d (want %d), stderr %q (want %q)", c.name, r.code, c.code, r.stderr, c.message)
		}
	}
	// With a default key, --crypt-mode encrypt says so, and the default
	// master key is used.
	cfg := filepath.Join(home, ".config", "proxmox-backup")
	os.MkdirAll(cfg, 0o700)
	copyFile(t, key, filepath.Join(cfg, "encryption-key.json"))
	copyFile(t, pub, filepath.Join(cfg, "master-public.pem"))
	r := mustRun(t, append(base, "--crypt-mode", "encrypt")...)
	for _, want := range []string{"Encrypting with default encryption key!", "Using default encryption key..", "Using default master key.."} {
		if !strings.Contains(r.stderr, want) {
			t.Errorf("default key: lacks %q:\n%s", want, r.stderr)
		}
	}
}

func copyFile(t *testing.T, from, to string) {
	t.Helper()
	data, err := os.ReadFile(from)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(to, data, 0o600); err != nil {
		t.Fatal(err)
	}
}

// restore --crypt-mode: none ignores the default key (and refuses a named
// one), encrypt needs a key, as upstream's restore.
func TestRestoreCryptMode(t *testing.T) {
	home := isolateClient(t)
	dir := t.TempDir()
	key := filepath.Join(dir, "k.json")
	mustRun(t, "key", "create", key, "--kdf", "none")
	repo := localRepo(t)
	src := sourceTree(t)
	mustRun(t, "backup", "root.pxar:"+src, "--repository", repo, "--backup-id", "plain", "--crypt-mode", "none")
	// A broken default key would fail any restore that loads it.
	cfg := filepath.Join(home, ".config", "proxmox-backup")
	os.MkdirAll(cfg, 0o700)
	os.WriteFile(filepath.Join(cfg, "encryption-key.json"), []byte("{broken"), 0o600)
	mustRun(t, "restore", "host/plain", "root.pxar", filepath.Join(dir, "a"), "--repository", repo, "--crypt-mode", "none")
	sameFile(t, filepath.Join(src, "big"), filepath.Join(dir, "a", "big"))
	for _, c := range []struct {
		args []string
		code int
		msg  string
	}{
		{[]string{"--crypt-mode", "none", "--keyfile", key}, 2, "--keyfile/--keyfd and --crypt-mode=none are mutually exclusive"},
		{[]string{"--crypt-mode", "rot13"}, 2, `invalid crypt mode "rot13"`},
	} {
		r := cairnRun(t, append([]string{"restore", "host/plain", "root.pxar", filepath.Join(dir, "b"), "--repository", repo}, c.args...)...)
		if r.code != c.code || !strings.Contains(r.stderr, c.msg) {
			t.Errorf("%v: exit %d, %q", c.args, r.code, r.stderr)
		}
	}
	os.Remove(filepath.Join(cfg, "encryption-key.json"))
	r := cairnRun(t, "restore", "host/plain", "root.pxar", filepath.Join(dir, "c"), "--repository", repo, "--crypt-mode", "encrypt")
	if r.code == 0 || !strings.Contains(r.stderr, "--crypt-mode without --keyfile and no default key file available") {
		t.Errorf("--crypt-mode encrypt without a key: exit %d, %q", r.code, r.stderr)
	}
}
