package datastore

import (
	"context"
	"encoding/hex"
	"fmt"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"syscall"
	"time"

	"cairn/core"
)

// NewMemory makes an empty datastore whose chunks and snapshot files live
// in memory, for tests that need a datastore and not its files on disk: no
// fsync, no directories, no atimes. Locks and the writer registry keep
// their real (flock) semantics in a private temporary state directory,
// which Close removes. GC ages chunks by the datastore's clock (SetClock).
// owner is the auth id recorded for groups this process creates.
func NewMemory(owner string) (*Datastore, error) {
	state, err := os.MkdirTemp("", "cairn-memstore-")
	if err != nil {
		return nil, err
	}
	b := &memBackend{
		state:  state,
		dirs:   map[string]time.Time{"": time.Now()},
		files:  map[string]*memFile{},
		chunks: map[[32]byte]*memChunk{},
	}
	return &Datastore{root: state, name: "memory", backend: b, owner: owner}, nil
}

// memBackend is the in-memory backend (NewMemory). Paths are slash paths
// relative to the datastore root, "" being the root.
type memBackend struct {
	state string // StateDir: lock files, writer registry, GC lock

	mu     sync.Mutex
	now    func() time.Time
	dirs   map[string]time.Time // directory → mtime
	files  map[string]*memFile
	chunks map[[32]byte]*memChunk
	bad    map[string]*memChunk // <digest hex>.<n>.bad → the chunk set aside
}

type memFile struct {
	data  []byte
	mtime time.Time
}

type memChunk struct {
	data []byte
	used time.Time // last insert, touch or GC mark
}

func (b *memBackend) setClock(now func() time.Time) {
	b.mu.Lock()
	b.now = now
	b.mu.Unlock()
}

// clockLocked is the datastore clock; b.mu is held.
func (b *memBackend) clockLocked() time.Time {
	if b.now != nil {
		return b.now()
	}
	return time.Now()
}

func (b *memBackend) storeName() string           { return "memory" }
func (b *memBackend) displayPath(p string) string { return "memory:/" + strings.TrimPrefix(p, "/") }

// rel cleans a datastore path as dirBackend.abs does: ".." is refused.
func (b *memBackend) rel(p string) (string, error) {
	for _, c := range strings.Split(p, "/") {
		if c == ".." {
			return "", fmt.Errorf("invalid datastore path %q", p)
		}
	}
	c := strings.TrimPrefix(path.Clean("/"+p), "/")
	return c, nil
}

func memErr(op, p string, err error) error { return &fs.PathError{Op: op, Path: p, Err: err} }

// parentLocked checks that the directory a new entry at r goes into exists.
func (b *memBackend) parentLocked(op, r string) error {
	if r == "" {
		return memErr(op, r, fs.ErrExist)
	}
	if _, ok := b.dirs[parentOf(r)]; !ok {
		return memErr(op, r, fs.ErrNotExist)
	}
	return nil
}

func parentOf(r string) string {
	if i := strings.LastIndexByte(r, '/'); i >= 0 {
		return r[:i]
	}
	return ""
}

// ---- chunks ----

func (b *memBackend) InsertChunk(digest [32]byte, blob []byte) (bool, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if c, ok := b.chunks[digest]; ok && len(c.data) > 0 {
		c.used = b.clockLocked()
		return true, nil
	}
	b.chunks[digest] = &memChunk{data: append([]byte(nil), blob...), used: b.clockLocked()}
	return false, nil
}

func (b *memBackend) TouchChunk(digest [32]byte) (bool, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	c, ok := b.chunks[digest]
	if !ok || len(c.data) == 0 {
		return false, nil
	}
	c.used = b.clockLocked()
	return true, nil
}

func (b *memBackend) ReadChunk(digest [32]byte) ([]byte, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	c, ok := b.chunks[digest]
	if !ok {
		return nil, fmt.Errorf("chunk %x is missing from the datastore: %w", digest, fs.ErrNotExist)
	}
	return append([]byte(nil), c.data...), nil
}

// CorruptChunk replaces a stored chunk's bytes (a test hook, as writing
// over a chunk file is for the directory backend).
func (b *memBackend) CorruptChunk(digest [32]byte, data []byte) error {
	b.mu.Lock()
	defer b.mu.Unlock()
	c, ok := b.chunks[digest]
	if !ok {
		return fmt.Errorf("chunk %x: %w", digest, fs.ErrNotExist)
	}
	c.data = append([]byte(nil), data...)
	return nil
}

func (b *memBackend) MarkBad(dg [32]byte) (string, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	c, ok := b.chunks[dg]
	if !ok {
		return "", fmt.Errorf("mark chunk %x bad: %w", dg, fs.ErrNotExist)
	}
	if b.bad == nil {
		b.bad = map[string]*memChunk{}
	}
	h := hex.EncodeToString(dg[:])
	name := ""
	for n := 0; n < 10; n++ {
		name = fmt.Sprintf("%s.%d.bad", h, n)
		if _, taken := b.bad[name]; !taken {
			break
		}
	}
	b.bad[name] = c
	delete(b.chunks, dg)
	return path.Join(chunksName, h[:4], name), nil
}

