package client

import (
	"bufio"
	"context"
	"encoding/base64"
	"fmt"
	"net"
	"net/http"
	"strings"
	"time"
)

// proxyConfig is an HTTP CONNECT proxy from ALL_PROXY.
type proxyConfig struct {
	addr string // host:port
	auth string // user:password, "" for none
}

// parseProxy parses [http://][user:password@]host[:port] (default port 1080).
func parseProxy(s string) (*proxyConfig, error) {
	v := strings.TrimSpace(s)
	if i := strings.Index(v, "://"); i >= 0 {
		if scheme := strings.ToLower(v[:i]); scheme != "http" {
			return nil, fmt.Errorf("invalid proxy %q: only http:// proxies are supported", s)
		}
		v = v[i+3:]
	}
	v = strings.TrimSuffix(v, "/")
	p := &proxyConfig{}
	if i := strings.LastIndexByte(v, '@'); i >= 0 {
		p.auth, v = v[:i], v[i+1:]
	}
	if v == "" {
		return nil, fmt.Errorf("invalid proxy %q: no host", s)
	}
	if _, _, err := net.SplitHostPort(v); err != nil {
		host := strings.TrimSuffix(strings.TrimPrefix(v, "["), "]")
		v = net.JoinHostPort(host, "1080")
	}
	p.addr = v
	return p, nil
}

// dial opens a tunnel to target through the proxy.
func (p *proxyConfig) dial(ctx context.Context, d *net.Dialer, target string) (net.Conn, error) {
	conn, err := d.DialContext(ctx, "tcp", p.addr)
	if err != nil {
		return nil, fmt.Errorf("connect to proxy %s: %w", p.addr, err)
	}
	deadline := time.Now().Add(requestTimeout)
	conn.SetDeadline(deadline)
	req := "CONNECT " + target + " HTTP/1.1\r\nHost: " + target + "\r\nUser-Agent: " + UserAgent + "\r\n"
	if p.auth != "" {
		req += "Proxy-Authorization: Basic " + base64.StdEncoding.EncodeToString([]byte(p.auth)) + "\r\n"
	}
	req += "\r\n"
	if _, err := conn.Write([]byte(req)); err != nil {
		conn.Close()
		return nil, fmt.Errorf("proxy %s: %w", p.addr, err)
	}
	br := bufio.NewReader(conn)
	resp, err := http.ReadResponse(br, nil)
	if err != nil {
		conn.Close()
		return nil, fmt.Errorf("proxy %s: %w", p.addr, err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		conn.Close()
		return nil, fmt.Errorf("proxy %s refused the tunnel to %s: %s", p.addr, target, resp.Status)
	}
	conn.SetDeadline(time.Time{})
	if br.Buffered() > 0 {
		return &bufferedConn{Conn: conn, r: br}, nil
	}
	return conn, nil
}

// bufferedConn keeps bytes already read into a bufio.Reader.
type bufferedConn struct {
	net.Conn
	r *bufio.Reader
}

func (b *bufferedConn) Read(p []byte) (int, error) { return b.r.Read(p) }
