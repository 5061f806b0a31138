package core

import (
	"fmt"
	"regexp"
	"strings"
	"time"
)

// Naming rules from spec/formats.md 9.2.
var (
	safeIDRe       = regexp.MustCompile(`^[A-Za-z0-9_][A-Za-z0-9._\-]*$`)
	snapshotTimeRe = regexp.MustCompile(`^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}Z$`)
)

// MaxNamespaceDepth and MaxNamespaceLen limit namespaces (formats.md 9.2).
const (
	MaxNamespaceDepth = 7
	MaxNamespaceLen   = 256
	// SnapshotTimeFormat is how a snapshot directory is named: RFC 3339 in UTC with "Z".
	SnapshotTimeFormat = "2006-01-02T15:04:05Z"
)

// BackupType is host, vm or ct.
type BackupType string

// The backup types a datastore knows.
const (
	TypeHost BackupType = "host"
	TypeVM   BackupType = "vm"
	TypeCT   BackupType = "ct"
)

// BackupTypes lists the types in the order upstream lists them.
var BackupTypes = []BackupType{TypeCT, TypeHost, TypeVM}

// ParseBackupType checks a backup type name.
func ParseBackupType(s string) (BackupType, error) {
	switch BackupType(s) {
	case TypeHost, TypeVM, TypeCT:
		return BackupType(s), nil
	}
	return "", fmt.Errorf("invalid backup type %q (expected host, vm or ct)", s)
}

// ValidBackupID reports whether s may name a backup group.
func ValidBackupID(s string) bool { return safeIDRe.MatchString(s) }

// Namespace is a slash-separated path of namespace components; "" is the root.
type Namespace string

// ParseNamespace validates a namespace string ("", "a", "a/b/c").
func ParseNamespace(s string) (Namespace, error) {
	s = strings.Trim(s, "/")
	if s == "" {
		return "", nil
	}
	if len(s) > MaxNamespaceLen {
		return "", fmt.Errorf("invalid namespace %q: longer than %d bytes", s, MaxNamespaceLen)
	}
	parts := strings.Split(s, "/")
	if len(parts) > MaxNamespaceDepth {
		return "", fmt.Errorf("invalid namespace %q: deeper than %d levels", s, MaxNamespaceDepth)
	}
	for _, p := range parts {
		if !safeIDRe.MatchString(p) {
			return "", fmt.Errorf("invalid namespace %q: bad component %q", s, p)
		}
	}
	return Namespace(s), nil
}

// Components returns the namespace's path components (none for the root).
func (ns Namespace) Components() []string {
	if ns == "" {
		return nil
	}
	return strings.Split(string(ns), "/")
}

// IsRoot reports whether ns is the root namespace.
func (ns Namespace) IsRoot() bool { return ns == "" }

// Parent returns the namespace above ns (the root for top-level ones).
func (ns Namespace) Parent() Namespace {
	i := strings.LastIndexByte(string(ns), '/')
	if i < 0 {
		return ""
	}
	return ns[:i]
}

// Depth is the number of components.
func (ns Namespace) Depth() int { return len(ns.Components()) }

// Group names a backup group: type and id.
type Group struct {
	Type BackupType
	ID   string
}

// String gives the group's text form, "host/elsa".
func (g Group) String() string { return string(g.Type) + "/" + g.ID }

// ParseGroup parses "type/id".
func ParseGroup(s string) (Group, error) {
	t, id, ok := strings.Cut(s, "/")
	if !ok || strings.Contains(id, "/") {
		return Group{}, fmt.Errorf("invalid backup group %q (expected TYPE/ID, e.g. host/elsa)", s)
	}
	bt, err := ParseBackupType(t)
	if err != nil {
		return Group{}, fmt.Errorf("invalid backup group %q: %w", s, err)
	}
	if !ValidBackupID(id) {
		return Group{}, fmt.Errorf("invalid backup group %q: bad backup id %q", s, id)
	}
	return Group{Type: bt, ID: id}, nil
}

// Snapshot names one backup snapshot: group and time (epoch seconds, UTC).
type Snapshot struct {
	Group
	Time int64
}

// TimeString is the snapshot's directory name, e.g. 2019-12-03T09:35:01Z.
func (s Snapshot) TimeString() string { return FormatSnapshotTime(s.Time) }

// String gives "host/elsa/2019-12-03T09:35:01Z".
func (s Snapshot) String() string { return s.Group.String() + "/" + s.TimeString() }

// FormatSnapshotTime renders epoch seconds as a snapshot directory name.
func FormatSnapshotTime(t int64) string { return time.Unix(t, 0).UTC().Format(SnapshotTimeFormat) }

// ParseSnapshotTime parses a snapshot directory name.
func ParseSnapshotTime(s string) (int64, error) {
	if !snapshotTimeRe.MatchString(s) {
		return 0, fmt.Errorf("invalid snapshot time %q (expected YYYY-MM-DDThh:mm:ssZ)", s)
	}
	t, err := time.Parse(SnapshotTimeFormat, s)
	if err != nil {
		return 0, fmt.Errorf("invalid snapshot time %q: %w", s, err)
	}
	return t.Unix(), nil
}

// ParseSnapshot parses "type/id/time".
func ParseSnapshot(s string) (Snapshot, error) {
	i := strings.LastIndexByte(s, '/')
	if strings.Count(s, "/") < 2 {
		return Snapshot{}, fmt.Errorf("invalid snapshot %q (expected TYPE/ID/TIME, e.g. host/elsa/2019-12-03T09:35:01Z)", s)
	}
	g, err := ParseGroup(s[:i])
	if err != nil {
		return Snapshot{}, fmt.Errorf("invalid snapshot %q: %w", s, err)
	}
	t, err := ParseSnapshotTime(s[i+1:])
	if err != nil {
		return Snapshot{}, fmt.Errorf("invalid snapshot %q: %w", s, err)
	}
	return Snapshot{Group: g, Time: t}, nil
}

// ParseGroupOrSnapshot accepts either form; for a group, Time is 0 and
// isGroup is true (callers then pick the group's newest snapshot).
func ParseGroupOrSnapshot(s string) (snap Snapshot, isGroup bool, err error) {
	if strings.Count(s, "/") == 1 {
		g, err := ParseGroup(s)
		return Snapshot{Group: g}, true, err
	}
	snap, err = ParseSnapshot(s)
	return snap, false, err
}
