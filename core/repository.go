package core

import (
	"context"
	"errors"
	"fmt"
)

// Sentinel errors callers branch on.
var (
	ErrNotFound  = errors.New("not found")
	ErrExists    = errors.New("already exists")
	ErrProtected = errors.New("snapshot is protected")
	ErrLocked    = errors.New("locked by another operation")
	ErrCorrupt   = errors.New("corrupt data")
)

// NotFoundf makes an error that prints only its message, as upstream's
// client prints a server's ("snapshot … does not exist."), and is still
// ErrNotFound for errors.Is.
func NotFoundf(format string, args ...any) error {
	return notFound(fmt.Sprintf(format, args...))
}

type notFound string

func (e notFound) Error() string { return string(e) }
func (e notFound) Unwrap() error { return ErrNotFound }

// FileInfo is one file of a snapshot as listed (protocol.md 5.4).
type FileInfo struct {
	Filename  string `json:"filename"`
	CryptMode string `json:"crypt-mode,omitempty"`
	Size      uint64 `json:"size,omitempty"`
}

// SnapshotInfo is one item of a snapshot listing (protocol.md 5.4).
type SnapshotInfo struct {
	Snapshot     Snapshot
	Files        []FileInfo
	Size         uint64
	HasSize      bool
	Owner        string
	Protected    bool
	Comment      string
	Fingerprint  string
	Verification *VerifyState
	Finished     bool
}

// VerifyState is the last verification result of a snapshot.
type VerifyState struct {
	State string `json:"state"`
	UPID  string `json:"upid"`
}

// GroupInfo is one item of a group listing (protocol.md 5.4).
type GroupInfo struct {
	Group       Group
	LastBackup  int64
	BackupCount int
	Files       []string
	Owner       string
	Comment     string
}

// BackupOptions describe a new snapshot.
type BackupOptions struct {
	Namespace Namespace
	Snapshot  Snapshot
	// Owner is the auth id recorded for a new group.
	Owner string
}

// Repository is a datastore as the client sees it: local (a path, opened
// in-process) or remote (a server). All methods may be called from several
// goroutines unless stated otherwise.
type Repository interface {
	// Name is the repository as the user gave it, for messages.
	Name() string
	ListNamespaces(parent Namespace, maxDepth int) ([]Namespace, error)
	CreateNamespace(ns Namespace) error
	DeleteNamespace(ns Namespace, deleteGroups bool) error
	ListGroups(ns Namespace) ([]GroupInfo, error)
	// ListSnapshots lists the snapshots of one group, or of all groups when group is nil.
	ListSnapshots(ns Namespace, group *Group) ([]SnapshotInfo, error)
	ForgetSnapshot(ns Namespace, snap Snapshot) error
	// SetProtected sets or clears a snapshot's protection against prune and forget.
	SetProtected(ns Namespace, snap Snapshot, protected bool) error
	// Notes returns a snapshot's notes, "" when it has none; SetNotes
	// replaces them.
	Notes(ns Namespace, snap Snapshot) (string, error)
	SetNotes(ns Namespace, snap Snapshot, notes string) error
	// UploadLog stores blob (an encoded DataBlob) as a finished snapshot's
	// client.log.blob; a snapshot keeps its first log (ErrExists).
	UploadLog(ns Namespace, snap Snapshot, blob []byte) error
	// DeleteGroup removes a group's unprotected snapshots (and the group when
	// nothing protected remains); it reports how many went and stayed.
	DeleteGroup(ns Namespace, group Group) (removed, kept int, err error)
	// Prune applies a retention policy to one group; dryRun only reports.
	// The result is oldest first.
	Prune(ns Namespace, group Group, opts KeepOptions, dryRun bool) ([]PruneResult, error)
	// GarbageCollect removes chunks no index needs any more.
	GarbageCollect(ctx context.Context, events Sink) (*GCStatus, error)
	// Verify checks the chunks of one snapshot, one group (snap nil) or every
	// snapshot of ns and below (both nil), recording each snapshot's state.
	Verify(ctx context.Context, ns Namespace, group *Group, snap *Snapshot, events Sink) (*VerifyReport, error)
	// StartBackup opens a new snapshot for writing; the caller must Finish or Abort it.
	StartBackup(ctx context.Context, opts BackupOptions) (BackupWriter, error)
	// OpenSnapshot opens a finished snapshot for reading.
	OpenSnapshot(ctx context.Context, ns Namespace, snap Snapshot) (SnapshotReader, error)
	Close() error
}

