package client

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"
)

// Protocol names of the two upgraded sessions.
const (
	BackupProtocol = "proxmox-backup-protocol-v1"
	ReaderProtocol = "proxmox-backup-reader-protocol-v1"
)

// Session is an HTTP/2 session over an upgraded connection (protocol.md 3.2).
type Session struct {
	conn  net.Conn
	cc    *http.ClientConn
	watch *watchConn
}

// watchConn remembers the first read or write error of the connection, so
// a dead session reports why it died ("connection reset by peer") rather
// than what a later request saw ("client conn not usable").
type watchConn struct {
	net.Conn
	mu     sync.Mutex
	first  error
	closed bool
}

func (w *watchConn) note(err error) {
	if err == nil {
		return
	}
	w.mu.Lock()
	if w.first == nil && !w.closed {
		w.first = err
	}
	w.mu.Unlock()
}

func (w *watchConn) Read(p []byte) (int, error) {
	n, err := w.Conn.Read(p)
	w.note(err)
	return n, err
}

func (w *watchConn) Write(p []byte) (int, error) {
	n, err := w.Conn.Write(p)
	w.note(err)
	return n, err
}

func (w *watchConn) Close() error {
	w.mu.Lock()
	w.closed = true
	w.mu.Unlock()
	return w.Conn.Close()
}

// lost is the first connection error, if the connection broke.
func (w *watchConn) lost() error {
	w.mu.Lock()
	defer w.mu.Unlock()
	// note ignores errors after our own Close, so first is a real break
	// even if the session was closed afterwards because of it.
	return w.first
}

// Upgrade opens a new TLS connection, sends GET /api2/json/<path>?query with
// Upgrade: protocol, expects 101 and starts HTTP/2 on the same stream.
func (c *Client) Upgrade(ctx context.Context, path, protocol string, q url.Values) (*Session, error) {
	if err := c.ensureAuth(ctx); err != nil {
		return nil, err
	}
	conn, err := c.dialTLS(ctx)
	if err != nil {
		return nil, unwrapURLError(err)
	}
	s, err := c.upgradeOn(ctx, conn, path, protocol, q)
	if err != nil {
		conn.Close()
		return nil, err
	}
	return s, nil
}

func (c *Client) upgradeOn(ctx context.Context, conn net.Conn, path, protocol string, q url.Values) (*Session, error) {
	target := "/api2/json/" + path + "?" + q.Encode()
	h := http.Header{}
	c.authorize(h)
	var b strings.Builder
	fmt.Fprintf(&b, "GET %s HTTP/1.1\r\n", target)
	fmt.Fprintf(&b, "Host: %s\r\n", c.addr)
	b.WriteString("Content-Type: application/x-www-form-urlencoded\r\n")
	b.WriteString("Connection: upgrade\r\n")
	fmt.Fprintf(&b, "Upgrade: %s\r\n", protocol)
	for k, vs := range h {
		for _, v := range vs {
			fmt.Fprintf(&b, "%s: %s\r\n", k, v)
		}
	}
	b.WriteString("\r\n")
	deadline := time.Now().Add(requestTimeout)
	if d, ok := ctx.Deadline(); ok && d.Before(deadline) {
		deadline = d
	}
	conn.SetDeadline(deadline)
	if _, err := io.WriteString(conn, b.String()); err != nil {
		return nil, fmt.Errorf("send %s upgrade: %w", path, err)
	}
	br := bufio.NewReader(conn)
	resp, err := http.ReadResponse(br, &http.Request{Method: http.MethodGet})
	if err != nil {
		return nil, fmt.Errorf("read %s upgrade answer: %w", path, err)
	}
	if resp.StatusCode != http.StatusSwitchingProtocols {
		defer resp.Body.Close()
		if resp.StatusCode >= 200 && resp.StatusCode < 300 {
			return nil, fmt.Errorf("server did not switch to %s (HTTP %d)", protocol, resp.StatusCode)
		}
		return nil, errorFromResponse(resp)
	}
	if !strings.EqualFold(resp.Header.Get("Upgrade"), protocol) {
		return nil, fmt.Errorf("server switched to %q, not %s", resp.Header.Get("Upgrade"), protocol)
	}
	conn.SetDeadline(time.Time{})
	var nc net.Conn = conn
	if br.Buffered() > 0 {
		nc = &bufferedConn{Conn: conn, r: br}
	}
	wc := &watchConn{Conn: nc}
	// The context hands the upgraded connection to h2Transport's dialer;
	// it does not outlive the start of the session.
	cc, err := h2Transport.NewClientConn(context.WithValue(ctx, upgradedConn{}, net.Conn(wc)), "http", c.addr)
	if err != nil {
		return nil, fmt.Errorf("start HTTP/2 session: %w", err)
	}
	return &Session{conn: wc, cc: cc, watch: wc}, nil
}

