package server

import (
	"bufio"
	"bytes"
	"crypto/sha256"
	"crypto/tls"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"cairn/core/manifest"
	"cairn/net/server/config"
)

// rawConn is a TLS connection to the test server written to by hand, so a
// test controls every byte of the request head (no Host, odd paths).
type rawConn struct {
	t    *testing.T
	conn *tls.Conn
	br   *bufio.Reader
}

func (e *testEnv) raw() *rawConn {
	e.t.Helper()
	conn, err := tls.Dial("tcp", e.addr, &tls.Config{InsecureSkipVerify: true})
	if err != nil {
		e.t.Fatal(err)
	}
	e.t.Cleanup(func() { conn.Close() })
	conn.SetDeadline(time.Now().Add(30 * time.Second))
	return &rawConn{t: e.t, conn: conn, br: bufio.NewReader(conn)}
}

func (c *rawConn) send(s string) {
	c.t.Helper()
	if _, err := io.WriteString(c.conn, s); err != nil {
		c.t.Fatal(err)
	}
}

// response reads one response; method is the request's (HEAD has no body).
func (c *rawConn) response() (int, http.Header, []byte) {
	c.t.Helper()
	resp, err := http.ReadResponse(c.br, nil)
	if err != nil {
		c.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		c.t.Fatal(err)
	}
	return resp.StatusCode, resp.Header, b
}

func (e *testEnv) token(authID, role string) string {
	e.t.Helper()
	secret := config.NewTokenSecret()
	h, _ := config.HashSecret(secret)
	err := config.Update(e.cfgDir, func(c *config.Config) error {
		c.Tokens[authID] = config.Token{Hash: h, Enable: true}
		if role != "" {
			c.ACLs = append(c.ACLs, config.ACL{Path: "/datastore/store1", Role: role, AuthID: authID, Propagate: true})
		}
		return nil
	})
	if err != nil {
		e.t.Fatal(err)
	}
	return "PBSAPIToken=" + authID + ":" + secret
}

