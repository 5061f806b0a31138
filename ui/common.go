package ui

import (
	"github.com/charmbracelet/bubbles/help"
	tea "github.com/charmbracelet/bubbletea"

	"cairn/core"
	"cairn/keys"
)

// View is one screen. The root keeps a stack of them: enter pushes, esc pops.
type View interface {
	tea.Model
	// SetSize gives the view the area below the header and above the status line.
	SetSize(width, height int)
	help.KeyMap
	// Title is this view's part of the breadcrumb.
	Title() string
}

// Capturer is implemented by views that are typing text (a prompt or a
// search): the root then leaves q, ? and esc to them.
type Capturer interface {
	Capturing() bool
}

// Common is the state every view shares: one struct, no globals.
type Common struct {
	Repo     core.Repository
	RepoName string
	Keys     *KeyMap
	Styles   *Styles
	// Key loads the encryption key when a snapshot needs one; nil when no
	// key is configured. KeyExplicit says the user named it.
	Key         func() (*keys.CryptConfig, error)
	KeyExplicit bool
	// Owner is recorded for groups the UI's backups create.
	Owner string
	// RSAEncryptedKey is the key sealed with the configured master public
	// key; encrypted backups store it as rsa-encrypted.key, as the CLI does.
	RSAEncryptedKey []byte
	// LoadKeyFile loads a key file the backup form names (--keyfile) and
	// seals it with the configured master public key (nil without one). It
	// never prompts on the terminal the UI owns. nil: views read the file
	// themselves and accept only keys without a password.
	LoadKeyFile func(path string) (crypt *keys.CryptConfig, rsaEncrypted []byte, err error)
	// Jobs are the long operations running (see StartJob); made on first use.
	Jobs *Jobs
	// KeyState says why no key is loaded and how the UI loads one (keyprompt.go).
	KeyState
}
