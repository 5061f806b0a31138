package server

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"cairn/net/server/config"
)

// TestVersionShape: upstream splits its version into MAJOR.MINOR and the
// patch level; the client prints "<version>.<release>".
func TestVersionShape(t *testing.T) {
	e := newEnv(t)
	a, _ := e.login("alice@pbs", "alice@pbs-pw")
	code, b := e.do(a, "GET", "version", nil, nil)
	var v struct{ Data map[string]string }
	if code != 200 || json.Unmarshal(b, &v) != nil {
		t.Fatalf("version: %d %s", code, b)
	}
	if v.Data["version"] != "4.1" || v.Data["release"] != "1" || v.Data["repoid"] == "" || len(v.Data) != 3 {
		t.Fatalf("version: %s", b)
	}
}

type taskLog struct {
	Data []struct {
		N int    `json:"n"`
		T string `json:"t"`
	} `json:"data"`
	Total  int   `json:"total"`
	Active *bool `json:"active"`
}

func (e *testEnv) taskLog(a *auth, upid string) taskLog {
	e.t.Helper()
	code, b := e.do(a, "GET", "nodes/localhost/tasks/"+url.PathEscape(upid)+"/log", url.Values{"start": {"1"}, "limit": {"500"}, "test-status": {"true"}}, nil)
	var l taskLog
	if code != 200 || json.Unmarshal(b, &l) != nil {
		e.t.Fatalf("task log: %d %s", code, b)
	}
	return l
}

func (e *testEnv) taskStatus(a *auth, upid string) map[string]any {
	e.t.Helper()
	code, b := e.do(a, "GET", "nodes/localhost/tasks/"+url.PathEscape(upid)+"/status", nil, nil)
	var st struct{ Data map[string]any }
	if code != 200 || json.Unmarshal(b, &st) != nil {
		e.t.Fatalf("task status: %d %s", code, b)
	}
	return st.Data
}

// TestTaskLogTimestamps: every line starts with a local RFC 3339 time with
// a numeric offset, so ": " sits at byte 25 as the client expects before
// it strips the stamp (protocol.md 6.3); "Z" would leave it in.
func TestTaskLogTimestamps(t *testing.T) {
	e := newEnv(t)
	config.Update(e.cfgDir, func(c *config.Config) error {
		c.ACLs = append(c.ACLs, config.ACL{Path: "/datastore/store1", Role: "DatastoreAdmin", AuthID: "alice@pbs", Propagate: true})
		return nil
	})
	a, _ := e.login("alice@pbs", "alice@pbs-pw")
	code, b := e.do(a, "POST", "admin/datastore/store1/gc", nil, nil)
	var upid struct{ Data string }
	if code != 200 || json.Unmarshal(b, &upid) != nil {
		t.Fatalf("gc: %d %s", code, b)
	}
	waitFor(t, func() bool { return e.taskStatus(a, upid.Data)["status"] == "stopped" })
	l := e.taskLog(a, upid.Data)
	if len(l.Data) < 3 || l.Total != len(l.Data) || l.Active == nil || *l.Active {
		t.Fatalf("log: %+v", l)
	}
	for i, line := range l.Data {
		if line.N != i+1 || len(line.T) < 27 || line.T[25:27] != ": " || strings.Contains(line.T[:25], "Z") {
			t.Fatalf("line %d: %q", line.N, line.T)
		}
	}
	if last := l.Data[len(l.Data)-1].T; last[27:] != "TASK OK" {
		t.Fatalf("last line %q", last)
	}
}

