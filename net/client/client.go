// Package client talks to a Proxmox Backup Server compatible server (a real
// PBS or `cairn serve`): ticket and API-token authentication, certificate
// fingerprint trust, the REST API, and the HTTP/2 backup and reader
// protocols (spec/protocol.md 1–6). Repository adapts it to core.Repository.
package client

import (
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
	"os"
	"strconv"
	"strings"
	"sync"
	"time"

	"cairn/core"
	"cairn/core/ratelimit"
)

// UserAgent is what upstream's client sends.
const UserAgent = "proxmox-backup-client/1.0"

// requestTimeout bounds every ordinary request's response head (protocol.md 1.6).
const requestTimeout = 120 * time.Second

// ErrNoPassword is returned when no password source is available.
var ErrNoPassword = errors.New("no password input mechanism available: set PBS_PASSWORD (or PBS_PASSWORD_FD, _FILE, _CMD), run on a terminal, or run 'login' first")

// Options configure a connection to one server.
type Options struct {
	// Spec is the parsed repository (AuthID, Host, Port, Store).
	Spec core.RepoSpec
	// Password is the password or API token secret given explicitly
	// (PBS_PASSWORD and twins); nil when not given.
	Password []byte
	// Prompt asks for a password on a terminal; nil or an error means there
	// is none. Never used for API tokens.
	Prompt func(prompt string) ([]byte, error)
	// Fingerprint is the expected certificate fingerprint (PBS_FINGERPRINT);
	// when set, the fingerprint cache is neither read nor written.
	Fingerprint string
	// Confirm asks the user whether to trust an unknown certificate
	// fingerprint; nil means no terminal (refuse).
	Confirm func(fingerprint string) (bool, error)
	// NoTicketCache disables reading and writing the ticket cache.
	NoTicketCache bool
	// NoFingerprintCache disables the fingerprint cache.
	NoFingerprintCache bool
	// Proxy is an ALL_PROXY value, "" for none.
	Proxy string
	// Log receives messages for the user (warnings); nil means stderr.
	Log io.Writer
	// RootCAs overrides the system CA pool (tests).
	RootCAs *tlsRoots
	// RateLimit limits the bytes received and, separately, the bytes sent
	// over all connections of the client together (--rate, --burst;
	// upstream's RateLimitConfig::with_same_inout). Zero: no limit.
	RateLimit ratelimit.Config
}

// Client is an authenticated connection to a server. Safe for concurrent use.
type Client struct {
	opts    Options
	addr    string // host:port for dialing
	hostKey string // host as in the repository, for the caches
	proxy   *proxyConfig
	limit   ratelimit.Pair // shared by every connection
	tlsConf *tls.Config
	http    *http.Client
	log     io.Writer

	mu        sync.Mutex
	auth      *authState
	loginMu   sync.Mutex
	confirmMu sync.Mutex
	fpOK      string // fingerprint accepted during this process
	stopRenew chan struct{}
}

type authState struct {
	ticket   string
	csrf     string
	userid   string
	cookie   string // cookie name
	obtained time.Time
}

// New prepares a client; nothing is sent until the first request.
func New(opts Options) (*Client, error) {
	if opts.Spec.Host == "" {
		return nil, fmt.Errorf("no server in repository")
	}
	if opts.Spec.Port == 0 {
		opts.Spec.Port = core.DefaultPort
	}
	if opts.Spec.AuthID == "" {
		opts.Spec.AuthID = "root@pam"
	}
	c := &Client{opts: opts, hostKey: opts.Spec.Host, log: opts.Log, limit: ratelimit.NewPair(opts.RateLimit)}
	if c.log == nil {
		c.log = os.Stderr
	}
	host := strings.TrimSuffix(strings.TrimPrefix(opts.Spec.Host, "["), "]")
	c.addr = net.JoinHostPort(host, strconv.Itoa(opts.Spec.Port))
	if opts.Proxy != "" {
		p, err := parseProxy(opts.Proxy)
		if err != nil {
			return nil, err
		}
		c.proxy = p
		fmt.Fprintf(c.log, "Using proxy connection: %s\n", p.addr)
	}
	c.tlsConf = c.newTLSConfig(host)
	tr := &http.Transport{
		DialTLSContext:        func(ctx context.Context, network, addr string) (net.Conn, error) { return c.dialTLS(ctx) },
		ResponseHeaderTimeout: requestTimeout,
		MaxIdleConnsPerHost:   4,
		IdleConnTimeout:       90 * time.Second,
	}
	c.http = &http.Client{Transport: tr}
	return c, nil
}

// IsToken reports whether the auth id is an API token.
func (c *Client) IsToken() bool { return strings.Contains(c.opts.Spec.AuthID, "!") }

