package hostile

import (
	"bufio"
	"fmt"
	"os"
	"strconv"
	"strings"
	"sync"
	"time"
)

// ProcStatus reads a /proc/PID/status field in bytes ("VmRSS", "VmHWM").
func ProcStatus(pid int, field string) (int64, error) {
	f, err := os.Open(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, err
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		k, v, ok := strings.Cut(sc.Text(), ":")
		if !ok || k != field {
			continue
		}
		fs := strings.Fields(v)
		if len(fs) == 0 {
			break
		}
		n, err := strconv.ParseInt(fs[0], 10, 64)
		if err != nil {
			return 0, err
		}
		if len(fs) > 1 && fs[1] == "kB" {
			n <<= 10
		}
		return n, nil
	}
	return 0, fmt.Errorf("/proc/%d/status: no %s", pid, field)
}

// OpenFDs counts a process's open file descriptors.
func OpenFDs(pid int) (int, error) {
	ents, err := os.ReadDir(fmt.Sprintf("/proc/%d/fd", pid))
	return len(ents), err
}

// Sampler watches a process's resident memory: the peak it saw, and an
// optional ceiling above which it calls OnExceed once (to kill a server
// that would take the machine down).
type Sampler struct {
	pid      int
	ceiling  int64
	onExceed func(rss int64)

	mu       sync.Mutex
	peak     int64
	exceeded bool
	stop     chan struct{}
	done     chan struct{}
}

// Watch starts sampling VmRSS every 5 ms. ceiling <= 0 means none.
func Watch(pid int, ceiling int64, onExceed func(rss int64)) *Sampler {
	s := &Sampler{pid: pid, ceiling: ceiling, onExceed: onExceed, stop: make(chan struct{}), done: make(chan struct{})}
	go s.loop()
	return s
}

func (s *Sampler) loop() {
	defer close(s.done)
	t := time.NewTicker(5 * time.Millisecond)
	defer t.Stop()
	for {
		s.sample()
		select {
		case <-s.stop:
			s.sample()
			return
		case <-t.C:
		}
	}
}

func (s *Sampler) sample() {
	rss, err := ProcStatus(s.pid, "VmRSS")
	if err != nil {
		return
	}
	// VmHWM also catches peaks between two samples.
	if hwm, err := ProcStatus(s.pid, "VmHWM"); err == nil && hwm > rss {
		rss = hwm
	}
	s.mu.Lock()
	if rss > s.peak {
		s.peak = rss
	}
	fire := s.ceiling > 0 && rss > s.ceiling && !s.exceeded
	if fire {
		s.exceeded = true
	}
	s.mu.Unlock()
	if fire && s.onExceed != nil {
		s.onExceed(rss)
	}
}

// Stop ends sampling and returns the peak resident size in bytes and
// whether the ceiling was crossed.
func (s *Sampler) Stop() (peak int64, exceeded bool) {
	select {
	case <-s.stop:
	default:
		close(s.stop)
	}
	<-s.done
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.peak, s.exceeded
}

// MiB formats bytes as MiB.
func MiB(n int64) string { return fmt.Sprintf("%.0f MiB", float64(n)/(1<<20)) }
