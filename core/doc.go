// Package core is cairn's engine, free of any user interface: the names of
// things in a datastore (namespaces, groups, snapshots), the Repository
// interface that local and remote datastores implement, and the progress
// events long operations report. Subpackages hold the formats (blob, index,
// catalog, manifest, chunker), the local datastore and the pipelines.
package core