// ---- snapshot files and directories ----

func (b *memBackend) ReadFile(p string) ([]byte, error) {
	r, err := b.rel(p)
	if err != nil {
		return nil, err
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	f, ok := b.files[r]
	if !ok {
		if _, isDir := b.dirs[r]; isDir {
			return nil, memErr("read", p, syscall.EISDIR)
		}
		return nil, memErr("open", p, fs.ErrNotExist)
	}
	return append([]byte(nil), f.data...), nil
}

func (b *memBackend) writeLocked(op, p, r string, data []byte, exclusive bool) error {
	if err := b.parentLocked(op, r); err != nil {
		return err
	}
	if _, isDir := b.dirs[r]; isDir {
		return memErr(op, p, syscall.EISDIR)
	}
	if _, exists := b.files[r]; exists && exclusive {
		return memErr(op, p, fs.ErrExist)
	}
	now := b.clockLocked()
	b.files[r] = &memFile{data: append([]byte(nil), data...), mtime: now}
	b.dirs[parentOf(r)] = now
	return nil
}

func (b *memBackend) WriteFile(p string, data []byte) error {
	r, err := b.rel(p)
	if err != nil {
		return err
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.writeLocked("open", p, r, data, false)
}

func (b *memBackend) CreateFile(p string, data []byte) error {
	r, err := b.rel(p)
	if err != nil {
		return err
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.writeLocked("open", p, r, data, true)
}

func (b *memBackend) Mkdir(p string, exclusive bool) error {
	r, err := b.rel(p)
	if err != nil {
		return err
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	if exclusive {
		if _, ok := b.dirs[r]; ok {
			return memErr("mkdir", p, fs.ErrExist)
		}
		if _, ok := b.files[r]; ok {
			return memErr("mkdir", p, fs.ErrExist)
		}
		if err := b.parentLocked("mkdir", r); err != nil {
			return err
		}
		now := b.clockLocked()
		b.dirs[r] = now
		b.dirs[parentOf(r)] = now
		return nil
	}
	// MkdirAll: every missing component, none of them a file.
	var missing []string
	for d := r; d != ""; d = parentOf(d) {
		if _, ok := b.files[d]; ok {
			return memErr("mkdir", d, syscall.ENOTDIR)
		}
		if _, ok := b.dirs[d]; ok {
			break
		}
		missing = append(missing, d)
	}
	now := b.clockLocked()
	for _, d := range missing {
		b.dirs[d] = now
		b.dirs[parentOf(d)] = now
	}
	return nil
}

// memInfo is an fs.FileInfo and fs.DirEntry of the memory backend.
type memInfo struct {
	name  string
	size  int64
	dir   bool
	mtime time.Time
}

func (i memInfo) Name() string { return i.name }
func (i memInfo) Size() int64  { return i.size }
func (i memInfo) Mode() fs.FileMode {
	if i.dir {
		return fs.ModeDir | dirMode
	}
	return fileMode
}
func (i memInfo) ModTime() time.Time         { return i.mtime }
func (i memInfo) IsDir() bool                { return i.dir }
func (i memInfo) Sys() any                   { return nil }
func (i memInfo) Type() fs.FileMode          { return i.Mode().Type() }
func (i memInfo) Info() (fs.FileInfo, error) { return i, nil }

func (b *memBackend) statLocked(r string) (memInfo, bool) {
	name := path.Base(r)
	if r == "" {
		name = "."
	}
	if t, ok := b.dirs[r]; ok {
		return memInfo{name: name, dir: true, mtime: t}, true
	}
	if f, ok := b.files[r]; ok {
		return memInfo{name: name, size: int64(len(f.data)), mtime: f.mtime}, true
	}
	return memInfo{}, false
}

func (b *memBackend) Stat(p string) (fs.FileInfo, error) {
	r, err := b.rel(p)
	if err != nil {
		return nil, err
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	if i, ok := b.statLocked(r); ok {
		return i, nil
	}
	return nil, memErr("stat", p, fs.ErrNotExist)
}

// childrenLocked lists the direct children of directory r by name.
func (b *memBackend) childrenLocked(r string) []string {
	pre := r + "/"
	if r == "" {
		pre = ""
	}
	seen := map[string]bool{}
	add := func(k string) {
		if k != "" && strings.HasPrefix(k, pre) && !strings.Contains(k[len(pre):], "/") {
			seen[k[len(pre):]] = true
		}
	}
	for k := range b.dirs {
		add(k)
	}
	for k := range b.files {
		add(k)
	}
	out := make([]string, 0, len(seen))
	for n := range seen {
		out = append(out, n)
	}
	sort.Strings(out)
	return out
}

func (b *memBackend) ReadDir(p string) ([]fs.DirEntry, error) {
	r, err := b.rel(p)
	if err != nil {
		return nil, err
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	if _, ok := b.dirs[r]; !ok {
		if _, isFile := b.files[r]; isFile {
			return nil, memErr("readdirent", p, syscall.ENOTDIR)
		}
		return nil, memErr("open", p, fs.ErrNotExist)
	}
	var out []fs.DirEntry
	for _, n := range b.childrenLocked(r) {
		i, _ := b.statLocked(path.Join(r, n))
		out = append(out, i)
	}
	return out, nil
}

func (b *memBackend) Remove(p string) error {
	r, err := b.rel(p)
	if err != nil {
		return err
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	if _, ok := b.files[r]; ok {
		delete(b.files, r)
		b.dirs[parentOf(r)] = b.clockLocked()
		return nil
	}
	if _, ok := b.dirs[r]; !ok || r == "" {
		return memErr("remove", p, fs.ErrNotExist)
	}
	if len(b.childrenLocked(r)) > 0 {
		return memErr("remove", p, syscall.ENOTEMPTY)
	}
	delete(b.dirs, r)
	b.dirs[parentOf(r)] = b.clockLocked()
	return nil
}

func (b *memBackend) RemoveAll(p string) error {
	r, err := b.rel(p)
	if err != nil {
		return err
	}
	if r == "" {
		return fmt.Errorf("refusing to remove the datastore root")
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	pre := r + "/"
	for k := range b.files {
		if k == r || strings.HasPrefix(k, pre) {
			delete(b.files, k)
		}
	}
	for k := range b.dirs {
		if k == r || strings.HasPrefix(k, pre) {
			delete(b.dirs, k)
		}
	}
	return nil
}

func (b *memBackend) Sync() error { return nil }

// ---- locks and state ----

func (b *memBackend) StateDir() string { return b.state }

// lockFile is the state-directory file that stands for datastore path r.
func (b *memBackend) lockFile(r string) string {
	name := strings.ReplaceAll(strings.ReplaceAll(r, "%", "%25"), "/", "%2F")
	if name == "" {
		name = "%root"
	}
	return filepath.Join(b.state, "locks", name)
}

func (b *memBackend) LockDir(p string, exclusive bool) (func(), error) {
	r, err := b.rel(p)
	if err != nil {
		return nil, err
	}
	if r != lockName {
		if _, err := b.Stat(r); err != nil {
			return nil, err
		}
	}
	return flockFile(b.lockFile(r), p, exclusive, false)
}

func (b *memBackend) LockManifest(dir string) (func(), error) {
	r, err := b.rel(dir)
	if err != nil {
		return nil, err
	}
	return flockFile(b.lockFile(path.Join(r, ".index.json.lck")), dir, true, true)
}

// Close removes the state directory; the contents go with the value.
func (b *memBackend) Close() error { return os.RemoveAll(b.state) }

// ---- GC ----

func (b *memBackend) ListIndexFiles() ([]string, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	var out []string
	for k := range b.files {
		if !strings.HasSuffix(k, ".didx") && !strings.HasSuffix(k, ".fidx") {
			continue
		}
		if strings.HasPrefix(k, ".") || strings.Contains(k, "/.") {
			continue
		}
		out = append(out, k)
	}
	sort.Strings(out)
	return out, nil
}

// memGC marks by stamping a chunk's last use with the datastore clock, as
// the directory backend's mark touches atimes.
type memGC struct{ b *memBackend }

func (b *memBackend) StartGC() (time.Time, GCSession, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.clockLocked(), memGC{b}, nil
}

func (g memGC) Mark(dg [32]byte) (bool, error) {
	b := g.b
	b.mu.Lock()
	defer b.mu.Unlock()
	now := b.clockLocked()
	c, ok := b.chunks[dg]
	if ok {
		c.used = now
	}
	h := hex.EncodeToString(dg[:])
	for name, bc := range b.bad {
		if strings.HasPrefix(name, h) {
			bc.used = now
		}
	}
	return ok, nil
}

func (g memGC) Sweep(ctx context.Context, minUse, oldest time.Time, st *core.GCStatus, events core.Sink) error {
	b := g.b
	b.mu.Lock()
	defer b.mu.Unlock()
	if err := ctx.Err(); err != nil {
		return err
	}
	sweep := func(c *memChunk, bad bool) (remove bool) {
		size := int64(len(c.data))
		switch {
		case c.used.Before(minUse):
			countRemoved(bad, size, st)
			return true
		case c.used.Before(oldest):
			countPending(bad, size, st)
		default:
			countKept(bad, size, st)
		}
		return false
	}
	for dg, c := range b.chunks {
		if sweep(c, false) {
			delete(b.chunks, dg)
		}
	}
	for name, c := range b.bad {
		if sweep(c, true) {
			delete(b.bad, name)
		}
	}
	events.GCInfo(fmt.Sprintf("percentage done: 100, chunk count: %d", len(b.chunks)+len(b.bad)), core.GCPhaseSweep, 100)
	return nil
}
