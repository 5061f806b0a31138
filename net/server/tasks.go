package server

import (
	"errors"
	"fmt"
	"net/http"
	"os"
	"sort"
	"strings"
	"sync"
	"time"

	"cairn/core"
	"cairn/net/server/config"
)

// task is a worker task (protocol.md 6): an id, a log and an exit status.
type task struct {
	upid, typ, workerID, authID, node string
	start                             time.Time

	list *taskList // for the log byte accounting (tasklog.go)

	mu         sync.Mutex
	lines      []string
	logBytes   int64 // bytes in lines
	logDropped int   // lines not kept because of the caps (tasklog.go)
	logCapped  int   // how many cap notices were logged
	running    bool
	exitStatus string
	end        time.Time
	warnings   int
	abort      chan struct{}
	aborted    bool
}

type taskList struct {
	mu       sync.Mutex
	tasks    map[string]*task
	order    []string
	logBytes int64 // all tasks' log lines (tasklog.go)
}

const maxTasks = 1000

func newTaskList() *taskList { return &taskList{tasks: map[string]*task{}} }

func (l *taskList) start(typ, workerID, authID string) *task {
	now := time.Now()
	node, _ := os.Hostname()
	node, _, _ = strings.Cut(node, ".")
	if node == "" {
		node = "localhost"
	}
	t := &task{upid: core.NewUPID(typ, workerID, authID, now), typ: typ, workerID: workerID, authID: authID,
		node: node, start: now, running: true, abort: make(chan struct{}), list: l}
	l.mu.Lock()
	defer l.mu.Unlock()
	l.tasks[t.upid] = t
	l.order = append(l.order, t.upid)
	l.evictLocked()
	return t
}

func (l *taskList) get(upid string) *task {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.tasks[upid]
}

// taskTimeFormat stamps task log lines as upstream does: local time with a
// numeric offset, never "Z" (protocol.md 6.2). The client relies on it: it
// strips the stamp only when ": " follows at byte 25.
const taskTimeFormat = "2006-01-02T15:04:05-07:00"

// logf logs lines (a message may hold several); debugf logs request-level
// lines, the first the caps drop (tasklog.go).
func (t *task) logf(format string, args ...any) { t.log(logInfo, fmt.Sprintf(format, args...)) }

func (t *task) debugf(format string, args ...any) { t.log(logDebug, fmt.Sprintf(format, args...)) }

func (t *task) warn(format string, args ...any) {
	t.mu.Lock()
	t.warnings++
	t.mu.Unlock()
	t.logf("WARN: "+format, args...)
}

// sink adapts the engine's events to the task log.
func (t *task) sink() core.Sink {
	return func(ev core.Event) {
		switch ev.Kind {
		case core.EventInfo:
			t.logf("%s", ev.Message)
		case core.EventWarning:
			t.warn("%s", ev.Message)
		}
	}
}

// finish ends the task with err (nil: OK or WARNINGS).
func (t *task) finish(err error) {
	t.mu.Lock()
	if !t.running {
		t.mu.Unlock()
		return
	}
	t.running = false
	t.end = time.Now()
	var added int64
	switch {
	case err != nil:
		t.exitStatus = capLine(strings.ReplaceAll(err.Error(), "\n", " "))
		added = t.appendLocked(logFinal, "TASK ERROR: "+t.exitStatus)
	case t.warnings > 0:
		t.exitStatus = fmt.Sprintf("WARNINGS: %d", t.warnings)
		added = t.appendLocked(logFinal, "TASK "+t.exitStatus)
	default:
		t.exitStatus = "OK"
		added = t.appendLocked(logFinal, "TASK OK")
	}
	t.mu.Unlock()
	t.list.noteLog(added)
}

// errAborted is the error a job that stopped on request ends with
// (upstream's fail_on_abort); errTaskAborted ends a backup or reader
// session stopped on request (upstream's abort future).
var (
	errAborted     = errors.New("abort requested - aborting task")
	errTaskAborted = errors.New("task aborted")
)