// TestTaskStop: DELETE on a task cancels the job's context (the real
// garbage collection stops on it) and ends the task with upstream's abort
// error; only the task's own Authid or Sys.Modify on /system/tasks may.
func TestTaskStop(t *testing.T) {
	e := newEnv(t)
	tokHdr := e.token("alice@pbs!t1", "DatastoreBackup")
	config.Update(e.cfgDir, func(c *config.Config) error {
		h, _ := config.HashSecret("carol-pw")
		c.Users["carol@pbs"] = config.User{Hash: h, Enable: true}
		c.ACLs = append(c.ACLs,
			config.ACL{Path: "/datastore/store1", Role: "DatastoreAdmin", AuthID: "bob@pbs", Propagate: true},
			config.ACL{Path: "/system/tasks", Role: "Admin", AuthID: "carol@pbs", Propagate: true})
		return nil
	})
	a, _ := e.login("alice@pbs", "alice@pbs-pw")
	b, _ := e.login("bob@pbs", "bob@pbs-pw")
	cl, _ := e.login("carol@pbs", "carol-pw")
	cfg, err := e.srv.config()
	if err != nil {
		t.Fatal(err)
	}
	// startGC is POST gc's task with a gate before the collection runs, so
	// the stop request surely comes while it runs.
	startGC := func(authID string) (string, chan struct{}) {
		ds, err := OpenDatastore(cfg, "store1", cfg.Datastores["store1"], authID)
		if err != nil {
			t.Fatal(err)
		}
		h := &dsReq{reqCtx: &reqCtx{s: e.srv, cfg: cfg, id: &identity{authID: authID}}, ds: ds, store: "store1"}
		running, gate := make(chan struct{}), make(chan struct{})
		upid := h.runTask("garbage_collection", ds, func(ctx context.Context, tk *task) error {
			close(running)
			<-gate
			_, err := ds.GarbageCollect(ctx, tk.sink())
			return err
		})
		<-running
		return upid, gate
	}
	stop := func(a *auth, hdr, upid string) int {
		req, _ := http.NewRequest("DELETE", "https://"+e.addr+"/api2/json/nodes/localhost/tasks/"+url.PathEscape(upid), nil)
		if a != nil {
			req.Header.Set("Cookie", "PBSAuthCookie="+a.ticket)
			req.Header.Set("CSRFPreventionToken", a.csrf)
		} else {
			req.Header.Set("Authorization", hdr)
		}
		resp, err := e.client.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}

	upid, gate := startGC("alice@pbs")
	if code := stop(b, "", upid); code != 403 {
		t.Errorf("bob (Datastore.Modify) stops alice's task: %d", code)
	}
	if code := stop(nil, tokHdr, upid); code != 403 {
		t.Errorf("alice's token stops alice's task: %d", code)
	}
	if st := e.taskStatus(a, upid); st["status"] != "running" {
		t.Fatalf("refused stops ended the task: %v", st)
	}
	if code := stop(a, "", upid); code != 200 {
		t.Fatalf("alice stops her task: %d", code)
	}
	close(gate)
	waitFor(t, func() bool { return e.taskStatus(a, upid)["status"] == "stopped" })
	if st := e.taskStatus(a, upid); st["exitstatus"] != "abort requested - aborting task" {
		t.Fatalf("status after stop: %v", st)
	}
	l := e.taskLog(a, upid)
	all := ""
	for _, line := range l.Data {
		all += line.T[27:] + "\n"
	}
	if !strings.Contains(all, "received abort request ...\n") || !strings.HasSuffix(all, "TASK ERROR: abort requested - aborting task\n") ||
		strings.Contains(all, "Removed bytes") {
		t.Fatalf("log after stop:\n%s", all)
	}

	// A task of alice's token: alice herself may not stop it, Sys.Modify may.
	upid, gate = startGC("alice@pbs!t1")
	defer close(gate)
	if code := stop(a, "", upid); code != 403 {
		t.Errorf("alice stops her token's task: %d", code)
	}
	if code := stop(cl, "", upid); code != 200 {
		t.Errorf("carol (Sys.Modify) stops it: %d", code)
	}
}