// BackupWriter receives one snapshot's chunks, indexes and blobs. UploadChunk
// may be called from several goroutines; the other methods from one.
type BackupWriter interface {
	// Snapshot is the snapshot being written.
	Snapshot() Snapshot
	// Previous returns the group's last finished snapshot, if any, as the
	// incremental base.
	Previous() (SnapshotReader, error)
	// UploadChunk stores a chunk unless the store already has it; encode is
	// called only when the encoded blob is really needed. reused reports that
	// nothing had to be written.
	UploadChunk(digest [32]byte, size uint64, encode func() ([]byte, error)) (reused bool, encodedSize int, err error)
	// WriteFile stores an index or blob file of the snapshot atomically.
	WriteFile(name string, data []byte) error
	// Finish stores the manifest blob, which makes the snapshot finished.
	Finish(manifestBlob []byte) error
	// Abort removes everything written so far.
	Abort() error
}

// SnapshotReader reads one finished snapshot.
type SnapshotReader interface {
	Snapshot() Snapshot
	// ReadFile returns the raw bytes of an index, blob or the manifest blob.
	ReadFile(name string) ([]byte, error)
	// ReadChunk returns a chunk's raw (encoded) blob bytes.
	ReadChunk(digest [32]byte) ([]byte, error)
	Close() error
}

// ChunkUploader stores chunks; it is the UploadChunk half of BackupWriter,
// and what the backup engine sends one archive's chunks to.
type ChunkUploader interface {
	// UploadChunk is BackupWriter.UploadChunk. It may be called from several
	// goroutines.
	UploadChunk(digest [32]byte, size uint64, encode func() ([]byte, error)) (reused bool, encodedSize int, err error)
}

// ChunkDataReleaser is an optional interface of a ChunkUploader: true means
// UploadChunk keeps no reference to the encoded bytes once it returns (a
// local directory store writes them synchronously), so the caller may reuse
// their memory.
type ChunkDataReleaser interface {
	ReleasesChunkData() bool
}

// Archive describes an index archive (.didx or .fidx) about to be written.
type Archive struct {
	// Name is the file name in the snapshot, e.g. "root.pxar.didx",
	// "catalog.pcat1.didx" or "disk.img.fidx".
	Name string
	// Fixed is true for a fixed-size chunk index (.fidx, images); then Size
	// is the image size in bytes and ChunkSize the chunk size. Both are 0
	// for dynamic indexes.
	Fixed     bool
	Size      uint64
	ChunkSize uint64
}

// ArchiveWriter is an optional interface of a BackupWriter whose store must
// know which archive a chunk belongs to when the chunk is uploaded: the
// backup protocol of a server registers every chunk upload with an open index
// writer (protocol.md 3.3), so the archive has to be announced first.
//
// The engine calls BeginArchive before the first chunk of each index archive,
// uploads that archive's chunks through the returned ChunkUploader (the
// uploaders of several archives may be in use at the same time: the catalog
// is written alongside the pxar archives), and completes the archive with
// WriteFile(a.Name, index bytes). Blobs are not announced. A BackupWriter
// without this interface (a local datastore) takes every chunk through its
// own UploadChunk; use BeginArchive to handle both.
type ArchiveWriter interface {
	BeginArchive(a Archive) (ChunkUploader, error)
}

// BeginArchive announces an archive to w if w wants that (ArchiveWriter)
// and returns where the archive's chunks go: the per-archive uploader, or w
// itself.
func BeginArchive(w BackupWriter, a Archive) (ChunkUploader, error) {
	if aw, ok := w.(ArchiveWriter); ok {
		return aw.BeginArchive(a)
	}
	return w, nil
}
