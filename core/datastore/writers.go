package datastore

import (
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"golang.org/x/sys/unix"
)

// Running backups register in .writers/, one file each holding the writer's
// start time under an exclusive flock. Garbage collection reads the oldest
// start time of the files still locked, so a backup running in another
// process never loses a chunk it relies on (protocol.md 8.1).
const writersDir = ".writers"

var writerSeq atomic.Uint64

// registerWriter records a running writer and returns its release.
func (d *Datastore) registerWriter(start time.Time) (func(), error) {
	dir := filepath.Join(d.backend.StateDir(), writersDir)
	if err := os.MkdirAll(dir, dirMode); err != nil {
		return nil, err
	}
	name := fmt.Sprintf("%d-%d", os.Getpid(), writerSeq.Add(1))
	p := filepath.Join(dir, name)
	// Locked and filled under a dot name GC ignores, then renamed into
	// place: GC must never see the file before it is locked, or it would
	// take it for a dead writer's and remove it.
	tmp := filepath.Join(dir, "."+name)
	f, err := os.OpenFile(tmp, os.O_CREATE|os.O_RDWR|os.O_TRUNC, fileMode)
	if err != nil {
		return nil, err
	}
	fail := func(err error) (func(), error) {
		f.Close()
		os.Remove(tmp)
		return nil, err
	}
	if err := unix.Flock(int(f.Fd()), unix.LOCK_EX|unix.LOCK_NB); err != nil {
		return fail(err)
	}
	if _, err := f.WriteString(strconv.FormatInt(start.Unix(), 10)); err != nil {
		return fail(err)
	}
	if err := os.Rename(tmp, p); err != nil {
		return fail(err)
	}
	return func() { os.Remove(p); f.Close() }, nil
}

// oldestWriter returns the start of the oldest running writer, if any;
// entries of writers that died are removed.
func (d *Datastore) oldestWriter() (time.Time, bool) {
	dir := filepath.Join(d.backend.StateDir(), writersDir)
	ents, err := os.ReadDir(dir)
	if err != nil {
		return time.Time{}, false
	}
	var oldest time.Time
	found := false
	for _, e := range ents {
		if strings.HasPrefix(e.Name(), ".") {
			continue // a writer still registering: it started just now
		}
		p := filepath.Join(dir, e.Name())
		f, err := os.Open(p)
		if err != nil {
			continue
		}
		if unix.Flock(int(f.Fd()), unix.LOCK_SH|unix.LOCK_NB) == nil {
			// Nobody holds it: a writer that is gone.
			os.Remove(p)
			f.Close()
			continue
		}
		b := make([]byte, 32)
		n, _ := f.Read(b)
		f.Close()
		sec, err := strconv.ParseInt(strings.TrimSpace(string(b[:n])), 10, 64)
		if err != nil {
			// Still being written: it started just now.
			sec = time.Now().Unix()
		}
		t := time.Unix(sec, 0)
		if !found || t.Before(oldest) {
			oldest, found = t, true
		}
	}
	return oldest, found
}
