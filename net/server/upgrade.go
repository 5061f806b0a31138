package server

import (
	"bufio"
	"fmt"
	"net"
	"net/http"
	"sync"
	"time"

	"cairn/core/datastore"
)

// Protocol names of the two HTTP/2 session upgrades.
const (
	BackupProtocol = "proxmox-backup-protocol-v1"
	ReaderProtocol = "proxmox-backup-reader-protocol-v1"
)

// session is one upgraded connection (backup or reader).
type session struct {
	conn net.Conn
}

// bufConn is a hijacked connection whose first bytes may sit in a
// bufio.Reader. It is never a *tls.Conn, nor has a ConnectionState method,
// even on a TLS connection: net/http serves it HTTP/2 with prior knowledge
// (a *tls.Conn would get ALPN and HTTP/1.1).
type bufConn struct {
	net.Conn
	r *bufio.Reader
}

func (c *bufConn) Read(p []byte) (int, error) { return c.r.Read(p) }

// upgrade answers 101 and returns the raw connection for HTTP/2.
func (c *reqCtx) upgrade(protocol string) (net.Conn, error) {
	conn, brw, err := http.NewResponseController(c.w).Hijack()
	if err != nil {
		return nil, err
	}
	conn.SetDeadline(time.Time{})
	fmt.Fprintf(brw.Writer, "HTTP/1.1 101 Switching Protocols\r\nConnection: upgrade\r\nUpgrade: %s\r\n\r\n", protocol)
	if err := brw.Writer.Flush(); err != nil {
		conn.Close()
		return nil, err
	}
	if rec, ok := c.w.(*statusRecorder); ok {
		rec.status = http.StatusSwitchingProtocols
	}
	return &bufConn{Conn: conn, r: brw.Reader}, nil
}

// checkUpgrade validates the Upgrade header of a session request.
func checkUpgrade(r *http.Request, protocol string) error {
	if r.ProtoMajor >= 2 {
		return badRequest("unexpected http version '%s' (expected version < 2)", r.Proto)
	}
	up := r.Header.Get("Upgrade")
	if up == "" {
		return badRequest("missing Upgrade header")
	}
	if up != protocol {
		return badRequest("invalid protocol name")
	}
	return nil
}

// HTTP/2 settings of a session: large windows for chunk uploads, frames of
// up to 4 MiB, at most 256 requests in flight.
var sessionH2 = http.HTTP2Config{
	MaxReceiveBufferPerConnection: 32 << 20,
	MaxReceiveBufferPerStream:     32 << 20,
	MaxReadFrameSize:              4 << 20,
	MaxConcurrentStreams:          256,
}

// openSession starts a backup or reader upgrade: a session slot before
// anything is opened (limits.go), then the store. The handler defers
// slot.releaseUnlessServing: serveSession releases it when the session
// ends.
func (s *Server) openSession(c *reqCtx, store string) (*sessionSlot, *datastore.Datastore, error) {
	slot, err := s.acquireSession(c.id.authID)
	if err != nil {
		return nil, nil, err
	}
	ds, err := c.openStore(store)
	if err != nil {
		slot.release()
		return nil, nil, err
	}
	return slot, ds, nil
}

// serveSession serves an upgraded backup or reader connection in the
// background until it ends (an aborted task closes it), then runs end and
// releases the session slot.
func (s *Server) serveSession(conn net.Conn, h http.Handler, t *task, slot *sessionSlot, end func()) {
	slot.serving = true
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		defer slot.release()
		stop := make(chan struct{})
		go func() {
			select {
			case <-t.abort:
				conn.Close()
			case <-stop:
			}
		}()
		s.serveH2(conn, h)
		close(stop)
		end()
	}()
}

// recoverRequest, deferred by a session's ServeHTTP, answers a request that
// panicked with 500 and logs the panic to the session's task;
// http.ErrAbortHandler goes on up.
func recoverRequest(t *task, w http.ResponseWriter, r *http.Request) {
	if v := recover(); v != nil {
		if v == http.ErrAbortHandler {
			panic(v)
		}
		t.debugf("panic in %s %s: %v", r.Method, r.URL.Path, v)
		writeError(w, errorf(http.StatusInternalServerError, "internal error"))
	}
}

// requestName is a session request's path (below the session), logged
// to the task in debug mode.
func requestName(t *task, debug bool, r *http.Request) string {
	name := trimPath(r.URL.Path)
	if debug {
		t.debugf("%s %s", r.Method, name)
	}
	return name
}

// serveH2 runs HTTP/2 on an upgraded connection until it ends: an
// http.Server that speaks only HTTP/2 with prior knowledge, on a listener
// of that one connection, closed (and the server with it) once the
// connection is. A session idle for Limits.SessionIdleTimeout is closed.
func (s *Server) serveH2(conn net.Conn, h http.Handler) {
	defer conn.Close()
	sess := &session{conn: conn}
	if !s.addSession(sess) {
		return
	}
	defer s.dropSession(sess)
	l := newOneConnListener(conn)
	var protos http.Protocols
	protos.SetUnencryptedHTTP2(true)
	h2 := sessionH2
	hs := &http.Server{
		Handler:     h,
		Protocols:   &protos,
		HTTP2:       &h2,
		IdleTimeout: s.limits().SessionIdleTimeout,
		ErrorLog:    s.log,
		ConnState: func(_ net.Conn, st http.ConnState) {
			if st == http.StateClosed || st == http.StateHijacked {
				l.Close()
			}
		},
	}
	hs.Serve(l)
	hs.Close()
}

// addSession registers a session, so that Shutdown closes it; a closing
// server takes none.
func (s *Server) addSession(sess *session) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closing {
		return false
	}
	s.sessions[sess] = struct{}{}
	return true
}

func (s *Server) dropSession(sess *session) {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.sessions, sess)
}

// oneConnListener is a net.Listener that yields one connection, then
// waits until it is closed.
type oneConnListener struct {
	conn   net.Conn
	mu     sync.Mutex
	taken  bool
	closed chan struct{}
	once   sync.Once
}

func newOneConnListener(c net.Conn) *oneConnListener {
	return &oneConnListener{conn: c, closed: make(chan struct{})}
}

func (l *oneConnListener) Accept() (net.Conn, error) {
	l.mu.Lock()
	first := !l.taken
	l.taken = true
	l.mu.Unlock()
	if first {
		select {
		case <-l.closed:
		default:
			return l.conn, nil
		}
	}
	<-l.closed
	return nil, net.ErrClosed
}

func (l *oneConnListener) Close() error {
	l.once.Do(func() { close(l.closed) })
	return nil
}

func (l *oneConnListener) Addr() net.Addr { return l.conn.LocalAddr() }
