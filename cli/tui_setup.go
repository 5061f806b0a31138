package cli

import (
	"context"
	"errors"
	"fmt"
	"sync/atomic"
	"time"

	"cairn/core"
	"cairn/keys"
	"cairn/net/client"
	"cairn/ui"
)

// What the terminal UI settles before it takes the terminal: a server's
// certificate and login, then the encryption key. A prompt for either
// while Bubble Tea reads the keyboard would be hidden by its screen and
// get half the keys typed (issue 17 item 6), so the server is asked
// everything now, on the plain terminal, as the key password already is;
// while the UI runs, nothing prompts on the terminal.

// terminalTaken is set while the UI owns the terminal: prompts refuse.
var terminalTaken atomic.Bool

// errTerminalTaken is what a prompt says while the UI runs.
var errTerminalTaken = errors.New("the terminal UI owns the terminal: nothing can be asked on it now")

// connectTUI logs in to a server repository now: the certificate's
// fingerprint is confirmed and the password asked on the terminal when
// PBS_FINGERPRINT, PBS_PASSWORD or a cached ticket do not settle them.
// A local datastore has nothing to ask.
func connectTUI(repo core.Repository) error {
	r, ok := repo.(*client.Repository)
	if !ok {
		return nil
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	if err := r.Client().Login(ctx); err != nil {
		return fmt.Errorf("%s: %w", repo.Name(), err)
	}
	return nil
}

// tuiKey loads the key before the UI takes the terminal (its password
// from PBS_ENCRYPTION_PASSWORD or asked now). A key that does not load
// (a wrong password) no longer stops the UI: the plain groups browse, the
// encrypted ones say why they cannot be read, and K loads a key inside
// the UI. The returned message, if any, is for the status line.
func tuiKey(c *ui.Common, crypt *cryptFlags) (string, error) {
	c.UnlockKey = tuiUnlockKey
	src, err := crypt.source()
	if err != nil {
		return "", err
	}
	path, _ := crypt.keyPath()
	if path == "" {
		path = defaultKeyPath()
	}
	c.KeyPath = path
	if src == keyNone {
		return "", nil
	}
	k, err := crypt.load()
	if err != nil {
		c.KeyErr = err
		// The groups it locks say why; the status line only that it is so.
		return fmt.Sprintf("encryption key not loaded — %s loads one", c.Keys.LoadKey.Help().Key), nil
	}
	rsaKey, err := masterKeyCopy(k)
	if err != nil {
		return "", err
	}
	if src == keyFromFD {
		path = ""
	}
	c.SetKey(ui.UnlockedKey{Crypt: k.crypt, RSAEncrypted: rsaKey, Path: path})
	c.KeyExplicit = src != keyDefault
	if c.KeyPath == "" {
		c.KeyPath = defaultKeyPath()
	}
	return "", nil
}

// tuiUnlockKey opens a key file with the password typed in the UI and
// seals it for the configured master public key, as backups do.
func tuiUnlockKey(path string, password []byte) (ui.UnlockedKey, error) {
	kc, err := keys.ReadKeyConfig(path)
	if err != nil {
		return ui.UnlockedKey{}, err
	}
	raw, err := kc.Unwrap(password)
	if err != nil {
		return ui.UnlockedKey{}, fmt.Errorf("key %s: %w", path, err)
	}
	cc, err := keys.NewCryptConfig(raw)
	if err != nil {
		return ui.UnlockedKey{}, err
	}
	rsaKey, err := masterKeyCopy(&loadedKey{config: kc, crypt: cc, raw: raw})
	if err != nil {
		return ui.UnlockedKey{}, err
	}
	return ui.UnlockedKey{Crypt: cc, RSAEncrypted: rsaKey, Path: path}, nil
}
