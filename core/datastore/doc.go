// Package datastore is the local datastore: upstream's on-disk layout
// (formats.md 9) with its chunk store, namespaces, groups and snapshots,
// opened in-process. It implements core.Repository for path repositories,
// and holds the rules of a backup that cairn serve's protocol drives
// (BackupSession, session.go).
package datastore
