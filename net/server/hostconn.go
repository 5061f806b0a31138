package server

import (
	"bytes"
	"crypto/tls"
	"errors"
	"net"
	"os"
	"slices"
	"strconv"
	"strings"
	"time"
)

// Go's HTTP/1.1 server answers "400 missing required Host header" before any
// handler runs, and has no switch to turn that off. Upstream's server takes
// such requests, and at least one third-party client (tizbac's Go PBS client)
// sends its backup upgrade request without a Host header. hostConn sits
// between the TLS connection and net/http and inserts "Host: <local address>"
// into request heads that lack one.
//
// It only frames what it can frame exactly: a request head (bounded, as
// net/http bounds it), then a Content-Length body that it passes through
// byte for byte so the next head on a keep-alive connection is found. After
// an Upgrade request (the backup and reader protocols: HTTP/2 follows), a
// chunked body, an oversized or malformed head, or a read error other than a
// timeout, it stops looking and reads go straight to the connection: the
// HTTP/2 data path costs one branch per Read, no copy.

// maxHostHead bounds a request head the way net/http does: MaxHeaderBytes
// plus the 4096 bytes of slack it allows. A longer head is passed on
// untouched, for net/http to refuse.
const maxHostHead = 64<<10 + 4096

// hostListener wraps every accepted connection in a hostConn.
type hostListener struct{ net.Listener }

func (l hostListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	return newHostConn(c), nil
}

type hostConn struct {
	net.Conn
	host string // the value inserted: the local address

	out   []byte // a rewritten head, ready for the reader
	raw   []byte // bytes read from Conn and not yet handed on
	body  int64  // bytes of the current request body still to pass on
	pass  bool   // stopped rewriting: everything passes through
	rerr  error  // a sticky read error seen while reading a head
	shook bool   // the TLS handshake was done
}

func newHostConn(c net.Conn) *hostConn {
	host := "localhost"
	if a := c.LocalAddr(); a != nil {
		host = a.String()
	}
	return &hostConn{Conn: c, host: host}
}

// CloseWrite keeps the TLS close_notify net/http sends on a closing
// connection (it looks for this method on the connection it serves).
func (c *hostConn) CloseWrite() error {
	if cw, ok := c.Conn.(interface{ CloseWrite() error }); ok {
		return cw.CloseWrite()
	}
	return nil
}

// handshakeTimeout bounds the TLS handshake's writes; its reads are bounded
// by net/http's ReadHeaderTimeout deadline, set before the first Read.
// (net/http bounds both itself only when it sees a *tls.Conn.)
const handshakeTimeout = 120 * time.Second

func (c *hostConn) Read(p []byte) (int, error) {
	if len(p) == 0 {
		return 0, nil
	}
	if !c.shook {
		c.shook = true
		if tc, ok := c.Conn.(*tls.Conn); ok {
			tc.SetWriteDeadline(time.Now().Add(handshakeTimeout))
			err := tc.Handshake()
			tc.SetWriteDeadline(time.Time{})
			if err != nil {
				c.pass, c.rerr = true, err
				return 0, err
			}
		}
	}
	for {
		if len(c.out) > 0 {
			n := copy(p, c.out)
			c.out = c.out[n:]
			if len(c.out) == 0 {
				c.out = nil
			}
			return n, nil
		}
		if c.pass || c.body > 0 {
			return c.readThrough(p)
		}
		if err := c.readHead(); err != nil {
			return 0, err
		}
	}
}

// readThrough hands on body bytes (or everything, once passing through):
// first what is left in raw, then straight from the connection.
func (c *hostConn) readThrough(p []byte) (int, error) {
	if len(c.raw) > 0 {
		n := len(c.raw)
		if !c.pass && int64(n) > c.body {
			n = int(c.body)
		}
		n = copy(p, c.raw[:n])
		c.raw = c.raw[n:]
		if len(c.raw) == 0 {
			c.raw = nil
		}
		if !c.pass {
			c.body -= int64(n)
		}
		return n, nil
	}
	if c.rerr != nil {
		return 0, c.rerr
	}
	if !c.pass && int64(len(p)) > c.body {
		p = p[:c.body]
	}
	n, err := c.Conn.Read(p)
	if !c.pass {
		c.body -= int64(n)
	}
	return n, err
}

