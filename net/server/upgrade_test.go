package server

import (
	"bufio"
	"bytes"
	"io"
	"log"
	"net"
	"net/http"
	"runtime"
	"testing"
	"time"
)

// serveOnPipe runs serveH2 on one end of a pipe, with some bytes of the
// client's preface already read into the hijack buffer (as after the
// upgrade); it returns the client's end and a channel closed when serveH2
// returned.
func serveOnPipe(t *testing.T, s *Server, h http.Handler) (net.Conn, *http.ClientConn, chan struct{}) {
	t.Helper()
	cli, srv := net.Pipe()
	done := make(chan struct{})
	go func() {
		defer close(done)
		br := bufio.NewReader(srv)
		br.Peek(5) // the start of the preface waits in the buffer
		s.serveH2(&bufConn{Conn: srv, r: br}, h)
	}()
	cc, err := h2Client(cli)
	if err != nil {
		t.Fatal(err)
	}
	return cli, cc, done
}

func testServer(l Limits) *Server {
	return &Server{opts: Options{Limits: l}, log: log.New(io.Discard, "", 0), sessions: map[*session]struct{}{}}
}

func hello(w http.ResponseWriter, r *http.Request) {
	io.WriteString(w, r.Proto+" "+r.URL.Path)
}

func get(t *testing.T, cc *http.ClientConn, path string) string {
	t.Helper()
	req, _ := http.NewRequest("GET", "http://localhost"+path, nil)
	resp, err := cc.RoundTrip(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return string(b)
}

// TestServeH2EndsWithConnection: a session is HTTP/2 with prior knowledge
// on the upgraded connection (buffered bytes first), and when the client
// closes it, serveH2 returns, the session is forgotten and no goroutine is
// left behind.
func TestServeH2EndsWithConnection(t *testing.T) {
	before := runtime.NumGoroutine()
	s := testServer(Limits{})
	cli, cc, done := serveOnPipe(t, s, http.HandlerFunc(hello))
	if got := get(t, cc, "/a"); got != "HTTP/2.0 /a" {
		t.Fatalf("answer %q", got)
	}
	s.mu.Lock()
	n := len(s.sessions)
	s.mu.Unlock()
	if n != 1 {
		t.Fatalf("%d sessions registered", n)
	}
	cc.Close()
	cli.Close()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("serveH2 did not return after the connection closed")
	}
	if len(s.sessions) != 0 {
		t.Errorf("%d sessions left", len(s.sessions))
	}
	waitFor(t, func() bool { return runtime.NumGoroutine() <= before })
}

// TestServeH2IdleTimeout: a session without requests is closed after the
// idle timeout.
func TestServeH2IdleTimeout(t *testing.T) {
	s := testServer(Limits{SessionIdleTimeout: 300 * time.Millisecond})
	start := time.Now()
	cli, cc, done := serveOnPipe(t, s, http.HandlerFunc(hello))
	defer cli.Close()
	get(t, cc, "/")
	select {
	case <-done:
		if d := time.Since(start); d < 300*time.Millisecond {
			t.Errorf("closed after %v", d)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("idle session not closed")
	}
}

// TestServeH2NotHTTP2: a client that sends no HTTP/2 preface gets nothing
// and the session ends.
func TestServeH2NotHTTP2(t *testing.T) {
	s := testServer(Limits{})
	cli, srv := net.Pipe()
	done := make(chan struct{})
	go func() {
		defer close(done)
		s.serveH2(&bufConn{Conn: srv, r: bufio.NewReader(srv)}, http.HandlerFunc(hello))
	}()
	go cli.Write([]byte("GET / HTTP/1.1\r\nHost: x\r\n\r\n"))
	cli.SetReadDeadline(time.Now().Add(10 * time.Second))
	b, _ := io.ReadAll(cli)
	if bytes.Contains(b, []byte("HTTP/1.1")) {
		t.Errorf("answered HTTP/1.1: %q", b)
	}
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("serveH2 did not return")
	}
}
