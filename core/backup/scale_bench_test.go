package backup_test

import (
	"context"
	"os"
	"runtime"
	"runtime/metrics"
	"runtime/pprof"
	"sync"
	"testing"
	"time"

	"cairn/core"
	"cairn/core/backup"
	"cairn/core/datastore/datastoretest"
)

// TestScaleHeap backs up CAIRN_SCALE_TREE (bench/scale.sh's tree of small
// files) twice in metadata mode, a full then an unchanged backup, and
// reports each one's peak live heap; CAIRN_SCALE_HEAPPROFILE=FILE gets a heap
// profile taken at the unchanged backup's peak (go tool pprof
// -sample_index=inuse_space -top FILE shows what holds the memory). It runs
// only when CAIRN_SCALE_TREE is set.
func TestScaleHeap(t *testing.T) {
	tree := os.Getenv("CAIRN_SCALE_TREE")
	if tree == "" {
		t.Skip("CAIRN_SCALE_TREE not set")
	}
	mode := os.Getenv("CAIRN_SCALE_MODE")
	if mode == "" {
		mode = backup.ModeMetadata
	}
	ds := datastoretest.Dir(t)
	sp, err := backup.ParseSpec("data.pxar:" + tree)
	if err != nil {
		t.Fatal(err)
	}
	runtime.MemProfileRate = 64 << 10
	for i, name := range []string{"full", "unchanged"} {
		profile := ""
		if name == "unchanged" {
			profile = os.Getenv("CAIRN_SCALE_HEAPPROFILE")
		}
		stop := sampleLiveHeap(profile)
		start := time.Now()
		_, err := backup.Run(context.Background(), backup.Options{Repo: ds, ChangeDetection: mode,
			Snapshot: core.Snapshot{Group: core.Group{Type: core.TypeHost, ID: "scale"}, Time: 1700000000 + int64(i)}, Specs: []backup.Spec{sp}})
		peak := stop()
		if err != nil {
			t.Fatal(err)
		}
		t.Logf("%s %s backup: %.2f s, peak live heap %.1f MB", mode, name, time.Since(start).Seconds(), float64(peak)/1e6)
	}
}

// sampleLiveHeap polls the live heap (as of the last GC) every 20 ms until
// the returned function is called, which returns its peak. With a file name,
// a heap profile is written there each time the peak grows by 5%.
func sampleLiveHeap(file string) func() uint64 {
	var peak uint64
	done := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		s := []metrics.Sample{{Name: "/gc/heap/live:bytes"}}
		var written uint64
		for {
			select {
			case <-done:
				return
			case <-time.After(20 * time.Millisecond):
			}
			metrics.Read(s)
			v := s[0].Value.Uint64()
			if v > peak {
				peak = v
			}
			if file != "" && peak > written+written/20 {
				if f, err := os.Create(file); err == nil {
					pprof.Lookup("heap").WriteTo(f, 0)
					f.Close()
				}
				written = peak
			}
		}
	}()
	return func() uint64 {
		close(done)
		wg.Wait()
		return peak
	}
}
