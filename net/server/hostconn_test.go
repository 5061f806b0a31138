package server

import (
	"bytes"
	"errors"
	"io"
	"net"
	"os"
	"strings"
	"testing"
)

// scriptConn returns its reads one by one: data, then the error (if any).
type scriptConn struct {
	net.Conn
	reads []scriptRead
}

type scriptRead struct {
	data string
	err  error
}

func (c *scriptConn) LocalAddr() net.Addr {
	return &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 8007}
}

func (c *scriptConn) Read(p []byte) (int, error) {
	if len(c.reads) == 0 {
		return 0, io.EOF
	}
	r := &c.reads[0]
	n := copy(p, r.data)
	r.data = r.data[n:]
	if r.data == "" {
		c.reads = c.reads[1:]
		return n, r.err
	}
	return n, nil
}

// readAll drains a hostConn with reads of size n, ignoring timeouts (as
// net/http retries after its own deadline games).
func readAll(t *testing.T, c *hostConn, n int) string {
	t.Helper()
	var out bytes.Buffer
	buf := make([]byte, n)
	for i := 0; i < 100000; i++ {
		k, err := c.Read(buf)
		out.Write(buf[:k])
		if errors.Is(err, os.ErrDeadlineExceeded) {
			continue
		}
		if err == io.EOF {
			return out.String()
		}
		if err != nil {
			t.Fatal(err)
		}
	}
	t.Fatal("no EOF")
	return ""
}

func TestHostConn(t *testing.T) {
	const host = "Host: 127.0.0.1:8007\r\n"
	timeout := os.ErrDeadlineExceeded
	body := "0123456789GET /inside-the-body HTTP/1.1\r\n\r\n"
	big := strings.Repeat("h", maxHostHead)
	for _, tc := range []struct {
		name  string
		reads []scriptRead
		want  string
	}{
		{"inserted", []scriptRead{{data: "GET / HTTP/1.1\r\nA: b\r\n\r\n"}},
			"GET / HTTP/1.1\r\n" + host + "A: b\r\n\r\n"},
		{"kept", []scriptRead{{data: "GET / HTTP/1.1\r\nhOsT: x\r\n\r\n"}},
			"GET / HTTP/1.1\r\nhOsT: x\r\n\r\n"},
		{"bare LF", []scriptRead{{data: "GET / HTTP/1.1\nA: b\n\n"}},
			"GET / HTTP/1.1\n" + host + "A: b\n\n"},
		{"body skipped, keep-alive", []scriptRead{{data: "POST /a HTTP/1.1\r\nContent-Length: 44\r\n\r\n" + body + "GET /b HTTP/1.1\r\n\r\n"}},
			"POST /a HTTP/1.1\r\n" + host + "Content-Length: 44\r\n\r\n" + body + "GET /b HTTP/1.1\r\n" + host + "\r\n"},
		{"split everywhere, timeouts", []scriptRead{{data: "POST /a HT"}, {err: timeout}, {data: "TP/1.1\r\nContent-Length: 44\r"}, {data: "\n\r", err: timeout},
			{data: "\n0123456789"}, {data: "GET /inside-the-body HTTP/1.1\r\n\r\n", err: timeout}, {data: "GET /b HTTP/1.1\r\n\r\n"}},
			"POST /a HTTP/1.1\r\n" + host + "Content-Length: 44\r\n\r\n" + body + "GET /b HTTP/1.1\r\n" + host + "\r\n"},
		{"upgrade passes the rest", []scriptRead{{data: "GET /api2/json/backup HTTP/1.1\r\nUpgrade: x\r\nConnection: upgrade\r\n\r\nPRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"}},
			"GET /api2/json/backup HTTP/1.1\r\n" + host + "Upgrade: x\r\nConnection: upgrade\r\n\r\nPRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"},
		{"chunked passes the rest", []scriptRead{{data: "POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\nGET / HTTP/1.1\r\n\r\n"}},
			"POST / HTTP/1.1\r\n" + host + "Transfer-Encoding: chunked\r\n\r\n0\r\n\r\nGET / HTTP/1.1\r\n\r\n"},
		{"bad content-length passes untouched", []scriptRead{{data: "POST / HTTP/1.1\r\nContent-Length: x\r\n\r\nGET / HTTP/1.1\r\n\r\n"}},
			"POST / HTTP/1.1\r\nContent-Length: x\r\n\r\nGET / HTTP/1.1\r\n\r\n"},
		{"malformed passes untouched", []scriptRead{{data: "\r\nGET / HTTP/1.1\r\n\r\n"}},
			"\r\nGET / HTTP/1.1\r\n\r\n"},
		{"oversized head passes untouched", []scriptRead{{data: "GET / HTTP/1.1\r\nX: " + big + "\r\n\r\n"}},
			"GET / HTTP/1.1\r\nX: " + big + "\r\n\r\n"},
		{"EOF inside a head", []scriptRead{{data: "GET / HTTP/1.1\r\nA: b\r\n"}},
			"GET / HTTP/1.1\r\nA: b\r\n"},
	} {
		for _, n := range []int{1, 7, 4096, 1 << 20} {
			reads := append([]scriptRead(nil), tc.reads...)
			c := newHostConn(&scriptConn{reads: reads})
			if got := readAll(t, c, n); got != tc.want {
				t.Errorf("%s (reads of %d): got\n%q\nwant\n%q", tc.name, n, trunc(got), trunc(tc.want))
			}
		}
	}
}

func trunc(s string) string {
	if len(s) > 300 {
		return s[:150] + "…" + s[len(s)-150:]
	}
	return s
}

// TestHostConnPassThrough: once passing through, reads go straight to the
// connection into the caller's buffer.
func TestHostConnPassThrough(t *testing.T) {
	sc := &scriptConn{reads: []scriptRead{{data: "GET / HTTP/1.1\r\nUpgrade: x\r\n\r\n"}, {data: strings.Repeat("d", 1<<20)}}}
	c := newHostConn(sc)
	buf := make([]byte, 1<<20)
	n, _ := c.Read(buf)
	if !strings.HasPrefix(string(buf[:n]), "GET / HTTP/1.1\r\nHost:") || !c.pass {
		t.Fatalf("head %q, pass %v", buf[:n], c.pass)
	}
	n, err := c.Read(buf)
	if n != 1<<20 || err != nil || c.raw != nil || c.out != nil {
		t.Fatalf("pass-through read %d %v (raw %d, out %d)", n, err, len(c.raw), len(c.out))
	}
}
