package cli

import (
	"github.com/spf13/cobra"
	"io"
	"os"
	"sort"
	"strings"

	"cairn/cli/format"
	"cairn/core"
)

var humanByte = format.HumanByte

// outputFlag is the --output-format option shared by listing commands.
type outputFlag struct{ value string }

func (o *outputFlag) options() (format.Options, error) {
	opts, err := format.OptionsFromEnv(o.value)
	if err != nil {
		return opts, usageError{err}
	}
	return opts, nil
}

// stripServerExt drops .didx/.fidx/.blob, as upstream's file columns do.
func stripServerExt(name string) string {
	for _, ext := range []string{".didx", ".fidx", ".blob"} {
		if strings.HasSuffix(name, ext) {
			return strings.TrimSuffix(name, ext)
		}
	}
	return name
}

// snapshotItem is a SnapshotListItem (protocol.md 5.4).
func snapshotItem(s core.SnapshotInfo) map[string]any {
	files := []any{}
	for _, f := range s.Files {
		fm := map[string]any{"filename": f.Filename}
		if f.CryptMode != "" {
			fm["crypt-mode"] = f.CryptMode
		}
		if s.Finished {
			fm["size"] = f.Size
		}
		files = append(files, fm)
	}
	m := map[string]any{
		"backup-type": string(s.Snapshot.Type),
		"backup-id":   s.Snapshot.ID,
		"backup-time": s.Snapshot.Time,
		"files":       files,
		"protected":   s.Protected,
	}
	if s.HasSize {
		m["size"] = s.Size
	}
	if s.Owner != "" {
		m["owner"] = s.Owner
	}
	if s.Comment != "" {
		m["comment"] = s.Comment
	}
	if s.Fingerprint != "" {
		m["fingerprint"] = s.Fingerprint
	}
	if s.Verification != nil {
		m["verification"] = map[string]any{"state": s.Verification.State, "upid": s.Verification.UPID}
	}
	return m
}

func sortSnapshots(list []core.SnapshotInfo) {
	sort.SliceStable(list, func(i, j int) bool {
		a, b := list[i].Snapshot, list[j].Snapshot
		if a.Type != b.Type {
			return a.Type < b.Type
		}
		if a.ID != b.ID {
			return a.ID < b.ID
		}
		return a.Time < b.Time
	})
}

// filesColumn renders a files list as names without server extensions.
func filesColumn(v any, _ map[string]any) string {
	list, _ := v.([]any)
	var names []string
	for _, f := range list {
		switch f := f.(type) {
		case map[string]any:
			if n, ok := f["filename"].(string); ok {
				names = append(names, stripServerExt(n))
			}
		case string:
			names = append(names, stripServerExt(f))
		}
	}
	return strings.Join(names, " ")
}

func snapshotColumn(_ any, rec map[string]any) string {
	return (core.Snapshot{Group: core.Group{Type: core.BackupType(str(rec["backup-type"])), ID: str(rec["backup-id"])}, Time: asInt64(rec["backup-time"])}).String()
}

var stdout io.Writer = os.Stdout

// asInt64 reads a number from a record, whatever numeric type it came as.
func asInt64(v any) int64 {
	switch n := v.(type) {
	case int64:
		return n
	case int:
		return int64(n)
	case uint64:
		return int64(n)
	case float64:
		return int64(n)
	case interface{ Int64() (int64, error) }:
		i, _ := n.Int64()
		return i
	}
	return 0
}

func str(v any) string { s, _ := v.(string); return s }

func (o *outputFlag) add(cmd *cobra.Command) {
	cmd.Flags().StringVar(&o.value, "output-format", "", "output format: text, json or json-pretty")
}

// renderKeyValue prints one object: JSON as is, text as a Name/Value table
// in the given key order (absent keys skipped).
func renderKeyValue(opts format.Options, obj map[string]any, order []string) error {
	if opts.Format != format.Text {
		return format.Render(stdout, opts, obj, nil)
	}
	var cols []format.Column
	for _, k := range order {
		if _, ok := obj[k]; ok {
			cols = append(cols, format.Column{Key: k, Header: k})
		}
	}
	return format.Render(stdout, opts, obj, cols)
}