// AuthID is the user or token the client acts as.
func (c *Client) AuthID() string { return c.opts.Spec.AuthID }

// Spec is the repository the client was made for.
func (c *Client) Spec() core.RepoSpec { return c.opts.Spec }

// Close drops idle connections and stops renewal.
func (c *Client) Close() error {
	c.mu.Lock()
	if c.stopRenew != nil {
		close(c.stopRenew)
		c.stopRenew = nil
	}
	c.mu.Unlock()
	c.http.CloseIdleConnections()
	return nil
}

// dialTCP connects to the server, through the proxy if one is configured.
func (c *Client) dialTCP(ctx context.Context) (net.Conn, error) {
	d := &net.Dialer{Timeout: 10 * time.Second, KeepAlive: 120 * time.Second}
	if c.proxy != nil {
		return c.proxy.dial(ctx, d, c.addr)
	}
	conn, err := d.DialContext(ctx, "tcp", c.addr)
	if err != nil {
		return nil, fmt.Errorf("connect to %s: %w", c.addr, err)
	}
	return conn, nil
}

// dialTLS opens a TLS connection with the fingerprint checks of protocol.md 2.
// Every connection, the HTTP/1.1 ones of the REST API and those upgraded
// to HTTP/2 for backup and restore, is made here, so the rate limit wraps
// the TCP stream under TLS of each, as upstream's connector does.
func (c *Client) dialTLS(ctx context.Context) (*tls.Conn, error) {
	raw, err := c.dialTCP(ctx)
	if err != nil {
		return nil, err
	}
	if tc, ok := raw.(*net.TCPConn); ok {
		tc.SetNoDelay(true)
	}
	raw = ratelimit.Conn(raw, c.limit)
	conn := tls.Client(raw, c.tlsConf)
	hctx, cancel := context.WithTimeout(ctx, requestTimeout)
	defer cancel()
	if err := conn.HandshakeContext(hctx); err != nil {
		raw.Close()
		return nil, err
	}
	return conn, nil
}

// HTTPError is a non-2xx answer of the server.
type HTTPError struct {
	Status  int
	Message string
}

func (e *HTTPError) Error() string {
	msg := strings.TrimSpace(e.Message)
	if msg == "" {
		msg = http.StatusText(e.Status)
	}
	// Upstream's client prints the server's message as it is ("snapshot …
	// does not exist.", "permission check failed - missing …"), a 401 too:
	// the real server answers some permission checks with 401 ("bob@pbs
	// does not have permission to change owner …"), so a prefix saying
	// "authentication failed" would mislead. Only a failed login says what
	// failed (postTicket), since its message alone is cryptic.
	return msg
}

// Unwrap maps statuses and messages to the core sentinel errors.
func (e *HTTPError) Unwrap() error {
	low := strings.ToLower(e.Message)
	switch {
	case e.Status == http.StatusNotFound:
		return core.ErrNotFound
	case e.Status == http.StatusConflict, strings.Contains(low, "locked"), strings.Contains(low, "lock "), strings.Contains(low, "already running"):
		return core.ErrLocked
	case strings.Contains(low, "protected"):
		return core.ErrProtected
	case strings.Contains(low, "already exists"):
		return core.ErrExists
	}
	return nil
}

// IsAuthError reports a 401 answer.
func IsAuthError(err error) bool {
	var he *HTTPError
	return errors.As(err, &he) && he.Status == http.StatusUnauthorized
}

func errorFromResponse(resp *http.Response) error {
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
	msg := strings.TrimSpace(string(body))
	// Some servers answer errors as JSON; show the message.
	var j struct {
		Message string `json:"message"`
		Errors  any    `json:"errors"`
	}
	if strings.HasPrefix(msg, "{") && json.Unmarshal(body, &j) == nil && j.Message != "" {
		msg = j.Message
	}
	return &HTTPError{Status: resp.StatusCode, Message: msg}
}

// apiURL builds https://host:port/api2/json/<path>?<query>.
func (c *Client) apiURL(path string, q url.Values) string {
	u := "https://" + c.addr + "/api2/json/" + strings.TrimPrefix(path, "/")
	if len(q) > 0 {
		u += "?" + q.Encode()
	}
	return u
}

// Get calls GET on an API path and decodes "data" into out (may be nil).
func (c *Client) Get(ctx context.Context, path string, q url.Values, out any) error {
	return c.call(ctx, http.MethodGet, path, q, nil, out)
}

// Delete calls DELETE with query parameters.
func (c *Client) Delete(ctx context.Context, path string, q url.Values, out any) error {
	return c.call(ctx, http.MethodDelete, path, q, nil, out)
}

