package client

import (
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
	"net/http/httptest"
	"os"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"cairn/core"
	"cairn/core/datastore"
	"cairn/core/index"
)

// fakeServer implements just enough of the PBS API over a local datastore
// to exercise the client: tickets, listings, backup and reader sessions.
type fakeServer struct {
	t      *testing.T
	ds     *datastore.Datastore
	ns     core.Namespace
	srv    *httptest.Server
	fp     string
	users  map[string]string
	logins atomic.Int32
	// uploads counts chunk uploads over all sessions.
	uploads atomic.Int32
	appends atomic.Int32
	// failChunk, when set, makes the chunk upload with that number (1 =
	// the first of the server's life) fail.
	failChunk atomic.Int32
	chunkNo   atomic.Int32
	// maxStreams limits concurrent HTTP/2 streams per session (0: Go's 250).
	maxStreams uint32
	mu         sync.Mutex
	tickets    map[string]string // ticket → user
}

// All tests share one datastore, each in its own namespace, as clients of
// one server do.
var (
	sharedOnce sync.Once
	sharedDS   *datastore.Datastore
	sharedErr  error
	nsCounter  atomic.Int32
)

func newFakeServer(t *testing.T) *fakeServer {
	sharedOnce.Do(func() {
		dir, err := os.MkdirTemp("", "cairn-client-test")
		if err != nil {
			sharedErr = err
			return
		}
		if sharedErr = datastore.Create(dir); sharedErr == nil {
			sharedDS, sharedErr = datastore.Open(dir, "alice@pbs")
		}
	})
	if sharedErr != nil {
		t.Fatal(sharedErr)
	}
	ns := core.Namespace(fmt.Sprintf("%s_%d", strings.NewReplacer("/", "_").Replace(t.Name()), nsCounter.Add(1)))
	if err := sharedDS.CreateNamespace(ns); err != nil {
		t.Fatal(err)
	}
	f := &fakeServer{t: t, ds: sharedDS, ns: ns, users: map[string]string{"alice@pbs": "alice-pw"}, tickets: map[string]string{}}
	f.srv = httptest.NewTLSServer(http.HandlerFunc(f.serve))
	f.fp = Fingerprint(f.srv.Certificate().Raw)
	t.Cleanup(func() { f.srv.Close() })
	return f
}

func (f *fakeServer) spec(user string) core.RepoSpec {
	addr := f.srv.Listener.Addr().String()
	i := strings.LastIndexByte(addr, ':')
	port, _ := strconv.Atoi(addr[i+1:])
	return core.RepoSpec{AuthID: user, Host: addr[:i], Port: port, Store: "store1"}
}

func writeData(w http.ResponseWriter, v any) {
	w.Header().Set("Content-Type", "application/json;charset=UTF-8")
	json.NewEncoder(w).Encode(map[string]any{"data": v})
}

func httpErr(w http.ResponseWriter, code int, msg string) {
	w.Header().Set("Content-Type", "application/json;charset=UTF-8")
	w.WriteHeader(code)
	io.WriteString(w, msg)
}

func (f *fakeServer) user(r *http.Request) (string, bool) {
	ck, err := r.Cookie("PBSAuthCookie")
	if err != nil {
		return "", false
	}
	f.mu.Lock()
	u, ok := f.tickets[ck.Value]
	f.mu.Unlock()
	if !ok {
		return "", false
	}
	if r.Method != http.MethodGet && r.Header.Get("CSRFPreventionToken") != "csrf-"+u {
		return "", false
	}
	return u, true
}

