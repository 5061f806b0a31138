package core

import (
	"fmt"
	"os"
	"strings"
	"sync/atomic"
	"time"
)

// GCStatus is the result of a garbage collection (protocol.md 5.6).
type GCStatus struct {
	UPID           string `json:"upid,omitempty"`
	IndexFileCount uint64 `json:"index-file-count"`
	IndexDataBytes uint64 `json:"index-data-bytes"`
	DiskBytes      uint64 `json:"disk-bytes"`
	DiskChunks     uint64 `json:"disk-chunks"`
	RemovedBytes   uint64 `json:"removed-bytes"`
	RemovedChunks  uint64 `json:"removed-chunks"`
	PendingBytes   uint64 `json:"pending-bytes"`
	PendingChunks  uint64 `json:"pending-chunks"`
	RemovedBad     uint64 `json:"removed-bad"`
	StillBad       uint64 `json:"still-bad"`
}

var taskCounter atomic.Uint64

// NewUPID makes a task id in upstream's format (protocol.md 6.1):
// UPID:node:pid:pstart:task_id:starttime:type:id:authid:
func NewUPID(workerType, workerID, authID string, start time.Time) string {
	node, _ := os.Hostname()
	node, _, _ = strings.Cut(node, ".")
	if node == "" {
		node = "localhost"
	}
	return fmt.Sprintf("UPID:%s:%08X:%08X:%08X:%08X:%s:%s:%s:", node, os.Getpid(), processStart(),
		taskCounter.Add(1)-1, start.Unix(), workerType, escapeWorkerID(workerID), authID)
}

// processStart is this process's start time in clock ticks (/proc/self/stat field 22).
func processStart() uint64 {
	b, err := os.ReadFile("/proc/self/stat")
	if err != nil {
		return 0
	}
	s := string(b)
	if i := strings.LastIndexByte(s, ')'); i >= 0 {
		s = s[i+1:]
	}
	f := strings.Fields(s)
	var v uint64
	if len(f) > 19 {
		fmt.Sscan(f[19], &v)
	}
	return v
}

// escapeWorkerID: "/" → "-", bytes outside [A-Za-z0-9_.] (and a leading ".") → \xHH.
func escapeWorkerID(id string) string {
	var b strings.Builder
	for i := 0; i < len(id); i++ {
		c := id[i]
		switch {
		case c == '/':
			b.WriteByte('-')
		case (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' || (c == '.' && i > 0):
			b.WriteByte(c)
		default:
			fmt.Fprintf(&b, `\x%02x`, c)
		}
	}
	return b.String()
}

// VerifyResult is the outcome of verifying one snapshot.
type VerifyResult struct {
	Namespace Namespace
	Snapshot  Snapshot
	OK        bool
	Errors    []string
}

// VerifyReport sums up a verify run.
type VerifyReport struct {
	UPID      string
	Snapshots []VerifyResult
	// BadChunks maps each corrupt or missing chunk (hex digest) to the
	// snapshots that need it.
	BadChunks map[string][]string
}

// Failed counts the snapshots that did not verify.
func (r *VerifyReport) Failed() int {
	n := 0
	for _, s := range r.Snapshots {
		if !s.OK {
			n++
		}
	}
	return n
}
