package server

import (
	"container/list"
	"context"
	"fmt"
	"net/http"
	"runtime"
	"strings"
	"sync"
	"syscall"
	"time"
)

// Limits bound what one user can make the server hold (issue 16, items 2
// and 5): sessions, with the connection and lock files each keeps open, and
// the memory chunk verification takes. Zero fields take the defaults.
type Limits struct {
	// MaxSessions caps the backup and reader sessions open at once, all
	// users together. A session holds about 6 file descriptors (its
	// connection, the group, store and snapshot locks, the writer
	// registration). Default: an eighth of the process's file-descriptor
	// limit, between 16 and 4096 (2,500 for a limit of 20,000).
	MaxSessions int
	// MaxSessionsPerUser caps the sessions of one user; an API token
	// counts as its user. Default 64. A refused upgrade is answered 429.
	MaxSessionsPerUser int
	// SessionIdleTimeout closes a session that has had no request in flight
	// for this long (HTTP/2 GOAWAY, then the connection is closed). PINGs
	// do not count as activity. Default 15 minutes.
	SessionIdleTimeout time.Duration
	// DecodeBudget bounds the memory of the unencrypted chunk uploads being
	// verified at once (all sessions together): an upload of a chunk of n
	// bytes waits for 2n of it before it decompresses (the output, and
	// the one reallocation a payload larger than announced causes before
	// decompression stops). Default: 32 MiB per CPU, between 64 and
	// 256 MiB: two 16 MiB chunks, or eight of the usual 4 MiB, at once on
	// two CPUs.
	DecodeBudget int64
}

// Defaults.
const (
	defaultMaxSessionsPerUser = 64
	defaultSessionIdle        = 15 * time.Minute
	fdsPerSession             = 8
)

// withDefaults fills in the zero fields.
func (l Limits) withDefaults() Limits {
	if l.MaxSessions <= 0 {
		l.MaxSessions = defaultMaxSessions()
	}
	if l.MaxSessionsPerUser <= 0 {
		l.MaxSessionsPerUser = defaultMaxSessionsPerUser
	}
	if l.SessionIdleTimeout <= 0 {
		l.SessionIdleTimeout = defaultSessionIdle
	}
	if l.DecodeBudget <= 0 {
		l.DecodeBudget = min(max(int64(runtime.GOMAXPROCS(0))*32<<20, 64<<20), 256<<20)
	}
	return l
}

func defaultMaxSessions() int {
	var rl syscall.Rlimit
	n := 1024
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &rl); err == nil && rl.Cur > 0 && rl.Cur < 1<<30 {
		n = int(rl.Cur)
	}
	return min(max(n/fdsPerSession, 16), 4096)
}

// limits are the server's limits with defaults applied.
func (s *Server) limits() Limits {
	s.slots.once.Do(func() { s.slots.lim = s.opts.Limits.withDefaults() })
	return s.slots.lim
}

// sessionSlots counts the open sessions, all together and per user.
type sessionSlots struct {
	once    sync.Once
	lim     Limits
	mu      sync.Mutex
	total   int
	byUser  map[string]int
	decode  *weighted
	catalog *weighted // catalogstream.go
}

// sessionSlot is one acquired session; release is idempotent.
type sessionSlot struct {
	s       *Server
	user    string
	once    sync.Once
	serving bool // handed to serveSession, which releases it
}

// sessionUser is the user a session counts against: a token's user.
func sessionUser(authID string) string {
	u, _, _ := strings.Cut(authID, "!")
	return u
}

// acquireSession takes a session slot for authID, or says why not: 429 when
// the user has MaxSessionsPerUser open, 503 when the server has MaxSessions.
func (s *Server) acquireSession(authID string) (*sessionSlot, error) {
	lim := s.limits()
	user := sessionUser(authID)
	s.slots.mu.Lock()
	defer s.slots.mu.Unlock()
	if s.slots.byUser == nil {
		s.slots.byUser = map[string]int{}
	}
	if n := s.slots.byUser[user]; n >= lim.MaxSessionsPerUser {
		return nil, errorf(http.StatusTooManyRequests, "too many open backup/reader sessions for user '%s' (%d, the limit)", user, n)
	}
	if s.slots.total >= lim.MaxSessions {
		return nil, errorf(http.StatusServiceUnavailable, "too many open backup/reader sessions (%d, the server's limit)", s.slots.total)
	}
	s.slots.total++
	s.slots.byUser[user]++
	return &sessionSlot{s: s, user: user}, nil
}

func (sl *sessionSlot) release() {
	if sl == nil {
		return
	}
	sl.once.Do(func() {
		ss := &sl.s.slots
		ss.mu.Lock()
		ss.total--
		if ss.byUser[sl.user]--; ss.byUser[sl.user] <= 0 {
			delete(ss.byUser, sl.user)
		}
		ss.mu.Unlock()
	})
}

// releaseUnlessServing releases the slot of an upgrade that failed before
// its session was served (deferred by the upgrade handlers).
func (sl *sessionSlot) releaseUnlessServing() {
	if !sl.serving {
		sl.release()
	}
}

// decodeBudget is the server-wide budget of decoded chunk bytes.
func (s *Server) decodeBudget() *weighted {
	lim := s.limits()
	s.slots.mu.Lock()
	defer s.slots.mu.Unlock()
	if s.slots.decode == nil {
		s.slots.decode = newWeighted(lim.DecodeBudget)
	}
	return s.slots.decode
}

// weighted is a FIFO weighted semaphore.
type weighted struct {
	size    int64
	mu      sync.Mutex
	cur     int64
	waiters list.List // of *waiter
}

type waiter struct {
	n     int64
	ready chan struct{}
}

func newWeighted(n int64) *weighted { return &weighted{size: n} }

// acquire takes n (at most the whole budget), waiting in turn.
func (w *weighted) acquire(ctx context.Context, n int64) error {
	n = min(n, w.size)
	w.mu.Lock()
	if w.size-w.cur >= n && w.waiters.Len() == 0 {
		w.cur += n
		w.mu.Unlock()
		return nil
	}
	wt := &waiter{n: n, ready: make(chan struct{})}
	el := w.waiters.PushBack(wt)
	w.mu.Unlock()
	select {
	case <-wt.ready:
		return nil
	case <-ctx.Done():
		w.mu.Lock()
		select {
		case <-wt.ready:
			// Granted meanwhile: give it back.
			w.cur -= n
			w.notifyLocked()
		default:
			w.waiters.Remove(el)
			w.notifyLocked()
		}
		w.mu.Unlock()
		return fmt.Errorf("waiting for decode memory: %w", ctx.Err())
	}
}

// Acquire and Release make a weighted a datastore.Budget.
func (w *weighted) Acquire(ctx context.Context, n int64) error { return w.acquire(ctx, n) }
func (w *weighted) Release(n int64)                            { w.release(n) }

func (w *weighted) release(n int64) {
	n = min(n, w.size)
	w.mu.Lock()
	w.cur -= n
	w.notifyLocked()
	w.mu.Unlock()
}

func (w *weighted) notifyLocked() {
	for {
		el := w.waiters.Front()
		if el == nil {
			return
		}
		wt := el.Value.(*waiter)
		if w.size-w.cur < wt.n {
			return
		}
		w.cur += wt.n
		w.waiters.Remove(el)
		close(wt.ready)
	}
}