// TestTaskStopSessions: stopping a backup or reader task closes its
// session; the backup is removed and both end with upstream's "task
// aborted".
func TestTaskStopSessions(t *testing.T) {
	e := newEnv(t)
	a, _ := e.login("alice@pbs", "alice@pbs-pw")
	fullBackup(t, e, a, "elsa", 1700000000, [][]byte{[]byte("x")})
	running := func(typ string) string {
		t.Helper()
		code, b := e.do(a, "GET", "nodes/localhost/tasks", url.Values{"running": {"true"}, "userfilter": {"alice@pbs"}, "typefilter": {typ}}, nil)
		var l struct {
			Data  []map[string]any
			Total *int
		}
		if code != 200 || json.Unmarshal(b, &l) != nil || l.Total == nil {
			t.Fatalf("task list: %d %s", code, b)
		}
		for _, it := range l.Data {
			if it["worker_type"] == typ {
				return it["upid"].(string)
			}
		}
		t.Fatalf("no running %s task in %s", typ, b)
		return ""
	}
	s, code, msg := e.upgrade(a, "backup", BackupProtocol, backupQuery("elsa", 1700000100))
	if code != 101 {
		t.Fatalf("upgrade: %d %s", code, msg)
	}
	s.must("GET", "previous_backup_time", nil, "", nil)
	upid := running("backup")
	if code, b := e.do(a, "DELETE", "nodes/localhost/tasks/"+url.PathEscape(upid), nil, nil); code != 200 || string(b) != `{"data":null}` {
		t.Fatalf("stop backup: %d %s", code, b)
	}
	waitFor(t, func() bool { return e.taskStatus(a, upid)["status"] == "stopped" })
	if st := e.taskStatus(a, upid); st["exitstatus"] != "task aborted" {
		t.Fatalf("backup status: %v", st)
	}
	if code, _ := s.call("GET", "previous_backup_time", nil, "", nil); code == 200 {
		t.Fatal("the stopped backup session still answers")
	}
	if n := len(snapshotsOf(t, e, a)); n != 1 {
		t.Fatalf("%d snapshots after the stopped backup", n)
	}

	r, code, msg := e.upgrade(a, "reader", ReaderProtocol, backupQuery("elsa", 1700000000))
	if code != 101 {
		t.Fatalf("reader: %d %s", code, msg)
	}
	r.must("GET", "", nil, "", nil)
	upid = running("reader")
	if code, _ := e.do(a, "DELETE", "nodes/localhost/tasks/"+url.PathEscape(upid), nil, nil); code != 200 {
		t.Fatalf("stop reader: %d", code)
	}
	waitFor(t, func() bool { return e.taskStatus(a, upid)["status"] == "stopped" })
	if st := e.taskStatus(a, upid); st["exitstatus"] != "task aborted" {
		t.Fatalf("reader status: %v", st)
	}
}

// TestTaskListFilters: running, errors, statusfilter, since/until, store and
// userfilter select as upstream's list_tasks does; total sits next to data.
func TestTaskListFilters(t *testing.T) {
	e := newEnv(t)
	a, _ := e.login("alice@pbs", "alice@pbs-pw")
	ok := e.srv.tasks.start("garbage_collection", "store1", "alice@pbs")
	ok.finish(nil)
	warn := e.srv.tasks.start("verify", "store1", "alice@pbs")
	warn.warn("w")
	warn.finish(nil)
	bad := e.srv.tasks.start("prune", "store1:host/x", "alice@pbs")
	bad.finish(errors.New("it broke"))
	run := e.srv.tasks.start("backup", "store1:host/y", "alice@pbs")
	defer run.finish(nil)
	other := e.srv.tasks.start("backup", "store2:host/y", "alice@pbs")
	other.finish(nil)
	reader := e.srv.tasks.start("reader", "store1:host/y/6B112275", "alice@pbs")
	reader.finish(nil)
	list := func(q url.Values) string {
		t.Helper()
		code, b := e.do(a, "GET", "nodes/localhost/tasks", q, nil)
		var l struct {
			Data  []map[string]any
			Total *int
		}
		if code != 200 || json.Unmarshal(b, &l) != nil || l.Total == nil {
			t.Fatalf("%v: %d %s", q, code, b)
		}
		var got []string
		for _, it := range l.Data {
			got = append(got, it["worker_type"].(string))
		}
		return strings.Join(got, " ")
	}
	for _, tc := range []struct {
		q    url.Values
		want string
	}{
		{url.Values{"store": {"store1"}}, "backup prune verify garbage_collection"},
		{url.Values{"store": {"store1"}, "running": {"true"}}, "backup"},
		{url.Values{"store": {"store1"}, "errors": {"true"}}, "backup prune verify"},
		{url.Values{"store": {"store1"}, "statusfilter": {"error"}}, "prune"},
		{url.Values{"store": {"store1"}, "statusfilter": {"ok", "warning"}}, "verify garbage_collection"},
		{url.Values{"store": {"store2"}}, "backup"},
		{url.Values{"userfilter": {"bob"}}, ""},
		{url.Values{"userfilter": {"alice@pbs"}, "typefilter": {"read"}}, "reader"},
		{url.Values{"since": {fmt.Sprint(time.Now().Unix() + 100)}}, ""},
		{url.Values{"until": {fmt.Sprint(time.Now().Unix() - 100)}}, ""},
		{url.Values{"store": {"store1"}, "start": {"1"}, "limit": {"2"}}, "prune verify"},
	} {
		if got := list(tc.q); got != tc.want {
			t.Errorf("%v: %q, want %q", tc.q, got, tc.want)
		}
	}
	if code, _ := e.do(a, "GET", "nodes/localhost/tasks", url.Values{"statusfilter": {"fine"}}, nil); code != 400 {
		t.Errorf("bad statusfilter: %d", code)
	}
}
