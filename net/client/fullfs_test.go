package client

import (
	"errors"
	"syscall"
	"testing"
	"time"

	"cairn/internal/atomicfile/atomicfiletest"
)

// TestCacheFullFileSystem: the ticket and fingerprint caches fail to update
// on a full file system and keep their old content.
func TestCacheFullFileSystem(t *testing.T) {
	m := atomicfiletest.Mount(t, 64<<10)
	t.Setenv("XDG_RUNTIME_DIR", m.Dir)
	t.Setenv("XDG_CONFIG_HOME", m.Dir)
	ts := time.Now().Unix()
	if err := StoreTicket("h1", "alice@pbs", "ticket1", "csrf1", ts); err != nil {
		t.Fatal(err)
	}
	if err := StoreFingerprint("h1", "aa:bb"); err != nil {
		t.Fatal(err)
	}
	m.Fill()
	for name, err := range map[string]error{
		"StoreTicket":      StoreTicket("h2", "bob@pbs", "ticket2", "csrf2", ts),
		"RemoveTicket":     RemoveTicket("h1", "alice@pbs"),
		"StoreFingerprint": StoreFingerprint("h2", "cc:dd"),
	} {
		if !errors.Is(err, syscall.ENOSPC) {
			t.Errorf("%s on a full file system: %v, want ENOSPC", name, err)
		}
	}
	m.Unchanged()
	if e, ok := LoadTicket("h1", "alice@pbs"); !ok || e.Ticket != "ticket1" {
		t.Errorf("cached ticket after the failed writes: %+v %v", e, ok)
	}
}
