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
	// EventEstimate carries Estimate: the expected size of each archive of
	// a backup, once the sources have been measured (backup.Options.Estimate).
	EventEstimate
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
	// Estimate is set on EventEstimate.
	Estimate *Estimate
	// GC is set on the EventInfo lines of a garbage collection that say
	// where it is (a phase starts, a percentage): the line is for logs,
	// GC for progress bars, so nobody has to read numbers out of text.
	GC *GCProgress
}

// Estimate is what a backup expects to read: Sizes has one entry per
// archive, in the order of the specs, -1 where the size is unknown (a block
// device, a source that could not be read).
type Estimate struct {
	Sizes []int64
}

// Total is the sum of the sizes, and whether every one is known.
func (e *Estimate) Total() (uint64, bool) {
	if e == nil {
		return 0, false
	}
	var t uint64
	for _, n := range e.Sizes {
		if n < 0 {
			return 0, false
		}
		t += uint64(n)
	}
	return t, true
}

// GC phases (protocol.md 8.3, 8.4).
const (
	GCPhaseMark  = 1 // mark the chunks every index uses
	GCPhaseSweep = 2 // remove the chunks nothing marked
)

// GCProgress is where a garbage collection is: its phase and how much of
// that phase is done.
type GCProgress struct {
	Phase   int // GCPhaseMark or GCPhaseSweep
	Percent int // 0..100 of the phase
}

// ReuseSummary is upstream's "Change detection summary" of one archive.
type ReuseSummary struct {
	Files, Hardlinks              uint64
	ReusedFiles, ReusedBytes      uint64 // unchanged files and their data, not read
	ChangedFiles, ChangedBytes    uint64 // files read again
	InjectedBytes, InjectedChunks uint64 // previous payload chunks put into the new stream
	PaddingBytes, PaddingChunks   uint64 // injected bytes no file refers to
}

// Progress is a snapshot of a running backup or restore. A backup counts
// the stream bytes it reads; a restore counts the bytes it has restored.
type Progress struct {
	Archive      string        // archive being processed, e.g. root.pxar.didx
	Path         string        // current file inside the archive
	BytesRead    uint64        // stream bytes processed so far (a restore: bytes restored)
	BytesTotal   uint64        // what BytesRead is expected to reach; 0 while unknown
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

// GCInfo is an info line of a garbage collection that also says where it is.
func (s Sink) GCInfo(msg string, phase, percent int) {
	s.Emit(Event{Kind: EventInfo, Message: msg, GC: &GCProgress{Phase: phase, Percent: percent}})
}
