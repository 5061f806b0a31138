package server

import (
	"errors"
	"strings"
	"testing"
)

// TestTaskLogCaps: request-level lines stop at the soft cap, other lines
// at the hard cap, each with one notice; lines are cut and escaped; the
// final line is always there and numbering stays dense.
func TestTaskLogCaps(t *testing.T) {
	l := newTaskList()
	tk := l.start("backup", "store1:host/x", "bob@pbs")
	tk.logf("starting")
	long := strings.Repeat("a", 200<<10)
	for i := 0; i < 2000; i++ {
		tk.debugf("GET %s", long)
	}
	tk.logf("line with\x1b[31m an escape")
	for i := 0; i < 20000; i++ {
		tk.logf("Upload statistics line %d %s", i, strings.Repeat("x", 100))
	}
	tk.finish(errors.New("boom\nsecond line " + long))
	tk.mu.Lock()
	lines, bytes := append([]string(nil), tk.lines...), tk.logBytes
	tk.mu.Unlock()
	if bytes > taskLogHardCap+2*maxLogLine {
		t.Errorf("log holds %d bytes", bytes)
	}
	sum := 0
	soft, hard := 0, 0
	for _, ln := range lines {
		sum += len(ln)
		if len(ln) > maxLogLine+100 {
			t.Fatalf("line of %d bytes", len(ln))
		}
		if strings.Contains(ln, "\x1b") {
			t.Errorf("control character kept: %q", ln)
		}
		if strings.Contains(ln, "request lines are no longer logged") {
			soft++
		}
		if strings.Contains(ln, "further lines are not logged") {
			hard++
		}
	}
	if int64(sum) != bytes {
		t.Errorf("accounted %d bytes, lines hold %d", bytes, sum)
	}
	if soft != 1 || hard != 1 {
		t.Errorf("%d soft and %d hard cap notices", soft, hard)
	}
	if !strings.Contains(lines[1], "GET aaaa") || !strings.Contains(lines[1], "more bytes]") {
		t.Errorf("long line: %.80q", lines[1])
	}
	last := lines[len(lines)-1]
	if !strings.Contains(last, ": TASK ERROR: boom second line aaa") {
		t.Errorf("final line %.100q", last)
	}
	if l.logBytes != bytes {
		t.Errorf("list accounts %d bytes, the task %d", l.logBytes, bytes)
	}
}

// TestTaskLogsGlobalCap: finished tasks' logs past allLogsCap are
// forgotten oldest first; running tasks stay.
func TestTaskLogsGlobalCap(t *testing.T) {
	l := newTaskList()
	line := strings.Repeat("z", 4000)
	running := l.start("backup", "store1:host/running", "bob@pbs")
	for i := 0; i < 200; i++ {
		running.logf("%s", line)
	}
	var first *task
	for n := 0; n < 100; n++ {
		tk := l.start("backup", "store1:host/x", "bob@pbs")
		if first == nil {
			first = tk
		}
		for i := 0; i < 300; i++ {
			tk.logf("%s", line)
		}
		tk.finish(nil)
	}
	l.mu.Lock()
	total, count := l.logBytes, len(l.tasks)
	l.mu.Unlock()
	if total > allLogsCap {
		t.Errorf("all logs hold %d bytes", total)
	}
	if l.get(running.upid) == nil {
		t.Error("the running task was forgotten")
	}
	if l.get(first.upid) != nil {
		t.Error("the oldest finished task is still there")
	}
	var sum int64
	l.mu.Lock()
	for _, tk := range l.tasks {
		tk.mu.Lock()
		sum += tk.logBytes
		tk.mu.Unlock()
	}
	l.mu.Unlock()
	if sum != total {
		t.Errorf("accounted %d bytes, tasks hold %d", total, sum)
	}
	t.Logf("%d tasks kept, %d MiB of logs", count, total>>20)
}
