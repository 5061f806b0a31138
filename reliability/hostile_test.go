//go:build reliability

package reliability

import (
	"bufio"
	"bytes"
	"context"
	"crypto/sha256"
	"crypto/tls"
	"encoding/hex"
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

	"cairn/core/blob"
)

type hclient struct {
	addr string
	hc   *http.Client
}

func (h *hclient) login(user, pw string) (int, string, string, string) {
	body, _ := json.Marshal(map[string]string{"username": user, "password": pw})
	return h.loginRaw("application/json", body)
}

func (h *hclient) loginRaw(ct string, body []byte) (int, string, string, string) {
	resp, err := h.hc.Post("https://"+h.addr+"/api2/json/access/ticket", ct, bytes.NewReader(body))
	if err != nil {
		return 0, err.Error(), "", ""
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	var out struct {
		Data struct {
			Ticket string `json:"ticket"`
			CSRF   string `json:"CSRFPreventionToken"`
		} `json:"data"`
	}
	json.Unmarshal(b, &out)
	return resp.StatusCode, string(b), out.Data.Ticket, out.Data.CSRF
}

func (h *hclient) get(ticket, path string) int {
	req, _ := http.NewRequest("GET", "https://"+h.addr+"/api2/json/"+path, nil)
	req.Header.Set("Cookie", "PBSAuthCookie="+url.QueryEscape(ticket))
	resp, err := h.hc.Do(req)
	if err != nil {
		return 0
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return resp.StatusCode
}

// upgrade opens a backup session; returns the h2 conn or the refusal.
func (h *hclient) upgrade(ticket, csrf string, q url.Values) (*http.ClientConn, net.Conn, int, string) {
	conn, err := tls.Dial("tcp", h.addr, &tls.Config{InsecureSkipVerify: true})
	if err != nil {
		return nil, nil, 0, err.Error()
	}
	fmt.Fprintf(conn, "GET /api2/json/backup?%s HTTP/1.1\r\nHost: localhost\r\nConnection: upgrade\r\nUpgrade: proxmox-backup-protocol-v1\r\nCookie: PBSAuthCookie=%s\r\nCSRFPreventionToken: %s\r\n\r\n",
		q.Encode(), url.QueryEscape(ticket), csrf)
	br := bufio.NewReader(conn)
	resp, err := http.ReadResponse(br, nil)
	if err != nil {
		conn.Close()
		return nil, nil, 0, err.Error()
	}
	if resp.StatusCode != http.StatusSwitchingProtocols {
		b, _ := io.ReadAll(resp.Body)
		conn.Close()
		return nil, nil, resp.StatusCode, string(b)
	}
	// HTTP/2 with prior knowledge on the upgraded connection; the dialer
	// hands over that connection (wrapped: not taken for TLS, and reading
	// first what the upgrade's reader holds).
	var protocols http.Protocols
	protocols.SetUnencryptedHTTP2(true)
	up := &upgradedConn{Conn: conn, r: br}
	tr := &http.Transport{Protocols: &protocols, DialContext: func(context.Context, string, string) (net.Conn, error) { return up, nil }}
	cc, err := tr.NewClientConn(context.Background(), "http", h.addr)
	if err != nil {
		conn.Close()
		return nil, nil, 0, err.Error()
	}
	return cc, conn, 101, ""
}

// clientPreface opens every HTTP/2 connection (RFC 9113 3.4).
const clientPreface = "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"

type upgradedConn struct {
	net.Conn
	r *bufio.Reader
}

func (c *upgradedConn) Read(p []byte) (int, error) { return c.r.Read(p) }

func h2call(cc *http.ClientConn, method, path string, q url.Values, ct string, body []byte) (int, string) {
	u := "https://localhost/" + path
	if q != nil {
		u += "?" + q.Encode()
	}
	req, _ := http.NewRequest(method, u, bytes.NewReader(body))
	if ct != "" {
		req.Header.Set("Content-Type", ct)
	}
	resp, err := cc.RoundTrip(req)
	if err != nil {
		return 0, err.Error()
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// TestHostileClients throws malformed and malicious requests at cairn serve
// and checks each is refused, nothing escapes the datastore, and the server
// keeps serving a well-behaved client.
func TestHostileClients(t *testing.T) {
	store := filepath.Join(tmpDir(t, "hoststore"), "ds")
	s := newServer(t, store)
	h := &hclient{addr: s.addr, hc: &http.Client{Timeout: 30 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{InsecureSkipVerify: true}}}}
	src := tmpDir(t, "hostsrc")
	mkSource(t, src, 900, 2)
	base := time.Now().Add(-time.Hour).Unix()
	mustRun(t, s.env("alice@pbs"), "backup", "root.pxar:"+src, "--repository", s.repo("alice@pbs"), "--backup-id", "alice", "--backup-time", fmt.Sprint(base))

	type check struct {
		name string
		ok   bool
		info string
	}
	var checks []check
	add := func(name string, ok bool, info string) {
		checks = append(checks, check{name, ok, info})
		if !ok {
			t.Errorf("%s: %s", name, info)
		} else {
			t.Logf("ok %s: %s", name, info)
		}
	}
	code, _, ticket, csrf := h.login("alice@pbs", "alice-pw-1")
	if code != 200 {
		t.Fatalf("login %d", code)
	}
	// Malformed JSON and oversized bodies on the login.
	for _, b := range [][]byte{[]byte("{"), []byte(`{"username":["x"],"password":{}}`), []byte("\x00\xff\xfe"), bytes.Repeat([]byte("A"), 32<<20)} {
		c, body, _, _ := h.loginRaw("application/json", b)
		add(fmt.Sprintf("malformed login body (%d bytes)", len(b)), c >= 400 && c < 500 || c == 0 && strings.Contains(body, "reset"), fmt.Sprintf("HTTP %d", c))
	}
	// Forged and expired tickets.
	forged := ticket[:len(ticket)-4] + "AAAA"
	parts := strings.SplitN(ticket, ":", 4)
	expired := ""
	if len(parts) == 4 {
		expired = parts[0] + ":" + parts[1] + ":" + fmt.Sprintf("%08X", time.Now().Add(-3*time.Hour).Unix()) + ":" + parts[3]
	}
	for name, tk := range map[string]string{"forged ticket signature": forged, "ticket with an old timestamp": expired, "bob's name in alice's ticket": strings.Replace(ticket, "alice@pbs", "bob@pbs", 1), "garbage ticket": "PBS:\x00../../:x"} {
		c := h.get(tk, "admin/datastore/store1/snapshots")
		add(name, c == 401, fmt.Sprintf("HTTP %d", c))
	}
	// Hostile names in a backup session.
	for _, id := range []string{"../../../etc", "a\x00b", "/abs", "..", "a/b"} {
		q := url.Values{"store": {"store1"}, "backup-type": {"host"}, "backup-id": {id}, "backup-time": {fmt.Sprint(base + 1)}}
		cc, conn, c, _ := h.upgrade(ticket, csrf, q)
		if conn != nil {
			cc.Close()
			conn.Close()
		}
		add(fmt.Sprintf("backup-id %q", id), c == 400, fmt.Sprintf("HTTP %d", c))
	}
	q := url.Values{"store": {"store1"}, "backup-type": {"host"}, "backup-id": {"hostile"}, "backup-time": {fmt.Sprint(base + 2)}}
	cc, conn, c, msg := h.upgrade(ticket, csrf, q)
	if c != 101 {
		t.Fatalf("upgrade: %d %s", c, msg)
	}
	for _, fn := range []string{"../../x.blob", "/etc/x.blob", "a\x00.blob", "sub/x.blob"} {
		c, _ := h2call(cc, "POST", "blob", url.Values{"file-name": {fn}, "encoded-size": {"12"}}, "application/octet-stream", make([]byte, 12))
		add(fmt.Sprintf("blob file-name %q", fn), c == 400, fmt.Sprintf("HTTP %d", c))
	}
	for _, an := range []string{"../x.didx", "/tmp/x.didx"} {
		c, _ := h2call(cc, "POST", "dynamic_index", url.Values{"archive-name": {an}}, "", nil)
		add(fmt.Sprintf("archive-name %q", an), c == 400, fmt.Sprintf("HTTP %d", c))
	}
	// Digest and size mismatches.
	c2, body := h2call(cc, "POST", "dynamic_index", url.Values{"archive-name": {"x.pxar.didx"}}, "", nil)
	var wid struct{ Data int }
	json.Unmarshal([]byte(body), &wid)
	data := bytes.Repeat([]byte("hostile"), 1000)
	enc, _ := blob.Encode(data, true, nil)
	good := sha256.Sum256(data)
	other := sha256.Sum256([]byte("other"))
	if c2 == 200 {
		up := func(d [32]byte, size, esize int) int {
			c, _ := h2call(cc, "POST", "dynamic_chunk", url.Values{"wid": {fmt.Sprint(wid.Data)}, "digest": {hex.EncodeToString(d[:])},
				"size": {fmt.Sprint(size)}, "encoded-size": {fmt.Sprint(esize)}}, "application/octet-stream", enc)
			return c
		}
		c := up(other, len(data), len(enc))
		add("chunk digest that does not match the data", c == 400, fmt.Sprintf("HTTP %d", c))
		c = up(good, len(data)+1, len(enc))
		add("chunk with a wrong size", c == 400, fmt.Sprintf("HTTP %d", c))
		c = up(good, len(data), len(enc)+5)
		add("chunk with a wrong encoded-size", c == 400, fmt.Sprintf("HTTP %d", c))
		_, err := os.Stat(filepath.Join(store, ".chunks", hex.EncodeToString(other[:2]), hex.EncodeToString(other[:])))
		add("no chunk stored under the forged digest", err != nil, fmt.Sprint(err))
	} else {
		add("dynamic_index", false, body)
	}
	cc.Close()
	conn.Close()
	// Bob uploading into alice's group.
	_, _, bt, bc := h.login("bob@pbs", "bob-pw-1")
	q = url.Values{"store": {"store1"}, "backup-type": {"host"}, "backup-id": {"alice"}, "backup-time": {fmt.Sprint(base + 3)}}
	_, bconn, c, _ := h.upgrade(bt, bc, q)
	if bconn != nil {
		bconn.Close()
	}
	add("bob backs up into alice's group", c == 403, fmt.Sprintf("HTTP %d", c))
	// Raw HTTP/2 abuse: garbage frames and an oversized frame header.
	for name, raw := range map[string][]byte{
		"garbage after the upgrade":  bytes.Repeat([]byte{0xde, 0xad, 0xbe, 0xef}, 4096),
		"16 MiB HTTP/2 frame header": append([]byte(clientPreface), 0xff, 0xff, 0xff, 0x0, 0x0, 0x0, 0x0, 0x0, 0x1),
		"headers frame on stream 0":  append([]byte(clientPreface), 0, 0, 4, 1, 5, 0, 0, 0, 0, 1, 2, 3, 4),
	} {
		q := url.Values{"store": {"store1"}, "backup-type": {"host"}, "backup-id": {"raw"}, "backup-time": {fmt.Sprint(base + 4)}}
		conn, err := tls.Dial("tcp", s.addr, &tls.Config{InsecureSkipVerify: true})
		if err != nil {
			t.Fatal(err)
		}
		fmt.Fprintf(conn, "GET /api2/json/backup?%s HTTP/1.1\r\nHost: localhost\r\nConnection: upgrade\r\nUpgrade: proxmox-backup-protocol-v1\r\nCookie: PBSAuthCookie=%s\r\nCSRFPreventionToken: %s\r\n\r\n", q.Encode(), url.QueryEscape(ticket), csrf)
		br := bufio.NewReader(conn)
		resp, err := http.ReadResponse(br, nil)
		if err != nil || resp.StatusCode != 101 {
			add(name, false, fmt.Sprintf("upgrade: %v", err))
			conn.Close()
			continue
		}
		conn.Write(raw)
		conn.SetReadDeadline(time.Now().Add(10 * time.Second))
		_, err = io.Copy(io.Discard, br)
		conn.Close()
		add(name, err == nil || !strings.Contains(err.Error(), "timeout"), "server closed the connection: "+fmt.Sprint(err))
	}
	// Brute force: 20 concurrent wrong passwords for alice, then the right one.
	var wg sync.WaitGroup
	var mu sync.Mutex
	evaluated, limited := 0, 0
	t0 := time.Now()
	for i := 0; i < 20; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, body, _, _ := h.login("alice@pbs", fmt.Sprintf("guess-%d", i))
			mu.Lock()
			if strings.Contains(body, "too many") {
				limited++
			} else {
				evaluated++
			}
			mu.Unlock()
		}()
	}
	// Meanwhile, bob is served.
	time.Sleep(200 * time.Millisecond)
	bobStart := time.Now()
	cb, _, _, _ := h.login("bob@pbs", "bob-pw-1")
	bobTook := time.Since(bobStart)
	wg.Wait()
	add("bob logs in during alice's brute force", cb == 200 && bobTook < 3*time.Second, fmt.Sprintf("HTTP %d in %v", cb, bobTook.Round(time.Millisecond)))
	add("20 concurrent wrong passwords: at most 5 reach the password check", evaluated <= 5,
		fmt.Sprintf("%d evaluated, %d refused as too many, in %v", evaluated, limited, time.Since(t0).Round(time.Millisecond)))
	c, body, _, _ = h.login("alice@pbs", "alice-pw-1")
	add("the right password right after a brute force is refused (locked out)", c == 401 && strings.Contains(body, "too many"), fmt.Sprintf("HTTP %d %s", c, strings.TrimSpace(body)))
	// The server stays up and serves a normal backup and restore.
	alive := s.alive()
	out, err := run(s.env("bob@pbs"), "backup", "root.pxar:"+src, "--repository", s.repo("bob@pbs"), "--backup-id", "bob-after", "--backup-time", fmt.Sprint(base+5))
	add("server up and serving a backup afterwards", alive && err == nil, lastLines(out, 1))
	_, bad := checkSnapshots(t, s.env("bob@pbs"), s.repo("bob@pbs"), func(snapInfo) string { return src })
	add("every finished snapshot verifies and restores", len(bad) == 0, strings.Join(bad, "; "))
	// Nothing escaped the datastore.
	escaped, _ := filepath.Glob(filepath.Join(filepath.Dir(store), "*"))
	add("nothing written beside the datastore", len(escaped) == 1, fmt.Sprint(escaped))

	passed := 0
	var failed []string
	for _, c := range checks {
		if c.ok {
			passed++
		} else {
			failed = append(failed, c.name+" ("+c.info+")")
		}
	}
	outcome := fmt.Sprintf("%d/%d hostile checks pass", passed, len(checks))
	if len(failed) > 0 {
		outcome = "FAIL: " + outcome + "; failing: " + strings.Join(failed, "; ")
	} else {
		outcome = "PASS: " + outcome
	}
	report(t, "hostile clients vs cairn serve", len(checks),
		"malformed/32 MiB login JSON, forged/old/garbage tickets, ../ NUL absolute names (backup-id, blob, archive), wrong digest/size/encoded-size, bob into alice's group, garbage and oversized HTTP/2 frames, 20 concurrent wrong passwords",
		"each refused with 4xx or the connection closed, no file outside the store, limiter caps guesses, server alive and serving others", outcome)
}
