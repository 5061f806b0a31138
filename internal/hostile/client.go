// Package hostile attacks a backup server the way a hostile user with backup
// rights would (issue 16, items 2 and 5): requests that make the server
// allocate memory or hold file descriptors out of proportion to what they
// cost the attacker. The server's own tests and the reliability suite run
// these attacks against a real server (a subprocess) and measure its peak
// RSS (package rss.go) and its open file descriptors.
//
// The client speaks just enough of the protocols (ticket login, the backup
// and reader upgrades, HTTP/2 requests inside a session); it checks no
// certificate.
package hostile

import (
	"bufio"
	"bytes"
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strings"
	"time"
)

// Target is a server, a user with backup rights and a datastore.
type Target struct {
	Addr     string // host:port
	User     string // e.g. bob@pbs
	Password string
	Store    string
}

// Client is a logged-in user.
type Client struct {
	T            Target
	HC           *http.Client
	Ticket, CSRF string
}

func tlsConfig() *tls.Config { return &tls.Config{InsecureSkipVerify: true} }

// Login gets a ticket.
func Login(t Target) (*Client, error) {
	hc := &http.Client{Timeout: 60 * time.Second, Transport: &http.Transport{TLSClientConfig: tlsConfig(), MaxIdleConnsPerHost: 8}}
	body, _ := json.Marshal(map[string]string{"username": t.User, "password": t.Password})
	resp, err := hc.Post("https://"+t.Addr+"/api2/json/access/ticket", "application/json", bytes.NewReader(body))
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != 200 {
		return nil, fmt.Errorf("login %s: HTTP %d %s", t.User, resp.StatusCode, strings.TrimSpace(string(b)))
	}
	var out struct {
		Data struct {
			Ticket string `json:"ticket"`
			CSRF   string `json:"CSRFPreventionToken"`
		} `json:"data"`
	}
	if err := json.Unmarshal(b, &out); err != nil {
		return nil, err
	}
	return &Client{T: t, HC: hc, Ticket: out.Data.Ticket, CSRF: out.Data.CSRF}, nil
}

// Get is an authenticated GET of /api2/json/<path>; it returns the status
// and the body.
func (c *Client) Get(path string, q url.Values) (int, []byte, error) {
	u := "https://" + c.T.Addr + "/api2/json/" + path
	if q != nil {
		u += "?" + q.Encode()
	}
	req, _ := http.NewRequest(http.MethodGet, u, nil)
	req.Header.Set("Cookie", "PBSAuthCookie="+url.QueryEscape(c.Ticket))
	resp, err := c.HC.Do(req)
	if err != nil {
		return 0, nil, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return resp.StatusCode, b, err
}

// SnapshotQuery names a snapshot of the target's store in the host group id.
func (c *Client) SnapshotQuery(id string, tm int64) url.Values {
	return url.Values{"store": {c.T.Store}, "backup-type": {"host"}, "backup-id": {id}, "backup-time": {fmt.Sprint(tm)}}
}

// Session is an upgraded connection: HTTP/2 inside the TLS connection.
type Session struct {
	Conn net.Conn
	CC   *http.ClientConn
}

// Protocol names of the upgrades.
const (
	BackupProtocol = "proxmox-backup-protocol-v1"
	ReaderProtocol = "proxmox-backup-reader-protocol-v1"
)

// Upgrade opens a session on /api2/json/<path> ("backup" or "reader"). A
// refusal comes back as its status and body with a nil session.
func (c *Client) Upgrade(path string, q url.Values) (*Session, int, string, error) {
	protocol := BackupProtocol
	if path == "reader" {
		protocol = ReaderProtocol
	}
	d := &net.Dialer{Timeout: 10 * time.Second}
	conn, err := tls.DialWithDialer(d, "tcp", c.T.Addr, tlsConfig())
	if err != nil {
		return nil, 0, "", err
	}
	conn.SetDeadline(time.Now().Add(60 * time.Second))
	fmt.Fprintf(conn, "GET /api2/json/%s?%s HTTP/1.1\r\nHost: localhost\r\nConnection: upgrade\r\nUpgrade: %s\r\nCookie: PBSAuthCookie=%s\r\nCSRFPreventionToken: %s\r\n\r\n",
		path, q.Encode(), protocol, url.QueryEscape(c.Ticket), c.CSRF)
	br := bufio.NewReader(conn)
	resp, err := http.ReadResponse(br, nil)
	if err != nil {
		conn.Close()
		return nil, 0, "", err
	}
	if resp.StatusCode != http.StatusSwitchingProtocols {
		b, _ := io.ReadAll(resp.Body)
		conn.Close()
		return nil, resp.StatusCode, strings.TrimSpace(string(b)), nil
	}
	conn.SetDeadline(time.Time{})
	raw := &bufConn{Conn: conn, r: br}
	cc, err := h2Transport.NewClientConn(context.WithValue(context.Background(), upgradedConn{}, net.Conn(raw)), "http", c.T.Addr)
	if err != nil {
		conn.Close()
		return nil, 0, "", err
	}
	return &Session{Conn: conn, CC: cc}, 101, "", nil
}

// upgradedConn is the context key under which Upgrade passes the upgraded
// connection to h2Transport.
type upgradedConn struct{}

// h2Transport speaks HTTP/2 with prior knowledge on an upgraded
// connection, with Go's default settings; its dialer only returns the
// connection from the context. Each session is a ClientConn of its own.
var h2Transport = func() *http.Transport {
	var protocols http.Protocols
	protocols.SetUnencryptedHTTP2(true)
	return &http.Transport{
		Protocols: &protocols,
		DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
			if c, ok := ctx.Value(upgradedConn{}).(net.Conn); ok {
				return c, nil
			}
			return nil, errors.New("HTTP/2 session without an upgraded connection")
		},
	}
}()

