package pxartest

import (
	"bytes"
	"crypto/sha256"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"golang.org/x/sys/unix"

	"cairn/pxar"
)

// Hostile archives: crafted with the encoder, which writes entries in any
// order and with duplicate names, to make an extraction touch something
// outside its target: a victim file that is chmodded, linked or written
// through a symlink the archive made, or a path leaving the target by
// name. An extraction must refuse them or extract them harmlessly, and
// leave everything outside the target as it was.

// Case is one hostile archive in both forms.
type Case struct {
	Name string
	What string // the attack, one line
	// Unified is the archive as one stream; Meta and Payload the same
	// entries as a split archive.
	Unified, Meta, Payload []byte
	// Dup: the archive has two entries of one name in a directory, which
	// every reader must refuse.
	Dup bool
	// RaceMetaAt and RacePayloadAt are, for the race case, where in Meta
	// the entry that replaces the background file starts and where in
	// Payload the data of the small file after it starts: a test can hold
	// the background writer until the replacement is done (see
	// TestExtractDuplicateRace).
	RaceMetaAt, RacePayloadAt uint64
}

// BigFile is the size of the files a split extraction writes in the
// background (pxar's threshold is 1 MiB).
const BigFile = 2 << 20

// Secret is the name of the victim file in the outside directory.
const Secret = "secret"

// HostileCases builds the hostile archives against outside, an absolute
// directory holding the victim file Secret. The cases that leave the
// target by name ("..") assume the target is a sibling of outside.
func HostileCases(outside string) ([]Case, error) {
	victim := filepath.Join(outside, Secret)
	base := filepath.Base(outside)
	big := bytes.Repeat([]byte("pwned by a hostile archive\n"), BigFile/27+1)[:BigFile]
	pwn := []byte("pwned\n")
	cases := []struct {
		name, what string
		dup        bool
		build      func(c *crafter) error
	}{
		{"race: big file then symlink of the same name", "split, --overwrite: a large file (mode 4777) written in the background, then a symlink of its name to the victim", true,
			raceBuild(victim, big, 0)},
		{"symlink then file of the same name", "a symlink to the victim, then a large file (mode 4777) of its name", true, func(c *crafter) error {
			c.symlink("f", victim)
			c.file("f", 0o4777, big)
			return nil
		}},
		{"hardlink through a symlink", "s -> outside, then a hardlink h -> s/secret", false, func(c *crafter) error {
			c.file("a", 0o644, pwn)
			c.symlink("s", outside)
			c.hardlink("h", "s/"+Secret)
			return nil
		}},
		{"hardlink through a nested symlink", "r/s -> outside, then a hardlink h -> r/s/secret", false, func(c *crafter) error {
			c.file("a", 0o644, pwn)
			c.dir("r")
			c.symlink("s", outside)
			c.end()
			c.hardlink("h", "r/s/"+Secret)
			return nil
		}},
		{"directory through a symlink", "d -> outside, then a directory d holding x and a large y", true, func(c *crafter) error {
			c.symlink("d", outside)
			c.dir("d")
			c.file("x", 0o4777, pwn)
			c.file("y", 0o4777, big)
			c.end()
			return nil
		}},
		{"hardlink with .. in its target", "a hardlink h -> ../outside/secret", false, func(c *crafter) error {
			c.file("a", 0o644, pwn)
			c.hardlink("h", "../"+base+"/"+Secret)
			return nil
		}},
		{"hardlink with an absolute target", "a hardlink h -> /abs/path/of/outside/secret", false, func(c *crafter) error {
			c.file("a", 0o644, pwn)
			c.hardlink("h", victim)
			return nil
		}},
		{"directory named ..", "a directory .. holding outside/x", false, func(c *crafter) error {
			c.dir(c.patch(".."))
			c.dir(base)
			c.file("x", 0o4777, pwn)
			c.end()
			c.end()
			return nil
		}},
		{"file name with slashes", "a file named ../outside/x", false, func(c *crafter) error {
			c.file(c.patch("../"+base+"/x"), 0o4777, pwn)
			return nil
		}},
		{"device node then file of the same name", "a character device (1:3), then a file of its name", true, func(c *crafter) error {
			c.device("f", 1, 3)
			c.file("f", 0o644, pwn)
			return nil
		}},
		{"fifo then file of the same name", "a fifo, then a file of its name (opening the fifo would hang)", true, func(c *crafter) error {
			c.fifo("f")
			c.file("f", 0o644, pwn)
			return nil
		}},
		{"two directories of the same name", "d holding x, then d again holding a symlink x -> victim and a hardlink", true, func(c *crafter) error {
			c.dir("d")
			c.file("x", 0o644, pwn)
			c.end()
			c.dir("d")
			c.symlink("x", victim)
			c.end()
			return nil
		}},
	}
	out := make([]Case, 0, len(cases))
	for _, k := range cases {
		uni, err := craft(false, k.build)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", k.name, err)
		}
		spl, err := craft(true, k.build)
		if err != nil {
			return nil, fmt.Errorf("%s (split): %w", k.name, err)
		}
		out = append(out, Case{Name: k.name, What: k.what, Dup: k.dup, Unified: uni.meta, Meta: spl.meta, Payload: spl.payload,
			RaceMetaAt: spl.raceMeta, RacePayloadAt: spl.racePayload})
	}
	return out, nil
}