func (f *fakeServer) serve(w http.ResponseWriter, r *http.Request) {
	if r.Header.Get("User-Agent") != UserAgent {
		httpErr(w, 400, "bad user agent")
		return
	}
	p := strings.TrimPrefix(r.URL.Path, "/api2/json/")
	if p == "access/ticket" && r.Method == http.MethodPost {
		var body map[string]string
		json.NewDecoder(r.Body).Decode(&body)
		u, pw := body["username"], body["password"]
		f.mu.Lock()
		okTicket := f.tickets[pw] == u
		f.mu.Unlock()
		if want, ok := f.users[u]; !ok || (pw != want && !okTicket) {
			httpErr(w, 401, "permission check failed.")
			return
		}
		f.logins.Add(1)
		ticket := fmt.Sprintf("PBS:%s:%08X::sig%d", u, time.Now().Unix(), f.logins.Load())
		f.mu.Lock()
		f.tickets[ticket] = u
		f.mu.Unlock()
		writeData(w, map[string]any{"username": u, "ticket": ticket, "CSRFPreventionToken": "csrf-" + u})
		return
	}
	user, ok := f.user(r)
	if !ok {
		httpErr(w, 401, "authentication failed")
		return
	}
	q := r.URL.Query()
	switch p {
	case "backup":
		f.backupSession(w, r, user)
		return
	case "reader":
		f.readerSession(w, r)
		return
	case "version":
		writeData(w, map[string]any{"version": "4.1.1", "release": "1"})
		return
	case "admin/datastore/store1/snapshots":
		var g *core.Group
		if q.Get("backup-type") != "" {
			g = &core.Group{Type: core.BackupType(q.Get("backup-type")), ID: q.Get("backup-id")}
		}
		list, err := f.ds.ListSnapshots(core.Namespace(q.Get("ns")), g)
		if err != nil {
			httpErr(w, 404, err.Error())
			return
		}
		items := []map[string]any{}
		for _, s := range list {
			m := map[string]any{"backup-type": s.Snapshot.Type, "backup-id": s.Snapshot.ID, "backup-time": s.Snapshot.Time,
				"files": s.Files, "owner": s.Owner, "protected": s.Protected}
			if s.HasSize {
				m["size"] = s.Size
			}
			items = append(items, m)
		}
		writeData(w, items)
		return
	case "admin/datastore/store1/change-owner":
		// PBS 3.2.4 answers a user without the right with 401, not 403.
		var body map[string]any
		json.NewDecoder(r.Body).Decode(&body)
		httpErr(w, 401, fmt.Sprintf("%s does not have permission to change owner of backup group '%s/%s' to %s",
			user, body["backup-type"], body["backup-id"], body["new-owner"]))
		return
	case "admin/datastore/store1/groups":
		list, _ := f.ds.ListGroups(core.Namespace(q.Get("ns")))
		items := []map[string]any{}
		for _, g := range list {
			items = append(items, map[string]any{"backup-type": g.Group.Type, "backup-id": g.Group.ID, "last-backup": g.LastBackup,
				"backup-count": g.BackupCount, "files": g.Files, "owner": g.Owner})
		}
		writeData(w, items)
		return
	}
	httpErr(w, 404, fmt.Sprintf("Path '%s' not found.", r.URL.Path))
}

// upgrade answers 101 and serves HTTP/2 on the hijacked connection.
// maxStreams is the server's SETTINGS_MAX_CONCURRENT_STREAMS (0: Go's 250).
func upgrade(w http.ResponseWriter, r *http.Request, proto string, h http.Handler, maxStreams uint32) {
	if r.Header.Get("Upgrade") != proto {
		httpErr(w, 400, "invalid protocol name")
		return
	}
	conn, brw, err := w.(http.Hijacker).Hijack()
	if err != nil {
		return
	}
	defer conn.Close()
	fmt.Fprintf(brw, "HTTP/1.1 101 Switching Protocols\r\nConnection: upgrade\r\nUpgrade: %s\r\n\r\n", proto)
	brw.Flush()
	var nc net.Conn = conn
	if brw.Reader.Buffered() > 0 {
		nc = &bufferedConn{Conn: conn, r: brw.Reader}
	}
	var protocols http.Protocols
	protocols.SetUnencryptedHTTP2(true)
	srv := &http.Server{Handler: h, Protocols: &protocols, HTTP2: &http.HTTP2Config{MaxReadFrameSize: 4 << 20,
		MaxReceiveBufferPerConnection: 32 << 20, MaxReceiveBufferPerStream: 32 << 20, MaxConcurrentStreams: int(maxStreams)}}
	srv.Serve(newOneConnListener(nc))
}

// oneConnListener hands out one connection, then blocks until that
// connection is closed, so http.Server.Serve serves it and returns.
// The connection is wrapped so the server does not take the upgraded TLS
// connection for one that negotiates its protocol.
type oneConnListener struct {
	conn   chan net.Conn
	closed chan struct{}
	once   sync.Once
	addr   net.Addr
}

func newOneConnListener(c net.Conn) *oneConnListener {
	l := &oneConnListener{conn: make(chan net.Conn, 1), closed: make(chan struct{}), addr: c.LocalAddr()}
	l.conn <- &closeNotifyConn{Conn: c, done: l.close}
	return l
}

func (l *oneConnListener) Accept() (net.Conn, error) {
	select {
	case c := <-l.conn:
		return c, nil
	case <-l.closed:
		return nil, net.ErrClosed
	}
}

func (l *oneConnListener) close()         { l.once.Do(func() { close(l.closed) }) }
func (l *oneConnListener) Close() error   { l.close(); return nil }
func (l *oneConnListener) Addr() net.Addr { return l.addr }