// readHead reads until raw holds a whole request head, then moves the head,
// with Host inserted when it is missing, to out. It returns a read error
// only when nothing is left to hand on; a timeout (net/http interrupts its
// background read with one) keeps the partial head for the next call.
func (c *hostConn) readHead() error {
	for {
		if end := headEnd(c.raw[:min(len(c.raw), maxHostHead)]); end > 0 {
			c.rewrite(end)
			return nil
		}
		if len(c.raw) >= maxHostHead {
			c.pass = true
			return nil
		}
		c.raw = slices.Grow(c.raw, 4096)
		n, err := c.Conn.Read(c.raw[len(c.raw):cap(c.raw)])
		c.raw = c.raw[:len(c.raw)+n]
		if err != nil {
			if errors.Is(err, os.ErrDeadlineExceeded) {
				if n > 0 {
					continue
				}
				return err
			}
			// The connection is done: hand on what came, then the error.
			c.pass, c.rerr = true, err
			if len(c.raw) == 0 {
				return err
			}
			return nil
		}
	}
}

// headEnd returns the length of the request head at the start of b (up to
// and including the empty line), or 0 when it is not complete. Bare LF line
// ends count, as net/http accepts them.
func headEnd(b []byte) int {
	for i := 0; i < len(b); {
		j := bytes.IndexByte(b[i:], '\n')
		if j < 0 {
			return 0
		}
		line := b[i : i+j]
		i += j + 1
		if len(line) == 0 || (len(line) == 1 && line[0] == '\r') {
			// The empty line ends the head. (An empty first line makes
			// a malformed head: passed on for net/http to refuse.)
			return i
		}
	}
	return 0
}

// rewrite moves the head raw[:end] to out, inserting Host when missing, and
// decides how the bytes after it are framed.
func (c *hostConn) rewrite(end int) {
	head := c.raw[:end]
	lines := strings.Split(strings.TrimRight(string(head), "\r\n"), "\n")
	hasHost, upgrade, chunked, bad := false, false, false, false
	clen, nlen := int64(0), 0
	reqLine := strings.TrimSuffix(lines[0], "\r")
	if f := strings.Fields(reqLine); len(f) != 3 || !strings.HasPrefix(f[2], "HTTP/") {
		bad = true
	}
	for _, l := range lines[1:] {
		l = strings.TrimSuffix(l, "\r")
		name, val, ok := strings.Cut(l, ":")
		if !ok || name == "" || strings.ContainsAny(name[:1], " \t") {
			bad = true
			continue
		}
		val = strings.TrimSpace(val)
		switch strings.ToLower(name) {
		case "host":
			hasHost = true
		case "upgrade":
			upgrade = true
		case "transfer-encoding":
			chunked = true
		case "content-length":
			n, err := strconv.ParseInt(val, 10, 64)
			if err != nil || n < 0 || (nlen > 0 && n != clen) {
				bad = true
			}
			clen = n
			nlen++
		}
	}
	if hasHost || bad {
		c.out = append([]byte(nil), head...)
	} else {
		eol := bytes.IndexByte(head, '\n') + 1 // after the request line
		out := make([]byte, 0, end+len(c.host)+8)
		out = append(out, head[:eol]...)
		out = append(out, "Host: "...)
		out = append(out, c.host...)
		out = append(out, '\r', '\n')
		c.out = append(out, head[eol:]...)
	}
	c.raw = c.raw[end:]
	if len(c.raw) == 0 {
		c.raw = nil
	}
	if upgrade || chunked || bad {
		c.pass = true
		return
	}
	c.body = clen
}