// raceBuild writes the race of issue 16: a large file f (mode 4777), pad
// fifos, a symlink f -> victim, and a small file g.
func raceBuild(victim string, big []byte, pad int) func(*crafter) error {
	return func(c *crafter) error {
		c.file("f", 0o4777, big)
		for i := range pad {
			c.fifo(fmt.Sprintf("pad%05d", i))
		}
		c.mark(&c.raceMeta, nil)
		c.symlink("f", victim)
		c.mark(nil, &c.racePayload)
		c.file("g", 0o644, []byte("pwned\n"))
		return nil
	}
}

// RaceCase is the race case with a large file of size bytes and pad
// entries between it and the symlink: against a real restore (chunked
// streams, the background writer reading its own), a file large enough
// to be still being written when the symlink comes is what makes the old
// race win every time.
func RaceCase(outside string, size, pad int) (Case, error) {
	big := bytes.Repeat([]byte("pwned by a hostile archive\n"), size/27+1)[:size]
	build := raceBuild(filepath.Join(outside, Secret), big, pad)
	uni, err := craft(false, build)
	if err != nil {
		return Case{}, err
	}
	spl, err := craft(true, build)
	if err != nil {
		return Case{}, err
	}
	return Case{Name: "race: big file then symlink of the same name", What: fmt.Sprintf("split, --overwrite: a %d MiB file (mode 4777) written in the background, %d entries, then a symlink of its name to the victim", size>>20, pad),
		Dup: true, Unified: uni.meta, Meta: spl.meta, Payload: spl.payload, RaceMetaAt: spl.raceMeta, RacePayloadAt: spl.racePayload}, nil
}

// crafter writes entries in the order given; the first error sticks.
type crafter struct {
	enc           *pxar.Encoder
	split         bool
	lastFile      uint64
	patches       map[string]string // placeholder name -> real name
	err           error
	meta, payload []byte

	raceMeta, racePayload uint64
}

func craft(split bool, build func(*crafter) error) (*crafter, error) {
	var mb, pb bytes.Buffer
	root := &pxar.Metadata{Stat: pxar.Stat{Mode: pxar.ModeIFDIR | 0o755, MtimeSec: 1700000000}}
	c := &crafter{split: split, patches: map[string]string{}}
	var err error
	if split {
		c.enc, err = pxar.NewSplitEncoder(&mb, &pb, root, nil)
	} else {
		c.enc, err = pxar.NewEncoder(&mb, root)
	}
	if err != nil {
		return nil, err
	}
	if err := build(c); err != nil {
		return nil, err
	}
	if c.err == nil {
		c.err = c.enc.Finish()
	}
	if c.err != nil {
		return nil, c.err
	}
	c.meta, c.payload = mb.Bytes(), pb.Bytes()
	for from, to := range c.patches {
		c.meta = bytes.Replace(c.meta, []byte("\x00"+from+"\x00"), []byte("\x00"+to+"\x00"), 1)
	}
	return c, nil
}

func stat(mode uint64) *pxar.Metadata {
	return &pxar.Metadata{Stat: pxar.Stat{Mode: mode, MtimeSec: 1700000000}}
}

func (c *crafter) do(err error) {
	if c.err == nil {
		c.err = err
	}
}

// patch returns a placeholder of the length of name, which the encoder
// accepts; the archive gets name in its place.
func (c *crafter) patch(name string) string {
	p := strings.Repeat("Q", len(name)-1) + fmt.Sprint(len(c.patches))
	c.patches[p] = name
	return p
}

func (c *crafter) file(name string, perm uint64, data []byte) {
	if c.err != nil {
		return
	}
	off, err := c.enc.AddFile([]byte(name), stat(pxar.ModeIFREG|perm), uint64(len(data)), bytes.NewReader(data))
	c.lastFile = off
	c.do(err)
}

