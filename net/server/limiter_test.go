package server

import (
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// Regression (reliability suite, hostile clients): concurrent wrong
// passwords all passed the check before any failure was recorded. With the
// pair serialised, at most freeFailures guesses are tested.
func TestLoginLimiterSerialisesGuesses(t *testing.T) {
	var l loginLimiter
	var tested atomic.Int32
	var wg sync.WaitGroup
	for i := 0; i < 20; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			unlock := l.serialize("alice@pbs", "127.0.0.1:1234")
			defer unlock()
			now := time.Now()
			if l.blocked("alice@pbs", "127.0.0.1:1234", now) > 0 {
				return
			}
			tested.Add(1)
			l.fail("alice@pbs", "127.0.0.1:1234", now) // a wrong password
		}()
	}
	wg.Wait()
	if n := tested.Load(); n != freeFailures {
		t.Fatalf("%d of 20 concurrent guesses were tested, want %d", n, freeFailures)
	}
	if l.blocked("bob@pbs", "127.0.0.1:1234", time.Now()) != 0 {
		t.Fatal("another user is blocked too")
	}
}
