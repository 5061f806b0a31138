package cli

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"cairn/net/server/config"
)

// Issue 16, "passwords on the command line": manager commands that take a
// secret also read it from the environment (PBS_PASSWORD and its _FD,
// _FILE, _CMD twins; AWS_SECRET_ACCESS_KEY for S3) or a terminal prompt,
// and say so in --help.

func userHash(t *testing.T, dir, id string) string {
	t.Helper()
	cfg, err := config.Load(dir)
	if err != nil {
		t.Fatal(err)
	}
	u, ok := cfg.Users[id]
	if !ok {
		t.Fatalf("user %s not created", id)
	}
	return u.Hash
}

func TestManagerSecretsOutOfTheCommandLine(t *testing.T) {
	isolateClient(t)
	dir := t.TempDir()
	pwFile := filepath.Join(t.TempDir(), "pw")
	os.WriteFile(pwFile, []byte("from-a-file\nsecond line ignored\n"), 0o600)

	t.Setenv("PBS_PASSWORD_FILE", pwFile)
	mustRun(t, "manager", "--config-dir", dir, "user", "create", "carol@pbs")
	if !config.CheckSecret(userHash(t, dir, "carol@pbs"), "from-a-file") {
		t.Fatal("user create did not take the password from PBS_PASSWORD_FILE")
	}
	// A new password for an existing user, from the environment too.
	os.WriteFile(pwFile, []byte("changed-in-file\n"), 0o600)
	mustRun(t, "manager", "--config-dir", dir, "user", "update", "carol@pbs", "--set-password")
	if !config.CheckSecret(userHash(t, dir, "carol@pbs"), "changed-in-file") {
		t.Fatal("user update --set-password did not take the password from PBS_PASSWORD_FILE")
	}
	os.Unsetenv("PBS_PASSWORD_FILE")
	t.Setenv("PBS_PASSWORD_CMD", "echo from-a-command")
	mustRun(t, "manager", "--config-dir", dir, "user", "update", "carol@pbs", "--set-password")
	if !config.CheckSecret(userHash(t, dir, "carol@pbs"), "from-a-command") {
		t.Fatal("user update --set-password did not take the password from PBS_PASSWORD_CMD")
	}
	os.Unsetenv("PBS_PASSWORD_CMD")

	// The S3 secret key: from AWS_SECRET_ACCESS_KEY_FILE.
	skFile := filepath.Join(t.TempDir(), "sk")
	os.WriteFile(skFile, []byte("s3-secret-from-file\n"), 0o600)
	t.Setenv("AWS_SECRET_ACCESS_KEY_FILE", skFile)
	t.Setenv("AWS_SECRET_ACCESS_KEY", "")
	os.Unsetenv("AWS_SECRET_ACCESS_KEY")
	mustRun(t, "manager", "--config-dir", dir, "s3", "endpoint", "create", "ep1", "--endpoint", "https://s3.example.com", "--access-key", "AK")
	cfg, err := config.Load(dir)
	if err != nil {
		t.Fatal(err)
	}
	if cfg.S3Secrets["ep1"].SecretKey != "s3-secret-from-file" {
		t.Fatal("s3 endpoint create did not take the secret key from AWS_SECRET_ACCESS_KEY_FILE")
	}

	// --help says where the secret comes from and why not the command line.
	root := newRoot()
	for _, path := range [][]string{{"manager", "user", "create"}, {"manager", "user", "update"}, {"manager", "s3", "endpoint", "create"}} {
		cmd, _, err := root.Find(path)
		if err != nil {
			t.Fatal(err)
		}
		help := cmd.Long + "\n" + cmd.Flags().FlagUsages()
		for _, want := range []string{"_FD", "_FILE", "_CMD", "terminal", "/proc"} {
			if !strings.Contains(help, want) {
				t.Errorf("%s --help does not mention %q:\n%s", strings.Join(path, " "), want, help)
			}
		}
	}
}

