package datastore

// Modes of what a datastore is made of. Upstream's chunk store directories
// are 0750 (proxmox-sys create_dir's default) and the daemon runs as the
// backup user: other local users cannot read a chunk. cairn applies the
// same to every directory it makes in a datastore, the root, namespaces,
// groups and snapshots included, and makes files 0640, so an index,
// manifest or owner file is not world-readable either (upstream's are
// 0644 under a 0755 root with the usual umask). The umask can only narrow
// these further.
const (
	dirMode  = 0o750
	fileMode = 0o640
)
