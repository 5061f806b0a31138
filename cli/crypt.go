package cli

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"

	"github.com/spf13/cobra"

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

// cryptFlags are --keyfile and --crypt-mode.
type cryptFlags struct {
	keyfile string
	mode    string
}

func (c *cryptFlags) add(cmd *cobra.Command, withMode bool) {
	cmd.Flags().StringVar(&c.keyfile, "keyfile", "", "path to the encryption key (default: "+"~/.config/proxmox-backup/encryption-key.json if it exists)")
	if withMode {
		cmd.Flags().StringVar(&c.mode, "crypt-mode", "", "none, encrypt or sign-only (default: encrypt when a key is available)")
	}
}

// loadedKey is a key ready for use, with the file it came from.
type loadedKey struct {
	config *keys.KeyConfig
	crypt  *keys.CryptConfig
	raw    [32]byte
}

func loadKeyFile(path string) (*loadedKey, error) {
	kc, err := keys.Load(path)
	if err != nil {
		return nil, err
	}
	var pw []byte
	if kc.KDF != nil {
		if pw, err = encryptionPassword("Encryption Key Password: "); err != nil {
			return nil, err
		}
	}
	raw, err := kc.Unwrap(pw)
	if err != nil {
		return nil, fmt.Errorf("key %s: %w", path, err)
	}
	cc, err := keys.NewCryptConfig(raw)
	if err != nil {
		return nil, err
	}
	return &loadedKey{config: kc, crypt: cc, raw: raw}, nil
}

// keyPath gives the key to use: --keyfile, or the default key when it
// exists (explicit reports whether the user named it).
func (c *cryptFlags) keyPath() (path string, explicit bool) {
	if c.keyfile != "" {
		return c.keyfile, true
	}
	if _, err := os.Stat(defaultKeyPath()); err == nil {
		return defaultKeyPath(), false
	}
	return "", false
}

// forBackup resolves the crypt mode and key as upstream's
// crypto_parameters do.
func (c *cryptFlags) forBackup(stderr io.Writer) (mode string, key *loadedKey, err error) {
	switch c.mode {
	case "", "none", "encrypt", "sign-only":
	default:
		return "", nil, usageError{fmt.Errorf("invalid crypt mode %q (none, encrypt or sign-only)", c.mode)}
	}
	if c.mode == "none" {
		if c.keyfile != "" {
			return "", nil, usageError{errors.New("--keyfile and --crypt-mode=none are incompatible")}
		}
		return "none", nil, nil
	}
	path, explicit := c.keyPath()
	if path == "" {
		if c.mode != "" {
			return "", nil, fmt.Errorf("--crypt-mode %s needs a key: use --keyfile or create the default key with 'key create'", c.mode)
		}
		return "none", nil, nil
	}
	if !explicit {
		fmt.Fprintln(stderr, "Encrypting with default encryption key!")
	}
	key, err = loadKeyFile(path)
	if err != nil {
		return "", nil, err
	}
	mode = c.mode
	if mode == "" {
		mode = "encrypt"
	}
	return mode, key, nil
}

// loader returns a function that loads the key for reading snapshots,
// called only when a snapshot needs it.
func (c *cryptFlags) loader() (load func() (*keys.CryptConfig, error), explicit bool) {
	path, explicit := c.keyPath()
	if path == "" {
		return nil, false
	}
	return func() (*keys.CryptConfig, error) {
		k, err := loadKeyFile(path)
		if err != nil {
			return nil, err
		}
		return k.crypt, nil
	}, explicit
}

// masterPublicKey is the configured master public key, nil if none.
func masterPublicKey() ([]byte, error) {
	data, err := os.ReadFile(defaultMasterPubPath())
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	return data, err
}
