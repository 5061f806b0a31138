// Package ratelimit limits the bytes a client sends and receives with token
// buckets (golang.org/x/time/rate), as upstream's --rate and --burst do
// (RateLimitConfig::with_same_inout): one bucket for each direction, shared
// by every connection of a client, or by every read and write of an
// in-process datastore.
package ratelimit

import (
	"context"
	"io"
	"math"
	"net"
	"sync"

	"golang.org/x/time/rate"
)

// Config is a limit: Rate bytes per second with a bucket of Burst bytes.
// A zero Rate means no limit; a zero Burst means Burst = Rate, as upstream
// (burst_in.unwrap_or(rate_in)).
type Config struct {
	Rate  uint64
	Burst uint64
}

// Enabled reports whether the config limits anything.
func (c Config) Enabled() bool { return c.Rate > 0 }

// EffectiveBurst is the bucket size used: Burst, or Rate when unset.
func (c Config) EffectiveBurst() uint64 {
	if c.Burst == 0 {
		return c.Rate
	}
	return c.Burst
}

// Limiter is one token bucket of bytes. A nil *Limiter does not limit.
type Limiter struct {
	l     *rate.Limiter
	burst int
}

// New returns a bucket for c, nil when c does not limit. The bucket starts
// full: the first Burst bytes pass at once.
func New(c Config) *Limiter {
	if !c.Enabled() {
		return nil
	}
	b := min(c.EffectiveBurst(), math.MaxInt32)
	return &Limiter{l: rate.NewLimiter(rate.Limit(float64(c.Rate)), int(b)), burst: int(b)}
}

// Pair is the two buckets of a connection or store: In for what is
// received (read), Out for what is sent (written).
type Pair struct {
	In, Out *Limiter
}

// NewPair makes two separate buckets with the same limit, as upstream's
// RateLimitConfig::with_same_inout.
func NewPair(c Config) Pair { return Pair{In: New(c), Out: New(c)} }

// Enabled reports whether either direction is limited.
func (p Pair) Enabled() bool { return p.In != nil || p.Out != nil }

// WaitN blocks until n bytes may pass; n may exceed the bucket, then it
// waits for it in bucket-sized parts. It returns early with ctx's error.
func (l *Limiter) WaitN(ctx context.Context, n int) error {
	if l == nil {
		return nil
	}
	for n > 0 {
		k := min(n, l.burst)
		if err := l.l.WaitN(ctx, k); err != nil {
			return err
		}
		n -= k
	}
	return nil
}

// Reader limits the bytes read from r.
func (l *Limiter) Reader(r io.Reader) io.Reader {
	if l == nil {
		return r
	}
	return &reader{r: r, l: l}
}

// Writer limits the bytes written to w.
func (l *Limiter) Writer(w io.Writer) io.Writer {
	if l == nil {
		return w
	}
	return &writer{w: w, l: l}
}

type reader struct {
	r io.Reader
	l *Limiter
}

// Read reads at most one bucket, then waits until that much may pass, so
// the average stays at the rate however large p is.
func (r *reader) Read(p []byte) (int, error) {
	if len(p) > r.l.burst {
		p = p[:r.l.burst]
	}
	n, err := r.r.Read(p)
	if werr := r.l.WaitN(context.Background(), n); err == nil {
		err = werr
	}
	return n, err
}

type writer struct {
	w io.Writer
	l *Limiter
}

// Write sends p in bucket-sized parts, each when the bucket allows it.
func (w *writer) Write(p []byte) (int, error) {
	done := 0
	for done < len(p) {
		k := min(len(p)-done, w.l.burst)
		if err := w.l.WaitN(context.Background(), k); err != nil {
			return done, err
		}
		n, err := w.w.Write(p[done : done+k])
		done += n
		if err != nil {
			return done, err
		}
	}
	return done, nil
}

// Conn limits what c receives by p.In and what it sends by p.Out. Closing
// the connection ends any wait.
func Conn(c net.Conn, p Pair) net.Conn {
	if !p.Enabled() {
		return c
	}
	ctx, cancel := context.WithCancel(context.Background())
	return &conn{Conn: c, p: p, ctx: ctx, cancel: cancel}
}

type conn struct {
	net.Conn
	p      Pair
	ctx    context.Context
	cancel context.CancelFunc
	once   sync.Once
}

func (c *conn) Read(b []byte) (int, error) {
	if c.p.In == nil {
		return c.Conn.Read(b)
	}
	if len(b) > c.p.In.burst {
		b = b[:c.p.In.burst]
	}
	n, err := c.Conn.Read(b)
	if werr := c.p.In.WaitN(c.ctx, n); err == nil && werr != nil {
		err = net.ErrClosed
	}
	return n, err
}

func (c *conn) Write(b []byte) (int, error) {
	if c.p.Out == nil {
		return c.Conn.Write(b)
	}
	done := 0
	for done < len(b) {
		k := min(len(b)-done, c.p.Out.burst)
		if err := c.p.Out.WaitN(c.ctx, k); err != nil {
			return done, net.ErrClosed
		}
		n, err := c.Conn.Write(b[done : done+k])
		done += n
		if err != nil {
			return done, err
		}
	}
	return done, nil
}

func (c *conn) Close() error {
	c.once.Do(c.cancel)
	return c.Conn.Close()
}
