package server

import (
	"bufio"
	"bytes"
	"context"
	"crypto/sha256"
	"crypto/tls"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"errors"
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

	"cairn/core"
	"cairn/core/blob"
	"cairn/core/datastore"
	"cairn/core/index"
	"cairn/core/manifest"
	"cairn/internal/testutil"
	"cairn/net/server/config"
)

type testEnv struct {
	t      *testing.T
	srv    *Server
	addr   string
	cfgDir string
	store  string
	client *http.Client
}

func newEnv(t *testing.T) *testEnv {
	t.Helper()
	cfgDir := t.TempDir()
	store := testutil.TempDir(t)
	if err := datastore.Create(store); err != nil {
		t.Fatal(err)
	}
	err := config.Update(cfgDir, func(c *config.Config) error {
		c.Datastores["store1"] = config.Datastore{Path: store}
		for _, u := range []string{"alice@pbs", "bob@pbs"} {
			h, err := config.HashSecret(u + "-pw")
			if err != nil {
				return err
			}
			c.Users[u] = config.User{Hash: h, Enable: true}
			c.ACLs = append(c.ACLs, config.ACL{Path: "/datastore/store1", Role: "DatastoreBackup", AuthID: u, Propagate: true})
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	srv, err := New(Options{ConfigDir: cfgDir, Log: io.Discard, AuthFailDelay: -1, PermFailDelay: -1})
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
	return &testEnv{t: t, srv: srv, addr: ln.Addr().String(), cfgDir: cfgDir, store: store,
		client: &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{InsecureSkipVerify: true}}}}
}

type auth struct{ ticket, csrf string }

func (e *testEnv) login(user, pw string) (*auth, int) {
	e.t.Helper()
	body, _ := json.Marshal(map[string]string{"username": user, "password": pw})
	resp, err := e.client.Post("https://"+e.addr+"/api2/json/access/ticket", "application/json", bytes.NewReader(body))
	if err != nil {
		e.t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != 200 {
		return nil, resp.StatusCode
	}
	var out struct {
		Data struct {
			Ticket string `json:"ticket"`
			CSRF   string `json:"CSRFPreventionToken"`
		} `json:"data"`
	}
	json.NewDecoder(resp.Body).Decode(&out)
	return &auth{out.Data.Ticket, out.Data.CSRF}, 200
}

func (e *testEnv) do(a *auth, method, path string, q url.Values, body io.Reader) (int, []byte) {
	e.t.Helper()
	u := "https://" + e.addr + "/api2/json/" + path
	if q != nil {
		u += "?" + q.Encode()
	}
	req, _ := http.NewRequest(method, u, body)
	if a != nil {
		req.Header.Set("Cookie", "PBSAuthCookie="+a.ticket)
		req.Header.Set("CSRFPreventionToken", a.csrf)
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := e.client.Do(req)
	if err != nil {
		e.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, b
}

// h2session is a tiny test-side client of the upgraded protocols.
type h2session struct {
	t    *testing.T
	conn net.Conn
	cc   *http.ClientConn
}

func (e *testEnv) upgrade(a *auth, path, protocol string, q url.Values) (*h2session, int, string) {
	e.t.Helper()
	conn, err := tls.Dial("tcp", e.addr, &tls.Config{InsecureSkipVerify: true})
	if err != nil {
		e.t.Fatal(err)
	}
	fmt.Fprintf(conn, "GET /api2/json/%s?%s HTTP/1.1\r\nHost: localhost\r\nConnection: upgrade\r\nUpgrade: %s\r\nCookie: PBSAuthCookie=%s\r\nCSRFPreventionToken: %s\r\n\r\n",
		path, q.Encode(), protocol, a.ticket, a.csrf)
	br := bufio.NewReader(conn)
	resp, err := http.ReadResponse(br, nil)
	if err != nil {
		e.t.Fatal(err)
	}
	if resp.StatusCode != http.StatusSwitchingProtocols {
		b, _ := io.ReadAll(resp.Body)
		conn.Close()
		return nil, resp.StatusCode, string(b)
	}
	if resp.Header.Get("Upgrade") != protocol {
		e.t.Fatalf("upgrade header %q", resp.Header.Get("Upgrade"))
	}
	cc, err := h2Client(&bufReadConn{Conn: conn, r: br})
	if err != nil {
		e.t.Fatal(err)
	}
	s := &h2session{t: e.t, conn: conn, cc: cc}
	e.t.Cleanup(func() { conn.Close() })
	return s, 101, ""
}

// h2Client speaks HTTP/2 with prior knowledge on an upgraded connection
// (net/http's client; the connection is not seen as TLS).
func h2Client(conn net.Conn) (*http.ClientConn, error) {
	var protos http.Protocols
	protos.SetUnencryptedHTTP2(true)
	dialed := false
	tr := &http.Transport{
		Protocols: &protos,
		DialContext: func(context.Context, string, string) (net.Conn, error) {
			if dialed {
				return nil, errors.New("the upgraded connection is used already")
			}
			dialed = true
			return conn, nil
		},
	}
	return tr.NewClientConn(context.Background(), "http", "localhost:8007")
}

func (s *h2session) call(method, path string, q url.Values, ct string, body []byte) (int, []byte) {
	u := "https://localhost:8007/" + path
	if q != nil {
		u += "?" + q.Encode()
	}
	var rd io.Reader
	if body != nil {
		rd = bytes.NewReader(body)
	}
	req, _ := http.NewRequest(method, u, rd)
	if ct != "" {
		req.Header.Set("Content-Type", ct)
	}
	resp, err := s.cc.RoundTrip(req)
	if err != nil {
		return 0, []byte(err.Error())
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, b
}

func (s *h2session) must(method, path string, q url.Values, ct string, body []byte) json.RawMessage {
	s.t.Helper()
	code, b := s.call(method, path, q, ct, body)
	if code != 200 {
		s.t.Fatalf("%s %s: %d %s", method, path, code, b)
	}
	var out struct {
		Data json.RawMessage `json:"data"`
	}
	if err := json.Unmarshal(b, &out); err != nil {
		s.t.Fatalf("%s %s: bad JSON %q", method, path, b)
	}
	return out.Data
}

func (s *h2session) close() {
	s.cc.Close()
	s.conn.Close()
}

type chunk struct {
	digest [32]byte
	data   []byte
	enc    []byte
}

func mkChunk(t *testing.T, data []byte) chunk {
	enc, err := blob.Encode(data, true, nil)
	if err != nil {
		t.Fatal(err)
	}
	return chunk{sha256.Sum256(data), data, enc}
}

func backupQuery(id string, tm int64) url.Values {
	return url.Values{"store": {"store1"}, "backup-type": {"host"}, "backup-id": {id}, "backup-time": {fmt.Sprint(tm)}, "debug": {"true"}}
}

// uploadArchive uploads chunks and a dynamic index; returns size and csum.
func uploadArchive(t *testing.T, s *h2session, name string, chunks []chunk) (uint64, [32]byte) {
	var wid int
	json.Unmarshal(s.must("POST", "dynamic_index", url.Values{"archive-name": {name}}, "", nil), &wid)
	var off uint64
	var digests []string
	var offsets []uint64
	var csumBody []byte
	for _, c := range chunks {
		s.must("POST", "dynamic_chunk", url.Values{"wid": {fmt.Sprint(wid)}, "digest": {hex.EncodeToString(c.digest[:])},
			"size": {fmt.Sprint(len(c.data))}, "encoded-size": {fmt.Sprint(len(c.enc))}}, "application/octet-stream", c.enc)
		digests = append(digests, hex.EncodeToString(c.digest[:]))
		offsets = append(offsets, off)
		off += uint64(len(c.data))
		csumBody = binary.LittleEndian.AppendUint64(csumBody, off)
		csumBody = append(csumBody, c.digest[:]...)
	}
	body, _ := json.Marshal(map[string]any{"wid": wid, "digest-list": digests, "offset-list": offsets})
	s.must("PUT", "dynamic_index", nil, "application/json", body)
	csum := sha256.Sum256(csumBody)
	s.must("POST", "dynamic_close", url.Values{"wid": {fmt.Sprint(wid)}, "chunk-count": {fmt.Sprint(len(chunks))},
		"size": {fmt.Sprint(off)}, "csum": {hex.EncodeToString(csum[:])}}, "", nil)
	return off, csum
}

func manifestBlob(t *testing.T, id string, tm int64, files []manifest.File) []byte {
	m := &manifest.Manifest{BackupType: "host", BackupID: id, BackupTime: tm, Files: files}
	j, err := m.Encode()
	if err != nil {
		t.Fatal(err)
	}
	b, err := blob.Encode(j, true, nil)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// fullBackup runs a complete backup session with one archive.
func fullBackup(t *testing.T, e *testEnv, a *auth, id string, tm int64, payload [][]byte) {
	s, code, msg := e.upgrade(a, "backup", BackupProtocol, backupQuery(id, tm))
	if code != 101 {
		t.Fatalf("upgrade: %d %s", code, msg)
	}
	defer s.close()
	var chunks []chunk
	for _, p := range payload {
		chunks = append(chunks, mkChunk(t, p))
	}
	size, csum := uploadArchive(t, s, "root.pxar.didx", chunks)
	mb := manifestBlob(t, id, tm, []manifest.File{{Filename: "root.pxar.didx", CryptMode: "none", Size: size, Csum: hex.EncodeToString(csum[:])}})
	s.must("POST", "blob", url.Values{"file-name": {"index.json.blob"}, "encoded-size": {fmt.Sprint(len(mb))}}, "application/octet-stream", mb)
	s.must("POST", "finish", nil, "", nil)
}

func snapshotsOf(t *testing.T, e *testEnv, a *auth) []map[string]any {
	code, b := e.do(a, "GET", "admin/datastore/store1/snapshots", nil, nil)
	if code != 200 {
		t.Fatalf("snapshots: %d %s", code, b)
	}
	var out struct{ Data []map[string]any }
	json.Unmarshal(b, &out)
	return out.Data
}

func waitFor(t *testing.T, cond func() bool) {
	t.Helper()
	for i := 0; i < 200; i++ {
		if cond() {
			return
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Fatal("condition not reached")
}

func TestLoginAndAuth(t *testing.T) {
	e := newEnv(t)
	if _, code := e.login("alice@pbs", "wrong"); code != 401 {
		t.Fatalf("wrong password: %d", code)
	}
	if _, code := e.login("root@pam", "x"); code != 401 {
		t.Fatalf("pam login: %d", code)
	}
	a, code := e.login("alice@pbs", "alice@pbs-pw")
	if code != 200 || !strings.HasPrefix(a.ticket, "PBS:alice@pbs:") || !strings.Contains(a.ticket, "::") {
		t.Fatalf("login: %d %+v", code, a)
	}
	if code, _ := e.do(nil, "GET", "admin/datastore/store1/snapshots", nil, nil); code != 401 {
		t.Fatalf("unauthenticated: %d", code)
	}
	if code, _ := e.do(&auth{ticket: a.ticket + "x"}, "GET", "admin/datastore/store1/snapshots", nil, nil); code != 401 {
		t.Fatalf("bad ticket: %d", code)
	}
	// Non-GET without CSRF token is refused.
	if code, _ := e.do(&auth{ticket: a.ticket}, "POST", "admin/datastore/store1/namespace", url.Values{"name": {"x"}}, nil); code != 401 {
		t.Fatalf("POST without CSRF: %d", code)
	}
	// Renewal with the ticket as password.
	if b, code := e.login("alice@pbs", a.ticket); code != 200 || b.ticket == "" {
		t.Fatalf("renewal: %d", code)
	}
	if _, code := e.login("bob@pbs", a.ticket); code != 401 {
		t.Fatalf("renewal as another user: %d", code)
	}
	if code, b := e.do(a, "GET", "admin/datastore", nil, nil); code != 200 || !strings.Contains(string(b), "store1") {
		t.Fatalf("datastore list: %d %s", code, b)
	}
	// Rate limit: many failures lock the pair out, even with the right password.
	for i := 0; i < 6; i++ {
		e.login("bob@pbs", "bad")
	}
	if _, code := e.login("bob@pbs", "bob@pbs-pw"); code != 401 {
		t.Fatalf("locked out login: %d", code)
	}
}

func TestAPIToken(t *testing.T) {
	e := newEnv(t)
	secret := config.NewTokenSecret()
	h, _ := config.HashSecret(secret)
	config.Update(e.cfgDir, func(c *config.Config) error {
		c.Tokens["alice@pbs!t1"] = config.Token{Hash: h, Enable: true}
		c.ACLs = append(c.ACLs, config.ACL{Path: "/datastore/store1", Role: "DatastoreBackup", AuthID: "alice@pbs!t1", Propagate: true})
		return nil
	})
	for _, tc := range []struct {
		hdr  string
		want int
	}{{"PBSAPIToken alice@pbs!t1:" + secret, 200}, {"PBSAPIToken=alice@pbs!t1:" + secret, 200}, {"PBSAPIToken alice@pbs!t1:wrong", 401}} {
		req, _ := http.NewRequest("GET", "https://"+e.addr+"/api2/json/admin/datastore/store1/groups", nil)
		req.Header.Set("Authorization", tc.hdr)
		resp, err := e.client.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != tc.want {
			t.Errorf("%s: %d, want %d", tc.hdr, resp.StatusCode, tc.want)
		}
	}
}

func TestBackupRestoreCycle(t *testing.T) {
	e := newEnv(t)
	a, _ := e.login("alice@pbs", "alice@pbs-pw")
	payload := [][]byte{bytes.Repeat([]byte("hello "), 1000), []byte("second chunk"), bytes.Repeat([]byte{7}, 5000)}
	fullBackup(t, e, a, "elsa", 1700000000, payload)

	snaps := snapshotsOf(t, e, a)
	if len(snaps) != 1 || snaps[0]["backup-id"] != "elsa" || snaps[0]["owner"] != "alice@pbs" {
		t.Fatalf("snapshots: %v", snaps)
	}
	// The stored manifest got chunk_upload_stats.
	ds, _ := datastore.Open(e.store, "")
	m, _, err := ds.ReadManifest("", core.Snapshot{Group: core.Group{Type: "host", ID: "elsa"}, Time: 1700000000})
	if err != nil || m.Unprotected["chunk_upload_stats"] == nil {
		t.Fatalf("manifest: %v %v", err, m)
	}
	// As upstream: size is the raw chunk bytes plus every uploaded blob (here
	// only the manifest, which is the stored one less the stats).
	stats := m.Unprotected["chunk_upload_stats"].(map[string]any)
	var rawBytes float64
	for _, p := range payload {
		rawBytes += float64(len(p))
	}
	delete(m.Unprotected, "chunk_upload_stats")
	uploaded := manifestBlob(t, "elsa", 1700000000, m.Files)
	if fmt.Sprint(stats["count"]) != fmt.Sprint(len(payload)) || fmt.Sprint(stats["size"]) != fmt.Sprint(rawBytes+float64(len(uploaded))) {
		t.Fatalf("chunk_upload_stats %v, want count %d, size %v", stats, len(payload), rawBytes+float64(len(uploaded)))
	}

	// Read back via the reader protocol.
	q := backupQuery("elsa", 1700000000)
	r, code, msg := e.upgrade(a, "reader", ReaderProtocol, q)
	if code != 101 {
		t.Fatalf("reader upgrade: %d %s", code, msg)
	}
	defer r.close()
	// Chunks are refused before the index was downloaded.
	d0 := sha256.Sum256(payload[0])
	if code, _ := r.call("GET", "chunk", url.Values{"digest": {hex.EncodeToString(d0[:])}}, "", nil); code != 401 {
		t.Fatalf("chunk before index: %d", code)
	}
	code, idxData := r.call("GET", "download", url.Values{"file-name": {"root.pxar.didx"}}, "", nil)
	if code != 200 {
		t.Fatalf("download: %d %s", code, idxData)
	}
	idx, err := index.Open(idxData)
	if err != nil {
		t.Fatal(err)
	}
	var got []byte
	for i := 0; i < idx.Count(); i++ {
		d := idx.ChunkDigest(i)
		code, raw := r.call("GET", "chunk", url.Values{"digest": {hex.EncodeToString(d[:])}}, "", nil)
		if code != 200 {
			t.Fatalf("chunk: %d %s", code, raw)
		}
		plain, err := blob.Decode(raw, nil)
		if err != nil {
			t.Fatal(err)
		}
		got = append(got, plain...)
	}
	if !bytes.Equal(got, bytes.Join(payload, nil)) {
		t.Fatal("restored data differs")
	}
	if code, _ := r.call("GET", "download", url.Values{"file-name": {"nope.blob"}}, "", nil); code != 404 {
		t.Fatalf("missing file: %d", code)
	}

	// An incremental backup: previous + known chunks without re-upload.
	s, code, msg := e.upgrade(a, "backup", BackupProtocol, backupQuery("elsa", 1700000100))
	if code != 101 {
		t.Fatalf("upgrade: %d %s", code, msg)
	}
	raw := s.must("GET", "previous_backup_time", nil, "", nil)
	if string(raw) != "1700000000" {
		t.Fatalf("previous_backup_time: %s", raw)
	}
	if code, b := s.call("GET", "previous", url.Values{"archive-name": {"root.pxar.didx"}}, "", nil); code != 200 || !bytes.Equal(b, idxData) {
		t.Fatalf("previous: %d", code)
	}
	var wid int
	json.Unmarshal(s.must("POST", "dynamic_index", url.Values{"archive-name": {"root.pxar.didx"}}, "", nil), &wid)
	body, _ := json.Marshal(map[string]any{"wid": wid, "digest-list": []string{hex.EncodeToString(d0[:])}, "offset-list": []int{0}})
	s.must("PUT", "dynamic_index", nil, "application/json", body)
	// Wrong checksum on close is refused.
	if code, _ := s.call("POST", "dynamic_close", url.Values{"wid": {fmt.Sprint(wid)}, "chunk-count": {"1"}, "size": {fmt.Sprint(len(payload[0]))},
		"csum": {strings.Repeat("00", 32)}}, "", nil); code != 400 {
		t.Fatalf("bad csum close: %d", code)
	}
	s.close()
	waitFor(t, func() bool { return len(snapshotsOf(t, e, a)) == 1 })

	// Admin REST: groups, files, gc, prune, forget.
	if code, b := e.do(a, "GET", "admin/datastore/store1/groups", nil, nil); code != 200 || !strings.Contains(string(b), `"backup-count":1`) {
		t.Fatalf("groups: %d %s", code, b)
	}
	if code, b := e.do(a, "GET", "admin/datastore/store1/files", q, nil); code != 200 || !strings.Contains(string(b), "root.pxar.didx") {
		t.Fatalf("files: %d %s", code, b)
	}
	// DatastoreBackup cannot run GC.
	if code, _ := e.do(a, "POST", "admin/datastore/store1/gc", nil, nil); code != 403 {
		t.Fatalf("gc without Modify: %d", code)
	}
	config.Update(e.cfgDir, func(c *config.Config) error {
		c.ACLs = append(c.ACLs, config.ACL{Path: "/datastore/store1", Role: "DatastoreAdmin", AuthID: "alice@pbs", Propagate: true})
		return nil
	})
	code, b := e.do(a, "POST", "admin/datastore/store1/gc", nil, nil)
	if code != 200 {
		t.Fatalf("gc: %d %s", code, b)
	}
	var upid struct{ Data string }
	json.Unmarshal(b, &upid)
	waitFor(t, func() bool {
		_, b := e.do(a, "GET", "nodes/localhost/tasks/"+url.PathEscape(upid.Data)+"/status", nil, nil)
		return strings.Contains(string(b), `"stopped"`)
	})
	if code, b := e.do(a, "GET", "nodes/localhost/tasks/"+url.PathEscape(upid.Data)+"/log", url.Values{"start": {"0"}, "limit": {"500"}, "test-status": {"true"}}, nil); code != 200 || !strings.Contains(string(b), "TASK OK") {
		t.Fatalf("gc log: %d %s", code, b)
	}
	if code, b := e.do(a, "GET", "admin/datastore/store1/gc", nil, nil); code != 200 || !strings.Contains(string(b), `"disk-chunks":3`) {
		t.Fatalf("gc status: %d %s", code, b)
	}
	fullBackup(t, e, a, "elsa", 1700000200, payload[:1])
	pq := url.Values{"backup-type": {"host"}, "backup-id": {"elsa"}, "keep-last": {"1"}}
	pb, _ := json.Marshal(map[string]any{"backup-type": "host", "backup-id": "elsa", "keep-last": 1})
	r.close() // the reader session holds a shared lock on its snapshot
	var pcode int
	var pbody []byte
	waitFor(t, func() bool {
		pcode, pbody = e.do(a, "POST", "admin/datastore/store1/prune", pq, bytes.NewReader(pb))
		return pcode != 409
	})
	if pcode != 200 || strings.Count(string(pbody), `"keep":false`) != 1 {
		t.Fatalf("prune: %d %s", pcode, pbody)
	}
	if n := len(snapshotsOf(t, e, a)); n != 1 {
		t.Fatalf("after prune %d snapshots", n)
	}
	dq := backupQuery("elsa", 1700000200)
	if code, b := e.do(a, "DELETE", "admin/datastore/store1/snapshots", dq, nil); code != 200 {
		t.Fatalf("forget: %d %s", code, b)
	}
	if n := len(snapshotsOf(t, e, a)); n != 0 {
		t.Fatalf("after forget %d snapshots", n)
	}
}

func TestBadChunkAndAbort(t *testing.T) {
	e := newEnv(t)
	a, _ := e.login("alice@pbs", "alice@pbs-pw")
	s, code, msg := e.upgrade(a, "backup", BackupProtocol, backupQuery("bad", 1700000000))
	if code != 101 {
		t.Fatalf("upgrade: %d %s", code, msg)
	}
	var wid int
	json.Unmarshal(s.must("POST", "dynamic_index", url.Values{"archive-name": {"root.pxar.didx"}}, "", nil), &wid)
	c := mkChunk(t, []byte("some data"))
	other := sha256.Sum256([]byte("other"))
	for _, tc := range []struct {
		name   string
		digest string
		size   int
		enc    []byte
		encLen int
	}{
		{"wrong digest", hex.EncodeToString(other[:]), len(c.data), c.enc, len(c.enc)},
		{"wrong size", hex.EncodeToString(c.digest[:]), len(c.data) + 1, c.enc, len(c.enc)},
		{"short body", hex.EncodeToString(c.digest[:]), len(c.data), c.enc[:len(c.enc)-1], len(c.enc)},
		{"long body", hex.EncodeToString(c.digest[:]), len(c.data), append(bytes.Clone(c.enc), 0), len(c.enc)},
		{"bad crc", hex.EncodeToString(c.digest[:]), len(c.data), append(bytes.Clone(c.enc[:len(c.enc)-1]), c.enc[len(c.enc)-1]^1), len(c.enc)},
		{"garbage", hex.EncodeToString(c.digest[:]), 20, bytes.Repeat([]byte{1}, 20), 20},
	} {
		code, b := s.call("POST", "dynamic_chunk", url.Values{"wid": {fmt.Sprint(wid)}, "digest": {tc.digest}, "size": {fmt.Sprint(tc.size)},
			"encoded-size": {fmt.Sprint(tc.encLen)}}, "application/octet-stream", tc.enc)
		if code != 400 {
			t.Errorf("%s: %d %s", tc.name, code, b)
		}
	}
	// Unknown chunk in append.
	body, _ := json.Marshal(map[string]any{"wid": wid, "digest-list": []string{hex.EncodeToString(other[:])}, "offset-list": []int{0}})
	if code, b := s.call("PUT", "dynamic_index", nil, "application/json", body); code != 400 || !strings.Contains(string(b), "no such chunk") {
		t.Errorf("unknown chunk append: %d %s", code, b)
	}
	// Finish with an open writer fails.
	if code, _ := s.call("POST", "finish", nil, "", nil); code != 400 {
		t.Errorf("finish with open writer: %d", code)
	}
	s.close()
	// Session closed without finish: the snapshot is removed.
	waitFor(t, func() bool {
		_, err := os.Stat(filepath.Join(e.store, "host", "bad", core.FormatSnapshotTime(1700000000)))
		return os.IsNotExist(err)
	})
	if n := len(snapshotsOf(t, e, a)); n != 0 {
		t.Fatalf("aborted backup left %d snapshots", n)
	}
	// After the abort the group can be backed up again.
	fullBackup(t, e, a, "bad", 1700000001, [][]byte{[]byte("ok")})
}

func TestConcurrentBackups(t *testing.T) {
	e := newEnv(t)
	a, _ := e.login("alice@pbs", "alice@pbs-pw")
	var wg sync.WaitGroup
	for _, id := range []string{"g1", "g2"} {
		wg.Add(1)
		go func() {
			defer wg.Done()
			fullBackup(t, e, a, id, 1700000000, [][]byte{[]byte("data of " + id)})
		}()
	}
	wg.Wait()
	if n := len(snapshotsOf(t, e, a)); n != 2 {
		t.Fatalf("%d snapshots", n)
	}
	s, code, msg := e.upgrade(a, "backup", BackupProtocol, backupQuery("g1", 1700000100))
	if code != 101 {
		t.Fatalf("upgrade: %d %s", code, msg)
	}
	s.must("GET", "previous_backup_time", nil, "", nil)
	_, code, msg = e.upgrade(a, "backup", BackupProtocol, backupQuery("g1", 1700000200))
	if code == 101 || !strings.Contains(msg, "locked") {
		t.Fatalf("second backup of the same group: %d %s", code, msg)
	}
	s.close()
}

func TestOwnershipAndPermissions(t *testing.T) {
	e := newEnv(t)
	a, _ := e.login("alice@pbs", "alice@pbs-pw")
	b, _ := e.login("bob@pbs", "bob@pbs-pw")
	fullBackup(t, e, a, "elsa", 1700000000, [][]byte{[]byte("alice")})
	_, code, msg := e.upgrade(b, "backup", BackupProtocol, backupQuery("elsa", 1700000100))
	if code != 403 || !strings.Contains(msg, "owner") {
		t.Fatalf("bob into alice's group: %d %s", code, msg)
	}
	_, code, _ = e.upgrade(b, "reader", ReaderProtocol, backupQuery("elsa", 1700000000))
	if code != 403 {
		t.Fatalf("bob reading alice's group: %d", code)
	}
	if n := len(snapshotsOf(t, e, b)); n != 0 {
		t.Fatalf("bob sees %d of alice's snapshots", n)
	}
	if code, _ := e.do(b, "DELETE", "admin/datastore/store1/snapshots", backupQuery("elsa", 1700000000), nil); code != 403 {
		t.Fatalf("bob deleting alice's snapshot: %d", code)
	}
	// No ACL at all.
	config.Update(e.cfgDir, func(c *config.Config) error {
		h, _ := config.HashSecret("carol-pw")
		c.Users["carol@pbs"] = config.User{Hash: h, Enable: true}
		return nil
	})
	cl, _ := e.login("carol@pbs", "carol-pw")
	_, code, _ = e.upgrade(cl, "backup", BackupProtocol, backupQuery("c", 1700000000))
	if code != 403 {
		t.Fatalf("carol without ACL: %d", code)
	}
	if code, _ := e.do(cl, "GET", "admin/datastore/store1/snapshots", nil, nil); code != 403 {
		t.Fatalf("carol listing: %d", code)
	}
}

func TestBadNames(t *testing.T) {
	e := newEnv(t)
	a, _ := e.login("alice@pbs", "alice@pbs-pw")
	for _, q := range []url.Values{
		{"store": {"store1"}, "backup-type": {"host"}, "backup-id": {"../etc"}, "backup-time": {"1700000000"}},
		{"store": {"store1"}, "backup-type": {"host"}, "backup-id": {"a/b"}, "backup-time": {"1700000000"}},
		{"store": {"store1"}, "ns": {"../x"}, "backup-type": {"host"}, "backup-id": {"a"}, "backup-time": {"1700000000"}},
		{"store": {"../store1"}, "backup-type": {"host"}, "backup-id": {"a"}, "backup-time": {"1700000000"}},
		{"store": {"store1"}, "backup-type": {"evil"}, "backup-id": {"a"}, "backup-time": {"1700000000"}},
		{"store": {"store1"}, "backup-type": {"host"}, "backup-id": {"a"}, "backup-time": {"x"}},
	} {
		if _, code, msg := e.upgrade(a, "backup", BackupProtocol, q); code != 400 {
			t.Errorf("%v: %d %s", q, code, msg)
		}
	}
	s, code, msg := e.upgrade(a, "backup", BackupProtocol, backupQuery("names", 1700000000))
	if code != 101 {
		t.Fatalf("upgrade: %d %s", code, msg)
	}
	defer s.close()
	for _, n := range []string{"../x.didx", ".hidden.didx", "a/b.didx", "x.fidx"} {
		if code, b := s.call("POST", "dynamic_index", url.Values{"archive-name": {n}}, "", nil); code != 400 {
			t.Errorf("archive %q: %d %s", n, code, b)
		}
	}
	for _, n := range []string{"../x.blob", "a/x.blob", ".x.blob"} {
		if code, b := s.call("POST", "blob", url.Values{"file-name": {n}, "encoded-size": {"13"}}, "application/octet-stream", make([]byte, 13)); code != 400 {
			t.Errorf("blob %q: %d %s", n, code, b)
		}
	}
	if code, _ := e.do(a, "GET", "admin/datastore/store1/snapshots", url.Values{"ns": {"../../etc"}}, nil); code != 400 {
		t.Errorf("ns traversal in REST: %d", code)
	}
	if code, _ := e.do(a, "GET", "admin/datastore/..%2f..%2fetc/snapshots", nil, nil); code == 200 {
		t.Errorf("store traversal in REST: %d", code)
	}
}

func TestGarbageBodies(t *testing.T) {
	e := newEnv(t)
	a, _ := e.login("alice@pbs", "alice@pbs-pw")
	garbage := [][]byte{nil, []byte("{"), []byte("[]"), []byte(`{"wid": "x"}`), []byte(`{"wid": 1, "digest-list": [1], "offset-list": ["a"]}`),
		bytes.Repeat([]byte{0xff}, 4096), []byte(`{"wid": 99999999999999999999}`), []byte(`{"a": {"b": 1}}`)}
	for _, g := range garbage {
		e.do(a, "POST", "access/ticket", nil, bytes.NewReader(g))
		e.do(a, "POST", "admin/datastore/store1/prune", nil, bytes.NewReader(g))
		e.do(a, "PUT", "admin/datastore/store1/protected", nil, bytes.NewReader(g))
		e.do(a, "POST", "admin/datastore/store1/namespace", nil, bytes.NewReader(g))
	}
	s, code, msg := e.upgrade(a, "backup", BackupProtocol, backupQuery("garbage", 1700000000))
	if code != 101 {
		t.Fatalf("upgrade: %d %s", code, msg)
	}
	defer s.close()
	json.Unmarshal(s.must("POST", "dynamic_index", url.Values{"archive-name": {"root.pxar.didx"}}, "", nil), new(int))
	json.Unmarshal(s.must("POST", "fixed_index", url.Values{"archive-name": {"disk.img.fidx"}, "size": {"100"}}, "", nil), new(int))
	for _, g := range garbage {
		for _, p := range []string{"dynamic_index", "fixed_index"} {
			if code, _ := s.call("PUT", p, nil, "application/json", g); code == 200 && len(g) > 0 {
				t.Errorf("PUT %s with %q succeeded", p, g)
			}
		}
		s.call("POST", "dynamic_chunk", url.Values{"wid": {"1"}, "digest": {strings.Repeat("ab", 32)}, "size": {"10"}, "encoded-size": {fmt.Sprint(len(g))}}, "application/octet-stream", g)
		s.call("POST", "blob", url.Values{"file-name": {"x.blob"}, "encoded-size": {fmt.Sprint(len(g))}}, "application/octet-stream", g)
		s.call("POST", "dynamic_close", url.Values{"wid": {"1"}, "chunk-count": {"x"}}, "", g)
	}
	// Still alive.
	if code, _ := s.call("GET", "previous_backup_time", nil, "", nil); code != 200 {
		t.Fatalf("session died: %d", code)
	}
	if code, _ := s.call("POST", "finish", nil, "", nil); code != 400 {
		t.Fatalf("finish with open writers: %d", code)
	}
}

func TestFixedIndex(t *testing.T) {
	e := newEnv(t)
	a, _ := e.login("alice@pbs", "alice@pbs-pw")
	s, code, msg := e.upgrade(a, "backup", BackupProtocol, backupQuery("img", 1700000000))
	if code != 101 {
		t.Fatalf("upgrade: %d %s", code, msg)
	}
	defer s.close()
	img := make([]byte, datastore.FixedChunkSize+1000)
	for i := range img {
		img[i] = byte(i * 7)
	}
	c1, c2 := mkChunk(t, img[:datastore.FixedChunkSize]), mkChunk(t, img[datastore.FixedChunkSize:])
	var wid int
	json.Unmarshal(s.must("POST", "fixed_index", url.Values{"archive-name": {"disk.img.fidx"}, "size": {fmt.Sprint(len(img))}}, "", nil), &wid)
	for _, c := range []chunk{c1, c2} {
		s.must("POST", "fixed_chunk", url.Values{"wid": {fmt.Sprint(wid)}, "digest": {hex.EncodeToString(c.digest[:])},
			"size": {fmt.Sprint(len(c.data))}, "encoded-size": {fmt.Sprint(len(c.enc))}}, "application/octet-stream", c.enc)
	}
	// Appended out of order.
	body, _ := json.Marshal(map[string]any{"wid": wid, "digest-list": []string{hex.EncodeToString(c2.digest[:]), hex.EncodeToString(c1.digest[:])},
		"offset-list": []int{datastore.FixedChunkSize, 0}})
	s.must("PUT", "fixed_index", nil, "application/json", body)
	csum := sha256.Sum256(append(append([]byte{}, c1.digest[:]...), c2.digest[:]...))
	s.must("POST", "fixed_close", url.Values{"wid": {fmt.Sprint(wid)}, "chunk-count": {"2"}, "size": {fmt.Sprint(len(img))}, "csum": {hex.EncodeToString(csum[:])}}, "", nil)
	conf := []byte("a=1\n")
	cb, _ := blob.Encode(conf, true, nil)
	s.must("POST", "blob", url.Values{"file-name": {"x.conf.blob"}, "encoded-size": {fmt.Sprint(len(cb))}}, "application/octet-stream", cb)
	cbSum := sha256.Sum256(cb)
	// A manifest that does not list every file is refused.
	bad := manifestBlob(t, "img", 1700000000, []manifest.File{{Filename: "disk.img.fidx", CryptMode: "none", Size: uint64(len(img)), Csum: hex.EncodeToString(csum[:])}})
	s.must("POST", "blob", url.Values{"file-name": {"index.json.blob"}, "encoded-size": {fmt.Sprint(len(bad))}}, "application/octet-stream", bad)
	if code, _ := s.call("POST", "finish", nil, "", nil); code != 400 {
		t.Fatalf("finish with incomplete manifest: %d", code)
	}
	mb := manifestBlob(t, "img", 1700000000, []manifest.File{
		{Filename: "disk.img.fidx", CryptMode: "none", Size: uint64(len(img)), Csum: hex.EncodeToString(csum[:])},
		{Filename: "x.conf.blob", CryptMode: "none", Size: uint64(len(cb)), Csum: hex.EncodeToString(cbSum[:])}})
	s.must("POST", "blob", url.Values{"file-name": {"index.json.blob"}, "encoded-size": {fmt.Sprint(len(mb))}}, "application/octet-stream", mb)
	s.must("POST", "finish", nil, "", nil)
	if code, b := s.call("GET", "previous_backup_time", nil, "", nil); code != 400 || !strings.Contains(string(b), "finished") {
		t.Fatalf("after finish: %d %s", code, b)
	}
}

func TestShutdownAbortsSessions(t *testing.T) {
	e := newEnv(t)
	a, _ := e.login("alice@pbs", "alice@pbs-pw")
	s, code, msg := e.upgrade(a, "backup", BackupProtocol, backupQuery("sd", 1700000000))
	if code != 101 {
		t.Fatalf("upgrade: %d %s", code, msg)
	}
	s.must("GET", "previous_backup_time", nil, "", nil)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := e.srv.Shutdown(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(e.store, "host", "sd", core.FormatSnapshotTime(1700000000))); !os.IsNotExist(err) {
		t.Fatalf("unfinished snapshot survived shutdown: %v", err)
	}
}

func TestNotesAndChangeOwner(t *testing.T) {
	e := newEnv(t)
	secret := config.NewTokenSecret()
	h, _ := config.HashSecret(secret)
	config.Update(e.cfgDir, func(c *config.Config) error {
		c.Tokens["alice@pbs!t1"] = config.Token{Hash: h, Enable: true}
		return nil
	})
	a, _ := e.login("alice@pbs", "alice@pbs-pw")
	fullBackup(t, e, a, "elsa", 1700000000, [][]byte{[]byte("x")})
	q := backupQuery("elsa", 1700000000)
	q.Del("store")
	q.Del("debug")
	nq := url.Values{"notes": {"hello\nworld"}}
	for k, v := range q {
		nq[k] = v
	}
	if code, b := e.do(a, "PUT", "admin/datastore/store1/notes", nq, nil); code != 200 {
		t.Fatalf("put notes: %d %s", code, b)
	}
	if code, b := e.do(a, "GET", "admin/datastore/store1/notes", q, nil); code != 200 || !strings.Contains(string(b), `hello\nworld`) {
		t.Fatalf("get notes: %d %s", code, b)
	}
	if s := snapshotsOf(t, e, a); s[0]["comment"] != "hello" {
		t.Fatalf("comment: %v", s[0])
	}
	// user -> own token is allowed; user -> other user is not.
	body, _ := json.Marshal(map[string]any{"backup-type": "host", "backup-id": "elsa", "new-owner": "bob@pbs"})
	if code, _ := e.do(a, "POST", "admin/datastore/store1/change-owner", nil, bytes.NewReader(body)); code != 401 {
		t.Fatalf("change owner to bob: %d", code)
	}
	body, _ = json.Marshal(map[string]any{"backup-type": "host", "backup-id": "elsa", "new-owner": "alice@pbs!t1"})
	if code, b := e.do(a, "POST", "admin/datastore/store1/change-owner", nil, bytes.NewReader(body)); code != 200 {
		t.Fatalf("change owner to token: %d %s", code, b)
	}
	// The user still owns the group through its token.
	fullBackup(t, e, a, "elsa", 1700000100, [][]byte{[]byte("y")})
	if s := snapshotsOf(t, e, a); len(s) != 2 || s[1]["owner"] != "alice@pbs!t1" {
		t.Fatalf("snapshots: %v", s)
	}
}
