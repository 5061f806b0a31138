package realserver

import (
	"bytes"
	"context"
	"crypto/rand"
	"io"
	"os"
	"path/filepath"
	"testing"
	"time"

	"cairn/core"
	"cairn/core/ratelimit"
	"cairn/core/restore"
	"cairn/net/client"
)

// --rate over HTTPS to a real server on loopback: the limit wraps every
// connection of the client (the REST calls and the upgraded HTTP/2 backup
// and reader sessions), in each direction. A backup of 3 MiB of
// incompressible data sends at least that much, a restore receives at
// least that much, so each takes at least (3 MiB - burst) / rate; only
// this lower bound is asserted.
func TestRateLimitOverHTTPS(t *testing.T) {
	e := newEnv(t)
	c := ratelimit.Config{Rate: 1000000} // burst defaults to the rate
	open := func() *client.Repository {
		r, err := client.Open(client.Options{Spec: core.RepoSpec{AuthID: "alice@pbs", Host: e.host, Port: e.port, Store: "store1"},
			Password: []byte("alice@pbs-pw"), Fingerprint: e.fp, Log: io.Discard, RateLimit: c})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { r.Close() })
		return r
	}
	src := t.TempDir()
	const size = 3 << 20
	data := make([]byte, size)
	rand.Read(data)
	if err := os.WriteFile(filepath.Join(src, "random.bin"), data, 0o644); err != nil {
		t.Fatal(err)
	}
	min := time.Duration(float64(size-c.EffectiveBurst()) / float64(c.Rate) * float64(time.Second))

	start := time.Now()
	if _, err := doBackup(open(), "", "rate", 1700000000, "root.pxar:"+src); err != nil {
		t.Fatalf("backup: %v", err)
	}
	took := time.Since(start)
	t.Logf("backup of %d bytes at %d B/s over HTTPS: %v (at least %v)", size, c.Rate, took, min)
	if took < min {
		t.Errorf("backup took %v, less than the bucket allows (%v)", took, min)
	}

	target := filepath.Join(t.TempDir(), "restored")
	start = time.Now()
	err := restore.Run(context.Background(), restore.Options{Repo: open(), Snapshot: "host/rate", Archive: "root.pxar", Target: target})
	if err != nil {
		t.Fatalf("restore: %v", err)
	}
	took = time.Since(start)
	t.Logf("restore of %d bytes at %d B/s over HTTPS: %v (at least %v)", size, c.Rate, took, min)
	if took < min {
		t.Errorf("restore took %v, less than the bucket allows (%v)", took, min)
	}
	if got, _ := os.ReadFile(filepath.Join(target, "random.bin")); !bytes.Equal(got, data) {
		t.Fatal("restored data differs")
	}
}
