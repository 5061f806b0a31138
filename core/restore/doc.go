// Package restore extracts what core/snapshot reads to disk or stdout:
// whole archives, images and blobs, and selections of pxar archives.
package restore