// closeNotifyConn closes its listener when it is closed.
type closeNotifyConn struct {
	net.Conn
	done func()
}

func (c *closeNotifyConn) Close() error {
	err := c.Conn.Close()
	c.done()
	return err
}

func parseSnap(q map[string][]string) core.Snapshot {
	get := func(k string) string {
		if v := q[k]; len(v) > 0 {
			return v[0]
		}
		return ""
	}
	t, _ := strconv.ParseInt(get("backup-time"), 10, 64)
	return core.Snapshot{Group: core.Group{Type: core.BackupType(get("backup-type")), ID: get("backup-id")}, Time: t}
}

type fakeWriter struct {
	name    string
	dynamic bool
	size    uint64 // fixed: image size
	digests [][32]byte
	ends    []uint64
	offset  uint64
}

func (f *fakeServer) backupSession(w http.ResponseWriter, r *http.Request, user string) {
	q := r.URL.Query()
	if q.Get("store") != "store1" || q.Get("benchmark") != "false" {
		httpErr(w, 400, "bad store/benchmark")
		return
	}
	snap := parseSnap(q)
	bw, err := f.ds.StartBackup(r.Context(), core.BackupOptions{Namespace: core.Namespace(q.Get("ns")), Snapshot: snap, Owner: user})
	if err != nil {
		code := 400
		if strings.Contains(err.Error(), "owner") {
			code = 403
		}
		httpErr(w, code, err.Error())
		return
	}
	var mu sync.Mutex
	known := map[[32]byte]uint64{}
	writers := map[int]*fakeWriter{}
	nextWid := 1
	finished := false
	var manifest []byte
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		q := r.URL.Query()
		body, _ := io.ReadAll(r.Body) // never read under the lock
		r.Body = io.NopCloser(bytes.NewReader(body))
		mu.Lock()
		defer mu.Unlock()
		switch r.Method + " " + r.URL.Path {
		case "GET /previous_backup_time":
			prev, _ := bw.Previous()
			if prev == nil {
				writeData(w, nil)
				return
			}
			writeData(w, prev.Snapshot().Time)
		case "GET /previous":
			prev, _ := bw.Previous()
			if prev == nil {
				httpErr(w, 400, "no valid previous backup")
				return
			}
			name := q.Get("archive-name")
			data, err := prev.ReadFile(name)
			if err != nil {
				httpErr(w, 404, err.Error())
				return
			}
			if strings.HasSuffix(name, "idx") {
				idx, _ := index.Open(data)
				for i := 0; i < idx.Count(); i++ {
					s, e := idx.ChunkRange(i)
					known[idx.ChunkDigest(i)] = e - s
				}
			}
			w.Header().Set("Content-Type", "application/octet-stream")
			w.Write(data)
		case "POST /dynamic_index", "POST /fixed_index":
			fw := &fakeWriter{name: q.Get("archive-name"), dynamic: r.URL.Path == "/dynamic_index"}
			fw.size, _ = strconv.ParseUint(q.Get("size"), 10, 64)
			writers[nextWid] = fw
			writeData(w, nextWid)
			nextWid++
		case "POST /dynamic_chunk", "POST /fixed_chunk":
			wid, _ := strconv.Atoi(q.Get("wid"))
			if writers[wid] == nil {
				httpErr(w, 400, fmt.Sprintf("dynamic writer '%d' not registered", wid))
				return
			}
			if n := f.chunkNo.Add(1); n == f.failChunk.Load() {
				httpErr(w, 400, "injected chunk failure")
				return
			}
			es, _ := strconv.Atoi(q.Get("encoded-size"))
			size, _ := strconv.ParseUint(q.Get("size"), 10, 64)
			if es != len(body) {
				httpErr(w, 400, "uploaded chunk has unexpected size.")
				return
			}
			var dg [32]byte
			hex.Decode(dg[:], []byte(q.Get("digest")))
			mu.Unlock()
			_, _, err := bw.UploadChunk(dg, size, func() ([]byte, error) { return body, nil })
			mu.Lock()
			if err != nil {
				httpErr(w, 400, err.Error())
				return
			}
			f.uploads.Add(1)
			known[dg] = size
			writeData(w, q.Get("digest"))
		case "PUT /dynamic_index", "PUT /fixed_index":
			var body struct {
				Wid     int      `json:"wid"`
				Digests []string `json:"digest-list"`
				Offsets []uint64 `json:"offset-list"`
			}
			if r.Header.Get("Content-Type") != "application/json" {
				httpErr(w, 400, "append wants JSON")
				return
			}
			// PBS 3.2.4 (proxmox-rest-server) refuses parameter bodies of
			// 64 KiB or more.
			raw, _ := io.ReadAll(io.LimitReader(r.Body, 64<<10))
			if len(raw) >= 64<<10 {
				httpErr(w, 400, "Request body too large")
				return
			}
			json.Unmarshal(raw, &body)
			fw := writers[body.Wid]
			if fw == nil || len(body.Digests) != len(body.Offsets) {
				httpErr(w, 400, "bad append")
				return
			}
			f.appends.Add(1)
			for i, h := range body.Digests {
				var dg [32]byte
				hex.Decode(dg[:], []byte(h))
				size, ok := known[dg]
				if !ok {
					httpErr(w, 400, "no such chunk "+h)
					return
				}
				if fw.dynamic {
					if body.Offsets[i] != fw.offset {
						httpErr(w, 400, "got strange chunk offset")
						return
					}
					fw.offset += size
					fw.ends = append(fw.ends, fw.offset)
				}
				fw.digests = append(fw.digests, dg)
			}
			writeData(w, nil)
		case "POST /dynamic_close", "POST /fixed_close":
			wid, _ := strconv.Atoi(q.Get("wid"))
			fw := writers[wid]
			if fw == nil {
				httpErr(w, 400, "no writer")
				return
			}
			var data []byte
			var csum [32]byte
			if fw.dynamic {
				d := &index.Dynamic{Ends: fw.ends, Digests: fw.digests, Ctime: time.Now().Unix()}
				data, csum = d.Encode(), d.Csum()
			} else {
				fx := &index.Fixed{ImageSize: fw.size, ChunkSize: 4 << 20, Digests: fw.digests, Ctime: time.Now().Unix()}
				data, csum = fx.Encode(), fx.Csum()
			}
			if q.Get("csum") != hex.EncodeToString(csum[:]) || q.Get("chunk-count") != strconv.Itoa(len(fw.digests)) {
				httpErr(w, 400, "got unexpected checksum")
				return
			}
			if err := bw.WriteFile(fw.name, data); err != nil {
				httpErr(w, 400, err.Error())
				return
			}
			delete(writers, wid)
			writeData(w, nil)
		case "POST /blob":
			name := q.Get("file-name")
			if name == "index.json.blob" {
				manifest = body
			} else if err := bw.WriteFile(name, body); err != nil {
				httpErr(w, 400, err.Error())
				return
			}
			writeData(w, nil)
		case "POST /finish":
			if len(writers) > 0 {
				httpErr(w, 400, "found open index writer - unable to finish backup")
				return
			}
			if err := bw.Finish(manifest); err != nil {
				httpErr(w, 400, err.Error())
				return
			}
			finished = true
			writeData(w, nil)
		default:
			httpErr(w, 404, "not found: "+r.URL.Path)
		}
	})
	upgrade(w, r, BackupProtocol, h, f.maxStreams)
	if !finished {
		bw.Abort()
	}
}

