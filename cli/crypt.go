package cli

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"sync"

	"github.com/spf13/cobra"
	"golang.org/x/sys/unix"

	"cairn/keys"
)

// configDir is upstream's client configuration directory.
func configDir() string {
	if d := os.Getenv("XDG_CONFIG_HOME"); d != "" {
		return filepath.Join(d, "proxmox-backup")
	}
	home, _ := os.UserHomeDir()
	return filepath.Join(home, ".config", "proxmox-backup")
}

func defaultKeyPath() string       { return filepath.Join(configDir(), "encryption-key.json") }
func defaultMasterPubPath() string { return filepath.Join(configDir(), "master-public.pem") }

// fdFlag is an optional file descriptor option (--keyfd, --master-pubkey-fd).
type fdFlag struct {
	fd  int
	set bool
}

func (f *fdFlag) String() string {
	if !f.set {
		return ""
	}
	return strconv.Itoa(f.fd)
}

func (f *fdFlag) Set(s string) error {
	n, err := strconv.Atoi(s)
	if err != nil || n < 0 {
		return fmt.Errorf("%q is not a file descriptor number", s)
	}
	f.fd, f.set = n, true
	return nil
}

func (f *fdFlag) Type() string { return "fd" }

// maxKeyFileSize bounds what is read from a key file or descriptor; key
// files and PEM public keys are a few KiB.
const maxKeyFileSize = 1 << 20

// dupFD opens a duplicate of an inherited descriptor, for the caller to
// close: an *os.File over the descriptor itself would close it when
// collected, and the number could by then belong to another file of this
// process (tests run cairn in-process).
func dupFD(fd int, name string) (*os.File, error) {
	dup, err := unix.Dup(fd)
	if err != nil {
		return nil, err
	}
	return os.NewFile(uintptr(dup), name), nil
}

// read reads the whole descriptor once; later calls return the same bytes
// (a pipe can be read only once).
func (f *fdFlag) read(name string) ([]byte, error) {
	file, err := dupFD(f.fd, name)
	if err != nil {
		return nil, fmt.Errorf("--%s %d: not an open file descriptor", name, f.fd)
	}
	defer file.Close()
	data, err := io.ReadAll(io.LimitReader(file, maxKeyFileSize+1))
	if err != nil {
		return nil, fmt.Errorf("--%s %d: %v", name, f.fd, err)
	}
	if len(data) > maxKeyFileSize {
		return nil, fmt.Errorf("--%s %d: more than %d bytes", name, f.fd, maxKeyFileSize)
	}
	return data, nil
}

// cryptFlags are --keyfile/--keyfd, --crypt-mode and, for backups, the
// master public key options.
type cryptFlags struct {
	keyfile    string
	keyfd      fdFlag
	mode       string
	masterFile string
	masterFD   fdFlag

	once    sync.Once
	key     *loadedKey
	keyErr  error
	keyData []byte // what --keyfd held, read once
}

func (c *cryptFlags) add(cmd *cobra.Command, withMode bool) {
	f := cmd.Flags()
	f.StringVar(&c.keyfile, "keyfile", "", "path to the encryption key (default: ~/.config/proxmox-backup/encryption-key.json if it exists)")
	f.Var(&c.keyfd, "keyfd", "read the encryption key from this open file descriptor (instead of --keyfile)")
	if withMode {
		f.StringVar(&c.mode, "crypt-mode", "", "none, encrypt or sign-only (default: encrypt when a key is available)")
	}
}

// addMaster adds --master-pubkey-file and --master-pubkey-fd (backup).
func (c *cryptFlags) addMaster(cmd *cobra.Command) {
	f := cmd.Flags()
	f.StringVar(&c.masterFile, "master-pubkey-file", "", "RSA master public key (PEM) to store an encrypted copy of the key with the backup (default: ~/.config/proxmox-backup/master-public.pem if it exists)")
	f.Var(&c.masterFD, "master-pubkey-fd", "read the master public key from this open file descriptor")
}

// loadedKey is a key ready for use, with where it came from.
type loadedKey struct {
	config *keys.KeyConfig
	crypt  *keys.CryptConfig
	raw    [32]byte
}

func loadKeyFile(path string) (*loadedKey, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("key %s: %w", path, err)
	}
	return unlockKey(data, path)
}