// bufConn reads first the bytes the upgrade's reader holds; it also keeps
// the TLS connection from being taken for one that negotiates HTTP/2.
type bufConn struct {
	net.Conn
	r *bufio.Reader
}

func (c *bufConn) Read(p []byte) (int, error) { return c.r.Read(p) }

// Call sends one request inside the session and returns the status and
// the response body.
func (s *Session) Call(method, path string, q url.Values, ct string, body []byte) (int, []byte, error) {
	return s.CallCtx(context.Background(), method, path, q, ct, body)
}

// CallCtx is Call with a context.
func (s *Session) CallCtx(ctx context.Context, method, path string, q url.Values, ct string, body []byte) (int, []byte, error) {
	u := "https://localhost:8007/" + path
	if q != nil {
		u += "?" + q.Encode()
	}
	var rd io.Reader
	if body != nil {
		rd = bytes.NewReader(body)
	}
	req, _ := http.NewRequestWithContext(ctx, method, u, rd)
	if ct != "" {
		req.Header.Set("Content-Type", ct)
	}
	resp, err := s.CC.RoundTrip(req)
	if err != nil {
		return 0, nil, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return resp.StatusCode, b, err
}

// Data calls and decodes the {"data": ...} of a 200 answer into v.
func (s *Session) Data(method, path string, q url.Values, ct string, body []byte, v any) error {
	code, b, err := s.Call(method, path, q, ct, body)
	if err != nil {
		return fmt.Errorf("%s %s: %w", method, path, err)
	}
	if code != 200 {
		return fmt.Errorf("%s %s: HTTP %d %s", method, path, code, strings.TrimSpace(string(b)))
	}
	if v == nil {
		return nil
	}
	var out struct {
		Data json.RawMessage `json:"data"`
	}
	if err := json.Unmarshal(b, &out); err != nil {
		return fmt.Errorf("%s %s: %w", method, path, err)
	}
	return json.Unmarshal(out.Data, v)
}

// Close drops the connection.
func (s *Session) Close() {
	s.CC.Close()
	s.Conn.Close()
}

// Closed tells, without sending anything (a request would count as
// activity), whether the server has ended the session: it sent GOAWAY or
// closed the connection (either leaves no request available).
func (s *Session) Closed() bool {
	return s.CC.Err() != nil || s.CC.Available() == 0
}
