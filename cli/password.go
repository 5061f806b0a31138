package cli

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"strings"

	"golang.org/x/term"
)

// secretFromEnv reads a secret the way upstream does: VAR, then VAR_FD,
// VAR_FILE and VAR_CMD; only the first line counts. ok is false when none
// is set.
func secretFromEnv(name string) (secret []byte, ok bool, err error) {
	firstLine := func(b []byte) []byte {
		line, _, _ := bytes.Cut(b, []byte("\n"))
		return bytes.TrimSuffix(line, []byte("\r"))
	}
	if v, set := os.LookupEnv(name); set {
		return firstLine([]byte(v)), true, nil
	}
	if v, set := os.LookupEnv(name + "_FD"); set {
		fd, err := strconv.Atoi(strings.TrimSpace(v))
		if err != nil || fd < 0 {
			return nil, true, fmt.Errorf("%s_FD: %q is not a file descriptor", name, v)
		}
		f, err := dupFD(fd, name+"_FD")
		if err != nil {
			return nil, true, fmt.Errorf("%s_FD: reading descriptor %d: %v", name, fd, err)
		}
		defer f.Close()
		line, err := bufio.NewReader(f).ReadBytes('\n')
		if err != nil && len(line) == 0 {
			return nil, true, fmt.Errorf("%s_FD: reading descriptor %d: %v", name, fd, err)
		}
		return firstLine(line), true, nil
	}
	if v, set := os.LookupEnv(name + "_FILE"); set {
		data, err := os.ReadFile(v)
		if err != nil {
			return nil, true, fmt.Errorf("%s_FILE: %v", name, err)
		}
		return firstLine(data), true, nil
	}
	if v, set := os.LookupEnv(name + "_CMD"); set {
		out, err := exec.Command("sh", "-c", v).Output()
		if err != nil {
			return nil, true, fmt.Errorf("%s_CMD %q failed: %v", name, v, err)
		}
		return firstLine(out), true, nil
	}
	return nil, false, nil
}

// errNoTerminal is returned instead of prompting when there is no terminal.
var errNoTerminal = errors.New("no terminal to ask for a password")

// promptSecret asks on the controlling terminal, never on a pipe.
func promptSecret(prompt string) ([]byte, error) {
	if terminalTaken.Load() {
		return nil, errTerminalTaken
	}
	tty, err := os.OpenFile("/dev/tty", os.O_RDWR, 0)
	if err != nil || !term.IsTerminal(int(tty.Fd())) {
		if tty != nil {
			tty.Close()
		}
		return nil, errNoTerminal
	}
	defer tty.Close()
	fmt.Fprint(tty, prompt)
	pw, err := term.ReadPassword(int(tty.Fd()))
	fmt.Fprintln(tty)
	return pw, err
}

// encryptionPassword gives the key password: PBS_ENCRYPTION_PASSWORD and
// its twins, else a terminal prompt, else a clear error.
func encryptionPassword(prompt string) ([]byte, error) {
	if pw, ok, err := secretFromEnv("PBS_ENCRYPTION_PASSWORD"); ok {
		return pw, err
	}
	pw, err := promptSecret(prompt)
	if errors.Is(err, errNoTerminal) {
		return nil, errors.New("no encryption key password: set PBS_ENCRYPTION_PASSWORD (or _FD, _FILE, _CMD) or run on a terminal")
	}
	return pw, err
}

// newEncryptionPassword asks twice on a terminal; the environment needs no
// confirmation.
func newEncryptionPassword() ([]byte, error) {
	if pw, ok, err := secretFromEnv("PBS_ENCRYPTION_PASSWORD"); ok {
		return pw, err
	}
	pw, err := promptSecret("Encryption Key Password: ")
	if errors.Is(err, errNoTerminal) {
		return nil, errors.New("no password for the new key: set PBS_ENCRYPTION_PASSWORD (or _FD, _FILE, _CMD) or run on a terminal")
	}
	if err != nil {
		return nil, err
	}
	again, err := promptSecret("Verify Password: ")
	if err != nil {
		return nil, err
	}
	if !bytes.Equal(pw, again) {
		return nil, errors.New("passwords do not match")
	}
	return pw, nil
}