// unlockKey parses a key file's bytes and unwraps the key, asking for the
// password when the key has one; name is for messages.
func unlockKey(data []byte, name string) (*loadedKey, error) {
	kc, err := keys.ParseKeyConfig(data)
	if err != nil {
		return nil, fmt.Errorf("key %s: %w", name, err)
	}
	var pw []byte
	if kc.KDF != nil {
		if pw, err = encryptionPassword("Encryption Key Password: "); err != nil {
			return nil, err
		}
	}
	raw, err := kc.Unwrap(pw)
	if err != nil {
		return nil, fmt.Errorf("key %s: %w", name, err)
	}
	cc, err := keys.NewCryptConfig(raw)
	if err != nil {
		return nil, err
	}
	return &loadedKey{config: kc, crypt: cc, raw: raw}, nil
}

// keySource names where the key comes from, as upstream's key_source does.
type keySource int

const (
	keyNone keySource = iota
	keyDefault
	keyFromFile
	keyFromFD
)

// source picks the key: --keyfile, --keyfd, else the default key when it
// exists.
func (c *cryptFlags) source() (keySource, error) {
	switch {
	case c.keyfile != "" && c.keyfd.set:
		return keyNone, usageError{errors.New("--keyfile and --keyfd are mutually exclusive")}
	case c.keyfile != "":
		return keyFromFile, nil
	case c.keyfd.set:
		return keyFromFD, nil
	}
	if _, err := os.Stat(defaultKeyPath()); err == nil {
		return keyDefault, nil
	}
	return keyNone, nil
}

// keyPath is the key file in use ("" for none or a descriptor); explicit
// reports that the user named the key.
func (c *cryptFlags) keyPath() (path string, explicit bool) {
	src, err := c.source()
	switch {
	case err != nil:
		return "", true
	case src == keyFromFile:
		return c.keyfile, true
	case src == keyDefault:
		return defaultKeyPath(), false
	}
	return "", src == keyFromFD
}

// load loads the chosen key once (nil when there is none).
func (c *cryptFlags) load() (*loadedKey, error) {
	c.once.Do(func() {
		src, err := c.source()
		if err != nil {
			c.keyErr = err
			return
		}
		switch src {
		case keyFromFile:
			c.key, c.keyErr = loadKeyFile(c.keyfile)
		case keyDefault:
			c.key, c.keyErr = loadKeyFile(defaultKeyPath())
		case keyFromFD:
			if c.keyData, c.keyErr = c.keyfd.read("keyfd"); c.keyErr == nil {
				c.key, c.keyErr = unlockKey(c.keyData, "from file descriptor "+strconv.Itoa(c.keyfd.fd))
			}
		}
	})
	return c.key, c.keyErr
}

// usingKey is upstream's line naming the key in use.
func (c *cryptFlags) usingKey() string {
	src, _ := c.source()
	switch src {
	case keyFromFile:
		return fmt.Sprintf("Using encryption key from '%s'..", c.keyfile)
	case keyFromFD:
		return "Using encryption key from file descriptor.."
	}
	return "Using default encryption key.."
}

// keySourceLine is usingKey when a key is in use, "" otherwise.
func keySourceLine(load func() (*keys.CryptConfig, error), c *cryptFlags) string {
	if load == nil {
		return ""
	}
	return c.usingKey()
}

// backupCrypt is what a backup runs with.
type backupCrypt struct {
	mode string
	key  *loadedKey
	// masterPEM is the master public key to seal the key with, nil if none.
	masterPEM []byte
	// lines are upstream's messages naming the key and master key, printed
	// after "Starting backup protocol".
	lines []string
}

