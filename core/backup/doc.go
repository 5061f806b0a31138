// Package backup is the backup pipeline: it walks sources into pxar streams,
// cuts them into chunks, hashes, compresses and stores the chunks on several
// goroutines, writes the indexes, the catalog and finally the manifest, and
// reports progress as core events.
package backup
