package core

import "time"

// EventKind tells what an Event reports.
type EventKind int

// Event kinds of the backup and restore pipelines.
const (
	// EventInfo is a line for the user (CLI prints it on stderr).
	EventInfo EventKind = iota
	// EventWarning is a non-fatal problem (a vanished file, a skipped mount point).
	EventWarning
	// EventProgress carries a Progress snapshot, about ten times a second.
	EventProgress
	// EventArchiveDone carries the final figures of one archive.
	EventArchiveDone
)

// Event is what long operations report. Events are delivered from the
// pipeline's goroutines, one at a time, in order.
type Event struct {
	Kind     EventKind
	Message  string
	Progress Progress
	// Reuse is set on the EventArchiveDone of a split archive's payload
	// made with metadata change detection.
	Reuse *ReuseSummary
}

// ReuseSummary is upstream's "Change detection summary" of one archive.
type ReuseSummary struct {
	Files, Hardlinks              uint64
	ReusedFiles, ReusedBytes      uint64 // unchanged files and their data, not read
	ChangedFiles, ChangedBytes    uint64 // files read again
	InjectedBytes, InjectedChunks uint64 // previous payload chunks put into the new stream
	PaddingBytes, PaddingChunks   uint64 // injected bytes no file refers to
}

// Progress is a snapshot of a running backup or restore.
type Progress struct {
	Archive      string        // archive being processed, e.g. root.pxar.didx
	Path         string        // current file inside the archive
	BytesRead    uint64        // stream bytes processed so far
	BytesNew     uint64        // plain bytes of chunks that had to be stored
	BytesWritten uint64        // encoded bytes written for those chunks
	BytesReused  uint64        // plain bytes of chunks the store already had
	ChunksNew    uint64        // chunks stored
	ChunksReused uint64        // chunks already present
	Files        uint64        // entries processed
	Elapsed      time.Duration // since the operation started
}

// Sink receives events; nil drops them.
type Sink func(Event)

// Emit delivers ev if the sink is set.
func (s Sink) Emit(ev Event) {
	if s != nil {
		s(ev)
	}
}

// Info is a shorthand for an info event.
func (s Sink) Info(msg string) { s.Emit(Event{Kind: EventInfo, Message: msg}) }

// Warn is a shorthand for a warning event.
func (s Sink) Warn(msg string) { s.Emit(Event{Kind: EventWarning, Message: msg}) }