// forBackup resolves the crypt mode, key and master key as upstream's
// crypto_parameters do (protocol.md 9.7), with its messages.
func (c *cryptFlags) forBackup(stderr io.Writer) (*backupCrypt, error) {
	switch c.mode {
	case "", "none", "encrypt", "sign-only":
	default:
		return nil, usageError{fmt.Errorf("invalid crypt mode %q (none, encrypt or sign-only)", c.mode)}
	}
	if c.masterFile != "" && c.masterFD.set {
		return nil, usageError{errors.New("--master-pubkey-file and --master-pubkey-fd are mutually exclusive")}
	}
	src, err := c.source()
	if err != nil {
		return nil, err
	}
	explicitKey := src == keyFromFile || src == keyFromFD
	explicitMaster := c.masterFile != "" || c.masterFD.set
	if c.mode == "none" {
		if explicitKey {
			return nil, usageError{errors.New("--keyfile/--keyfd and --crypt-mode=none are mutually exclusive")}
		}
		if explicitMaster {
			return nil, usageError{errors.New("--master-pubkey-file/--master-pubkey-fd and --crypt-mode=none are mutually exclusive")}
		}
		return &backupCrypt{mode: "none"}, nil
	}
	if src == keyNone {
		switch {
		case c.mode != "":
			return nil, errors.New("--crypt-mode without --keyfile and no default key file available")
		case explicitMaster:
			return nil, errors.New("--master-pubkey-file/--master-pubkey-fd specified, but no key available")
		}
		return &backupCrypt{mode: "none"}, nil
	}
	if src == keyDefault && c.mode != "" {
		fmt.Fprintln(stderr, "Encrypting with default encryption key!")
	}
	key, err := c.load()
	if err != nil {
		return nil, err
	}
	bc := &backupCrypt{mode: c.mode, key: key}
	if bc.mode == "" {
		bc.mode = "encrypt"
	}
	bc.lines = append(bc.lines, c.usingKey(), "Encryption key fingerprint: "+key.crypt.Fingerprint().Short())
	switch {
	case c.masterFile != "":
		if bc.masterPEM, err = os.ReadFile(c.masterFile); err != nil {
			return nil, fmt.Errorf("master public key: %w", err)
		}
		bc.lines = append(bc.lines, fmt.Sprintf("Using master key from '%s'..", c.masterFile))
	case c.masterFD.set:
		if bc.masterPEM, err = c.masterFD.read("master-pubkey-fd"); err != nil {
			return nil, err
		}
		bc.lines = append(bc.lines, "Using master key from file descriptor..")
	default:
		if bc.masterPEM, err = masterPublicKey(); err != nil {
			return nil, err
		}
		if bc.masterPEM != nil {
			bc.lines = append(bc.lines, "Using default master key..")
		}
	}
	return bc, nil
}

// rsaEncryptedKey seals the key with the master public key, for
// rsa-encrypted.key (formats.md 8.5); nil when there is no master key.
func (bc *backupCrypt) rsaEncryptedKey() ([]byte, error) {
	if bc.key == nil || bc.masterPEM == nil {
		return nil, nil
	}
	pub, err := keys.ParsePublicKey(bc.masterPEM)
	if err != nil {
		return nil, fmt.Errorf("master public key: %w", err)
	}
	return keys.RSAEncryptKey(pub, bc.key.raw, bc.key.config.Created)
}

// loader returns a function that loads the key for reading snapshots,
// called only when a snapshot needs it; nil when there is no key.
func (c *cryptFlags) loader() (load func() (*keys.CryptConfig, error), explicit bool) {
	src, err := c.source()
	if err != nil {
		return func() (*keys.CryptConfig, error) { return nil, err }, true
	}
	if src == keyNone {
		return nil, false
	}
	return func() (*keys.CryptConfig, error) {
		k, err := c.load()
		if err != nil {
			return nil, err
		}
		return k.crypt, nil
	}, src != keyDefault
}

// forRestore is loader with --crypt-mode applied as upstream's restore
// does: none reads without any key (the default key is not used), and
// encrypt or sign-only need a key.
func (c *cryptFlags) forRestore() (load func() (*keys.CryptConfig, error), explicit bool, err error) {
	switch c.mode {
	case "", "encrypt", "sign-only":
	case "none":
		if c.keyfile != "" || c.keyfd.set {
			return nil, false, usageError{errors.New("--keyfile/--keyfd and --crypt-mode=none are mutually exclusive")}
		}
		return nil, false, nil
	default:
		return nil, false, usageError{fmt.Errorf("invalid crypt mode %q (none, encrypt or sign-only)", c.mode)}
	}
	src, err := c.source()
	if err != nil {
		return nil, false, err
	}
	if src == keyNone && c.mode != "" {
		return nil, false, errors.New("--crypt-mode without --keyfile and no default key file available")
	}
	load, explicit = c.loader()
	return load, explicit, nil
}

// masterPublicKey is the configured master public key, nil if none.
func masterPublicKey() ([]byte, error) {
	data, err := os.ReadFile(defaultMasterPubPath())
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	return data, err
}
