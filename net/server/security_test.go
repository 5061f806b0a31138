package server

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"cairn/net/server/config"
)

// Regression tests of issue 16 (items 3, 6, 8 and the information leaks):
// each failed on the code before the fix.

// syncBuffer is a log sink the test reads while the server writes.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

func (s *syncBuffer) Len() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Len()
}

// newLoggedEnv is newEnv with a second server on the same configuration
// whose log the test reads.
func newLoggedEnv(t *testing.T) (*testEnv, *syncBuffer) {
	t.Helper()
	e := newEnv(t)
	buf := &syncBuffer{}
	srv, err := New(Options{ConfigDir: e.cfgDir, Log: buf, AuthFailDelay: -1, PermFailDelay: -1})
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go srv.Serve(ln)
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		srv.Shutdown(ctx)
	})
	e2 := *e
	e2.srv, e2.addr = srv, ln.Addr().String()
	return &e2, buf
}

// addUser creates a pbs user with password NAME-pw and, unless role is "",
// that role on path (propagating).
func (e *testEnv) addUser(name, path, role string) *auth {
	e.t.Helper()
	err := config.Update(e.cfgDir, func(c *config.Config) error {
		h, err := config.HashSecret(name + "-pw")
		if err != nil {
			return err
		}
		c.Users[name] = config.User{Hash: h, Enable: true}
		if role != "" {
			c.ACLs = append(c.ACLs, config.ACL{Path: path, Role: role, AuthID: name, Propagate: true})
		}
		return nil
	})
	if err != nil {
		e.t.Fatal(err)
	}
	a, code := e.login(name, name+"-pw")
	if code != 200 {
		e.t.Fatalf("login %s: %d", name, code)
	}
	return a
}

