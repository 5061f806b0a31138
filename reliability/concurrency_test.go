//go:build reliability

package reliability

import (
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// TestConcurrency: 8 clients back up into 8 groups of one server at once,
// while a GC loop (with every chunk aged past the grace period), a prune
// loop (keep-last 1 on the writers' own groups, so the previous snapshot
// whose chunks the new backup reuses is removed mid-upload) and 2 readers
// restoring a fixed snapshot run. Afterwards every finished snapshot must
// verify and restore byte-identical.
func TestConcurrency(t *testing.T) {
	const writers = 8
	rounds := runs(1, 5)
	store := filepath.Join(tmpDir(t, "concstore"), "ds")
	s := newServer(t, store)
	adm, admRepo := s.env("admin@pbs"), s.repo("admin@pbs")
	users := []string{"alice@pbs", "bob@pbs"}

	srcs := map[string]string{} // "id/time" -> source
	var srcMu sync.Mutex
	key := func(id string, tm int64) string { return fmt.Sprintf("%s/%d", id, tm) }
	srcOf := func(sn snapInfo) string { srcMu.Lock(); defer srcMu.Unlock(); return srcs[key(sn.ID, sn.Time)] }
	mk := func(k, round int) string {
		d := tmpDir(t, fmt.Sprintf("w%d-r%d", k, round))
		mkSource(t, d, uint64(100+k), 12) // same big file every round: dedup
		b := make([]byte, 200000)
		for i := range b {
			b[i] = byte(i*round + k)
		}
		os.WriteFile(filepath.Join(d, "round.bin"), b, 0o644)
		return d
	}
	base := time.Now().Add(-2 * time.Hour).Unix()

	// Seed: one snapshot per writer group, and a static group for readers.
	static := tmpDir(t, "static")
	mkSource(t, static, 99, 8)
	mustRun(t, s.env("alice@pbs"), "backup", "root.pxar:"+static, "--repository", s.repo("alice@pbs"), "--backup-id", "static", "--backup-time", fmt.Sprint(base))
	srcs[key("static", base)] = static
	staticName := snapInfo{Type: "host", ID: "static", Time: base}.Name()
	for k := 0; k < writers; k++ {
		d := mk(k, 0)
		u := users[k%2]
		mustRun(t, s.env(u), "backup", "root.pxar:"+d, "--repository", s.repo(u), "--backup-id", fmt.Sprintf("w%d", k), "--backup-time", fmt.Sprint(base))
		srcs[key(fmt.Sprintf("w%d", k), base)] = d
	}

	var backupsOK, backupsFail, gcs, gcFail, prunes, pruneFail, reads, readFail atomic.Int64
	var problems []string
	var pmu sync.Mutex
	problem := func(f string, a ...any) { pmu.Lock(); problems = append(problems, fmt.Sprintf(f, a...)); pmu.Unlock() }

	for round := 1; round <= rounds; round++ {
		ageChunks(t, store)
		tm := base + int64(round)*60
		dirs := make([]string, writers)
		for k := range dirs {
			dirs[k] = mk(k, round)
			srcs[key(fmt.Sprintf("w%d", k), tm)] = dirs[k]
		}
		stop := make(chan struct{})
		var bg sync.WaitGroup
		// GC loop.
		bg.Add(1)
		go func() {
			defer bg.Done()
			for {
				select {
				case <-stop:
					return
				default:
				}
				out, err := run(adm, "garbage-collect", "--repository", admRepo)
				gcs.Add(1)
				if err != nil {
					gcFail.Add(1)
					t.Logf("gc during uploads: %v: %s", err, lastLines(out, 1))
				}
			}
		}()
		// Prune loop over the writers' groups.
		bg.Add(1)
		go func() {
			defer bg.Done()
			for i := 0; ; i++ {
				select {
				case <-stop:
					return
				default:
				}
				g := fmt.Sprintf("host/w%d", i%writers)
				out, err := run(adm, "prune", g, "--keep-last", "1", "--repository", admRepo)
				prunes.Add(1)
				if err != nil {
					pruneFail.Add(1)
					t.Logf("prune %s: %v: %s", g, err, lastLines(out, 1))
				}
			}
		}()
		// Readers.
		for r := 0; r < 2; r++ {
			bg.Add(1)
			go func() {
				defer bg.Done()
				for {
					select {
					case <-stop:
						return
					default:
					}
					dst := filepath.Join(workRoot, fmt.Sprintf("reader-%d-%d", round, reads.Add(1)))
					out, err := run(s.env("alice@pbs"), "restore", staticName, "root.pxar", dst, "--repository", s.repo("alice@pbs"))
					if err != nil {
						readFail.Add(1)
						problem("restore while uploading: %v: %s", err, lastLines(out, 2))
					} else if err := sameTree(static, dst); err != nil {
						readFail.Add(1)
						problem("restore while uploading differs: %v", err)
					}
					os.RemoveAll(dst)
				}
			}()
		}
		var wg sync.WaitGroup
		for k := 0; k < writers; k++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				u := users[k%2]
				out, err := run(s.env(u), "backup", "root.pxar:"+dirs[k], "--repository", s.repo(u), "--backup-id", fmt.Sprintf("w%d", k), "--backup-time", fmt.Sprint(tm))
				if err != nil {
					backupsFail.Add(1)
					problem("round %d writer %d: %v: %s", round, k, err, lastLines(out, 2))
				} else {
					backupsOK.Add(1)
				}
			}()
		}
		wg.Wait()
		close(stop)
		bg.Wait()
		// Every finished snapshot, including this round's, is whole
		// (checked after the last round in any case).
		if round < rounds {
			_, bad := checkSnapshots(t, adm, admRepo, srcOf)
			for _, b := range bad {
				problem("round %d: %s", round, b)
			}
		}
	}
	// Final: an aged GC with nothing running keeps everything referenced.
	_, orphans, err := gcAged(t, adm, admRepo, store)
	if err != nil {
		problem("final gc: %v", err)
	}
	total, bad := checkSnapshots(t, adm, admRepo, srcOf)
	for _, b := range bad {
		problem("after final gc: %s", b)
	}
	for _, p := range problems {
		t.Error(p)
	}
	if !s.alive() {
		t.Error("server died")
	}
	outcome := fmt.Sprintf("%d/%d backups ok; %d restores during uploads (%d bad); %d GCs (%d failed) and %d prunes (%d failed) during uploads; %d/%d final snapshots verify+restore identical after aged GC (%d orphans left); %d problems",
		backupsOK.Load(), rounds*writers, reads.Load(), readFail.Load(), gcs.Load(), gcFail.Load(), prunes.Load(), pruneFail.Load(), total-len(bad), total, orphans, len(problems))
	if len(problems) > 0 || backupsFail.Load() > 0 {
		outcome = "FAIL: " + outcome
	} else {
		outcome = "PASS: " + outcome
	}
	report(t, "concurrency: 8 writers + GC + prune + 2 readers", rounds,
		fmt.Sprintf("%d rounds of 8 simultaneous network backups (2 users, 8 groups, 12 MiB each, deduplicated against the previous snapshot) with chunks aged 3 days, GC loop, prune --keep-last 1 loop on the same groups, 2 restore loops", rounds),
		"every backup succeeds, no chunk lost, every finished snapshot verifies and restores identical, readers get identical data", outcome)
}
