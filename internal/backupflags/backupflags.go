// Package backupflags is the command line of a backup: the options that say
// what goes where and how (group, namespace, exclusions, key, crypt and
// change detection modes). `cairn backup` and the terminal UI's backup form
// register them on their pflag sets with the same names, defaults and help,
// so the form accepts what the command accepts and parses it the same way.
package backupflags

import (
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/spf13/pflag"

	"cairn/core"
	"cairn/core/backup"
	"cairn/pxar"
)

// Values are the options of a backup command line after parsing.
type Values struct {
	BackupID         string
	BackupType       string
	Namespace        string
	Excludes         []string
	IncludeDevs      []string
	AllFileSystems   bool
	SkipLostAndFound bool
	ChunkSizeKiB     int
	ChangeDetection  string
	KeyFile          string
	CryptMode        string
	SkipE2BigXattr   bool
	EntriesMax       int
}

// Add registers the options on f.
func (v *Values) Add(f *pflag.FlagSet) {
	f.StringVar(&v.BackupID, "backup-id", "", "backup ID (default: this host's name)")
	f.StringVar(&v.BackupType, "backup-type", "host", "backup type: host, vm or ct")
	f.StringVar(&v.Namespace, "ns", "", "namespace (default: the root namespace)")
	f.StringArrayVar(&v.Excludes, "exclude", nil, "exclude pattern, as in .pxarexclude (repeatable)")
	f.StringArrayVar(&v.IncludeDevs, "include-dev", nil, "include the mount point at this path (repeatable)")
	f.BoolVar(&v.AllFileSystems, "all-file-systems", false, "include all mounted file systems")
	f.BoolVar(&v.SkipLostAndFound, "skip-lost-and-found", false, "skip lost+found directories")
	f.IntVar(&v.ChunkSizeKiB, "chunk-size", 4096, "average chunk size in KiB (64..4096, power of two)")
	f.StringVar(&v.ChangeDetection, "change-detection-mode", backup.DefaultMode,
		"legacy (one .pxar and a catalog; every upstream version reads it), "+
			"metadata (split .mpxar/.ppxar archives, and files whose metadata did not change are not read again; PBS 3.3 or later) "+
			"or data (split archives, every file read)")
	f.StringVar(&v.KeyFile, "keyfile", "", "path to the encryption key (default: ~/.config/proxmox-backup/encryption-key.json if it exists)")
	f.StringVar(&v.CryptMode, "crypt-mode", "", "none, encrypt or sign-only (default: encrypt when a key is available)")
	f.BoolVar(&v.SkipE2BigXattr, "skip-e2big-xattr", false, "skip extended attributes the kernel refuses with E2BIG (over 64 KiB) instead of failing")
	f.IntVar(&v.EntriesMax, "entries-max", pxar.DefaultEntriesMax, "most directory entries held in memory at once (the names of every directory on the current path)")
}

// UsageError is a mistake in the command line itself (exit code 2 in the CLI).
type UsageError struct{ Err error }

func (e UsageError) Error() string { return e.Err.Error() }
func (e UsageError) Unwrap() error { return e.Err }

// Check validates what the flag types alone do not, and returns the
// namespace and the group (defaultID when --backup-id is not given).
func (v *Values) Check(defaultID string) (core.Namespace, core.Group, error) {
	ns, err := core.ParseNamespace(v.Namespace)
	if err != nil {
		return "", core.Group{}, UsageError{err}
	}
	bt, err := core.ParseBackupType(v.BackupType)
	if err != nil {
		return "", core.Group{}, UsageError{err}
	}
	id := v.BackupID
	if id == "" {
		id = defaultID
	}
	if !core.ValidBackupID(id) {
		return "", core.Group{}, UsageError{fmt.Errorf("invalid backup id %q", id)}
	}
	switch v.ChangeDetection {
	case backup.ModeLegacy, backup.ModeData, backup.ModeMetadata:
	default:
		return "", core.Group{}, UsageError{fmt.Errorf("invalid change detection mode %q (legacy, data or metadata)", v.ChangeDetection)}
	}
	switch v.CryptMode {
	case "", "none", "encrypt", "sign-only":
	default:
		return "", core.Group{}, UsageError{fmt.Errorf("invalid crypt mode %q (none, encrypt or sign-only)", v.CryptMode)}
	}
	if v.EntriesMax <= 0 {
		return "", core.Group{}, UsageError{fmt.Errorf("invalid --entries-max %d (must be at least 1)", v.EntriesMax)}
	}
	return ns, core.Group{Type: bt, ID: id}, nil
}

