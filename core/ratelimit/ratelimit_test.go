package ratelimit

import (
	"bytes"
	"context"
	"io"
	"net"
	"sync"
	"testing"
	"time"
)

// minDuration is the least time n bytes take through a bucket of c that
// starts full: (n - burst) / rate. Tests assert only this lower bound.
func minDuration(c Config, n int) time.Duration {
	rest := float64(n) - float64(c.EffectiveBurst())
	if rest <= 0 {
		return 0
	}
	return time.Duration(rest / float64(c.Rate) * float64(time.Second))
}

// slack absorbs clock granularity in the lower bounds.
const slack = 20 * time.Millisecond

func TestWriterAndReader(t *testing.T) {
	c := Config{Rate: 1000000, Burst: 100000}
	data := bytes.Repeat([]byte("x"), 500000)

	var sink bytes.Buffer
	start := time.Now()
	n, err := New(c).Writer(&sink).Write(data) // one write far larger than the bucket
	el := time.Since(start)
	if err != nil || n != len(data) || !bytes.Equal(sink.Bytes(), data) {
		t.Fatalf("write: %d %v", n, err)
	}
	if min := minDuration(c, len(data)); el < min-slack {
		t.Fatalf("500000 bytes written in %v at 1 MB/s with a 100 kB bucket: faster than %v", el, min)
	}
	t.Logf("writer: %d bytes in %v (at least %v)", len(data), el, minDuration(c, len(data)))

	start = time.Now()
	got, err := io.ReadAll(New(c).Reader(bytes.NewReader(data)))
	el = time.Since(start)
	if err != nil || !bytes.Equal(got, data) {
		t.Fatalf("read: %d %v", len(got), err)
	}
	if min := minDuration(c, len(data)); el < min-slack {
		t.Fatalf("500000 bytes read in %v: faster than %v", el, min)
	}
	t.Logf("reader: %d bytes in %v (at least %v)", len(data), el, minDuration(c, len(data)))
}

func TestNilLimiterPassesThrough(t *testing.T) {
	var l *Limiter
	if l.WaitN(context.Background(), 1<<30) != nil {
		t.Fatal("nil limiter waited")
	}
	var b bytes.Buffer
	if l.Writer(&b) != &b {
		t.Fatal("nil limiter wrapped a writer")
	}
	a, _ := net.Pipe()
	if Conn(a, Pair{}) != a {
		t.Fatal("no limit wrapped a connection")
	}
	a.Close()
}

// Over a TCP connection each direction has its own bucket (upstream's
// with_same_inout): what is sent and what is received are each held to
// the rate.
func TestConnBothDirections(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	const size = 400000
	payload := bytes.Repeat([]byte{7}, size)
	var srvWG sync.WaitGroup
	srvWG.Add(1)
	go func() {
		defer srvWG.Done()
		s, err := ln.Accept()
		if err != nil {
			return
		}
		defer s.Close()
		go s.Write(payload) // the client receives size bytes
		io.CopyN(io.Discard, s, size)
	}()
	raw, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	c := Config{Rate: 1000000, Burst: 50000}
	conn := Conn(raw, NewPair(c))
	defer conn.Close()
	start := time.Now()
	var sent time.Duration
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		if _, err := conn.Write(payload); err != nil {
			t.Error(err)
		}
		sent = time.Since(start)
	}()
	got, err := io.ReadAll(io.LimitReader(conn, size))
	received := time.Since(start)
	wg.Wait()
	if err != nil || len(got) != size {
		t.Fatalf("received %d bytes: %v", len(got), err)
	}
	min := minDuration(c, size)
	if sent < min-slack || received < min-slack {
		t.Fatalf("sent in %v, received in %v: faster than %v", sent, received, min)
	}
	t.Logf("conn: %d bytes each way, sent in %v, received in %v (each at least %v)", size, sent, received, min)
	conn.Close()
	srvWG.Wait()
}

// Closing a connection ends a wait for the bucket.
func TestConnCloseEndsWait(t *testing.T) {
	a, b := net.Pipe()
	defer b.Close()
	go io.Copy(io.Discard, b)
	conn := Conn(a, NewPair(Config{Rate: 100000, Burst: 1000}))
	done := make(chan error, 1)
	go func() {
		_, err := conn.Write(make([]byte, 10<<20)) // 100 s at this rate
		done <- err
	}()
	time.Sleep(50 * time.Millisecond)
	conn.Close()
	select {
	case err := <-done:
		if err == nil {
			t.Fatal("write finished without error")
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Close did not end the wait")
	}
}