// upgradedConn is the context key under which upgradeOn passes the
// upgraded connection to h2Transport.
type upgradedConn struct{}

// h2Transport starts the HTTP/2 sessions with upstream's settings
// (protocol.md 3.2): HTTP/2 with prior knowledge on the connection the
// upgrade switched, 4 MiB frames and receive windows of 2^31-2 for the
// connection and every stream, so downloads (reader chunks, previous
// indexes) are never held back by flow control. It never dials: its
// dialer returns the upgraded connection from the context, and each
// session is a ClientConn of its own (Transport.NewClientConn), outside
// the transport's pool, which the session closes.
var h2Transport = func() *http.Transport {
	const window = 1<<31 - 2
	var protocols http.Protocols
	protocols.SetUnencryptedHTTP2(true)
	return &http.Transport{
		Protocols:          &protocols,
		DisableCompression: true,
		HTTP2: &http.HTTP2Config{
			MaxReadFrameSize: 4 << 20,
			// The transport announces this on top of the protocol's initial
			// 65535 bytes; more than 2^31-1 in all is a flow-control error.
			MaxReceiveBufferPerConnection: window - 65535,
			MaxReceiveBufferPerStream:     window,
			// A request beyond the server's SETTINGS_MAX_CONCURRENT_STREAMS
			// waits for a free stream rather than failing ("client conn not
			// usable"): small chunks put hundreds of uploads in flight
			// (cairn serve allows 256 streams; upstream's server sets no
			// limit). A ClientConn always waits; this says so for the pool.
			StrictMaxConcurrentRequests: true,
		},
		DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
			if c, ok := ctx.Value(upgradedConn{}).(net.Conn); ok {
				return c, nil
			}
			return nil, errors.New("HTTP/2 session without an upgraded connection")
		},
	}
}()

// Close ends the session by closing the connection.
func (s *Session) Close() error {
	s.cc.Close()
	return s.conn.Close()
}

// do sends one request in the session and returns the body of a 2xx answer.
func (s *Session) do(ctx context.Context, method, path string, q url.Values, body []byte, ctype string) ([]byte, error) {
	u := "https://localhost:8007/" + strings.TrimPrefix(path, "/")
	if len(q) > 0 {
		u += "?" + q.Encode()
	}
	var rd io.Reader
	if body != nil {
		rd = bytes.NewReader(body)
	}
	req, err := http.NewRequestWithContext(ctx, method, u, rd)
	if err != nil {
		return nil, err
	}
	if body != nil {
		req.ContentLength = int64(len(body))
	}
	req.Header.Set("Content-Type", ctype)
	resp, err := s.cc.RoundTrip(req)
	if err != nil {
		return nil, s.connError(method, path, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		return nil, errorFromResponse(resp)
	}
	data, err := io.ReadAll(resp.Body)
	if err != nil {
		return nil, s.connError(method, path, err)
	}
	return data, nil
}

// connError names the cause when the connection itself broke.
func (s *Session) connError(method, path string, err error) error {
	if s.watch != nil {
		if cause := s.watch.lost(); cause != nil {
			if cause == io.EOF {
				return fmt.Errorf("%s %s: connection to the server lost: the server closed the connection", method, path)
			}
			return fmt.Errorf("%s %s: connection to the server lost: %v", method, path, cause)
		}
	}
	return fmt.Errorf("%s %s: %w", method, path, err)
}

// call sends a request with query parameters and decodes "data".
func (s *Session) call(ctx context.Context, method, path string, q url.Values, out any) error {
	data, err := s.do(ctx, method, path, q, nil, "application/x-www-form-urlencoded")
	if err != nil {
		return err
	}
	return decodeData(data, out)
}

// callJSON sends a JSON body.
func (s *Session) callJSON(ctx context.Context, method, path string, body any, out any) error {
	payload, err := json.Marshal(body)
	if err != nil {
		return err
	}
	data, err := s.do(ctx, method, path, nil, payload, "application/json")
	if err != nil {
		return err
	}
	return decodeData(data, out)
}

// upload sends raw bytes.
func (s *Session) upload(ctx context.Context, path string, q url.Values, body []byte, out any) error {
	data, err := s.do(ctx, http.MethodPost, path, q, body, "application/octet-stream")
	if err != nil {
		return err
	}
	return decodeData(data, out)
}

// download fetches raw bytes with GET.
func (s *Session) download(ctx context.Context, path string, q url.Values) ([]byte, error) {
	return s.do(ctx, http.MethodGet, path, q, nil, "application/x-www-form-urlencoded")
}