// Options fills in what a backup.Options takes from the command line.
func (v *Values) Options(o *backup.Options) {
	o.Excludes, o.IncludeDevs = v.Excludes, v.IncludeDevs
	o.AllFileSystems, o.SkipLostAndFound = v.AllFileSystems, v.SkipLostAndFound
	o.ChunkSize, o.ChangeDetection = v.ChunkSizeKiB<<10, v.ChangeDetection
	o.SkipE2BigXattr, o.EntriesMax = v.SkipE2BigXattr, v.EntriesMax
}

// Specs parses the archive specifications (the arguments) and refuses an
// archive named twice.
func Specs(args []string) ([]backup.Spec, error) {
	var specs []backup.Spec
	seen := map[string]bool{}
	for _, a := range args {
		s, err := backup.ParseSpec(a)
		if err != nil {
			return nil, UsageError{err}
		}
		if seen[s.Name] {
			return nil, UsageError{fmt.Errorf("got target twice: '%s'", s.Name)}
		}
		seen[s.Name] = true
		specs = append(specs, s)
	}
	return specs, nil
}

// Line is a parsed backup command line.
type Line struct {
	Specs     []backup.Spec
	Values    Values
	Namespace core.Namespace
	Group     core.Group
}

// Parse parses a backup command line given as words (archive specs and
// options, as after `cairn backup`), with the flag set the command uses.
// defaultID is the backup id without --backup-id.
func Parse(words []string, defaultID string) (*Line, error) {
	l := &Line{}
	f := pflag.NewFlagSet("backup", pflag.ContinueOnError)
	f.SetOutput(io.Discard)
	f.SortFlags = true
	l.Values.Add(f)
	if err := f.Parse(words); err != nil {
		if errors.Is(err, pflag.ErrHelp) {
			return nil, UsageError{errors.New("no help here: the options are listed below")}
		}
		return nil, UsageError{err}
	}
	specs, err := Specs(f.Args())
	if err != nil {
		return nil, err
	}
	if len(specs) == 0 {
		return nil, UsageError{errors.New("no archive given (expected NAME.pxar:DIR, NAME.img:FILE, NAME.conf:FILE or NAME.log:FILE)")}
	}
	l.Specs = specs
	if l.Namespace, l.Group, err = l.Values.Check(defaultID); err != nil {
		return nil, err
	}
	return l, nil
}

// Split splits a line into words as a shell would for simple input:
// spaces separate, single and double quotes group, a backslash escapes the
// next character (outside single quotes).
func Split(line string) ([]string, error) {
	var words []string
	var cur strings.Builder
	inWord := false
	var quote rune
	esc := false
	for _, r := range line {
		switch {
		case esc:
			cur.WriteRune(r)
			esc = false
		case r == '\\' && quote != '\'':
			esc, inWord = true, true
		case quote != 0:
			if r == quote {
				quote = 0
			} else {
				cur.WriteRune(r)
			}
		case r == '"' || r == '\'':
			quote, inWord = r, true
		case r == ' ' || r == '\t':
			if inWord {
				words = append(words, cur.String())
				cur.Reset()
				inWord = false
			}
		default:
			cur.WriteRune(r)
			inWord = true
		}
	}
	if quote != 0 {
		return nil, UsageError{fmt.Errorf("unclosed quote %c in %q", quote, line)}
	}
	if inWord {
		words = append(words, cur.String())
	}
	return words, nil
}

// Quote quotes s for Split when it needs it.
func Quote(s string) string {
	if s != "" && !strings.ContainsAny(s, " \t'\"\\") {
		return s
	}
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}
