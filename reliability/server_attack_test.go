//go:build reliability

package reliability

import (
	"crypto/tls"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"
)

// Attacks of issue 16 on the server's API layer, against `cairn serve`:
// method confusion (state changes over GET/HEAD without CSRF), log forging,
// limiter memory (unauthenticated logins with huge or ever new user names)
// and ownerless group access (authorization that failed open).

// areq makes one API request with a ticket cookie (and the CSRF token when
// csrf) and returns the status, the Allow header and the body.
func (h *hclient) areq(method, path string, q url.Values, ticket, csrf string) (int, string, string) {
	u := "https://" + h.addr + "/api2/json/" + path
	if q != nil {
		u += "?" + q.Encode()
	}
	req, _ := http.NewRequest(method, u, nil)
	if ticket != "" {
		req.Header.Set("Cookie", "PBSAuthCookie="+url.QueryEscape(ticket))
	}
	if csrf != "" {
		req.Header.Set("CSRFPreventionToken", csrf)
	}
	resp, err := h.hc.Do(req)
	if err != nil {
		return 0, "", err.Error()
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, resp.Header.Get("Allow"), string(b)
}

func newHClient(s *server) *hclient {
	return &hclient{addr: s.addr, hc: &http.Client{Timeout: 60 * time.Second, Transport: &http.Transport{
		TLSClientConfig: &tls.Config{InsecureSkipVerify: true}, MaxIdleConnsPerHost: 64}}}
}

// serverRSS is the resident set size of the serve process in KiB.
func (s *server) rssKiB() int {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", s.cmd.Process.Pid))
	if err != nil {
		return -1
	}
	m := regexp.MustCompile(`VmRSS:\s+(\d+) kB`).FindSubmatch(b)
	if m == nil {
		return -1
	}
	var n int
	fmt.Sscan(string(m[1]), &n)
	return n
}

func (s *server) logSize() int64 {
	st, err := os.Stat(filepath.Join(s.cfg, "serve.log"))
	if err != nil {
		return -1
	}
	return st.Size()
}

type checks struct {
	t      *testing.T
	n      int
	failed []string
}

func (c *checks) add(name string, ok bool, info string) {
	c.n++
	if !ok {
		c.failed = append(c.failed, name+" ("+info+")")
		c.t.Errorf("%s: %s", name, info)
	} else {
		c.t.Logf("ok %s: %s", name, info)
	}
}

func (c *checks) outcome(summary string) string {
	if len(c.failed) > 0 {
		return fmt.Sprintf("FAIL: %s; %d/%d checks fail: %s", summary, len(c.failed), c.n, strings.Join(c.failed, "; "))
	}
	return fmt.Sprintf("PASS: %s; %d/%d checks pass", summary, c.n, c.n)
}

func snapshotCount(t *testing.T, h *hclient, ticket string) int {
	code, _, body := h.areq("GET", "admin/datastore/store1/snapshots", nil, ticket, "")
	if code != 200 {
		t.Errorf("snapshots: %d %s", code, body)
		return -1
	}
	var out struct{ Data []json.RawMessage }
	json.Unmarshal([]byte(body), &out)
	return len(out.Data)
}

// TestMethodConfusion: with the admin's ticket cookie and no CSRF token
// (what a cross-site request carries), every endpoint with every wrong
// method; nothing may change and each wrong method is 405.
func TestMethodConfusion(t *testing.T) {
	store := filepath.Join(tmpDir(t, "mcstore"), "ds")
	s := newServer(t, store)
	h := newHClient(s)
	src := tmpDir(t, "mcsrc")
	mkSource(t, src, 31, 0)
	base := time.Now().Add(-time.Hour).Unix()
	for i := 0; i < 3; i++ {
		mustRun(t, s.env("alice@pbs"), "backup", "root.pxar:"+src, "--repository", s.repo("alice@pbs"), "--backup-id", "elsa", "--backup-time", fmt.Sprint(base+int64(i)))
	}
	_, _, ticket, csrf := h.login("admin@pbs", "admin-pw-1")
	c := &checks{t: t}
	group := url.Values{"backup-type": {"host"}, "backup-id": {"elsa"}}
	with := func(q url.Values, kv ...string) url.Values {
		out := url.Values{}
		for k, v := range q {
			out[k] = v
		}
		for i := 0; i+1 < len(kv); i += 2 {
			out.Set(kv[i], kv[i+1])
		}
		return out
	}
	snap := with(group, "backup-time", fmt.Sprint(base))
	// The attacks and their kin: a state change asked with a safe
	// method (or a made-up one), cookie only.
	attacks := []struct {
		method, sub string
		q           url.Values
	}{
		{"GET", "prune", with(group, "keep-last", "1")},
		{"HEAD", "prune", with(group, "keep-last", "1")},
		{"HEAD", "change-owner", with(group, "new-owner", "bob@pbs")},
		{"GET", "change-owner", with(group, "new-owner", "bob@pbs")},
		{"GET", "prune-datastore", url.Values{"keep-last": {"1"}}},
		{"GET", "verify", nil},
		{"HEAD", "verify", group},
		{"GET", "upload-backup-log", snap},
		{"PATCH", "protected", with(snap, "protected", "true")},
		{"OPTIONS", "notes", with(snap, "notes", "owned")},
		{"TRACE", "groups", group},
	}
	// GET and HEAD skip the CSRF check, so the routing must refuse them
	// (405); any other method without the token is 401 already.
	safe405, unsafe401 := 0, 0
	for _, a := range attacks {
		code, allow, body := h.areq(a.method, "admin/datastore/store1/"+a.sub, a.q, ticket, "")
		info := fmt.Sprintf("HTTP %d Allow=%q %.80s", code, allow, body)
		if a.method == "GET" || a.method == "HEAD" {
			if code == 405 && allow != "" {
				safe405++
			}
			c.add(fmt.Sprintf("%s %s with cookie, no CSRF", a.method, a.sub), code == 405 && allow != "", info)
			continue
		}
		if code == 401 {
			unsafe401++
		}
		c.add(fmt.Sprintf("%s %s with cookie, no CSRF", a.method, a.sub), code == 401, info)
	}
	// The right method without the CSRF token: refused.
	for _, a := range []struct{ method, sub string }{{"POST", "prune"}, {"POST", "change-owner"}, {"DELETE", "groups"}, {"PUT", "notes"}} {
		code, _, _ := h.areq(a.method, "admin/datastore/store1/"+a.sub, with(snap, "keep-last", "1", "new-owner", "bob@pbs", "notes", "x"), ticket, "")
		c.add(fmt.Sprintf("%s %s with cookie, no CSRF", a.method, a.sub), code == 401, fmt.Sprintf("HTTP %d", code))
	}
	// Every endpoint with every method it does not take, CSRF token sent
	// (so only the routing stands in the way).
	allowed := map[string][]string{
		"groups": {"GET", "DELETE"}, "snapshots": {"GET", "DELETE"}, "files": {"GET"}, "notes": {"GET", "PUT"},
		"protected": {"GET", "PUT"}, "prune": {"POST"}, "prune-datastore": {"POST"}, "gc": {"GET", "POST"},
		"status": {"GET"}, "namespace": {"GET", "POST", "DELETE"}, "catalog": {"GET"}, "download": {"GET"},
		"verify": {"POST"}, "change-owner": {"POST"}, "upload-backup-log": {"POST"},
	}
	sweep, sweep405 := 0, 0
	for sub, ms := range allowed {
		for _, m := range []string{"GET", "HEAD", "POST", "PUT", "DELETE", "PATCH"} {
			ok := m == "HEAD" && strings.Contains(strings.Join(ms, ","), "GET")
			for _, a := range ms {
				ok = ok || a == m
			}
			if ok {
				continue
			}
			sweep++
			code, allow, _ := h.areq(m, "admin/datastore/store1/"+sub, with(snap, "keep-last", "1", "new-owner", "bob@pbs", "name", "x", "ns", "x"), ticket, csrf)
			if code == 405 && allow != "" {
				sweep405++
			} else {
				c.add(fmt.Sprintf("%s %s", m, sub), false, fmt.Sprintf("HTTP %d Allow=%q", code, allow))
			}
		}
	}
	c.add("every wrong method of every datastore endpoint is 405 with Allow", sweep405 == sweep, fmt.Sprintf("%d/%d", sweep405, sweep))
	// Nothing changed.
	var changes []string
	state := func(name string, ok bool, info string) {
		if !ok {
			changes = append(changes, name)
		}
		c.add(name, ok, info)
	}
	n := snapshotCount(t, h, ticket)
	state("no snapshot pruned", n == 3, fmt.Sprintf("%d of 3 left", n))
	ob, _ := os.ReadFile(filepath.Join(store, "host", "elsa", "owner"))
	state("group owner unchanged", strings.TrimSpace(string(ob)) == "alice@pbs", strings.TrimSpace(string(ob)))
	_, _, body := h.areq("GET", "admin/datastore/store1/snapshots", nil, ticket, "")
	state("nothing protected or annotated", !strings.Contains(body, `"protected":true`) && !strings.Contains(body, "owned"), "")
	for _, typ := range []string{"verif", "prune"} {
		_, _, body = h.areq("GET", "nodes/localhost/tasks", url.Values{"typefilter": {typ}}, ticket, "")
		state("no "+typ+" task started", strings.Contains(body, `"total":0`), fmt.Sprintf("%.120s", body))
	}
	c.add("server alive", s.alive(), "")
	report(t, "method confusion", len(attacks)+4+sweep,
		fmt.Sprintf("%d state-changing requests with a safe or unknown method and the admin's cookie without CSRF token (GET prune, HEAD change-owner, GET verify, ...), 4 right-method requests without CSRF token, %d wrong-method requests over all 15 datastore endpoints", len(attacks), sweep),
		"GET/HEAD on a state-changing endpoint 405 with Allow, other methods without CSRF token 401, every wrong method 405, no snapshot pruned, owner unchanged, nothing protected or annotated, no task started",
		c.outcome(fmt.Sprintf("%d/%d GET/HEAD attacks 405, %d/%d other-method attacks 401, %d/%d sweep requests 405, %d state changes", safe405, 8, unsafe401, len(attacks)-8, sweep405, sweep, len(changes))))
}

// TestLogForging: control characters in paths and user names must not
// plant lines in the server log.
func TestLogForging(t *testing.T) {
	store := filepath.Join(tmpDir(t, "lfstore"), "ds")
	s := newServer(t, store)
	h := newHClient(s)
	c := &checks{t: t}
	const marker = "FORGED successful auth for user 'root@pam' from 10.6.6.6"
	enc := strings.NewReplacer(" ", "%20", "'", "%27").Replace(marker)
	seps := []string{"%0a", "%0d", "%0d%0a", "%0a%0d", "%e2%80%a8", "%e2%80%a9", "%c2%85", "%1b%5b2K%0d", "%00%0a", "%0b", "%0c"}
	sent := 0
	var wg sync.WaitGroup
	for _, sep := range seps {
		for _, p := range []string{"/api2/json/nope" + sep + enc, "/api2/json/" + sep + enc + "/ping", "/api2/json/admin/datastore/store1" + sep + enc + "/groups"} {
			sent++
			wg.Add(1)
			go func() { // unauthenticated: each answer waits 3 s
				defer wg.Done()
				conn, err := tls.Dial("tcp", s.addr, &tls.Config{InsecureSkipVerify: true})
				if err != nil {
					t.Error(err)
					return
				}
				defer conn.Close()
				fmt.Fprintf(conn, "GET %s HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n", p)
				io.Copy(io.Discard, conn)
			}()
		}
	}
	wg.Wait()
	// User names: newline, CR, U+2028, NEL; each refused as malformed.
	refused := 0
	for _, sep := range []string{"\n", "\r", "\r\n", "\u2028", "\u0085", "\x1b[2K\r"} {
		code, _, _, _ := h.login("x"+sep+marker+"@pbs", "pw")
		sent++
		if code == 400 {
			refused++
		}
	}
	c.add("user names with control characters refused (400)", refused == 6, fmt.Sprintf("%d/6", refused))
	time.Sleep(300 * time.Millisecond)
	b, err := os.ReadFile(filepath.Join(s.cfg, "serve.log"))
	if err != nil {
		t.Fatal(err)
	}
	planted, raw, escaped := 0, 0, 0
	for _, line := range strings.Split(string(b), "\n") {
		if strings.HasPrefix(line, "FORGED") {
			planted++
		}
		if strings.ContainsAny(line, "\r\x00\x0b\x0c\x1b\u2028\u2029\u0085") {
			raw++
		}
		if strings.Contains(line, marker) {
			escaped++
		}
	}
	c.add("no planted line", planted == 0, fmt.Sprintf("%d lines begin with the forged text", planted))
	c.add("no raw control character in the log", raw == 0, fmt.Sprintf("%d lines", raw))
	c.add("the requests are logged, escaped", escaped >= len(seps)*3, fmt.Sprintf("%d lines hold the escaped text", escaped))
	c.add("server alive", s.alive(), "")
	report(t, "log forging", sent,
		fmt.Sprintf("%d requests whose path carries %%0a, %%0d, CRLF, U+2028/2029, NEL, ESC, NUL, VT, FF before a fake \"successful auth for user 'root@pam'\" line, 6 logins with such user names", sent-6),
		"no line of serve.log begins with the forged text, no raw control character in the log, each request logged on one line (escaped)",
		c.outcome(fmt.Sprintf("0 planted lines expected: %d planted, %d lines with raw control characters, %d escaped request lines", planted, raw, escaped)))
}

// TestLimiterMemory: unauthenticated failed logins with 400 KB user names,
// then with ever new well-formed ones, must not grow the server's memory
// or its log.
func TestLimiterMemory(t *testing.T) {
	store := filepath.Join(tmpDir(t, "lmstore"), "ds")
	s := newServer(t, store)
	h := newHClient(s)
	c := &checks{t: t}
	if code, _, _, _ := h.login("alice@pbs", "alice-pw-1"); code != 200 {
		t.Fatalf("login %d", code)
	}
	// flood makes n failed logins, conc at a time, and returns the answers
	// by status and the server's RSS (KiB) and log size afterwards.
	flood := func(n, conc int, name func(i int) string) (map[int]int, int, int64) {
		var wg sync.WaitGroup
		var mu sync.Mutex
		codes := map[int]int{}
		work := make(chan int)
		for w := 0; w < conc; w++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for i := range work {
					code, _, _, _ := h.login(name(i), "guess")
					mu.Lock()
					codes[code]++
					mu.Unlock()
				}
			}()
		}
		for i := 0; i < n; i++ {
			work <- i
		}
		close(work)
		wg.Wait()
		time.Sleep(500 * time.Millisecond)
		return codes, s.rssKiB(), s.logSize()
	}
	time.Sleep(500 * time.Millisecond)
	rss0, log0 := s.rssKiB(), s.logSize()
	mib := func(kib int) string { return fmt.Sprintf("%.1f MiB", float64(kib)/1024) }
	// Two rounds of 400 failed logins with 400 KB user names, 8 at a time:
	// the second round shows whether anything is kept.
	long := strings.Repeat("A", 400<<10)
	t0 := time.Now()
	codes, rss1, _ := flood(400, 8, func(i int) string { return fmt.Sprintf("%d%s@pbs", i, long) })
	took := time.Since(t0)
	c.add("400 KB user names refused unread (413: over the login body limit)", codes[413] == 400, fmt.Sprint(codes))
	codes, rss2, log2 := flood(400, 8, func(i int) string { return fmt.Sprintf("%d%s@pbs", i+400, long) })
	c.add("second round refused alike", codes[413] == 400, fmt.Sprint(codes))
	c.add("RSS after 800 logins with 400 KB names at most 32 MiB above the start", rss2-rss0 <= 32<<10, mib(rss0)+" -> "+mib(rss1)+" -> "+mib(rss2))
	c.add("the second round keeps nothing (RSS +4 MiB at most)", rss2-rss1 <= 4<<10, mib(rss1)+" -> "+mib(rss2))
	c.add("log growth for 800 logins with 400 KB names at most 256 KiB", log2-log0 <= 256<<10, fmt.Sprintf("%d bytes", log2-log0))
	// 400 with 60 KB names: within the body limit, so parsed, then refused
	// by upstream's Userid rules.
	mid := strings.Repeat("B", 60<<10)
	codes, rss3, log3 := flood(400, 8, func(i int) string { return fmt.Sprintf("%d%s@pbs", i, mid) })
	c.add("60 KB user names refused as malformed (400)", codes[400] == 400, fmt.Sprint(codes))
	c.add("RSS after the 60 KB names at most 32 MiB above the start", rss3-rss0 <= 32<<10, mib(rss3))
	c.add("log growth for 400 logins with 60 KB names at most 128 KiB", log3-log2 <= 128<<10, fmt.Sprintf("%d bytes", log3-log2))
	// Ever new well-formed user names: each a real failed login (3 s delay).
	names := runs(400, 2000)
	t1 := time.Now()
	codes, rss4, log4 := flood(names, 100, func(i int) string { return fmt.Sprintf("u%06d-%s@pbs", i, strings.Repeat("x", 48)) })
	c.add("distinct unknown users: failed logins (401)", codes[401] == names, fmt.Sprint(codes))
	c.add("RSS after the distinct-name flood at most 32 MiB above the start", rss4-rss0 <= 32<<10, mib(rss4))
	perLogin := (log4 - log3) / int64(names)
	c.add("log per failed login at most 400 bytes", perLogin <= 400, fmt.Sprintf("%d bytes", perLogin))
	// The real user still logs in.
	code, _, _, _ := h.login("alice@pbs", "alice-pw-1")
	c.add("alice logs in afterwards", code == 200, fmt.Sprintf("HTTP %d", code))
	c.add("server alive", s.alive(), "")
	report(t, "limiter memory", 1200+names,
		fmt.Sprintf("2 rounds of 400 unauthenticated logins with 400 KB user names (8 concurrent, %v per round), 400 with 60 KB names, then %d failed logins with distinct well-formed 60-character user names (100 concurrent, %v)", took.Round(time.Millisecond), names, time.Since(t1).Round(time.Second)),
		"huge names refused before any bookkeeping (413, body over 128 KiB; shorter over-long names 400 by upstream's Userid rules), server RSS and serve.log barely grow and a second round keeps nothing, the real user logs in",
		c.outcome(fmt.Sprintf("server RSS %s at the start, %s after 400 logins with 400 KB names, %s after 800, %s after 400 with 60 KB names, %s after %d distinct names; serve.log +%d bytes for the 800 logins with 400 KB names, +%d for the 60 KB names, %d bytes per failed login",
			mib(rss0), mib(rss1), mib(rss2), mib(rss3), mib(rss4), names, log2-log0, log3-log2, perLogin)))
}