// runOnTerminal runs a cairn command line on a pseudo-terminal that is its
// controlling terminal, answering each prompt (a line with "assword" or
// "ecret") with the next answer.
func runOnTerminal(t *testing.T, env []string, args []string, answers []string) (string, error) {
	t.Helper()
	master, slave := openPTY(t)
	defer master.Close()
	cmd := exec.Command(os.Args[0])
	cmd.Env = append(os.Environ(), append(env, "CAIRN_TEST_AS_MAIN=1", "CAIRN_TEST_ARGS="+strings.Join(args, "\n"))...)
	cmd.Stdin, cmd.Stdout, cmd.Stderr = slave, slave, slave
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true, Setctty: true}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	slave.Close()
	var mu sync.Mutex
	var out bytes.Buffer
	done := make(chan struct{})
	go func() {
		defer close(done)
		buf := make([]byte, 4096)
		for {
			n, err := master.Read(buf)
			mu.Lock()
			out.Write(buf[:n])
			mu.Unlock()
			if err != nil {
				return
			}
		}
	}()
	prompts := func() int {
		mu.Lock()
		defer mu.Unlock()
		s := out.String()
		return strings.Count(s, "assword") + strings.Count(s, "ecret access key")
	}
	for i, a := range answers {
		deadline := time.Now().Add(5 * time.Second)
		for prompts() <= i && time.Now().Before(deadline) {
			time.Sleep(10 * time.Millisecond)
		}
		if prompts() <= i {
			break // no further prompt
		}
		master.Write([]byte(a + "\n"))
	}
	err := cmd.Wait()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
	}
	mu.Lock()
	defer mu.Unlock()
	return out.String(), err
}

func TestManagerPasswordPromptConfirms(t *testing.T) {
	isolateClient(t)
	dir := t.TempDir()
	out, err := runOnTerminal(t, nil, []string{"manager", "--config-dir", dir, "user", "create", "dave@pbs"}, []string{"secret-one", "secret-two"})
	if err == nil || !strings.Contains(out, "do not match") {
		t.Fatalf("mismatched passwords: err %v, output %q", err, out)
	}
	if cfg, _ := config.Load(dir); cfg != nil {
		if _, ok := cfg.Users["dave@pbs"]; ok {
			t.Fatal("user created although the passwords did not match")
		}
	}
	out, err = runOnTerminal(t, nil, []string{"manager", "--config-dir", dir, "user", "create", "dave@pbs"}, []string{"secret-one", "secret-one"})
	if err != nil {
		t.Fatalf("matching passwords: %v, output %q", err, out)
	}
	if strings.Contains(out, "secret-one") {
		t.Fatalf("the password was echoed: %q", out)
	}
	if !config.CheckSecret(userHash(t, dir, "dave@pbs"), "secret-one") {
		t.Fatal("prompted password not stored")
	}
	out, err = runOnTerminal(t, nil, []string{"manager", "--config-dir", dir, "user", "update", "dave@pbs", "--set-password"}, []string{"secret-new", "secret-new"})
	if err != nil || !config.CheckSecret(userHash(t, dir, "dave@pbs"), "secret-new") {
		t.Fatalf("update --set-password on a terminal: %v, output %q", err, out)
	}
}

// "Absurd backup times": the client refuses them before it starts, in one
// line naming the value.
func TestBackupTimeOutOfRangeRefused(t *testing.T) {
	isolateClient(t)
	repo := localRepo(t)
	src := sourceTree(t)
	for _, tm := range []string{"1099511627776", "253402300800", "-5"} {
		r := cairnRun(t, "backup", "root.pxar:"+src, "--repository", repo, "--backup-id", "x", "--backup-time", tm)
		if r.code != exitUsage || !strings.Contains(r.stderr, tm) || strings.Count(strings.TrimSpace(r.stderr), "\n") != 0 {
			t.Errorf("--backup-time %s: exit %d, stderr %q", tm, r.code, r.stderr)
		}
	}
	if _, err := os.Stat(filepath.Join(repo, "host", "x")); err == nil {
		t.Error("a group was made for a refused backup time")
	}
}