// requestAbort asks a running task to stop: it closes t.abort, which cancels
// a runTask job's context and closes a backup or reader session's
// connection. Like upstream it logs the first request.
func (t *task) requestAbort() {
	t.mu.Lock()
	if t.aborted || !t.running {
		t.mu.Unlock()
		return
	}
	t.aborted = true
	close(t.abort)
	t.mu.Unlock()
	t.logf("received abort request ...")
}

func (t *task) abortRequested() bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.aborted
}

func (t *task) status() map[string]any {
	t.mu.Lock()
	defer t.mu.Unlock()
	user, tok, _ := strings.Cut(t.authID, "!")
	m := map[string]any{"upid": t.upid, "node": t.node, "pid": os.Getpid(), "pstart": 0,
		"starttime": t.start.Unix(), "type": t.typ, "id": t.workerID, "user": user}
	if tok != "" {
		m["tokenid"] = tok
	}
	if t.running {
		m["status"] = "running"
	} else {
		m["status"] = "stopped"
		m["exitstatus"] = t.exitStatus
		m["endtime"] = t.end.Unix()
	}
	return m
}

// mayAccessTask: reading (status, log, list) is allowed on own tasks, tasks
// of one's tokens, with Sys.Audit on /system/tasks, or with datastore
// privileges on the store named in the worker id. Stopping (modify) is
// upstream's stop_task rule: only the very Authid that started the task
// (a user cannot stop its token's tasks, nor the other way round), else
// Sys.Modify on /system/tasks.
func (c *reqCtx) mayAccessTask(t *task, modify bool) bool {
	if modify {
		return c.id.authID == t.authID || c.cfg.Privileges(c.id.authID, "/system/tasks").Has(config.PrivSysModify)
	}
	if isOwner(c.id.authID, t.authID) {
		return true
	}
	if c.cfg.Privileges(c.id.authID, "/system/tasks").Has(config.PrivSysAudit) {
		return true
	}
	store, _, _ := strings.Cut(t.workerID, ":")
	if config.ValidSafeID(store) {
		return c.privs(store, "").Any(config.PrivDatastoreAudit, config.PrivDatastoreModify)
	}
	return false
}

// The task endpoints (/nodes/{node}/tasks[/{upid}[/status|/log]]) are
// routed in routes.go.

// pageParams reads the page a task listing asks for: the first entry
// (start) and how many (limit, 50 by default).
func pageParams(p params) (start, limit int64, err error) {
	if start, err = p.integer("start", 0, 0, 1<<53); err != nil {
		return 0, 0, err
	}
	limit, err = p.integer("limit", 50, 0, 1<<53)
	return start, limit, err
}

func (s *Server) taskLog(c *reqCtx, p params, t *task) {
	start, limit, err := pageParams(p)
	if err != nil {
		c.reply(nil, err)
		return
	}
	testStatus, err := p.boolean("test-status", false)
	if err != nil {
		c.reply(nil, err)
		return
	}
	download, err := p.boolean("download", false)
	if err != nil {
		c.reply(nil, err)
		return
	}
	t.mu.Lock()
	lines := append([]string(nil), t.lines...)
	running := t.running
	t.mu.Unlock()
	if download {
		c.w.Header().Set("Content-Type", "text/plain")
		c.w.Header().Set("Content-Disposition", fmt.Sprintf("attachment; filename=task-%s-%s-%s.log", t.node, t.typ, t.start.Format(time.RFC3339)))
		c.w.WriteHeader(http.StatusOK)
		for _, l := range lines {
			fmt.Fprintln(c.w, l)
		}
		return
	}
	out := []map[string]any{}
	for i, l := range lines {
		n := int64(i + 1)
		if n < start {
			continue
		}
		if limit > 0 && int64(len(out)) >= limit {
			break
		}
		out = append(out, map[string]any{"n": n, "t": l})
	}
	resp := map[string]any{"data": out, "total": len(lines), "success": 1}
	if testStatus {
		resp["active"] = running
	}
	writeJSON(c.w, resp)
}