// Put calls PUT with query parameters.
func (c *Client) Put(ctx context.Context, path string, q url.Values, out any) error {
	return c.call(ctx, http.MethodPut, path, q, nil, out)
}

// Post calls POST with a JSON body.
func (c *Client) Post(ctx context.Context, path string, body map[string]any, out any) error {
	if body == nil {
		body = map[string]any{}
	}
	return c.call(ctx, http.MethodPost, path, nil, body, out)
}

func (c *Client) call(ctx context.Context, method, path string, q url.Values, body map[string]any, out any) error {
	data, err := c.raw(ctx, method, path, q, body)
	if err != nil {
		return err
	}
	return decodeData(data, out)
}

// decodeData unwraps {"data": ...}.
func decodeData(data []byte, out any) error {
	var env struct {
		Data json.RawMessage `json:"data"`
	}
	if err := json.Unmarshal(data, &env); err != nil {
		return fmt.Errorf("bad answer from server: %v", err)
	}
	if out == nil {
		return nil
	}
	if len(env.Data) == 0 {
		return fmt.Errorf("bad answer from server: no data")
	}
	if err := json.Unmarshal(env.Data, out); err != nil {
		return fmt.Errorf("bad answer from server: %v", err)
	}
	return nil
}

// raw performs an authenticated request and returns the body of a 2xx answer.
func (c *Client) raw(ctx context.Context, method, path string, q url.Values, body map[string]any) ([]byte, error) {
	if err := c.ensureAuth(ctx); err != nil {
		return nil, err
	}
	if body == nil {
		return c.send(ctx, method, path, q, "application/x-www-form-urlencoded", nil)
	}
	payload, err := json.Marshal(body)
	if err != nil {
		return nil, err
	}
	return c.send(ctx, method, path, q, "application/json", payload)
}

// Upload calls POST with query parameters and a raw body (upstream's
// client.upload, e.g. upload-backup-log with a blob).
func (c *Client) Upload(ctx context.Context, path string, q url.Values, contentType string, body []byte, out any) error {
	if err := c.ensureAuth(ctx); err != nil {
		return err
	}
	data, err := c.send(ctx, http.MethodPost, path, q, contentType, body)
	if err != nil {
		return err
	}
	return decodeData(data, out)
}

// send performs one authorized request; a nil payload sends no body.
func (c *Client) send(ctx context.Context, method, path string, q url.Values, contentType string, payload []byte) ([]byte, error) {
	var rd io.Reader
	if payload != nil {
		rd = bytes.NewReader(payload)
	}
	req, err := http.NewRequestWithContext(ctx, method, c.apiURL(path, q), rd)
	if err != nil {
		return nil, err
	}
	req.Header.Set("Content-Type", contentType)
	c.authorize(req.Header)
	resp, err := c.http.Do(req)
	if err != nil {
		return nil, unwrapURLError(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		return nil, errorFromResponse(resp)
	}
	return io.ReadAll(resp.Body)
}

// unwrapURLError drops Go's `Get "https://…":` prefix for TLS refusals so the
// user sees the reason first.
func unwrapURLError(err error) error {
	var ue *url.Error
	if errors.As(err, &ue) {
		var fe *FingerprintError
		if errors.As(ue.Err, &fe) {
			return fe
		}
		return fmt.Errorf("%s %s: %w", ue.Op, redactURL(ue.URL), ue.Err)
	}
	return err
}

func redactURL(u string) string {
	if i := strings.IndexByte(u, '?'); i >= 0 {
		return u[:i]
	}
	return u
}

// authorize adds the ticket cookie + CSRF token, or the API token header.
func (c *Client) authorize(h http.Header) {
	h.Set("User-Agent", UserAgent)
	if c.IsToken() {
		h.Set("Authorization", "PBSAPIToken="+c.opts.Spec.AuthID+":"+url.PathEscape(string(c.opts.Password)))
		return
	}
	c.mu.Lock()
	a := c.auth
	c.mu.Unlock()
	if a == nil {
		return
	}
	h.Set("Cookie", a.cookie+"="+encodeTicket(a.ticket))
	h.Set("CSRFPreventionToken", a.csrf)
}

// encodeTicket percent-encodes the few characters upstream encodes.
func encodeTicket(t string) string {
	var b strings.Builder
	for i := 0; i < len(t); i++ {
		ch := t[i]
		if ch < 0x20 || ch >= 0x7f || strings.IndexByte(" \"#<>`?{}", ch) >= 0 {
			fmt.Fprintf(&b, "%%%02X", ch)
		} else {
			b.WriteByte(ch)
		}
	}
	return b.String()
}
