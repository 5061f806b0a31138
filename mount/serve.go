package mount

import (
	"context"
	"errors"
	"io"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"time"

	"github.com/hanwen/go-fuse/v2/fs"
	"github.com/hanwen/go-fuse/v2/fuse"
)

func isNotExist(err error) bool { return errors.Is(err, os.ErrNotExist) }

// ImageReader is what an image file system reads from.
type ImageReader interface {
	io.ReaderAt
	Size() int64
}

// imageRoot is a directory holding one read-only file: the image.
type imageRoot struct {
	fs.Inode
	name  string
	r     ImageReader
	mtime time.Time
}

type imageFile struct {
	fs.Inode
	r     ImageReader
	mtime time.Time
}

var (
	_ fs.NodeOnAdder   = (*imageRoot)(nil)
	_ fs.NodeGetattrer = (*imageRoot)(nil)
	_ fs.NodeGetattrer = (*imageFile)(nil)
	_ fs.NodeOpener    = (*imageFile)(nil)
	_ fs.NodeReader    = (*imageFile)(nil)
)

// NewImageRoot returns a file system with a single file called name
// whose contents r reads.
func NewImageRoot(name string, r ImageReader, mtime time.Time) fs.InodeEmbedder {
	return &imageRoot{name: name, r: r, mtime: mtime}
}

func (d *imageRoot) OnAdd(ctx context.Context) {
	f := &imageFile{r: d.r, mtime: d.mtime}
	d.AddChild(d.name, d.NewPersistentInode(ctx, f, fs.StableAttr{Mode: syscall.S_IFREG, Ino: 2}), false)
}

func setTimes(out *fuse.Attr, t time.Time) {
	s, ns := uint64(t.Unix()), uint32(t.Nanosecond())
	out.Mtime, out.Mtimensec = s, ns
	out.Ctime, out.Ctimensec = s, ns
	out.Atime, out.Atimensec = s, ns
}

func (d *imageRoot) Getattr(ctx context.Context, f fs.FileHandle, out *fuse.AttrOut) syscall.Errno {
	out.Mode = syscall.S_IFDIR | 0o555
	out.Nlink = 2
	out.Ino = 1
	setTimes(&out.Attr, d.mtime)
	return 0
}

func (f *imageFile) Getattr(ctx context.Context, fh fs.FileHandle, out *fuse.AttrOut) syscall.Errno {
	out.Mode = syscall.S_IFREG | 0o444
	out.Nlink = 1
	out.Ino = 2
	out.Size = uint64(f.r.Size())
	out.Blocks = (out.Size + 511) / 512
	out.Blksize = 4096
	setTimes(&out.Attr, f.mtime)
	out.SetTimeout(cacheTimeout)
	return 0
}

func (f *imageFile) Open(ctx context.Context, flags uint32) (fs.FileHandle, uint32, syscall.Errno) {
	if flags&(syscall.O_WRONLY|syscall.O_RDWR|syscall.O_TRUNC|syscall.O_APPEND) != 0 {
		return nil, 0, syscall.EROFS
	}
	return nil, fuse.FOPEN_KEEP_CACHE, 0
}

func (f *imageFile) Read(ctx context.Context, fh fs.FileHandle, dest []byte, off int64) (fuse.ReadResult, syscall.Errno) {
	n, err := f.r.ReadAt(dest, off)
	if err != nil && err != io.EOF {
		return nil, syscall.EIO
	}
	return fuse.ReadResultData(dest[:n]), 0
}

// Options for Serve.
type Options struct {
	FsName string // shown as the mount's source, e.g. "cairn:host/x/…:root.pxar"
	Debug  bool
}

// Serve mounts root read-only at dir and returns the running server;
// Wait on it until it is unmounted.
func Serve(dir string, root fs.InodeEmbedder, o Options) (*fuse.Server, error) {
	to := cacheTimeout
	opts := &fs.Options{
		EntryTimeout: &to,
		AttrTimeout:  &to,
		MountOptions: fuse.MountOptions{
			FsName:       o.FsName,
			Name:         "cairn",
			Options:      []string{"ro", "default_permissions"},
			MaxReadAhead: 1 << 20,
			Debug:        o.Debug,
		},
	}
	if os.Geteuid() == 0 {
		opts.AllowOther = true
	}
	srv, err := fs.Mount(dir, root, opts)
	if err != nil {
		return nil, err
	}
	return srv, nil
}

// Unmount detaches the file system at dir: directly when running as root,
// otherwise with fusermount3 (or fusermount).
func Unmount(dir string) error {
	if os.Geteuid() == 0 {
		if err := syscall.Unmount(dir, 0); err == nil {
			return nil
		} else if !errors.Is(err, syscall.EPERM) {
			return &os.PathError{Op: "unmount", Path: dir, Err: err}
		}
	}
	var last error
	for _, tool := range []string{"fusermount3", "fusermount"} {
		out, err := exec.Command(tool, "-u", dir).CombinedOutput()
		if err == nil {
			return nil
		}
		last = errors.New(strings.TrimSpace(string(out)))
		if errors.Is(err, exec.ErrNotFound) {
			last = err
			continue
		}
		break
	}
	return last
}