// TestOwnerlessGroupAccess: a group whose owner file is missing, empty or
// unreadable belongs to no one: bob (Datastore.Backup) may not read,
// restore, annotate, protect, back up into or take it; the admin
// (Datastore.Modify) may, and gives it back an owner.
func TestOwnerlessGroupAccess(t *testing.T) {
	store := filepath.Join(tmpDir(t, "olstore"), "ds")
	s := newServer(t, store)
	h := newHClient(s)
	src := tmpDir(t, "olsrc")
	mkSource(t, src, 77, 1)
	base := time.Now().Add(-time.Hour).Unix()
	mustRun(t, s.env("alice@pbs"), "backup", "root.pxar:"+src, "--repository", s.repo("alice@pbs"), "--backup-id", "elsa", "--backup-time", fmt.Sprint(base))
	_, _, bt, bc := h.login("bob@pbs", "bob-pw-1")
	_, _, at, ac := h.login("admin@pbs", "admin-pw-1")
	c := &checks{t: t}
	snapName := "host/elsa/" + time.Unix(base, 0).UTC().Format("2006-01-02T15:04:05Z")
	sq := url.Values{"backup-type": {"host"}, "backup-id": {"elsa"}, "backup-time": {fmt.Sprint(base)}}
	with := func(kv ...string) url.Values {
		out := url.Values{}
		for k, v := range sq {
			out[k] = v
		}
		for i := 0; i+1 < len(kv); i += 2 {
			out.Set(kv[i], kv[i+1])
		}
		return out
	}
	ownerPath := filepath.Join(store, "host", "elsa", "owner")
	attempts, served := 0, 0
	for _, variant := range []string{"missing", "empty", "unreadable"} {
		os.RemoveAll(ownerPath)
		switch variant {
		case "empty":
			os.WriteFile(ownerPath, nil, 0o644)
		case "unreadable":
			os.Mkdir(ownerPath, 0o700) // reading fails even as root
		}
		for _, a := range []struct {
			method, sub string
			q           url.Values
		}{
			{"GET", "files", sq}, {"GET", "notes", sq}, {"PUT", "notes", with("notes", "bob")},
			{"GET", "protected", sq}, {"PUT", "protected", with("protected", "true")},
			{"GET", "download", with("file-name", "index.json.blob")}, {"GET", "catalog", with("filepath", "root")},
			{"POST", "verify", with("backup-time", "")}, {"POST", "change-owner", with("new-owner", "bob@pbs", "backup-time", "")},
		} {
			attempts++
			code, _, body := h.areq(a.method, "admin/datastore/store1/"+a.sub, a.q, bt, bc)
			if code != 403 {
				served++
				c.add(fmt.Sprintf("%s owner: bob %s %s", variant, a.method, a.sub), false, fmt.Sprintf("HTTP %d %.100s", code, body))
			}
		}
		// The client's own paths: restore (reader session), backup into the
		// group, listing.
		dst := filepath.Join(tmpDir(t, "olrestore"), "r")
		out, err := run(s.env("bob@pbs"), "restore", snapName, "root.pxar", dst, "--repository", s.repo("bob@pbs"))
		attempts++
		if err == nil {
			served++
		}
		c.add(variant+" owner: bob's restore refused", err != nil && strings.Contains(out, "owner"), lastLines(out, 1))
		out, err = run(s.env("bob@pbs"), "backup", "root.pxar:"+src, "--repository", s.repo("bob@pbs"), "--backup-id", "elsa", "--backup-time", fmt.Sprint(base+10))
		attempts++
		if err == nil {
			served++
		}
		c.add(variant+" owner: bob's backup into the group refused", err != nil, lastLines(out, 1))
		if variant != "unreadable" {
			ob, _ := os.ReadFile(ownerPath)
			c.add(variant+" owner: bob did not become the owner", strings.TrimSpace(string(ob)) == "", string(ob))
		}
		out, err = runStdout(s.env("bob@pbs"), "snapshot", "list", "--repository", s.repo("bob@pbs"), "--output-format", "json")
		attempts++
		if strings.Contains(out, "elsa") {
			served++
		}
		c.add(variant+" owner: bob does not list the group", err == nil && !strings.Contains(out, "elsa"), lastLines(out, 1))
		// The admin (Datastore.Modify) can act and restore the owner.
		code, _, body := h.areq("PUT", "admin/datastore/store1/notes", with("notes", "checked by admin"), at, ac)
		c.add(variant+" owner: admin annotates", code == 200, fmt.Sprintf("HTTP %d %.80s", code, body))
		if variant == "unreadable" {
			os.Remove(ownerPath)
		}
		out, err = run(s.env("admin@pbs"), "change-owner", "host/elsa", "alice@pbs", "--repository", s.repo("admin@pbs"))
		c.add(variant+" owner: admin gives the group back to alice", err == nil, lastLines(out, 1))
	}
	c.add("bob got nothing from the ownerless group", served == 0, fmt.Sprintf("%d of %d attempts served", served, attempts))
	_, bad := checkSnapshots(t, s.env("alice@pbs"), s.repo("alice@pbs"), func(snapInfo) string { return src })
	c.add("alice's snapshot verifies and restores afterwards", len(bad) == 0, strings.Join(bad, "; "))
	report(t, "ownerless group access", attempts,
		"alice's group with its owner file missing, empty, unreadable (a directory); bob (Datastore.Backup) asks files, notes, protected, download, catalog, verify, change-owner, restores, backs up into it and lists it",
		"every request refused (403 or a client error naming the owner check), bob never becomes owner nor lists it, the admin (Datastore.Modify) annotates and gives it back, alice's snapshot restores",
		c.outcome(fmt.Sprintf("%d of %d requests served to a non-owner", served, attempts)))
}