func TestEmptyPathComponents(t *testing.T) {
	e := newEnv(t)
	c := e.raw()
	body := `{"username":"alice@pbs","password":"alice@pbs-pw"}`
	c.send(fmt.Sprintf("POST //api2/json/access/ticket HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n%s", len(body), body))
	code, _, b := c.response()
	if code != 200 || !strings.Contains(string(b), `"ticket":"PBS:alice@pbs:`) {
		t.Fatalf("POST //api2/json/access/ticket: %d %s", code, b)
	}
	var tk struct{ Data struct{ Ticket string } }
	json.Unmarshal(b, &tk)
	c.send("GET /api2//json/ping/ HTTP/1.1\r\nHost: x\r\n\r\n")
	if code, _, b := c.response(); code != 200 || string(b) != `{"data":{"pong":true}}` {
		t.Fatalf("GET /api2//json/ping/: %d %s", code, b)
	}
	c.send("GET /api2/json//admin/datastore HTTP/1.1\r\nHost: x\r\nCookie: PBSAuthCookie=" + url.QueryEscape(tk.Data.Ticket) + "\r\n\r\n")
	if code, _, b := c.response(); code != 200 || !strings.Contains(string(b), `"store":"store1"`) {
		t.Fatalf("GET /api2/json//admin/datastore: %d %s", code, b)
	}
	c.send("GET //api2/json/nope HTTP/1.1\r\nHost: x\r\n\r\n")
	if code, _, _ := c.response(); code != 401 {
		t.Fatalf("unknown path before authentication: %d", code)
	}

	// Inside the HTTP/2 sessions.
	a, _ := e.login("alice@pbs", "alice@pbs-pw")
	s, code, msg := e.upgrade(a, "backup", BackupProtocol, backupQuery("slashes", 1700000000))
	if code != 101 {
		t.Fatalf("upgrade: %d %s", code, msg)
	}
	var wid int
	json.Unmarshal(s.must("POST", "/dynamic_index", url.Values{"archive-name": {"root.pxar.didx"}}, "", nil), &wid)
	c1 := mkChunk(t, []byte("chunk of slashes"))
	s.must("POST", "//dynamic_chunk/", url.Values{"wid": {fmt.Sprint(wid)}, "digest": {hex.EncodeToString(c1.digest[:])},
		"size": {fmt.Sprint(len(c1.data))}, "encoded-size": {fmt.Sprint(len(c1.enc))}}, "application/octet-stream", c1.enc)
	ib, _ := json.Marshal(map[string]any{"wid": wid, "digest-list": []string{hex.EncodeToString(c1.digest[:])}, "offset-list": []int{0}})
	s.must("PUT", "/dynamic_index//", nil, "application/json", ib)
	csum := sha256.Sum256(append(binary.LittleEndian.AppendUint64(nil, uint64(len(c1.data))), c1.digest[:]...))
	s.must("POST", "//dynamic_close", url.Values{"wid": {fmt.Sprint(wid)}, "chunk-count": {"1"}, "size": {fmt.Sprint(len(c1.data))},
		"csum": {hex.EncodeToString(csum[:])}}, "", nil)
	mb := manifestBlob(t, "slashes", 1700000000, []manifest.File{{Filename: "root.pxar.didx", CryptMode: "none", Size: uint64(len(c1.data)), Csum: hex.EncodeToString(csum[:])}})
	s.must("POST", "//blob", url.Values{"file-name": {"index.json.blob"}, "encoded-size": {fmt.Sprint(len(mb))}}, "application/octet-stream", mb)
	s.must("POST", "//finish/", nil, "", nil)
	s.close()

	r, code, msg := e.upgrade(a, "reader", ReaderProtocol, backupQuery("slashes", 1700000000))
	if code != 101 {
		t.Fatalf("reader upgrade: %d %s", code, msg)
	}
	defer r.close()
	if code, b := r.call("GET", "//download", url.Values{"file-name": {"root.pxar.didx"}}, "", nil); code != 200 || len(b) == 0 {
		t.Fatalf("reader //download: %d %s", code, b)
	}
	if code, b := r.call("GET", "/chunk/", url.Values{"digest": {hex.EncodeToString(c1.digest[:])}}, "", nil); code != 200 || !bytes.Equal(b, c1.enc) {
		t.Fatalf("reader /chunk/: %d", code)
	}
}

func TestTrimPath(t *testing.T) {
	for in, want := range map[string]string{"": "", "/": "", "//": "", "a": "a", "/a/b/": "a/b", "//api2//json///x": "api2/json/x", "a/b": "a/b"} {
		if got := trimPath(in); got != want {
			t.Errorf("trimPath(%q) = %q, want %q", in, got, want)
		}
	}
}