func (c *crafter) symlink(name, target string) {
	if c.err == nil {
		c.do(c.enc.AddSymlink([]byte(name), stat(pxar.ModeIFLNK|0o777), []byte(target)))
	}
}

// hardlink links to target, with the offset of the last file written (the
// offset only has to point backwards; extraction goes by the path).
func (c *crafter) hardlink(name, target string) {
	if c.err == nil {
		c.do(c.enc.AddHardlink([]byte(name), target, c.lastFile))
	}
}

func (c *crafter) dir(name string) {
	if c.err == nil {
		c.do(c.enc.CreateDirectory([]byte(name), stat(pxar.ModeIFDIR|0o755)))
	}
}

func (c *crafter) end() {
	if c.err == nil {
		c.do(c.enc.FinishDirectory())
	}
}

func (c *crafter) device(name string, major, minor uint64) {
	if c.err == nil {
		c.do(c.enc.AddDevice([]byte(name), stat(pxar.ModeIFCHR|0o666), pxar.Device{Major: major, Minor: minor}))
	}
}

func (c *crafter) fifo(name string) {
	if c.err == nil {
		c.do(c.enc.AddFifo([]byte(name), stat(pxar.ModeIFIFO|0o666)))
	}
}

// mark records the current metadata and payload positions.
func (c *crafter) mark(meta, payload *uint64) {
	if meta != nil {
		*meta = c.enc.Position()
	}
	if payload != nil {
		*payload = c.enc.PayloadPosition()
	}
}

// World is a directory Work holding the restore target Target (not
// created) and beside it the directory Outside with the victim file Secret
// (0600, "top secret"), a subdirectory, all with old mtimes: what a hostile
// archive tries to reach.
type World struct {
	Work, Outside, Target string
}

// NewWorld sets up a World in the existing directory work.
func NewWorld(work string) (*World, error) {
	w := &World{Work: work, Outside: filepath.Join(work, "outside"), Target: filepath.Join(work, "target")}
	if err := os.MkdirAll(filepath.Join(w.Outside, "sub"), 0o755); err != nil {
		return nil, err
	}
	victim := filepath.Join(w.Outside, Secret)
	if err := os.WriteFile(victim, []byte("top secret\n"), 0o600); err != nil {
		return nil, err
	}
	if err := os.Chmod(victim, 0o600); err != nil {
		return nil, err
	}
	old := time.Unix(1600000000, 0)
	for _, p := range []string{victim, filepath.Join(w.Outside, "sub"), w.Outside} {
		if err := os.Chtimes(p, old, old); err != nil {
			return nil, err
		}
	}
	return w, nil
}

// Snapshot describes everything in Work except Target, one line each:
// type and mode, owner, link count, size, mtime, contents, symlink target.
// Any difference between two snapshots is a change outside the target.
func (w *World) Snapshot() (string, error) {
	var lines []string
	err := filepath.WalkDir(w.Work, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if p == w.Target {
			return filepath.SkipDir
		}
		var st unix.Stat_t
		if err := unix.Lstat(p, &st); err != nil {
			return err
		}
		if p == w.Work { // the target comes and goes in it
			lines = append(lines, fmt.Sprintf("/ mode=%o uid=%d gid=%d", st.Mode, st.Uid, st.Gid))
			return nil
		}
		line := fmt.Sprintf("%s mode=%o uid=%d gid=%d nlink=%d size=%d mtime=%d", strings.TrimPrefix(p, w.Work), st.Mode, st.Uid, st.Gid, st.Nlink, st.Size, st.Mtim.Sec)
		switch st.Mode & unix.S_IFMT {
		case unix.S_IFREG:
			data, err := os.ReadFile(p)
			if err != nil {
				return err
			}
			line += fmt.Sprintf(" sha256=%x", sha256.Sum256(data))
		case unix.S_IFLNK:
			l, _ := os.Readlink(p)
			line += " -> " + l
		}
		lines = append(lines, line)
		return nil
	})
	sort.Strings(lines)
	return strings.Join(lines, "\n"), err
}

// Diff lists the lines of two snapshots that differ ("-" before, "+"
// after); "" if none.
func Diff(before, after string) string {
	b, a := map[string]bool{}, map[string]bool{}
	for l := range strings.SplitSeq(before, "\n") {
		b[l] = true
	}
	for l := range strings.SplitSeq(after, "\n") {
		a[l] = true
	}
	var out []string
	for l := range b {
		if !a[l] {
			out = append(out, "- "+l)
		}
	}
	for l := range a {
		if !b[l] {
			out = append(out, "+ "+l)
		}
	}
	sort.Strings(out)
	return strings.Join(out, "\n")
}
