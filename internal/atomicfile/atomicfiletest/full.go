// Package atomicfiletest gives tests a real, full file system: a small
// tmpfs mounted for the test and filled until writes fail with ENOSPC, and
// a check that a failed write left every file as it was.
package atomicfiletest

import (
	"bytes"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"testing"

	"golang.org/x/sys/unix"
)

// FillName is the file Fill uses up the space with, in the root of the
// mount; Unchanged ignores it.
const FillName = ".fill"

// Full is a small tmpfs mounted on Dir for one test.
type Full struct {
	Dir    string
	tb     testing.TB
	before map[string]entry
}

type entry struct {
	mode fs.FileMode
	data []byte // regular files; a symlink's target
}

// Mount mounts a tmpfs of size bytes on a fresh directory and unmounts it
// when the test ends. The test is skipped unless it runs as root and the
// mount works.
func Mount(tb testing.TB, size int) *Full {
	tb.Helper()
	if os.Geteuid() != 0 {
		tb.Skip("mounting a tmpfs needs root")
	}
	dir := tb.TempDir()
	if err := unix.Mount("tmpfs", dir, "tmpfs", 0, "size="+strconv.Itoa(size)); err != nil {
		tb.Skipf("cannot mount a tmpfs: %v", err)
	}
	tb.Cleanup(func() {
		if err := unix.Unmount(dir, unix.MNT_DETACH); err != nil {
			tb.Errorf("unmount %s: %v", dir, err)
		}
	})
	return &Full{Dir: dir, tb: tb}
}

// Fill records every file under Dir (for Unchanged), then fills the file
// system: after it, any write that needs a new block fails with ENOSPC.
func (m *Full) Fill() {
	m.tb.Helper()
	m.before = m.scan()
	f, err := os.OpenFile(filepath.Join(m.Dir, FillName), os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		m.tb.Fatal(err)
	}
	defer f.Close()
	buf := make([]byte, 4096)
	for _, n := range []int{len(buf), 1} {
		for {
			_, err := f.Write(buf[:n])
			if errors.Is(err, unix.ENOSPC) {
				break
			}
			if err != nil {
				m.tb.Fatal(err)
			}
		}
	}
	// Proof: a new file cannot get a byte.
	p := filepath.Join(m.Dir, ".fill-probe")
	err = os.WriteFile(p, []byte{1}, 0o600)
	os.Remove(p)
	if !errors.Is(err, unix.ENOSPC) {
		m.tb.Fatalf("file system not full: writing a new file: %v", err)
	}
}

// Unchanged fails the test unless every file Fill recorded is there with
// the same bytes and mode, and nothing else appeared (no temporary file).
func (m *Full) Unchanged() {
	m.tb.Helper()
	if m.before == nil {
		m.tb.Fatal("Unchanged before Fill")
	}
	now := m.scan()
	var names []string
	for n := range m.before {
		names = append(names, n)
	}
	for n := range now {
		if _, ok := m.before[n]; !ok {
			names = append(names, n)
		}
	}
	sort.Strings(names)
	for _, n := range names {
		b, had := m.before[n]
		a, has := now[n]
		switch {
		case !has:
			m.tb.Errorf("%s: gone", n)
		case !had:
			m.tb.Errorf("%s: left behind (%v, %d bytes)", n, a.mode, len(a.data))
		case a.mode != b.mode:
			m.tb.Errorf("%s: mode %v, was %v", n, a.mode, b.mode)
		case !bytes.Equal(a.data, b.data):
			m.tb.Errorf("%s: %d bytes %q, was %d bytes", n, len(a.data), trim(a.data), len(b.data))
		}
	}
}

func trim(b []byte) []byte {
	if len(b) > 64 {
		return b[:64]
	}
	return b
}

func (m *Full) scan() map[string]entry {
	m.tb.Helper()
	out := map[string]entry{}
	err := filepath.WalkDir(m.Dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(m.Dir, p)
		if rel == "." || rel == FillName {
			return nil
		}
		info, err := os.Lstat(p)
		if err != nil {
			return err
		}
		e := entry{mode: info.Mode()}
		switch {
		case info.Mode().IsRegular():
			e.data, err = os.ReadFile(p)
		case info.Mode()&fs.ModeSymlink != 0:
			var t string
			t, err = os.Readlink(p)
			e.data = []byte(t)
		}
		out[rel] = e
		return err
	})
	if err != nil {
		m.tb.Fatal(err)
	}
	return out
}
