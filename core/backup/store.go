package backup

import (
	"context"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"syscall"

	"golang.org/x/sys/unix"

	"cairn/core"
	"cairn/pxar"
)

// StoreDir is the directory a local datastore keeps its files in (for an
// S3 datastore, its local cache), "" for a server. Wrappers that offer
// Unwrap (the rate limiter) are looked through.
func StoreDir(repo core.Repository) string {
	for repo != nil {
		if d, ok := repo.(interface{ Root() string }); ok {
			return d.Root()
		}
		u, ok := repo.(interface{ Unwrap() core.Repository })
		if !ok {
			return ""
		}
		repo = u.Unwrap()
	}
	return ""
}

// realPath is p made absolute with its symlinks resolved, "" if p is
// empty or cannot be resolved.
func realPath(p string) string {
	if p == "" {
		return ""
	}
	r, err := filepath.EvalSymlinks(p)
	if err != nil {
		return ""
	}
	if r, err = filepath.Abs(r); err != nil {
		return ""
	}
	return r
}

// within reports whether path p is dir or below it (both clean, absolute).
func within(p, dir string) bool {
	return p == dir || strings.HasPrefix(p, strings.TrimSuffix(dir, "/")+"/")
}

// omitStore keeps the datastore out of the archives of the sources it
// lies in, and refuses a source inside the datastore: a backup must never
// archive the store it is writing to (its chunks grow while being read).
func (p *prepared) omitStore(o *Options) error {
	store := realPath(StoreDir(o.Repo))
	if store == "" {
		return nil
	}
	var st unix.Stat_t
	if err := unix.Stat(store, &st); err != nil {
		return nil
	}
	id := pxar.FileID{Dev: st.Dev, Ino: st.Ino}
	for _, s := range o.Specs {
		if s.Type != "pxar" {
			continue
		}
		src := realPath(s.Path)
		switch {
		case src == "":
		case within(src, store):
			return fmt.Errorf("source path %q of %s lies inside the datastore %q the backup writes to", s.Path, s.Name, store)
		case within(store, src):
			o.Events.Info(fmt.Sprintf("Leaving out '%s' of %s: it is the datastore this backup writes to", store, s.Name))
			p.omit = append(p.omit, id)
		}
	}
	return nil
}

// estimate measures the sources of a backup for its progress bar: the
// regular files under a directory (staying on its file system, as pxar does
// by default, and leaving out what omit names), the size of an image or
// file. It gives up quietly when ctx is done.
func (s *stats) estimate(ctx context.Context, specs []Spec, omit []pxar.FileID) {
	sizes := make([]int64, len(specs))
	for i, sp := range specs {
		sizes[i] = sourceSize(ctx, sp, omit)
		if ctx.Err() != nil {
			return
		}
	}
	s.estimated.Store(&core.Estimate{Sizes: sizes})
}

func sourceSize(ctx context.Context, s Spec, omit []pxar.FileID) int64 {
	st, err := os.Stat(s.Path)
	if err != nil {
		return -1
	}
	if s.Type != "pxar" {
		if !st.Mode().IsRegular() {
			return -1 // a block device's size needs a seek; leave it unknown
		}
		return st.Size()
	}
	id := func(fi fs.FileInfo) (pxar.FileID, bool) {
		if sys, ok := fi.Sys().(*syscall.Stat_t); ok {
			return pxar.FileID{Dev: uint64(sys.Dev), Ino: sys.Ino}, true
		}
		return pxar.FileID{}, false
	}
	root, haveRoot := id(st)
	var total int64
	filepath.WalkDir(s.Path, func(p string, d fs.DirEntry, err error) error {
		if ctx.Err() != nil {
			return filepath.SkipAll
		}
		if err != nil {
			return nil
		}
		fi, err := d.Info()
		if err != nil {
			return nil
		}
		if d.IsDir() {
			if fid, ok := id(fi); ok && haveRoot && (fid.Dev != root.Dev || slices.Contains(omit, fid)) {
				return filepath.SkipDir
			}
			return nil
		}
		if fi.Mode().IsRegular() {
			total += fi.Size()
		}
		return nil
	})
	return total
}
