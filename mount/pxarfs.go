// Package mount serves backup archives as read-only FUSE file systems:
// a .pxar archive as a directory tree (cairn mount), a .img archive as a
// single file (cairn map). Everything is read on demand through a
// random-access reader, so only the chunks that are touched are fetched.
package mount

import (
	"context"
	"io"
	"sync"
	"syscall"
	"time"

	"github.com/hanwen/go-fuse/v2/fs"
	"github.com/hanwen/go-fuse/v2/fuse"

	"cairn/pxar"
)

// cacheTimeout is how long the kernel may cache entries and attributes:
// archives never change.
const cacheTimeout = time.Hour

// pxarNode is one entry of a mounted pxar archive.
type pxarNode struct {
	fs.Inode
	a *pxar.Accessor
	n *pxar.Node // for hardlinks: the resolved target

	mu   sync.Mutex
	data *io.SectionReader // a file's contents, opened on the first read
}

var (
	_ fs.NodeLookuper    = (*pxarNode)(nil)
	_ fs.NodeReaddirer   = (*pxarNode)(nil)
	_ fs.NodeGetattrer   = (*pxarNode)(nil)
	_ fs.NodeReadlinker  = (*pxarNode)(nil)
	_ fs.NodeOpener      = (*pxarNode)(nil)
	_ fs.NodeReader      = (*pxarNode)(nil)
	_ fs.NodeGetxattrer  = (*pxarNode)(nil)
	_ fs.NodeListxattrer = (*pxarNode)(nil)
)

// NewPxarRoot returns the root node of a file system over the archive.
func NewPxarRoot(a *pxar.Accessor) fs.InodeEmbedder {
	return &pxarNode{a: a, n: a.Root()}
}

// ino gives entries stable inode numbers: their offset in the archive
// (a hardlink uses its target's, so both share one inode).
func ino(n *pxar.Node) uint64 { return n.Start + 1 }

func fillAttr(n *pxar.Node, out *fuse.Attr) {
	st := &n.Stat
	out.Ino = ino(n)
	out.Mode = uint32(st.Mode)
	out.Uid = st.UID
	out.Gid = st.GID
	out.Nlink = 1
	switch n.Kind {
	case pxar.KindDirectory:
		out.Nlink = 2
	case pxar.KindFile:
		out.Size = n.Size
	case pxar.KindSymlink:
		out.Size = uint64(len(n.LinkTarget))
	case pxar.KindDevice:
		out.Rdev = uint32(n.Device.Dev())
	}
	out.Blocks = (out.Size + 511) / 512
	out.Blksize = 4096
	sec, nsec := uint64(st.MtimeSec), uint32(st.MtimeNsec)
	out.Mtime, out.Mtimensec = sec, nsec
	out.Ctime, out.Ctimensec = sec, nsec
	out.Atime, out.Atimensec = sec, nsec
}

func (p *pxarNode) child(ctx context.Context, c *pxar.Node) (*fs.Inode, *pxar.Node, error) {
	if c.Kind == pxar.KindHardlink {
		t, err := p.a.HardlinkTarget(c)
		if err != nil {
			return nil, nil, err
		}
		c = t
	}
	node := &pxarNode{a: p.a, n: c}
	return p.NewInode(ctx, node, fs.StableAttr{Mode: uint32(c.Stat.Mode) & syscall.S_IFMT, Ino: ino(c)}), c, nil
}

func (p *pxarNode) Lookup(ctx context.Context, name string, out *fuse.EntryOut) (*fs.Inode, syscall.Errno) {
	if !p.n.IsDir() {
		return nil, syscall.ENOTDIR
	}
	c, err := p.a.LookupChild(p.n, name)
	if err != nil {
		if isNotExist(err) {
			return nil, syscall.ENOENT
		}
		return nil, syscall.EIO
	}
	in, c, err := p.child(ctx, c)
	if err != nil {
		return nil, syscall.EIO
	}
	fillAttr(c, &out.Attr)
	out.SetEntryTimeout(cacheTimeout)
	out.SetAttrTimeout(cacheTimeout)
	return in, 0
}

func (p *pxarNode) Readdir(ctx context.Context) (fs.DirStream, syscall.Errno) {
	children, err := p.a.ReadDir(p.n)
	if err != nil {
		return nil, syscall.EIO
	}
	list := make([]fuse.DirEntry, 0, len(children))
	for _, c := range children {
		if c.Kind == pxar.KindHardlink {
			t, err := p.a.HardlinkTarget(c)
			if err != nil {
				return nil, syscall.EIO
			}
			list = append(list, fuse.DirEntry{Name: string(c.Name), Mode: uint32(t.Stat.Mode), Ino: ino(t)})
			continue
		}
		list = append(list, fuse.DirEntry{Name: string(c.Name), Mode: uint32(c.Stat.Mode), Ino: ino(c)})
	}
	return fs.NewListDirStream(list), 0
}

func (p *pxarNode) Getattr(ctx context.Context, f fs.FileHandle, out *fuse.AttrOut) syscall.Errno {
	fillAttr(p.n, &out.Attr)
	out.SetTimeout(cacheTimeout)
	return 0
}

func (p *pxarNode) Readlink(ctx context.Context) ([]byte, syscall.Errno) {
	if p.n.Kind != pxar.KindSymlink {
		return nil, syscall.EINVAL
	}
	return []byte(p.n.LinkTarget), 0
}

func (p *pxarNode) Open(ctx context.Context, flags uint32) (fs.FileHandle, uint32, syscall.Errno) {
	if flags&(syscall.O_WRONLY|syscall.O_RDWR|syscall.O_TRUNC|syscall.O_APPEND) != 0 {
		return nil, 0, syscall.EROFS
	}
	if p.n.Kind != pxar.KindFile {
		return nil, 0, syscall.EINVAL
	}
	return nil, fuse.FOPEN_KEEP_CACHE, 0
}

// contents opens the file's data once: in a split archive that checks the
// PAYLOAD header in the payload stream, which reads need not repeat.
func (p *pxarNode) contents() (*io.SectionReader, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.data == nil {
		sr, err := p.a.Open(p.n)
		if err != nil {
			return nil, err
		}
		p.data = sr
	}
	return p.data, nil
}

func (p *pxarNode) Read(ctx context.Context, f fs.FileHandle, dest []byte, off int64) (fuse.ReadResult, syscall.Errno) {
	sr, err := p.contents()
	if err != nil {
		return nil, syscall.EIO
	}
	n, err := sr.ReadAt(dest, off)
	if err != nil && err != io.EOF {
		return nil, syscall.EIO
	}
	return fuse.ReadResultData(dest[:n]), 0
}

func (p *pxarNode) Getxattr(ctx context.Context, attr string, dest []byte) (uint32, syscall.Errno) {
	for _, x := range p.n.AllXattrs() {
		if string(x.Name) == attr {
			if len(dest) == 0 {
				return uint32(len(x.Value)), 0
			}
			if len(dest) < len(x.Value) {
				return uint32(len(x.Value)), syscall.ERANGE
			}
			return uint32(copy(dest, x.Value)), 0
		}
	}
	return 0, syscall.ENODATA
}

func (p *pxarNode) Listxattr(ctx context.Context, dest []byte) (uint32, syscall.Errno) {
	var b []byte
	for _, x := range p.n.AllXattrs() {
		b = append(b, x.Name...)
		b = append(b, 0)
	}
	if len(dest) == 0 {
		return uint32(len(b)), 0
	}
	if len(dest) < len(b) {
		return uint32(len(b)), syscall.ERANGE
	}
	return uint32(copy(dest, b)), 0
}
