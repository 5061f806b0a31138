package client

import (
	"encoding/binary"
	"fmt"
	"io"
	"net/http"
	"sync"
	"time"

	"cairn/core"
)

// speedtestSize is the body of one speedtest request (protocol.md 10).
const speedtestSize = 4 << 20

// speedtestInFlight bounds the requests sent but not answered.
const speedtestInFlight = 16

// speedtestData is 4 MiB of little-endian u32 counters 0, 1, 2, …
func speedtestData() []byte {
	data := make([]byte, speedtestSize)
	for i := 0; i < speedtestSize/4; i++ {
		binary.LittleEndian.PutUint32(data[4*i:], uint32(i))
	}
	return data
}

// SpeedTest measures the upload speed to the server (protocol.md 10): a
// benchmark backup session as host/benchmark, then POST speedtest with a
// 4 MiB body, pipelined, started while less than window has passed. It
// returns the bytes sent and the time from the first request until every
// answer arrived, and reports like upstream to progress. The server removes
// the benchmark snapshot.
func (r *Repository) SpeedTest(window time.Duration, progress io.Writer) (uint64, time.Duration, error) {
	if progress == nil {
		progress = io.Discard
	}
	snap := core.Snapshot{Group: core.Group{Type: core.TypeHost, ID: "benchmark"}, Time: time.Now().Unix()}
	q := snapshotQuery(r.store, "", snap)
	q.Set("benchmark", "true")
	s, err := r.c.Upgrade(r.ctx, "backup", BackupProtocol, q)
	if err != nil {
		return 0, 0, err
	}
	defer s.Close()

	data := speedtestData()
	slots := make(chan struct{}, speedtestInFlight)
	var wg sync.WaitGroup
	var errMu sync.Mutex
	var firstErr error
	failed := func() error {
		errMu.Lock()
		defer errMu.Unlock()
		return firstErr
	}
	repeat := 0
	start := time.Now()
	for time.Since(start) < window && failed() == nil {
		slots <- struct{}{}
		repeat++
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer func() { <-slots }()
			if _, err := s.do(r.ctx, http.MethodPost, "speedtest", nil, data, "application/octet-stream"); err != nil {
				errMu.Lock()
				if firstErr == nil {
					firstErr = fmt.Errorf("speedtest upload: %w", err)
				}
				errMu.Unlock()
			}
		}()
	}
	wg.Wait()
	elapsed := time.Since(start)
	if err := failed(); err != nil {
		return 0, 0, err
	}
	fmt.Fprintf(progress, "Uploaded %d chunks in %d seconds.\n", repeat, int64(elapsed.Seconds()))
	fmt.Fprintf(progress, "Time per request: %d microseconds.\n", elapsed.Microseconds()/int64(max(repeat, 1)))
	return uint64(repeat) * speedtestSize, elapsed, nil
}
