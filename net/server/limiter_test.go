package server

import (
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// Regression (reliability suite, hostile clients): concurrent wrong
// passwords all passed the check before any failure was recorded.
func TestLoginLimiterCountsConcurrentAttempts(t *testing.T) {
	var l loginLimiter
	now := time.Now()
	var allowed atomic.Int32
	var wg sync.WaitGroup
	for i := 0; i < 20; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if l.begin("alice@pbs", "127.0.0.1:1234", now) == 0 {
				allowed.Add(1)
			}
		}()
	}
	wg.Wait()
	if n := allowed.Load(); n != freeFailures {
		t.Fatalf("%d of 20 concurrent attempts were checked, want %d", n, freeFailures)
	}
	if l.begin("bob@pbs", "127.0.0.1:1234", now) != 0 {
		t.Fatal("another user is blocked too")
	}
	l.success("alice@pbs", "127.0.0.1:9")
	if l.begin("alice@pbs", "127.0.0.1:9", now) != 0 {
		t.Fatal("a success does not clear the count")
	}
}
