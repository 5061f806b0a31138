// Package restore reads snapshots back: it checks the manifest and indexes,
// streams chunks in order with read-ahead while verifying every digest, and
// extracts pxar archives, images and blobs.
package restore