func (s *Server) listTasks(c *reqCtx, p params) {
	start, limit, err := pageParams(p)
	if err != nil {
		c.reply(nil, err)
		return
	}
	runningOnly, _ := p.boolean("running", false)
	errorsOnly, _ := p.boolean("errors", false)
	store, userFilter, typeFilter := p.str("store"), p.str("userfilter"), p.str("typefilter")
	since, err := p.integer("since", 0, 0, 1<<53)
	if err != nil {
		c.reply(nil, err)
		return
	}
	until, err := p.integer("until", 1<<53, 0, 1<<53)
	if err != nil {
		c.reply(nil, err)
		return
	}
	// statusfilter: any of ok, warning, error, unknown; running tasks
	// have none of these states.
	var statusFilter map[string]bool
	for _, v := range p.v["statusfilter"] {
		for _, f := range strings.Split(v, ",") {
			switch f {
			case "ok", "warning", "error", "unknown":
			default:
				c.reply(nil, badRequest("parameter verification failed - 'statusfilter': value '%s' is not defined in the enumeration.", f))
				return
			}
			if statusFilter == nil {
				statusFilter = map[string]bool{}
			}
			statusFilter[f] = true
		}
	}
	s.tasks.mu.Lock()
	all := make([]*task, 0, len(s.tasks.tasks))
	for _, t := range s.tasks.tasks {
		all = append(all, t)
	}
	s.tasks.mu.Unlock()
	sort.Slice(all, func(i, j int) bool { return all[i].start.After(all[j].start) })
	var items []map[string]any
	for _, t := range all {
		if !c.mayAccessTask(t, false) {
			continue
		}
		st := t.status()
		if runningOnly && st["status"] != "running" {
			continue
		}
		// As upstream: errors drops the tasks that ended OK (running
		// ones stay); a status filter drops running ones.
		if errorsOnly && st["exitstatus"] == "OK" {
			continue
		}
		if statusFilter != nil && (st["status"] == "running" || !statusFilter[taskStateType(t.exitStatusOf())]) {
			continue
		}
		if t.start.Unix() < since || t.start.Unix() > until {
			continue
		}
		if store != "" && !taskOfStore(t, store) {
			continue
		}
		if userFilter != "" && !strings.Contains(t.authID, userFilter) {
			continue
		}
		if typeFilter != "" && !strings.Contains(t.typ, typeFilter) {
			continue
		}
		item := map[string]any{"upid": t.upid, "node": t.node, "pid": st["pid"], "pstart": 0,
			"starttime": st["starttime"], "worker_type": t.typ, "worker_id": t.workerID, "user": t.authID}
		if e, ok := st["endtime"]; ok {
			item["endtime"] = e
			item["status"] = st["exitstatus"]
		}
		items = append(items, item)
	}
	total := len(items)
	if int(start) < len(items) {
		items = items[start:]
	} else {
		items = nil
	}
	if limit > 0 && int(limit) < len(items) {
		items = items[:limit]
	}
	if items == nil {
		items = []map[string]any{}
	}
	writeData(c.w, items, map[string]any{"total": total})
}

func (t *task) exitStatusOf() string {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.exitStatus
}

// taskStateType classifies an exit status as upstream's statusfilter does.
func taskStateType(exit string) string {
	switch {
	case exit == "OK":
		return "ok"
	case strings.HasPrefix(exit, "WARNINGS: "):
		return "warning"
	case exit == "unknown" || exit == "":
		return "unknown"
	}
	return "error"
}

// taskOfStore is upstream's check_job_store: the store filter of the task
// list only knows the datastore jobs' worker ids (sessions such as reader
// tasks never match).
func taskOfStore(t *task, store string) bool {
	switch {
	case strings.HasPrefix(t.typ, "verif"):
		ws, _, _ := strings.Cut(t.workerID, ":")
		if t.typ == "verificationjob" {
			return ws == store
		}
		return t.workerID == store
	case t.typ == "prune" || t.typ == "prunejob" || t.typ == "backup" || t.typ == "garbage_collection":
		return t.workerID == store || strings.HasPrefix(t.workerID, store+":")
	}
	return false
}
