// Package server is cairn's Proxmox-Backup-Server compatible HTTPS server:
// ticket and API-token authentication, ACLs, the admin REST API, the task
// API and the HTTP/2 backup and reader protocols (spec/protocol.md).
package server

import (
	"context"
	"crypto/ed25519"
	"crypto/tls"
	"encoding/json"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"os"
	"strings"
	"sync"
	"time"

	"cairn/core/datastore"
	"cairn/net/server/config"
)

// Options configure a Server.
type Options struct {
	// ConfigDir holds the configuration (config package).
	ConfigDir string
	// Log receives the request and error log; nil means stderr.
	Log io.Writer
	// AuthFailDelay: a failed authentication is answered this long after
	// the request started (upstream: 3 s). Negative means no delay.
	AuthFailDelay time.Duration
	// PermFailDelay: the same for permission failures (upstream: 0.5 s).
	PermFailDelay time.Duration
	// Clock, when set, replaces the clock of every datastore the server
	// opens (datastore.SetClock): a test hook that ages an S3 datastore's
	// chunks for garbage collection without waiting a day.
	Clock func() time.Time
	// Limits bound the sessions and memory one user can hold (limits.go).
	Limits Limits
}

// Server serves datastores over HTTPS.
type Server struct {
	opts    Options
	log     *log.Logger
	authKey ed25519.PrivateKey
	csrfKey []byte
	cert    tls.Certificate

	mux        *http.ServeMux // the API's routes (routes.go)
	limiter    loginLimiter
	tokenCache tokenCache
	tasks      *taskList
	slots      sessionSlots // session caps (limits.go)

	mu       sync.Mutex
	httpSrv  *http.Server
	sessions map[*session]struct{}
	closing  bool
	wg       sync.WaitGroup
}

// New loads (creating if needed) the keys and the certificate.
func New(opts Options) (*Server, error) {
	if opts.ConfigDir == "" {
		return nil, fmt.Errorf("no config directory")
	}
	if opts.AuthFailDelay == 0 {
		opts.AuthFailDelay = 3 * time.Second
	}
	if opts.PermFailDelay == 0 {
		opts.PermFailDelay = 500 * time.Millisecond
	}
	if opts.Log == nil {
		opts.Log = os.Stderr
	}
	if err := os.MkdirAll(opts.ConfigDir, 0o700); err != nil {
		return nil, err
	}
	// Every line goes through logWriter, which escapes control characters
	// (logsafe.go): no logged value can plant a line.
	s := &Server{opts: opts, log: log.New(logWriter{opts.Log}, "", log.LstdFlags), sessions: map[*session]struct{}{}, tasks: newTaskList()}
	s.mux = s.routes()
	var err error
	if s.authKey, err = config.AuthKey(opts.ConfigDir); err != nil {
		return nil, err
	}
	if s.csrfKey, err = config.CSRFKey(opts.ConfigDir); err != nil {
		return nil, err
	}
	if s.cert, err = config.Certificate(opts.ConfigDir); err != nil {
		return nil, err
	}
	if _, err := config.Load(opts.ConfigDir); err != nil {
		return nil, err
	}
	return s, nil
}

// Fingerprint is the server certificate's SHA-256 fingerprint.
func (s *Server) Fingerprint() string { return config.Fingerprint(s.cert.Certificate[0]) }

func (s *Server) logf(format string, args ...any) { s.log.Printf(format, args...) }

func (s *Server) config() (*config.Config, error) { return config.Load(s.opts.ConfigDir) }

// TLSConfig is the server's TLS configuration: TLS 1.2+, HTTP/1.1 only
// (HTTP/2 is reached through the protocol upgrade, protocol.md 3.2).
func (s *Server) TLSConfig() *tls.Config {
	return &tls.Config{
		Certificates: []tls.Certificate{s.cert},
		MinVersion:   tls.VersionTLS12,
		NextProtos:   []string{"http/1.1"},
	}
}

// Serve accepts TLS connections on ln until Shutdown.
func (s *Server) Serve(ln net.Listener) error {
	hs := &http.Server{
		Handler:           s,
		ReadHeaderTimeout: 120 * time.Second,
		IdleTimeout:       5 * time.Minute,
		TLSNextProto:      map[string]func(*http.Server, *tls.Conn, http.Handler){},
		ErrorLog:          s.log,
		MaxHeaderBytes:    64 << 10,
	}
	s.mu.Lock()
	if s.closing {
		s.mu.Unlock()
		return http.ErrServerClosed
	}
	s.httpSrv = hs
	s.mu.Unlock()
	// hostListener: HTTP/1.1 requests without a Host header are accepted,
	// as upstream accepts them (hostconn.go).
	return hs.Serve(hostListener{tls.NewListener(tcpKeepAlive{ln}, s.TLSConfig())})
}

type tcpKeepAlive struct{ net.Listener }

func (l tcpKeepAlive) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	if tc, ok := c.(*net.TCPConn); ok {
		tc.SetKeepAlive(true)
		tc.SetKeepAlivePeriod(120 * time.Second)
		tc.SetNoDelay(true)
	}
	return c, nil
}

