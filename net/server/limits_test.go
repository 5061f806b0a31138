package server

import (
	"context"
	"net/http"
	"testing"
	"time"
)

// TestSessionSlots: per-user (a token counts as its user) and server-wide
// caps, with the statuses they answer, and slots coming back on release.
func TestSessionSlots(t *testing.T) {
	s := &Server{opts: Options{Limits: Limits{MaxSessions: 3, MaxSessionsPerUser: 2}}}
	a1, err := s.acquireSession("alice@pbs")
	if err != nil {
		t.Fatal(err)
	}
	a2, err := s.acquireSession("alice@pbs!backup")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.acquireSession("alice@pbs!other"); statusOf(err) != http.StatusTooManyRequests {
		t.Fatalf("third session of alice (through a token): %v", err)
	}
	b1, err := s.acquireSession("bob@pbs")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.acquireSession("carol@pbs"); statusOf(err) != http.StatusServiceUnavailable {
		t.Fatalf("fourth session on the server: %v", err)
	}
	a1.release()
	a1.release() // idempotent
	if _, err := s.acquireSession("carol@pbs"); err != nil {
		t.Fatalf("after a release: %v", err)
	}
	a2.release()
	b1.release()
	if s.slots.total != 1 || len(s.slots.byUser) != 1 {
		t.Fatalf("slots after releases: %d %v", s.slots.total, s.slots.byUser)
	}
}

func TestLimitDefaults(t *testing.T) {
	l := Limits{}.withDefaults()
	if l.MaxSessions < 16 || l.MaxSessions > 4096 || l.MaxSessionsPerUser != 64 || l.SessionIdleTimeout != 15*time.Minute || l.DecodeBudget < 64<<20 {
		t.Fatalf("defaults %+v", l)
	}
}

// TestWeighted: FIFO grants, a request larger than the budget takes all of
// it, and a cancelled waiter gives its turn back.
func TestWeighted(t *testing.T) {
	w := newWeighted(10)
	ctx := context.Background()
	if err := w.acquire(ctx, 8); err != nil {
		t.Fatal(err)
	}
	got := make(chan int, 3)
	go func() { w.acquire(ctx, 5); got <- 5 }()
	time.Sleep(20 * time.Millisecond)
	cctx, cancel := context.WithCancel(ctx)
	errc := make(chan error, 1)
	go func() { errc <- w.acquire(cctx, 100) }()
	time.Sleep(20 * time.Millisecond)
	select {
	case <-got:
		t.Fatal("granted beyond the budget")
	default:
	}
	cancel()
	if err := <-errc; err == nil {
		t.Fatal("cancelled acquire succeeded")
	}
	w.release(8)
	select {
	case <-got:
	case <-time.After(2 * time.Second):
		t.Fatal("waiter not granted after release")
	}
	w.release(5)
	if err := w.acquire(ctx, 100); err != nil { // clamped to the whole budget
		t.Fatal(err)
	}
	w.release(100)
	if w.cur != 0 {
		t.Fatalf("budget in use after all releases: %d", w.cur)
	}
}
