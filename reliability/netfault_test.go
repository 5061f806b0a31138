//go:build reliability

package reliability

import (
	"fmt"
	"io"
	mrand "math/rand/v2"
	"net"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// cutProxy forwards loopback TCP to a target and, when armed, cuts the
// connection after a byte budget (counted over both directions).
type cutProxy struct {
	ln     net.Listener
	target string
	budget atomic.Int64 // bytes left before the cut; <0 = never cut
	rst    atomic.Bool  // cut with RST instead of FIN
	cuts   atomic.Int64
}

func newCutProxy(t *testing.T, target string) *cutProxy {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &cutProxy{ln: ln, target: target}
	p.budget.Store(-1)
	go p.serve()
	t.Cleanup(func() { ln.Close() })
	return p
}

func (p *cutProxy) addr() string { return p.ln.Addr().String() }

func (p *cutProxy) serve() {
	for {
		c, err := p.ln.Accept()
		if err != nil {
			return
		}
		go p.handle(c)
	}
}

func (p *cutProxy) handle(c net.Conn) {
	u, err := net.Dial("tcp", p.target)
	if err != nil {
		c.Close()
		return
	}
	var once sync.Once
	cut := func() {
		once.Do(func() {
			if p.rst.Load() {
				c.(*net.TCPConn).SetLinger(0)
				u.(*net.TCPConn).SetLinger(0)
			}
			c.Close()
			u.Close()
		})
	}
	pipe := func(dst, src net.Conn) {
		buf := make([]byte, 16<<10)
		for {
			n, err := src.Read(buf)
			if n > 0 {
				if b := p.budget.Load(); b >= 0 {
					left := p.budget.Add(-int64(n))
					if left < 0 {
						// Forward what fits, then cut.
						keep := int64(n) + left
						if keep > 0 {
							dst.Write(buf[:keep])
						}
						p.cuts.Add(1)
						cut()
						return
					}
				}
				if _, err := dst.Write(buf[:n]); err != nil {
					cut()
					return
				}
			}
			if err != nil {
				if err != io.EOF {
					cut()
				}
				// Half close: pass the EOF on.
				if tc, ok := dst.(*net.TCPConn); ok {
					tc.CloseWrite()
				}
				return
			}
		}
	}
	go pipe(u, c)
	pipe(c, u)
}

// TestNetworkFaults: the client backs up through a proxy that cuts the
// connection after a random number of bytes.
func TestNetworkFaults(t *testing.T) {
	n := runs(4, 20)
	store := filepath.Join(tmpDir(t, "netstore"), "ds")
	s := newServer(t, store)
	px := newCutProxy(t, s.addr)
	env := s.env("alice@pbs")
	repo := s.repoVia("alice@pbs", px.addr())
	admEnv, admRepo := s.env("admin@pbs"), s.repo("admin@pbs")
	src := tmpDir(t, "netsrc")
	const bigMB = 16
	srcs := map[int64]string{}
	base := time.Now().Add(-time.Hour).Unix()

	cut, clear, retryOK, newSnaps, leftovers := 0, 0, 0, 0, 0
	var problems []string
	for i := 1; i <= n; i++ {
		d := filepath.Join(src, fmt.Sprint(i))
		mkSource(t, mustMkdir(t, d), uint64(500+i), bigMB)
		tm := base + int64(i)*10
		budget := 2000 + mrand.Int64N(bigMB<<20)
		px.rst.Store(i%2 == 0)
		px.budget.Store(budget)
		before := px.cuts.Load()
		out, err := run(env, "backup", "root.pxar:"+d, "--repository", repo, "--backup-id", "net", "--backup-time", fmt.Sprint(tm))
		px.budget.Store(-1)
		wasCut := px.cuts.Load() > before
		if err == nil {
			if wasCut {
				problems = append(problems, fmt.Sprintf("run %d: connection cut at byte %d but the backup reports success", i, budget))
			}
			srcs[tm] = d
		} else {
			cut++
			msg := strings.ToLower(out)
			if connErrorClear(msg) {
				clear++
			} else {
				problems = append(problems, fmt.Sprintf("run %d: unclear error after cut at byte %d: %s", i, budget, lastLines(out, 2)))
			}
			t.Logf("run %d (cut after %d bytes, rst=%v): %s", i, budget, px.rst.Load(), lastLines(out, 1))
			// The server drops the half session: no snapshot appears,
			// not even an unfinished one (given a moment to notice).
			var found *snapInfo
			for w := 0; w < 50; w++ {
				found = nil
				snaps, err := listSnaps(admEnv, admRepo)
				if err != nil {
					t.Fatal(err)
				}
				for _, sn := range snaps {
					if sn.Time == tm {
						found = &sn
					}
				}
				if found == nil {
					break
				}
				time.Sleep(100 * time.Millisecond)
			}
			if found != nil {
				if found.finished() {
					newSnaps++
					problems = append(problems, fmt.Sprintf("run %d: failed backup left a finished snapshot %s", i, found.Name()))
				} else {
					leftovers++
					problems = append(problems, fmt.Sprintf("run %d: failed backup left an unfinished snapshot %s on the live server", i, found.Name()))
				}
			}
		}
		// A retry through the healed proxy works.
		out, err = run(env, "backup", "root.pxar:"+d, "--repository", repo, "--backup-id", "net", "--backup-time", fmt.Sprint(tm+1))
		if err != nil {
			problems = append(problems, fmt.Sprintf("run %d: retry failed: %v: %s", i, err, lastLines(out, 2)))
		} else {
			retryOK++
			srcs[tm+1] = d
		}
	}
	total, bad := checkSnapshots(t, admEnv, admRepo, func(sn snapInfo) string { return srcs[sn.Time] })
	problems = append(problems, bad...)
	if !s.alive() {
		problems = append(problems, "server died")
	}
	for _, p := range problems {
		t.Error(p)
	}
	outcome := fmt.Sprintf("%d/%d backups cut (rest finished before the cut point); clear client error %d/%d; %d/%d retries ok; %d finished + %d unfinished snapshots left by cut sessions; %d/%d snapshots verify+restore identical",
		cut, n, clear, cut, retryOK, n, newSnaps, leftovers, total-len(bad), total)
	if len(problems) > 0 {
		outcome = "FAIL: " + outcome
	} else {
		outcome = "PASS: " + outcome
	}
	report(t, "network: connection cut mid-stream", n,
		fmt.Sprintf("TCP proxy between client and serve cuts after a uniform random 2 KB..%d MiB byte budget, FIN and RST alternately", bigMB),
		"client fails with a connection error, server shows no new snapshot, retry succeeds, all snapshots restore identical", outcome)
}

func mustMkdir(t *testing.T, d string) string {
	if err := mkdirAll(d); err != nil {
		t.Fatal(err)
	}
	return d
}

func regexpAny(s string, subs ...string) bool {
	for _, x := range subs {
		if strings.Contains(s, x) {
			return true
		}
	}
	return false
}

// connErrorClear: the client's error says the connection to the server was
// lost (not just that an internal HTTP/2 object became unusable).
func connErrorClear(msg string) bool {
	return regexpAny(strings.ToLower(msg), "eof", "connection reset", "connection refused", "connection lost",
		"connection closed", "broken pipe", "timeout", "server closed", "lost connection")
}
