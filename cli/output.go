package cli

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"sort"
	"strconv"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"cairn/cli/format"
	"cairn/core"
	"cairn/core/manifest"
	"cairn/net/client"
)

// humanByte is upstream's HumanByte, shared with the TUI and the engine.
var humanByte = core.HumanByte

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

// snapshotItems lists the snapshots of one group, or of all groups of ns,
// as SnapshotListItems: a server's answer as it came (every field, the
// server's order, as upstream prints it), or the same shape built for a
// local datastore.
func snapshotItems(ctx context.Context, repo core.Repository, ns core.Namespace, group *core.Group) (any, error) {
	if r, ok := repo.(*client.Repository); ok {
		return r.SnapshotsData(ctx, ns, group)
	}
	list, err := repo.ListSnapshots(ns, group)
	if err != nil {
		return nil, err
	}
	items := []map[string]any{}
	for _, s := range list {
		items = append(items, snapshotItem(s))
	}
	return items, nil
}

// snapshotFiler is a local datastore, which can list a snapshot directory.
type snapshotFiler interface {
	SnapshotFileNames(ns core.Namespace, s core.Snapshot) ([]string, error)
}

// snapshotFileItems lists a snapshot's files as GET files does
// (protocol.md 5.3): the manifest's files with crypt-mode and size, then any
// other file of the snapshot directory by name only. nil, nil: no such
// snapshot in a local datastore (a server answers with its own error).
func snapshotFileItems(ctx context.Context, repo core.Repository, ns core.Namespace, snap core.Snapshot) (any, error) {
	if r, ok := repo.(*client.Repository); ok {
		return r.FilesData(ctx, ns, snap)
	}
	list, err := repo.ListSnapshots(ns, &snap.Group)
	if err != nil {
		return nil, err
	}
	for _, s := range list {
		if s.Snapshot != snap {
			continue
		}
		files, _ := snapshotItem(s)["files"].([]any)
		if sf, ok := repo.(snapshotFiler); ok {
			seen := map[string]bool{}
			for _, f := range s.Files {
				seen[f.Filename] = true
			}
			names, _ := sf.SnapshotFileNames(ns, snap)
			for _, n := range names {
				// As the server: no dot files, no files being written.
				if !strings.HasPrefix(n, ".") && !seen[n] && !strings.Contains(n, ".tmp") {
					files = append(files, map[string]any{"filename": n})
				}
			}
		}
		return files, nil
	}
	return nil, nil
}

// filesColumn renders a files list as upstream's render_backup_file_list
// does: the names sorted, then without server extensions, space-joined.
func filesColumn(v any, _ map[string]any) string {
	list, _ := v.([]any)
	var names []string
	for _, f := range list {
		switch f := f.(type) {
		case map[string]any:
			if n, ok := f["filename"].(string); ok {
				names = append(names, n)
			}
		case string:
			names = append(names, f)
		}
	}
	sort.Strings(names)
	for i, n := range names {
		names[i] = manifest.ArchiveName(n).Plain()
	}
	return strings.Join(names, " ")
}

// snapshotSortKeys order snapshot tables as upstream does: by group, then time.
var snapshotSortKeys = []format.SortKey{{Key: "backup-type"}, {Key: "backup-id"}, {Key: "backup-time"}}

// sizeColumn renders a byte count as HumanByte, empty when absent.
func sizeColumn(v any, _ map[string]any) string {
	if v == nil {
		return ""
	}
	if n, ok := asUint64(v); ok {
		return humanByte(n)
	}
	return format.CellText(v)
}

// asUint64 reads a non-negative integer, whatever numeric type it came as.
func asUint64(v any) (uint64, bool) {
	switch n := v.(type) {
	case uint64:
		return n, true
	case json.Number:
		u, err := strconv.ParseUint(string(n), 10, 64)
		return u, err == nil
	}
	if i := asInt64(v); i >= 0 && isNumber(v) {
		return uint64(i), true
	}
	return 0, false
}

func isNumber(v any) bool {
	switch v.(type) {
	case int, int64, int32, uint32, uint64, float64, json.Number:
		return true
	}
	return false
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

// renderKeyValue prints one object: JSON as is, text as a Name/Value table
// in the given key order (absent keys skipped). custom gives columns their
// renderer or alignment by key.
func renderKeyValue(opts format.Options, obj map[string]any, order []string, custom map[string]format.Column) error {
	if opts.Format != format.Text {
		return format.Render(stdout, opts, obj, nil)
	}
	var cols []format.Column
	for _, k := range order {
		if _, ok := obj[k]; ok {
			c := custom[k]
			c.Key, c.Header = k, k
			cols = append(cols, c)
		}
	}
	return format.Render(stdout, opts, obj, cols)
}

// cTimeLayout is C's strftime %c in the C locale ("Thu Dec  3 06:52:57
// 2026"), which upstream prints local times with (render_epoch).
const cTimeLayout = "Mon Jan _2 15:04:05 2006"

// epochColumn renders an epoch as local time in %c form, "" when absent.
func epochColumn(v any, _ map[string]any) string {
	if v == nil {
		return ""
	}
	if !isNumber(v) {
		return format.CellText(v)
	}
	return time.Unix(asInt64(v), 0).Local().Format(cTimeLayout)
}

// rustDebugQuote quotes s as Rust's Debug does for a path (upstream prints
// key file paths so): in double quotes, with \t \r \n \0 \\ \" escaped,
// characters that are not printable or that extend a grapheme as \u{hex},
// and bytes that are not UTF-8 as \xHH.
func rustDebugQuote(s string) string {
	var b strings.Builder
	b.WriteByte('"')
	for len(s) > 0 {
		r, n := utf8.DecodeRuneInString(s)
		if r == utf8.RuneError && n <= 1 {
			fmt.Fprintf(&b, "\\x%02X", s[0])
			s = s[1:]
			continue
		}
		s = s[n:]
		switch r {
		case '\t':
			b.WriteString(`\t`)
		case '\r':
			b.WriteString(`\r`)
		case '\n':
			b.WriteString(`\n`)
		case 0:
			b.WriteString(`\0`)
		case '\\':
			b.WriteString(`\\`)
		case '"':
			b.WriteString(`\"`)
		default:
			if r != ' ' && (!unicode.IsPrint(r) || unicode.In(r, unicode.Mn, unicode.Me, unicode.Other_Grapheme_Extend)) {
				fmt.Fprintf(&b, "\\u{%x}", r)
			} else {
				b.WriteRune(r)
			}
		}
	}
	b.WriteByte('"')
	return b.String()
}