func (f *fakeServer) readerSession(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	rd, err := f.ds.OpenSnapshot(r.Context(), core.Namespace(q.Get("ns")), parseSnap(q))
	if err != nil {
		httpErr(w, 404, err.Error())
		return
	}
	defer rd.Close()
	var mu sync.Mutex
	allowed := map[string]bool{}
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		q := r.URL.Query()
		switch r.URL.Path {
		case "/download":
			name := q.Get("file-name")
			data, err := rd.ReadFile(name)
			if err != nil {
				httpErr(w, 404, "open file failed - not found")
				return
			}
			if strings.HasSuffix(name, "idx") {
				idx, _ := index.Open(data)
				mu.Lock()
				for i := 0; i < idx.Count(); i++ {
					d := idx.ChunkDigest(i)
					allowed[hex.EncodeToString(d[:])] = true
				}
				mu.Unlock()
			}
			w.Write(data)
		case "/chunk":
			h := q.Get("digest")
			mu.Lock()
			ok := allowed[h]
			mu.Unlock()
			if !ok {
				httpErr(w, 401, "download chunk "+h+" not allowed")
				return
			}
			var dg [32]byte
			hex.Decode(dg[:], []byte(h))
			data, err := rd.ReadChunk(dg)
			if err != nil {
				httpErr(w, 404, err.Error())
				return
			}
			w.Write(data)
		default:
			httpErr(w, 404, "not found")
		}
	})
	upgrade(w, r, ReaderProtocol, h, f.maxStreams)
}

// quiet is an io.Writer dropping client messages.
type quiet struct{}

func (quiet) Write(p []byte) (int, error) { return len(p), nil }

var _ = sha256.Sum256
var _ = tls.VersionTLS12
var _ = context.Background
