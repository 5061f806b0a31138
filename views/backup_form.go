package views

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	tea "github.com/charmbracelet/bubbletea"

	"cairn/core"
	"cairn/internal/backupflags"
	"cairn/keys"
)

// The backup form is one line: archive specs and options exactly as after
// `cairn backup`, parsed with the command's own flag set
// (internal/backupflags), so what works on the command line works here.
// It is prefilled with the current directory, the host name and the
// namespace under the cursor, all visible and editable, and it shows as
// you type where the backup will go.

const backupPromptLabel = "Archive specs and options, as after `cairn backup`"

// backupPreview is what the form's line says, parsed as it is typed.
type backupPreview struct {
	ns    core.Namespace
	group core.Group
	specs int
	err   error
	// leftOut names the datastore when a source holds it (the engine
	// leaves it out).
	leftOut string
}

// defaultLine is the form's prefilled value: one pxar archive of the
// default directory, the backup id and, off the root, the namespace.
func (b *Backup) defaultLine() string {
	line := "root.pxar:" + backupflags.Quote(b.dir) + " --backup-id " + backupflags.Quote(b.host)
	if !b.ns.IsRoot() {
		line += " --ns " + backupflags.Quote(string(b.ns))
	}
	return line
}

// openForm opens the form with a line.
func (b *Backup) openForm(line string) tea.Cmd {
	cmd := b.prompt.Open(backupPromptLabel, line)
	b.reparse()
	return cmd
}

// parseLine reads the form's line with the CLI's parser.
func (b *Backup) parseLine(line string) (*backupflags.Line, error) {
	words, err := backupflags.Split(line)
	if err != nil {
		return nil, err
	}
	return backupflags.Parse(words, b.host)
}

// reparse updates the preview from the form's current text.
func (b *Backup) reparse() {
	l, err := b.parseLine(b.prompt.Value())
	if err != nil {
		b.preview = backupPreview{err: err}
		return
	}
	b.preview = backupPreview{ns: l.Namespace, group: l.Group, specs: len(l.Specs)}
	if b.storeDir == "" {
		return
	}
	store := filepath.Clean(b.storeDir)
	for _, s := range l.Specs {
		if s.Type != "pxar" {
			continue
		}
		src, err := filepath.Abs(s.Path)
		if err == nil && src != store && strings.HasPrefix(store, strings.TrimSuffix(src, "/")+"/") {
			b.preview.leftOut = store
		}
	}
}

// cryptParams resolves --keyfile and --crypt-mode as `cairn backup` does
// (protocol.md 9.7): a key file named in the form, else the key the UI was
// started with; encrypt when there is a key, unless told otherwise. It
// reads files: it runs in the job.
func (j backupJob) cryptParams() (mode string, crypt *keys.CryptConfig, rsaKey []byte, err error) {
	v := j.flags
	switch {
	case v.CryptMode == "none":
		if v.KeyFile != "" {
			return "", nil, nil, errors.New("--keyfile and --crypt-mode=none are mutually exclusive")
		}
		return "none", nil, nil, nil
	case v.KeyFile != "":
		load := j.loadKeyFile
		if load == nil {
			load = loadPlainKeyFile
		}
		if crypt, rsaKey, err = load(v.KeyFile); err != nil {
			return "", nil, nil, err
		}
	case j.key != nil:
		if crypt, err = j.key(); err != nil {
			return "", nil, nil, fmt.Errorf("encryption key: %w", err)
		}
		rsaKey = j.rsaKey
	}
	if crypt == nil {
		if v.CryptMode != "" {
			return "", nil, nil, errors.New("--crypt-mode without --keyfile and no default key file available")
		}
		return "none", nil, nil, nil
	}
	mode = v.CryptMode
	if mode == "" {
		mode = "encrypt"
	}
	return mode, crypt, rsaKey, nil
}

// loadPlainKeyFile reads a key file when the UI was given no loader: only
// a key without a password, or with PBS_ENCRYPTION_PASSWORD set, opens.
func loadPlainKeyFile(path string) (*keys.CryptConfig, []byte, error) {
	kc, err := keys.ReadKeyConfig(path)
	if err != nil {
		return nil, nil, err
	}
	var pw []byte
	if kc.KDF != nil {
		v, ok := os.LookupEnv("PBS_ENCRYPTION_PASSWORD")
		if !ok {
			return nil, nil, fmt.Errorf("key %s is protected by a password: set PBS_ENCRYPTION_PASSWORD", path)
		}
		pw = []byte(v)
	}
	raw, err := kc.Unwrap(pw)
	if err != nil {
		return nil, nil, fmt.Errorf("key %s: %w", path, err)
	}
	cc, err := keys.NewCryptConfig(raw)
	return cc, nil, err
}

// backupOptionsHelp lists the options the form takes, in lines that fit
// 80 columns.
var backupOptionsHelp = []string{
	"Archives: NAME.pxar:DIR  NAME.img:FILE  NAME.conf:FILE  NAME.log:FILE",
	"Options:  --backup-id ID  --backup-type host|vm|ct  --ns NAMESPACE",
	"          --exclude PATTERN  --keyfile FILE  --crypt-mode none|encrypt|sign-only",
	"          --change-detection-mode legacy|data|metadata",
}

// promptView draws the form: where the backup goes, the line, the options
// and, live, what the line says.
func (b *Backup) promptView() string {
	s := b.c.Styles
	lines := []string{
		b.cut("New backup into "+b.c.RepoName, s.Title),
		"",
		b.prompt.View(),
		"",
	}
	p := b.preview
	switch {
	case p.err != nil:
		lines = append(lines, b.cut("Target:   –", s.Dim))
	default:
		lines = append(lines, b.cut("Target:   "+nsName(p.ns)+" · group "+p.group.String()+" · "+plural(p.specs, "archive", "archives"), s.Normal))
	}
	if p.leftOut != "" {
		lines = append(lines, b.cut("          the datastore "+p.leftOut+" inside the source is left out", s.Dim))
	}
	lines = append(lines, "")
	for _, l := range backupOptionsHelp {
		lines = append(lines, b.cut(l, s.Dim))
	}
	// What is wrong with the line, as it is typed; else what went wrong
	// when it ran (a missing source, a key that does not open).
	switch {
	case p.err != nil && p.err.Error() != "" && b.prompt.Value() != "":
		lines = append(lines, "", b.wrap("✗ "+p.err.Error(), s.Error))
	case b.inputErr != "":
		lines = append(lines, "", b.wrap("✗ "+b.inputErr, s.Error))
	}
	return strings.Join(lines, "\n")
}

// nsName names a namespace for humans.
func nsName(ns core.Namespace) string {
	if ns.IsRoot() {
		return "root namespace"
	}
	return "namespace " + string(ns)
}