// send makes one request with exactly the given credentials: a ticket
// cookie (no CSRF token unless csrf), or an API token header.
func (e *testEnv) send(method, path string, q url.Values, cookie *auth, csrf bool, token string) (int, http.Header, []byte) {
	e.t.Helper()
	u := "https://" + e.addr + "/api2/json/" + path
	if q != nil {
		u += "?" + q.Encode()
	}
	req, _ := http.NewRequest(method, u, nil)
	if cookie != nil {
		req.Header.Set("Cookie", "PBSAuthCookie="+url.QueryEscape(cookie.ticket))
		if csrf {
			req.Header.Set("CSRFPreventionToken", cookie.csrf)
		}
	}
	if token != "" {
		req.Header.Set("Authorization", token)
	}
	resp, err := e.client.Do(req)
	if err != nil {
		e.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, resp.Header, b
}

func groupQuery(id string) url.Values {
	return url.Values{"backup-type": {"host"}, "backup-id": {id}}
}

func ownerFile(e *testEnv, id string) string {
	return filepath.Join(e.store, "host", id, "owner")
}

func readOwnerFile(t *testing.T, e *testEnv, id string) string {
	b, _ := os.ReadFile(ownerFile(e, id))
	return strings.TrimSpace(string(b))
}

// Item 8: with an admin's cookie (no CSRF token), GET prune deleted a
// snapshot and HEAD change-owner moved a group. Every route now has its
// methods; any other method is 405, and only GET/HEAD skip CSRF.
func TestMethodConfusion(t *testing.T) {
	e := newEnv(t)
	alice, _ := e.login("alice@pbs", "alice@pbs-pw")
	admin := e.addUser("admin@pbs", "/datastore/store1", "DatastoreAdmin")
	fullBackup(t, e, alice, "elsa", 1700000000, [][]byte{[]byte("one")})
	fullBackup(t, e, alice, "elsa", 1700000100, [][]byte{[]byte("two")})

	// The attacks of the issue, replayed with the admin's cookie only.
	q := groupQuery("elsa")
	q.Set("keep-last", "1")
	code, hdr, b := e.send("GET", "admin/datastore/store1/prune", q, admin, false, "")
	if code != 405 || !strings.Contains(hdr.Get("Allow"), "POST") {
		t.Errorf("GET prune: %d Allow=%q %s", code, hdr.Get("Allow"), b)
	}
	if n := len(snapshotsOf(t, e, alice)); n != 2 {
		t.Fatalf("GET prune deleted snapshots: %d left", n)
	}
	q = groupQuery("elsa")
	q.Set("new-owner", "bob@pbs")
	code, hdr, _ = e.send("HEAD", "admin/datastore/store1/change-owner", q, admin, false, "")
	if code != 405 || hdr.Get("Allow") != "POST" {
		t.Errorf("HEAD change-owner: %d Allow=%q", code, hdr.Get("Allow"))
	}
	if o := readOwnerFile(t, e, "elsa"); o != "alice@pbs" {
		t.Fatalf("HEAD change-owner moved the group to %q", o)
	}
	for _, c := range []struct {
		method, sub string
		q           url.Values
	}{
		{"GET", "prune-datastore", url.Values{"keep-last": {"1"}}},
		{"GET", "verify", nil},
		{"GET", "upload-backup-log", snapQuery("elsa", 1700000100)},
		{"HEAD", "prune", q},
	} {
		if code, _, b := e.send(c.method, "admin/datastore/store1/"+c.sub, c.q, admin, false, ""); code != 405 {
			t.Errorf("%s %s with a cookie and no CSRF token: %d %s", c.method, c.sub, code, b)
		}
	}
	if n := len(snapshotsOf(t, e, alice)); n != 2 {
		t.Fatalf("snapshots left: %d", n)
	}
	// A state-changing method still needs the CSRF token.
	q = snapQuery("elsa", 1700000000)
	q.Set("protected", "true")
	if code, _, _ := e.send("PUT", "admin/datastore/store1/protected", q, admin, false, ""); code != 401 {
		t.Errorf("PUT protected without CSRF: %d", code)
	}
	if code, _, b := e.send("PUT", "admin/datastore/store1/protected", q, admin, true, ""); code != 200 {
		t.Errorf("PUT protected with CSRF: %d %s", code, b)
	}
	// GET protected only reads.
	q.Set("protected", "false")
	if code, _, b := e.send("GET", "admin/datastore/store1/protected", q, admin, false, ""); code != 200 || string(b) != `{"data":true}` {
		t.Errorf("GET protected: %d %s", code, b)
	}

	// Every route with every method: the registered ones are served (any
	// answer but 405), the others are 405 with the Allow header.
	tok := e.token("admin@pbs!m", "DatastoreAdmin")
	routes := map[string][]string{
		"ping": {"GET", "HEAD"}, "access/ticket": {"POST", "DELETE"}, "version": {"GET", "HEAD"},
		"backup": {"GET"}, "reader": {"GET"}, "admin/datastore": {"GET", "HEAD"},
		"nodes/localhost/tasks": {"GET", "HEAD"},
	}
	for _, rt := range datastoreRoutes {
		p := "admin/datastore/store1/" + rt.sub
		routes[p] = append(routes[p], rt.method)
		if rt.method == "GET" {
			routes[p] = append(routes[p], "HEAD")
		}
	}
	for path, allowed := range routes {
		for _, m := range []string{"GET", "HEAD", "POST", "PUT", "DELETE", "PATCH", "OPTIONS"} {
			ok := false
			for _, a := range allowed {
				ok = ok || a == m
			}
			if m == "GET" && (path == "backup" || path == "reader") {
				continue // would start a session; covered by the other tests
			}
			code, hdr, b := e.send(m, path, nil, nil, false, tok)
			switch {
			case ok && code == 405:
				t.Errorf("%s %s: 405 for a registered method", m, path)
			case !ok && code != 405:
				t.Errorf("%s %s: %d %s, want 405", m, path, code, b)
			case !ok && hdr.Get("Allow") == "":
				t.Errorf("%s %s: 405 without Allow", m, path)
			}
		}
	}
	// Unauthenticated: 401 before 405 and 404, as upstream.
	if code, _, _ := e.send("GET", "admin/datastore/store1/prune", nil, nil, false, ""); code != 401 {
		t.Errorf("unauthenticated GET prune: %d", code)
	}
	// Upstream's path rules: components starting with '.' are refused.
	if code, _, _ := e.send("GET", "admin/datastore/store1/./groups", nil, nil, false, tok); code != 400 {
		t.Errorf("dot component: %d", code)
	}
}

// Item 6: a group whose owner file is missing, empty or unreadable was
// treated as everyone's. Now only full privileges act on it.
func TestOwnerlessGroupFailsClosed(t *testing.T) {
	e := newEnv(t)
	alice, _ := e.login("alice@pbs", "alice@pbs-pw")
	bob, _ := e.login("bob@pbs", "bob@pbs-pw")
	admin := e.addUser("admin@pbs", "/datastore/store1", "DatastoreAdmin")
	pruner := e.addUser("pruner@pbs", "/datastore/store1", "DatastorePowerUser")
	const tm = 1700000000
	fullBackup(t, e, alice, "elsa", tm, [][]byte{[]byte("alice's secret")})
	sq := snapQuery("elsa", tm)
	do := func(a *auth, method, sub string, q url.Values) (int, []byte) {
		code, _, b := e.send(method, "admin/datastore/store1/"+sub, q, a, true, "")
		return code, b
	}
	with := func(q url.Values, k, v string) url.Values {
		out := url.Values{}
		for k, v := range q {
			out[k] = v
		}
		out.Set(k, v)
		return out
	}
	for _, variant := range []string{"missing", "empty", "unreadable"} {
		of := ownerFile(e, "elsa")
		os.RemoveAll(of)
		switch variant {
		case "empty":
			os.WriteFile(of, nil, 0o644)
		case "unreadable":
			os.Mkdir(of, 0o755) // reading it fails, whoever runs the test
		}
		for _, c := range []struct {
			who          *auth
			name, method string
			sub          string
			q            url.Values
		}{
			{bob, "bob", "GET", "files", sq},
			{bob, "bob", "GET", "notes", sq},
			{bob, "bob", "PUT", "notes", with(sq, "notes", "bob was here")},
			{bob, "bob", "GET", "protected", sq},
			{bob, "bob", "PUT", "protected", with(sq, "protected", "true")},
			{bob, "bob", "GET", "download", with(sq, "file-name", "index.json.blob")},
			{bob, "bob", "GET", "catalog", with(sq, "filepath", "root")},
			{bob, "bob", "POST", "verify", groupQuery("elsa")},
			{bob, "bob", "POST", "change-owner", with(groupQuery("elsa"), "new-owner", "bob@pbs")},
			{alice, "alice", "GET", "notes", sq},
			{pruner, "pruner", "DELETE", "snapshots", sq},
			{pruner, "pruner", "POST", "prune", with(groupQuery("elsa"), "keep-last", "1")},
			{pruner, "pruner", "DELETE", "groups", groupQuery("elsa")},
		} {
			if code, b := do(c.who, c.method, c.sub, c.q); code != 403 {
				t.Errorf("%s owner: %s %s %s: %d %s", variant, c.name, c.method, c.sub, code, b)
			}
		}
		if _, code, msg := e.upgrade(bob, "reader", ReaderProtocol, backupQuery("elsa", tm)); code != 403 {
			t.Errorf("%s owner: bob's reader session: %d %s", variant, code, msg)
		}
		if _, code, msg := e.upgrade(bob, "backup", BackupProtocol, backupQuery("elsa", tm+100)); code != 403 {
			t.Errorf("%s owner: bob's backup into the group: %d %s", variant, code, msg)
		}
		if variant != "unreadable" {
			if o := readOwnerFile(t, e, "elsa"); o != "" {
				t.Errorf("%s owner: the group now belongs to %q", variant, o)
			}
		}
		for _, s := range snapshotsOf(t, e, bob) {
			t.Errorf("%s owner: bob lists %v", variant, s)
		}
		if n := len(snapshotsOf(t, e, admin)); n != 1 {
			t.Errorf("%s owner: %d snapshots left", variant, n)
		}
		// Datastore.Modify acts on it, and gives it back an owner.
		if code, b := do(admin, "PUT", "notes", with(sq, "notes", "admin")); code != 200 {
			t.Errorf("%s owner: admin PUT notes: %d %s", variant, code, b)
		}
		if variant == "unreadable" {
			os.Remove(of)
		}
		if code, b := do(admin, "POST", "change-owner", with(groupQuery("elsa"), "new-owner", "alice@pbs")); code != 200 {
			t.Fatalf("%s owner: admin change-owner: %d %s", variant, code, b)
		}
		if code, b := do(alice, "GET", "notes", sq); code != 200 || string(b) != `{"data":"admin"}` {
			t.Errorf("%s owner: alice after change-owner: %d %s", variant, code, b)
		}
	}
}

// Item 3: every failed user name, up to the 512 KiB body limit, became a
// limiter key and a log line; a newline in it planted log lines.
func TestLoginRefusesMalformedUserIDs(t *testing.T) {
	e, logBuf := newLoggedEnv(t)
	post := func(user string) (int, []byte) {
		body, _ := json.Marshal(map[string]string{"username": user, "password": "x"})
		resp, err := e.client.Post("https://"+e.addr+"/api2/json/access/ticket", "application/json", bytes.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, b
	}
	long := strings.Repeat("a", 400<<10) + "@pbs"
	before := logBuf.Len()
	for i := 0; i < 20; i++ {
		// Refused before the body is parsed: it exceeds maxLoginBody.
		code, b := post(fmt.Sprintf("%d%s", i, long))
		if code != 413 {
			t.Fatalf("400 KB user name: %d %.200s", code, b)
		}
		// A name that fits in the body: refused by upstream's Userid rules.
		code, b = post(fmt.Sprintf("%d%s@pbs", i, strings.Repeat("b", 60<<10)))
		if code != 400 || !strings.Contains(string(b), "parameter verification failed - 'username': value may only be 64 characters long") {
			t.Fatalf("60 KB user name: %d %.200s", code, b)
		}
	}
	if grown := logBuf.Len() - before; grown > 40*200 {
		t.Errorf("40 logins with long names grew the log by %d bytes", grown)
	}
	for name, user := range map[string]string{
		"newline":       "x\n2026/01/01 00:00:00 successful auth for user 'root@pam' from 10.0.0.1:1@pbs",
		"CR":            "x\rsuccessful auth for user 'root@pam'@pbs",
		"NEL":           "x\u0085successful@pbs",
		"line sep":      "x\u2028successful@pbs",
		"colon":         "a:b@pbs",
		"slash":         "a/b@pbs",
		"bad realm":     "alice@p b",
		"no realm":      "alice",
		"token":         "alice@pbs!tok",
		"65 characters": strings.Repeat("é", 61) + "@pbs",
	} {
		if code, b := post(user); code != 400 {
			t.Errorf("%s: %d %s", name, code, b)
		}
	}
	if code, b := post(""); code != 400 || !strings.Contains(string(b), "'username': parameter is missing") {
		t.Errorf("empty user name: %d %s", code, b)
	}
	e.srv.limiter.mu.Lock()
	n := len(e.srv.limiter.m)
	e.srv.limiter.mu.Unlock()
	if n != 0 {
		t.Errorf("the limiter holds %d entries for malformed user ids", n)
	}
	// A well-formed unknown user is a failed login (401), recorded once.
	if code, _ := post("mallory@pbs"); code != 401 {
		t.Errorf("unknown user: %d", code)
	}
	e.srv.limiter.mu.Lock()
	n = len(e.srv.limiter.m)
	e.srv.limiter.mu.Unlock()
	if n != 1 {
		t.Errorf("limiter entries after one failed login: %d", n)
	}
	if a, code := e.login("alice@pbs", "alice@pbs-pw"); code != 200 || a.ticket == "" {
		t.Fatalf("alice: %d", code)
	}
	for _, line := range strings.Split(logBuf.String(), "\n") {
		if strings.Contains(line, "aaaaaaaaaaaaaaaa") || strings.Contains(line, "bbbbbbbbbbbbbbbb") {
			t.Errorf("log holds the long name: %.200s", line)
		}
		if strings.HasPrefix(line, "2026/01/01") || strings.HasPrefix(line, "successful") || strings.Contains(line, "successful auth for user 'root@pam'") {
			t.Errorf("forged log line: %q", line)
		}
	}
}

// Item 3: the limiter's memory is bounded however many user names fail,
// and a lockout survives the flood.
func TestLoginLimiterBounded(t *testing.T) {
	var l loginLimiter
	now := time.Now()
	for i := 0; i < freeFailures+1; i++ {
		l.fail("alice@pbs", "10.0.0.1:1", now)
	}
	if l.blocked("alice@pbs", "10.0.0.1:1", now) == 0 {
		t.Fatal("alice not blocked")
	}
	for i := 0; i < 50000; i++ {
		l.fail(fmt.Sprintf("user%06d@pbs", i), fmt.Sprintf("10.1.%d.%d:1", i>>8&255, i&255), now)
	}
	l.mu.Lock()
	n := len(l.m)
	l.mu.Unlock()
	if n > 20000 {
		t.Errorf("limiter holds %d entries after 50000 distinct failed pairs", n)
	}
	if l.blocked("alice@pbs", "10.0.0.1:1", now) == 0 {
		t.Error("the flood lifted alice's lockout")
	}
}

// Item 3: a newline (or another control character) in a path planted a
// line in the log.
func TestLogForging(t *testing.T) {
	e, logBuf := newLoggedEnv(t)
	forged := "2026/01/01%2000:00:00%20successful%20auth%20for%20user%20'root@pam'%20from%2010.0.0.1:1"
	for _, sep := range []string{"%0a", "%0d", "%0d%0a", "%e2%80%a8", "%c2%85", "%1b%5b2K%0d"} {
		c := e.raw()
		c.send("GET /api2/json/nope" + sep + forged + " HTTP/1.1\r\nHost: x\r\n\r\n")
		if code, _, _ := c.response(); code != 401 {
			t.Errorf("%s: %d", sep, code)
		}
		c = e.raw()
		c.send("GET /api2/json/" + sep + forged + "/ping HTTP/1.1\r\nHost: x\r\n\r\n")
		c.response()
	}
	time.Sleep(100 * time.Millisecond)
	for _, line := range strings.Split(logBuf.String(), "\n") {
		if strings.HasPrefix(line, "2026/01/01") || strings.ContainsAny(line, "\r\x1b\u2028\u0085") {
			t.Errorf("forged or raw log line: %q", line)
		}
	}
	if !strings.Contains(logBuf.String(), `nope\n2026/01/01`) {
		t.Errorf("the escaped path is not in the log:\n%s", logBuf.String())
	}
	for in, want := range map[string]string{
		"plain text":   "plain text",
		"a\nb":         `a\nb`,
		"a\r\x00\x7f":  `a\r\x00\x7f`,
		"tab\there":    `tab\there`,
		"u\u2028v":     `u\u2028v`,
		"c1\u0085":     `c1\u0085`,
		"bad\xffutf8":  `bad\xffutf8`,
		"ünïcödé ok ✓": "ünïcödé ok ✓",
	} {
		if got := logEscape(in, 0); got != want {
			t.Errorf("logEscape(%q) = %q, want %q", in, got, want)
		}
	}
	if got := logEscape(strings.Repeat("x", 5000), 100); len(got) > 130 || !strings.Contains(got, "4900 more bytes") {
		t.Errorf("cut: %q", got)
	}
}

// Information leak: status?verbose counted every group of the store for a
// caller with only Datastore.Backup.
func TestStatusCountsOnlyVisibleGroups(t *testing.T) {
	e := newEnv(t)
	alice, _ := e.login("alice@pbs", "alice@pbs-pw")
	bob, _ := e.login("bob@pbs", "bob@pbs-pw")
	admin := e.addUser("admin@pbs", "/datastore/store1", "DatastoreAdmin")
	fullBackup(t, e, alice, "a1", 1700000000, [][]byte{[]byte("a1")})
	fullBackup(t, e, alice, "a2", 1700000000, [][]byte{[]byte("a2")})
	fullBackup(t, e, bob, "b1", 1700000000, [][]byte{[]byte("b1")})
	fullBackup(t, e, bob, "b1", 1700000100, [][]byte{[]byte("b1 again")})
	counts := func(a *auth) map[string]map[string]int {
		code, b := e.do(a, "GET", "admin/datastore/store1/status", url.Values{"verbose": {"true"}}, nil)
		if code != 200 {
			t.Fatalf("status: %d %s", code, b)
		}
		var out struct {
			Data struct {
				Counts map[string]map[string]int `json:"counts"`
				Total  uint64                    `json:"total"`
			}
		}
		json.Unmarshal(b, &out)
		if out.Data.Total == 0 {
			t.Errorf("status without total: %s", b)
		}
		return out.Data.Counts
	}
	if c := counts(bob); c["host"]["groups"] != 1 || c["host"]["snapshots"] != 2 {
		t.Errorf("bob's counts: %v, want his 1 group with 2 snapshots", c)
	}
	if c := counts(alice); c["host"]["groups"] != 2 || c["host"]["snapshots"] != 2 {
		t.Errorf("alice's counts: %v", c)
	}
	if c := counts(admin); c["host"]["groups"] != 3 || c["host"]["snapshots"] != 4 {
		t.Errorf("admin's counts: %v", c)
	}
}

// Information leak: GET namespace answered [] for a store the caller may
// not see but 403 for one that does not exist. Now a caller without
// privileges gets the same answer either way, on every datastore route.
func TestNoDatastoreExistenceLeak(t *testing.T) {
	e := newEnv(t)
	carol := e.addUser("carol@pbs", "", "")
	dave := e.addUser("dave@pbs", "/datastore/store1/ns1", "DatastoreBackup")
	alice, _ := e.login("alice@pbs", "alice@pbs-pw")
	admin := e.addUser("admin@pbs", "/datastore/store1", "DatastoreAdmin")
	if code, b := e.do(admin, "POST", "admin/datastore/store1/namespace", url.Values{"name": {"ns1"}}, nil); code != 200 {
		t.Fatalf("create ns1: %d %s", code, b)
	}
	for _, rt := range datastoreRoutes {
		q := snapQuery("x", 1700000000)
		q.Set("ns", "ns1")
		code1, _, b1 := e.send(rt.method, "admin/datastore/store1/"+rt.sub, q, carol, true, "")
		code2, _, b2 := e.send(rt.method, "admin/datastore/nostore/"+rt.sub, q, carol, true, "")
		if code1 != 403 || code1 != code2 || strings.ReplaceAll(string(b1), "store1", "nostore") != string(b2) {
			t.Errorf("%s %s: existing store %d %s, missing store %d %s", rt.method, rt.sub, code1, b1, code2, b2)
		}
	}
	// Upstream's rule: listing namespaces needs a privilege on the parent.
	if code, b := e.do(dave, "GET", "admin/datastore/store1/namespace", nil, nil); code != 403 {
		t.Errorf("dave lists the root's namespaces: %d %s", code, b)
	}
	if code, b := e.do(dave, "GET", "admin/datastore/store1/namespace", url.Values{"parent": {"ns1"}}, nil); code != 200 || !strings.Contains(string(b), `"ns":"ns1"`) {
		t.Errorf("dave lists ns1: %d %s", code, b)
	}
	if code, b := e.do(alice, "GET", "admin/datastore/store1/namespace", nil, nil); code != 200 || !strings.Contains(string(b), `"ns":"ns1"`) {
		t.Errorf("alice lists namespaces: %d %s", code, b)
	}
	// dave may see the store's status (counts only, as upstream).
	if code, b := e.do(dave, "GET", "admin/datastore/store1/status", nil, nil); code != 200 || !strings.Contains(string(b), `"total":0`) {
		t.Errorf("dave's status: %d %s", code, b)
	}
	if code, b := e.do(carol, "GET", "admin/datastore/store1/status", nil, nil); code != 403 {
		t.Errorf("carol's status: %d %s", code, b)
	}
}
