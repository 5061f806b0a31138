package server

import (
	"fmt"
	"strings"
	"time"
	"unicode/utf8"
)

// Task logs live in memory, so they are capped (issue 16 item 2: a debug
// session logging 200 KB request paths held 260 MB after it ended):
//
//   - a line is escaped and cut as the server log's lines are (logsafe.go:
//     no control characters, at most maxLogLine bytes);
//   - a task's log keeps request-level lines (debugf: the per-request lines
//     of debug sessions and per-request errors) up to taskLogSoftCap bytes,
//     other lines up to taskLogHardCap; one notice line says when a cap was
//     reached, and the final TASK line is always kept, so line numbers stay
//     dense as the client's log follower needs (protocol.md 6.3);
//   - all tasks' logs together stay under allLogsCap: past it the oldest
//     finished tasks are forgotten, as maxTasks forgets them by number.
//
// So a running task holds at most taskLogHardCap plus a few lines.
const (
	taskLogSoftCap = 256 << 10
	taskLogHardCap = 1 << 20
	allLogsCap     = 64 << 20
)

type logClass int

const (
	logDebug logClass = iota // request-level, dropped first
	logInfo                  // the task's own messages
	logFinal                 // the TASK OK/WARNINGS/ERROR line: always kept
)

// capLine makes s one safe line of at most about maxLogLine bytes; only
// that much of s is looked at (a 200 KB request path costs no more than a
// short one).
func capLine(s string) string {
	if len(s) <= maxLogLine {
		return logEscape(s, maxLogLine)
	}
	cut := maxLogLine
	for cut > 0 && !utf8.RuneStart(s[cut]) {
		cut--
	}
	return logEscape(s[:cut], maxLogLine) + fmt.Sprintf("...[%d more bytes]", len(s)-cut)
}

func (t *task) log(class logClass, msg string) {
	var added int64
	t.mu.Lock()
	for _, line := range strings.Split(msg, "\n") {
		added += t.appendLocked(class, line)
	}
	t.mu.Unlock()
	t.list.noteLog(added)
}

// appendLocked adds one stamped line if the caps allow; it returns the
// bytes added.
func (t *task) appendLocked(class logClass, line string) int64 {
	line = time.Now().Format(taskTimeFormat) + ": " + capLine(line)
	limit := int64(taskLogHardCap)
	if class == logDebug {
		limit = taskLogSoftCap
	}
	if class != logFinal && t.logBytes+int64(len(line)) > limit {
		t.logDropped++
		// One notice per cap: the soft one (request lines stop), the hard
		// one (all lines stop until the final one).
		level := 1
		if limit == taskLogHardCap {
			level = 2
		}
		if t.logCapped >= level {
			return 0
		}
		t.logCapped = level
		what := "request lines are no longer logged"
		if level == 2 {
			what = "further lines are not logged"
		}
		line = time.Now().Format(taskTimeFormat) + ": " + fmt.Sprintf("task log reached %d KiB: %s", limit>>10, what)
	}
	t.lines = append(t.lines, line)
	t.logBytes += int64(len(line))
	return int64(len(line))
}

// noteLog accounts for n more log bytes and forgets the oldest finished
// tasks while all logs together exceed allLogsCap.
func (l *taskList) noteLog(n int64) {
	if l == nil || n == 0 {
		return
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	l.logBytes += n
	l.evictLocked()
}

// evictLocked drops finished tasks, oldest first, while there are more
// than maxTasks or their logs exceed allLogsCap. Running tasks stay.
func (l *taskList) evictLocked() {
	if len(l.order) <= maxTasks && l.logBytes <= allLogsCap {
		return
	}
	keep := l.order[:0]
	for i, upid := range l.order {
		over := len(l.order)-i+len(keep) > maxTasks || l.logBytes > allLogsCap
		t := l.tasks[upid]
		if t == nil {
			continue
		}
		if !over {
			keep = append(keep, l.order[i:]...)
			break
		}
		t.mu.Lock()
		running, bytes := t.running, t.logBytes
		t.mu.Unlock()
		if running {
			keep = append(keep, upid)
			continue
		}
		delete(l.tasks, upid)
		l.logBytes -= bytes
	}
	clear(l.order[len(keep):])
	l.order = keep
}
