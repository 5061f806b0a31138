// Package snapshot reads snapshots back: it checks the manifest and
// indexes, streams chunks in order with read-ahead or at random while
// verifying every digest, and opens pxar archives and catalogs. Restore,
// the shell, the mount, the server's catalog and metadata change detection
// all read through it.
package snapshot
