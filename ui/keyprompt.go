package ui

import (
	"errors"
	"fmt"

	"github.com/charmbracelet/bubbles/textinput"
	tea "github.com/charmbracelet/bubbletea"

	"cairn/keys"
)

// KeyState is what the UI knows about the encryption key beyond Key: why
// none is loaded, which one is, and how to load one from inside the UI,
// so a wrong PBS_ENCRYPTION_PASSWORD costs the encrypted groups only, and
// the user can fix it without leaving.
type KeyState struct {
	// KeyErr says why the configured key is not loaded (a wrong
	// password, a missing file); nil when it is, or none is configured.
	KeyErr error
	// KeyFingerprint is the loaded key's fingerprint, "" without one.
	KeyFingerprint string
	// KeyPath is the key file the UI proposes to load.
	KeyPath string
	// UnlockKey opens a key file with a password typed in the UI (nil
	// for none) and seals it for the configured master key, as the CLI
	// does; nil: the UI opens key files itself, without a master key.
	UnlockKey func(path string, password []byte) (UnlockedKey, error)
}

// UnlockedKey is a key ready for reading and backing up.
type UnlockedKey struct {
	Crypt        *keys.CryptConfig
	RSAEncrypted []byte // the key sealed with the master public key, nil without one
	Path         string
}

// SetKey makes k the key every view reads and backs up with.
func (c *Common) SetKey(k UnlockedKey) {
	crypt := k.Crypt
	c.Key = func() (*keys.CryptConfig, error) { return crypt, nil }
	c.KeyExplicit = true
	c.RSAEncryptedKey = k.RSAEncrypted
	c.KeyFingerprint = crypt.Fingerprint().String()
	c.KeyPath = k.Path
	c.KeyErr = nil
}

// KeyLoaded tells whether a key is loaded.
func (c *Common) KeyLoaded() bool { return c.Key != nil && c.KeyErr == nil }

// unlockKeyFile is UnlockKey without the CLI: the key file alone.
func unlockKeyFile(path string, password []byte) (UnlockedKey, error) {
	kc, err := keys.ReadKeyConfig(path)
	if err != nil {
		return UnlockedKey{}, err
	}
	raw, err := kc.Unwrap(password)
	if err != nil {
		return UnlockedKey{}, fmt.Errorf("key %s: %w", path, err)
	}
	cc, err := keys.NewCryptConfig(raw)
	if err != nil {
		return UnlockedKey{}, err
	}
	return UnlockedKey{Crypt: cc, Path: path}, nil
}

// KeyUnlockedMsg is the outcome of loading a key from the UI; the view
// whose prompt asked applies it.
type KeyUnlockedMsg struct {
	Prompt *KeyPrompt
	Key    UnlockedKey
	Err    error
}

// KeyPrompt asks for a key file, then for its password in a masked input
// when the key has one, and loads it in a command.
type KeyPrompt struct {
	c        *Common
	prompt   *Prompt
	path     string
	password bool // the second step: the password
}

// NewKeyPrompt makes a closed key prompt.
func NewKeyPrompt(c *Common) *KeyPrompt { return &KeyPrompt{c: c, prompt: NewPrompt(c)} }

// Open asks for the key file, proposing the configured one.
func (k *KeyPrompt) Open() tea.Cmd {
	k.password = false
	k.prompt.input.EchoMode = textinput.EchoNormal
	return k.prompt.Open("Load the encryption key from file:", k.c.KeyPath)
}

// Active reports whether the prompt is open.
func (k *KeyPrompt) Active() bool { return k.prompt.Active() }

// SetWidth limits the input's width.
func (k *KeyPrompt) SetWidth(w int) { k.prompt.SetWidth(w) }

// Update takes a key while the prompt is open.
func (k *KeyPrompt) Update(msg tea.Msg) tea.Cmd {
	res, cmd := k.prompt.Update(msg)
	if res != PromptConfirmed {
		if res == PromptCancelled {
			k.prompt.input.SetValue("") // never keep a password around
		}
		return cmd
	}
	value := k.prompt.Value()
	k.prompt.input.SetValue("")
	if !k.password {
		k.path = value
		kc, err := keys.ReadKeyConfig(k.path)
		if err != nil {
			return Error(err)
		}
		if kc.KDF != nil {
			k.password = true
			k.prompt.input.EchoMode = textinput.EchoPassword
			return k.prompt.Open("Password of the key "+k.path+":", "")
		}
		return k.unlockCmd(nil)
	}
	return k.unlockCmd([]byte(value))
}

func (k *KeyPrompt) unlockCmd(password []byte) tea.Cmd {
	unlock, path := k.c.UnlockKey, k.path
	if unlock == nil {
		unlock = unlockKeyFile
	}
	return func() tea.Msg {
		key, err := unlock(path, password)
		if err == nil && key.Crypt == nil {
			err = errors.New("no key")
		}
		return KeyUnlockedMsg{Prompt: k, Key: key, Err: err}
	}
}

// Apply loads the key the prompt asked for; it returns the status line.
func (k *KeyPrompt) Apply(m KeyUnlockedMsg) tea.Cmd {
	if m.Err != nil {
		return Error(m.Err)
	}
	if m.Key.Path == "" {
		m.Key.Path = k.path
	}
	k.c.SetKey(m.Key)
	return Status("key " + m.Key.Path + " loaded (fingerprint " + m.Key.Crypt.Fingerprint().Short() + ")")
}

// View draws the prompt.
func (k *KeyPrompt) View() string { return k.prompt.View() }