// Shutdown stops accepting requests, aborts running backup and reader
// sessions (an unfinished backup is removed) and waits for them.
func (s *Server) Shutdown(ctx context.Context) error {
	s.mu.Lock()
	s.closing = true
	hs := s.httpSrv
	for sess := range s.sessions {
		sess.conn.Close()
	}
	s.mu.Unlock()
	var err error
	if hs != nil {
		err = hs.Shutdown(ctx)
	}
	done := make(chan struct{})
	go func() { s.wg.Wait(); close(done) }()
	select {
	case <-done:
	case <-ctx.Done():
		if err == nil {
			err = ctx.Err()
		}
	}
	return err
}

// statusRecorder remembers the status for the request log.
type statusRecorder struct {
	http.ResponseWriter
	status int
}

func (r *statusRecorder) WriteHeader(code int) {
	if r.status == 0 {
		r.status = code
	}
	r.ResponseWriter.WriteHeader(code)
}

func (r *statusRecorder) Write(b []byte) (int, error) {
	if r.status == 0 {
		r.status = http.StatusOK
	}
	return r.ResponseWriter.Write(b)
}

// Unwrap lets http.ResponseController reach the connection (Hijack).
func (r *statusRecorder) Unwrap() http.ResponseWriter { return r.ResponseWriter }

// ServeHTTP serves /api2/json/... requests (routes.go).
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	start := time.Now()
	rec := &statusRecorder{ResponseWriter: w}
	defer func() {
		if v := recover(); v != nil {
			s.logf("panic serving %s %s: %v", r.Method, logEscape(r.URL.Path, maxLoggedPath), v)
			if rec.status == 0 {
				writeError(rec, errorf(http.StatusInternalServerError, "internal error"))
			}
		}
		if rec.status != 0 {
			s.logf("%s %s %s -> %d (%s)", r.RemoteAddr, r.Method, logEscape(r.URL.Path, maxLoggedPath), rec.status, time.Since(start).Round(time.Millisecond))
		}
	}()
	s.route(rec, r, start)
}

// reqCtx is one authenticated request.
type reqCtx struct {
	s     *Server
	cfg   *config.Config
	id    *identity
	r     *http.Request
	w     http.ResponseWriter
	start time.Time
}

func (c *reqCtx) reply(data any, err error) {
	if err != nil {
		if statusOf(err) == http.StatusForbidden {
			c.s.sleepUntil(c.start, c.s.opts.PermFailDelay)
		}
		writeError(c.w, err)
		return
	}
	writeData(c.w, data, nil)
}

func writeJSON(w http.ResponseWriter, v any) {
	b, _ := json.Marshal(v)
	w.Header().Set("Content-Type", jsonContentType)
	w.WriteHeader(http.StatusOK)
	w.Write(b)
}

// openStore opens a configured datastore with the caller as owner for new groups.
func (c *reqCtx) openStore(store string) (*datastore.Datastore, error) {
	if !config.ValidSafeID(store) {
		return nil, badRequest("invalid datastore name %q", store)
	}
	dsc, ok := c.cfg.Datastores[store]
	if !ok {
		return nil, errorf(http.StatusNotFound, "datastore '%s' does not exist", store)
	}
	ds, err := OpenDatastore(c.cfg, store, dsc, c.id.authID)
	if err != nil {
		return nil, errorf(http.StatusServiceUnavailable, "datastore '%s' is not available - %v", store, err)
	}
	if c.s.opts.Clock != nil {
		ds.SetClock(c.s.opts.Clock)
	}
	return ds, nil
}

// OpenDatastore opens a configured datastore on its backend: a directory, or
// an S3 bucket (datastore.OpenS3 with the endpoint's settings and
// credentials; errors never carry the credentials). owner is recorded for
// groups created through the handle.
func OpenDatastore(cfg *config.Config, name string, dsc config.Datastore, owner string) (*datastore.Datastore, error) {
	var ds *datastore.Datastore
	var err error
	switch dsc.Backend {
	case "", config.BackendFilesystem:
		ds, err = datastore.Open(dsc.Path, owner)
	case config.BackendS3:
		s3, cerr := cfg.S3Config(dsc)
		if cerr != nil {
			return nil, cerr
		}
		ds, err = datastore.OpenS3(s3, owner)
	default:
		return nil, fmt.Errorf("datastore '%s' has an unknown backend %q", name, dsc.Backend)
	}
	if err != nil {
		return nil, err
	}
	// Task ids and logs name the store as configured, as upstream's do.
	ds.SetStoreName(name)
	return ds, nil
}

// privs returns the caller's privileges on a datastore/namespace path.
func (c *reqCtx) privs(store, ns string) config.Privs {
	return c.cfg.Privileges(c.id.authID, config.DatastoreACLPath(store, ns))
}

func permDenied(path string, privs ...string) error {
	return errorf(http.StatusForbidden, "permission check failed - missing %s on %s", strings.Join(privs, "|"), path)
}

// isOwner: the caller is the owner, or the owner is one of the caller's tokens.
func isOwner(authID, owner string) bool {
	if owner == authID {
		return true
	}
	user, tok, _ := strings.Cut(owner, "!")
	return tok != "" && user == authID
}

// The version GET /api2/json/version reports. Upstream splits its package
// version: "version" is MAJOR.MINOR and "release" the patch level, and the
// client prints "server version: <version>.<release>". cairn serves the API
// of upstream 4.1.1 (protocol.md 0: backend-type, S3 datastores), a superset
// of what the 3.2.x clients use; none of those compares the server version,
// while newer clients may, so it claims 4.1.1 rather than 3.2.x.
const (
	serverVersion = "4.1"
	serverRelease = "1"
)