// TestNoHostHeader: HTTP/1.1 requests without Host are served, as upstream
// serves them (hostconn.go).
func TestNoHostHeader(t *testing.T) {
	e := newEnv(t)
	tok := e.token("alice@pbs!nohost", "DatastoreBackup")

	// (a) An API call with a token and no Host.
	c := e.raw()
	c.send("GET /api2/json/version HTTP/1.1\r\nAuthorization: " + tok + "\r\n\r\n")
	code, hdr, b := c.response()
	if code != 200 || !strings.HasPrefix(hdr.Get("Content-Type"), "application/json") {
		t.Fatalf("version without Host: %d %s", code, b)
	}
	var v struct{ Data map[string]string }
	if err := json.Unmarshal(b, &v); err != nil || v.Data["version"] == "" || v.Data["release"] == "" {
		t.Fatalf("version: %s", b)
	}

	// (b) Keep-alive: a POST with a Content-Length body (larger than any
	// read buffer, holding what looks like a request head), then a GET,
	// neither with Host; then both again, pipelined.
	login := func() string {
		pad := strings.Repeat(" ", 100<<10) + "\r\n\r\nGET /x HTTP/1.1\r\n\r\n"
		js := `{"username":"alice@pbs","password":"alice@pbs-pw","x":"` + strings.ReplaceAll(strings.ReplaceAll(pad, "\r", `\r`), "\n", `\n`) + `"}`
		return fmt.Sprintf("POST /api2/json/access/ticket HTTP/1.1\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n%s", len(js), js)
	}
	c = e.raw()
	c.send(login())
	if code, _, b := c.response(); code != 200 || !strings.Contains(string(b), "ticket") {
		t.Fatalf("POST ticket without Host: %d %.200s", code, b)
	}
	c.send("GET /api2/json/version HTTP/1.1\r\nAuthorization: " + tok + "\r\n\r\n")
	if code, _, b := c.response(); code != 200 {
		t.Fatalf("second request on the connection: %d %s", code, b)
	}
	c.send(login() + "GET /api2/json/admin/datastore/store1/groups HTTP/1.1\r\nAuthorization: " + tok + "\r\n\r\n")
	if code, _, b := c.response(); code != 200 {
		t.Fatalf("pipelined POST: %d %.200s", code, b)
	}
	if code, _, b := c.response(); code != 200 || string(b) != `{"data":[]}` {
		t.Fatalf("pipelined GET: %d %s", code, b)
	}
	// A present Host is kept as it is; an unknown path still gets 404.
	c.send("GET /api2/json/nodes/localhost/nothing HTTP/1.1\r\nhost: example\r\nAuthorization: " + tok + "\r\n\r\n")
	if code, _, _ := c.response(); code != 404 {
		t.Fatalf("with Host: %d", code)
	}

	// (c) The backup upgrade without Host, as tizbac's client sends it,
	// then a whole backup inside the HTTP/2 session.
	c = e.raw()
	q := backupQuery("nohost", 1700000000)
	c.send("GET /api2/json/backup?" + q.Encode() + " HTTP/1.1\r\nUpgrade: " + BackupProtocol + "\r\nConnection: Upgrade\r\nAuthorization: " + tok + "\r\n\r\n")
	resp, err := http.ReadResponse(c.br, nil)
	if err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != http.StatusSwitchingProtocols {
		b, _ := io.ReadAll(resp.Body)
		t.Fatalf("upgrade without Host: %d %s", resp.StatusCode, b)
	}
	c.conn.SetDeadline(time.Time{})
	cc, err := h2Client(&bufReadConn{Conn: c.conn, r: c.br})
	if err != nil {
		t.Fatal(err)
	}
	s := &h2session{t: t, conn: c.conn, cc: cc}
	if raw := s.must("GET", "previous_backup_time", nil, "", nil); string(raw) != "null" {
		t.Fatalf("previous_backup_time: %s", raw)
	}
	size, csum := uploadArchive(t, s, "root.pxar.didx", []chunk{mkChunk(t, bytes.Repeat([]byte("no host "), 20000))})
	mb := manifestBlob(t, "nohost", 1700000000, []manifest.File{{Filename: "root.pxar.didx", CryptMode: "none", Size: size, Csum: hex.EncodeToString(csum[:])}})
	s.must("POST", "blob", url.Values{"file-name": {"index.json.blob"}, "encoded-size": {fmt.Sprint(len(mb))}}, "application/octet-stream", mb)
	s.must("POST", "finish", nil, "", nil)
	s.close()
	a, _ := e.login("alice@pbs", "alice@pbs-pw")
	if snaps := snapshotsOf(t, e, a); len(snaps) != 1 || snaps[0]["owner"] != "alice@pbs!nohost" {
		t.Fatalf("snapshots: %v", snaps)
	}
}

// bufReadConn reads through the bufio.Reader that read the 101 response.
type bufReadConn struct {
	net.Conn
	r *bufio.Reader
}

func (c *bufReadConn) Read(p []byte) (int, error) { return c.r.Read(p) }
