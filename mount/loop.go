package mount

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"
)

// AttachLoop attaches file read-only to a free loop device (losetup) and
// returns the device, e.g. /dev/loop0.
func AttachLoop(file string) (string, error) {
	c := exec.Command("losetup", "--find", "--show", "--read-only", file)
	var errb strings.Builder
	c.Stderr = &errb
	out, err := c.Output()
	if err != nil {
		return "", fmt.Errorf("attach loop device: %v: %s", err, strings.TrimSpace(errb.String()))
	}
	return strings.TrimSpace(string(out)), nil
}

// Mapping is a mapped image: its state directory (a FUSE mount point under
// the state directory) and its loop device, "" when none is attached.
type Mapping struct {
	Name, Dir, Loop string
}

// Mappings lists the mappings kept under stateDir.
func Mappings(stateDir string) []Mapping {
	ents, _ := os.ReadDir(stateDir)
	var out []Mapping
	for _, e := range ents {
		dir := filepath.Join(stateDir, e.Name())
		mp := Mapping{Name: e.Name(), Dir: dir}
		files, _ := os.ReadDir(dir)
		for _, f := range files {
			o, err := exec.Command("losetup", "-j", filepath.Join(dir, f.Name())).Output()
			if err == nil {
				if dev, _, ok := strings.Cut(string(o), ":"); ok {
					mp.Loop = dev
				}
			}
		}
		out = append(out, mp)
	}
	return out
}

// Unmap detaches the mapping's loop device, if any, then unmounts its file
// system, retrying while the loop device lets go of the file (it does so
// asynchronously).
func (mp Mapping) Unmap() error {
	if mp.Loop != "" {
		if out, err := exec.Command("losetup", "-d", mp.Loop).CombinedOutput(); err != nil {
			return fmt.Errorf("detach %s: %v: %s", mp.Loop, err, strings.TrimSpace(string(out)))
		}
	}
	var err error
	for range 50 {
		if err = Unmount(mp.Dir); err == nil {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	return err
}
