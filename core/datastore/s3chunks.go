package datastore

import (
	"container/list"
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"time"

	"github.com/minio/minio-go/v7"
	"golang.org/x/sys/unix"

	"cairn/core"
)

// flockFile takes an flock on a lock file in the cache directory.
func flockFile(p, what string, exclusive, wait bool) (func(), error) {
	if err := os.MkdirAll(filepath.Dir(p), 0o700); err != nil {
		return nil, err
	}
	f, err := os.OpenFile(p, os.O_CREATE|os.O_RDWR, 0o600)
	if err != nil {
		return nil, err
	}
	how := unix.LOCK_SH
	if exclusive {
		how = unix.LOCK_EX
	}
	if !wait {
		how |= unix.LOCK_NB
	}
	if err := unix.Flock(int(f.Fd()), how); err != nil {
		f.Close()
		if !wait {
			return nil, fmt.Errorf("%s is %w", what, core.ErrLocked)
		}
		return nil, err
	}
	return func() { f.Close() }, nil
}

// ---- per-chunk "last used" markers ----
//
// using/<2 hex>/<64 hex>: its mtime is the chunk's last use on the
// datastore's clock; one byte of content records that the chunk is known to
// be stored (set after a successful upload or HEAD), so a later upload of
// the same chunk skips the HEAD. A stripe lock (256 flock files) orders a
// backup's "touch the marker, then check/upload" against GC's "check the
// marker again, then delete", across processes: a chunk a backup has
// decided to reuse is never deleted under it.

func (b *s3Backend) markerPath(dg [32]byte) string {
	h := hex.EncodeToString(dg[:])
	return filepath.Join(b.cache, "using", h[:2], h)
}

func (b *s3Backend) stripeLock(dg [32]byte, exclusive bool) (func(), error) {
	p := filepath.Join(b.cache, "locks", "chunks", fmt.Sprintf("%02x", dg[0]))
	return flockFile(p, "chunk stripe", exclusive, true)
}

// touchMarker stamps the chunk's last use; known also records it as stored.
func (b *s3Backend) touchMarker(dg [32]byte, known bool) (wasKnown bool, err error) {
	p := b.markerPath(dg)
	now := b.clock()
	st, err := os.Stat(p)
	switch {
	case err == nil:
		wasKnown = st.Size() > 0
		if known && !wasKnown {
			if err := os.WriteFile(p, []byte{1}, 0o600); err != nil {
				return false, err
			}
		}
	case errors.Is(err, fs.ErrNotExist):
		os.MkdirAll(filepath.Dir(p), 0o700)
		var data []byte
		if known {
			data = []byte{1}
		}
		if err := os.WriteFile(p, data, 0o600); err != nil {
			return false, err
		}
	default:
		return false, err
	}
	return wasKnown, os.Chtimes(p, now, now)
}

func (b *s3Backend) forgetMarker(dg [32]byte) { os.Remove(b.markerPath(dg)) }

// markerTime is the chunk's last use per its marker (zero when none).
func (b *s3Backend) markerTime(dg [32]byte) time.Time {
	st, err := os.Stat(b.markerPath(dg))
	if err != nil {
		return time.Time{}
	}
	return st.ModTime()
}

// ---- Backend: chunks ----

// TouchChunk stamps the chunk's use and reports whether it is stored: from
// the known-chunk marker, else by HEAD.
func (b *s3Backend) TouchChunk(dg [32]byte) (bool, error) {
	unlock, err := b.stripeLock(dg, false)
	if err != nil {
		return false, err
	}
	defer unlock()
	known, err := b.touchMarker(dg, false)
	if err != nil {
		return false, err
	}
	if known {
		return true, nil
	}
	info, err := b.stat(chunkKey(dg))
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return false, nil
		}
		return false, err
	}
	if info.Size == 0 {
		// An empty chunk object counts as missing: the upload that asked
		// stores the chunk again over it (see putChunk).
		return false, nil
	}
	_, err = b.touchMarker(dg, true)
	return true, err
}

// InsertChunk uploads a chunk unless it is stored, synchronously.
func (b *s3Backend) InsertChunk(dg [32]byte, blob []byte) (bool, error) {
	if ok, err := b.TouchChunk(dg); err != nil || ok {
		return ok, err
	}
	return false, b.putChunk(dg, blob)
}

// noConditionalPut: the store answered a conditional PUT with "not
// implemented"; chunk uploads then check with HEAD first (see putChunk).
var noConditionalPut atomic.Bool

// putChunk uploads a chunk the caller found missing. It never replaces a
// stored chunk: between the HEAD that found it missing and this PUT,
// another backup (another user's, perhaps with a fake chunk under this
// digest) may have stored it, and the last PUT would win. So the PUT is
// conditional (If-None-Match: *, as AWS S3 and MinIO support); when a
// chunk is there the stored one is kept and ours dropped, and only our own
// stored copy goes into the local chunk cache. An empty object is
// replaced, as upstream overwrites empty chunks, but only that very object
// (If-Match on its ETag).
//
// A store that does not implement conditional PUTs (501) gets a HEAD and
// then a plain PUT: the race between the two is then open, for as long as
// a request takes, and a store that ignores the header silently leaves it
// open too.
func (b *s3Backend) putChunk(dg [32]byte, blob []byte) error {
	stored, err := b.putChunkNoReplace(dg, blob)
	if err != nil {
		return fmt.Errorf("store chunk %x: %w", dg, err)
	}
	if _, err := b.touchMarker(dg, true); err != nil {
		return err
	}
	if stored {
		b.chunks.put(dg, blob)
	}
	return nil
}

// putChunkNoReplace stores the chunk unless a non-empty one is there
// (stored false then).
func (b *s3Backend) putChunkNoReplace(dg [32]byte, blob []byte) (stored bool, err error) {
	key := chunkKey(dg)
	for attempt := 0; attempt < 5; attempt++ {
		opts := minio.PutObjectOptions{}
		if noConditionalPut.Load() {
			// Racy, see putChunk.
			if info, err := b.stat(key); err == nil && info.Size > 0 {
				return false, nil
			} else if err != nil && !errors.Is(err, fs.ErrNotExist) {
				return false, err
			}
		} else {
			opts.SetMatchETagExcept("*")
		}
		_, err := b.put(key, blob, opts)
		switch {
		case err == nil:
			return true, nil
		case isNotImplemented(err) && !noConditionalPut.Load():
			noConditionalPut.Store(true)
			continue
		case !isPreconditionFailed(err):
			return false, err
		}
		info, err := b.stat(key)
		if errors.Is(err, fs.ErrNotExist) {
			continue // removed meanwhile (GC): try again
		}
		if err != nil {
			return false, err
		}
		if info.Size > 0 {
			return false, nil // a stored chunk: it stays
		}
		opts = minio.PutObjectOptions{}
		opts.SetMatchETag(info.ETag)
		if _, err := b.put(key, blob, opts); err == nil {
			return true, nil
		} else if !isPreconditionFailed(err) {
			return false, err
		}
		// It changed meanwhile: look again.
	}
	return false, fmt.Errorf("%s keeps changing under the upload", key)
}

// insertChunkAsync uploads a chunk the caller found missing (TouchChunk
// false, which stamped its marker) in the background, at most
// S3Config.Parallel at a time; Sync waits for them and reports the first
// failure.
func (b *s3Backend) insertChunkAsync(dg [32]byte, blob []byte) error {
	if err := b.pendingErr(); err != nil {
		return err
	}
	b.sem <- struct{}{}
	b.wg.Add(1)
	go func() {
		defer b.wg.Done()
		defer func() { <-b.sem }()
		if err := b.putChunk(dg, blob); err != nil {
			b.errMu.Lock()
			if b.pendErr == nil {
				b.pendErr = err
			}
			b.errMu.Unlock()
		}
	}()
	return nil
}

func (b *s3Backend) pendingErr() error {
	b.errMu.Lock()
	defer b.errMu.Unlock()
	return b.pendErr
}

// Sync waits for pending chunk uploads; a failure is reported once.
func (b *s3Backend) Sync() error {
	b.wg.Wait()
	b.errMu.Lock()
	defer b.errMu.Unlock()
	err := b.pendErr
	b.pendErr = nil
	return err
}

func (b *s3Backend) ReadChunk(dg [32]byte) ([]byte, error) {
	if data, ok := b.chunks.get(dg); ok {
		return data, nil
	}
	data, err := b.readChunkUncached(dg)
	if err == nil {
		b.chunks.put(dg, data)
	}
	return data, err
}

func (b *s3Backend) readChunkUncached(dg [32]byte) ([]byte, error) {
	data, err := b.get(chunkKey(dg))
	if errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("chunk %x is missing from the datastore: %w", dg, fs.ErrNotExist)
	}
	if err != nil {
		return nil, fmt.Errorf("read chunk %x: %w", dg, err)
	}
	return data, nil
}

// MarkBad copies a corrupt chunk to <digest>.<n>.bad (first free n, 9
// overwritten) and deletes the original, so the next backup uploads it again.
func (b *s3Backend) MarkBad(dg [32]byte) (string, error) {
	unlock, err := b.stripeLock(dg, true)
	if err != nil {
		return "", err
	}
	defer unlock()
	src := chunkKey(dg)
	for n := 0; n < 10; n++ {
		bad := fmt.Sprintf("%s.%d.bad", src, n)
		if _, err := b.stat(bad); errors.Is(err, fs.ErrNotExist) || n == 9 {
			ctx, cancel := b.ctx()
			_, err := b.client.CopyObject(ctx, minio.CopyDestOptions{Bucket: b.cfg.Bucket, Object: b.key(bad)},
				minio.CopySrcOptions{Bucket: b.cfg.Bucket, Object: b.key(src)})
			cancel()
			if err != nil {
				return "", b.wrap(fmt.Errorf("set aside chunk %x: %w", dg, err))
			}
			if err := b.remove(src); err != nil {
				return "", err
			}
			b.forgetMarker(dg)
			b.chunks.drop(dg)
			return b.displayPath(bad), nil
		}
	}
	return "", nil
}

// ---- GC ----

// s3GC marks by recording the referenced digests in memory (no atime on
// S3), then sweeps the chunk objects: one that is not marked and whose last
// use — the later of its LastModified and its local "last used" marker — is
// older than the cutoff is deleted, after its marker is checked again under
// the chunk's stripe lock.
type s3GC struct {
	b      *s3Backend
	marked map[[32]byte]bool // value: seen in the sweep
}

func (b *s3Backend) StartGC() (time.Time, GCSession, error) {
	return b.clock(), &s3GC{b: b, marked: map[[32]byte]bool{}}, nil
}

func (g *s3GC) Mark(dg [32]byte) (bool, error) {
	if _, ok := g.marked[dg]; !ok {
		g.marked[dg] = false
	}
	return true, nil // missing chunks are reported by Sweep
}

func (g *s3GC) Sweep(ctx context.Context, minUse, oldest time.Time, st *core.GCStatus, events core.Sink) error {
	b := g.b
	var count uint64
	lastPct := -1
	goodSeen := map[[32]byte]bool{}
	err := b.list(ctx, ".chunks/", true, func(rel string, o minio.ObjectInfo) error {
		if err := ctx.Err(); err != nil {
			return err
		}
		name := filepath.Base(rel)
		bad, ok := isChunkName(name)
		if !ok {
			return nil
		}
		var dg [32]byte
		hex.Decode(dg[:], []byte(name[:64]))
		count++
		if pct := int(dg[0]) * 100 / 256; pct != lastPct && pct > 0 {
			lastPct = pct
			events.GCInfo(fmt.Sprintf("percentage done: %d, chunk count: %d", pct, count), core.GCPhaseSweep, pct)
		}
		_, marked := g.marked[dg]
		if !bad {
			goodSeen[dg] = true
			if marked {
				g.marked[dg] = true
			}
		}
		lastUse := o.LastModified
		if mt := b.markerTime(dg); mt.After(lastUse) {
			lastUse = mt
		}
		switch {
		case bad && marked && goodSeen[dg]:
			// A good copy is back: the bad one can go.
			if b.remove(rel) == nil {
				st.RemovedBad++
				st.RemovedBytes += uint64(o.Size)
			}
		case marked:
			if bad {
				st.StillBad++
				st.DiskBytes += uint64(o.Size)
			} else {
				st.DiskChunks++
				st.DiskBytes += uint64(o.Size)
			}
		case lastUse.Before(minUse):
			removed, err := g.removeIfUnused(dg, rel, bad, minUse)
			if err != nil {
				return err
			}
			if removed {
				countRemoved(bad, o.Size, st)
			} else {
				countKept(bad, o.Size, st)
			}
		case lastUse.Before(oldest):
			countPending(bad, o.Size, st)
		default:
			countKept(bad, o.Size, st)
		}
		return nil
	})
	if err != nil {
		return err
	}
	missing := 0
	for dg, seen := range g.marked {
		if !seen {
			if missing < 10 {
				events.Warn(fmt.Sprintf("warning: unable to access non-existent chunk %x, required by an index", dg))
			}
			missing++
		}
	}
	if missing > 10 {
		events.Warn(fmt.Sprintf("warning: %d referenced chunks are missing in all", missing))
	}
	events.GCInfo(fmt.Sprintf("percentage done: 100, chunk count: %d", count), core.GCPhaseSweep, 100)
	return nil
}

// removeIfUnused deletes an unmarked chunk object unless a backup stamped
// its marker since the listing: the check and the delete run under the
// chunk's exclusive stripe lock, which TouchChunk takes shared.
func (g *s3GC) removeIfUnused(dg [32]byte, rel string, bad bool, minUse time.Time) (bool, error) {
	b := g.b
	unlock, err := b.stripeLock(dg, true)
	if err != nil {
		return false, err
	}
	defer unlock()
	if mt := b.markerTime(dg); !mt.Before(minUse) {
		return false, nil
	}
	if err := b.remove(rel); err != nil {
		return false, err
	}
	if !bad {
		b.forgetMarker(dg)
		b.chunks.drop(dg)
	}
	return true, nil
}

// ---- chunk cache (LRU, bounded) ----

type chunkCache struct {
	dir   string
	limit int64

	mu    sync.Mutex
	ready bool
	total int64
	lru   *list.List // front: most recent; values *cacheEntry
	items map[[32]byte]*list.Element
}

type cacheEntry struct {
	dg   [32]byte
	size int64
}

func newChunkCache(dir string, limit int64) *chunkCache {
	return &chunkCache{dir: dir, limit: limit, lru: list.New(), items: map[[32]byte]*list.Element{}}
}

func (c *chunkCache) path(dg [32]byte) string {
	h := hex.EncodeToString(dg[:])
	return filepath.Join(c.dir, h[:2], h)
}

// load indexes what an earlier process left, oldest mtime first; c.mu held.
func (c *chunkCache) loadLocked() {
	if c.ready {
		return
	}
	c.ready = true
	type found struct {
		dg   [32]byte
		size int64
		mt   time.Time
	}
	var all []found
	subs, _ := os.ReadDir(c.dir)
	for _, s := range subs {
		ents, _ := os.ReadDir(filepath.Join(c.dir, s.Name()))
		for _, e := range ents {
			var dg [32]byte
			if len(e.Name()) != 64 {
				os.Remove(filepath.Join(c.dir, s.Name(), e.Name())) // leftover temp file
				continue
			}
			if _, err := hex.Decode(dg[:], []byte(e.Name())); err != nil {
				continue
			}
			if info, err := e.Info(); err == nil {
				all = append(all, found{dg, info.Size(), info.ModTime()})
			}
		}
	}
	for i := 1; i < len(all); i++ { // insertion order: sort by mtime
		for j := i; j > 0 && all[j].mt.Before(all[j-1].mt); j-- {
			all[j], all[j-1] = all[j-1], all[j]
		}
	}
	for _, f := range all {
		c.items[f.dg] = c.lru.PushFront(&cacheEntry{f.dg, f.size})
		c.total += f.size
	}
	c.evictLocked()
}

func (c *chunkCache) evictLocked() {
	for c.total > c.limit && c.lru.Len() > 0 {
		e := c.lru.Back()
		ce := e.Value.(*cacheEntry)
		c.lru.Remove(e)
		delete(c.items, ce.dg)
		c.total -= ce.size
		os.Remove(c.path(ce.dg))
	}
}

func (c *chunkCache) get(dg [32]byte) ([]byte, bool) {
	if c.limit < 0 {
		return nil, false
	}
	c.mu.Lock()
	c.loadLocked()
	e, ok := c.items[dg]
	if ok {
		c.lru.MoveToFront(e)
	}
	c.mu.Unlock()
	if !ok {
		return nil, false
	}
	data, err := os.ReadFile(c.path(dg))
	if err != nil {
		c.drop(dg)
		return nil, false
	}
	now := time.Now()
	os.Chtimes(c.path(dg), now, now) // LRU order survives a restart
	return data, true
}

func (c *chunkCache) put(dg [32]byte, data []byte) {
	if c.limit < 0 || int64(len(data)) > c.limit {
		return
	}
	c.mu.Lock()
	c.loadLocked()
	if e, ok := c.items[dg]; ok {
		c.lru.MoveToFront(e)
		c.mu.Unlock()
		return
	}
	c.mu.Unlock()
	p := c.path(dg)
	os.MkdirAll(filepath.Dir(p), 0o700)
	tmp := fmt.Sprintf("%s.tmp%d", p, time.Now().UnixNano())
	if err := os.WriteFile(tmp, data, 0o600); err != nil {
		return
	}
	if err := os.Rename(tmp, p); err != nil {
		os.Remove(tmp)
		return
	}
	c.mu.Lock()
	if _, ok := c.items[dg]; !ok {
		c.items[dg] = c.lru.PushFront(&cacheEntry{dg, int64(len(data))})
		c.total += int64(len(data))
		c.evictLocked()
	}
	c.mu.Unlock()
}

func (c *chunkCache) drop(dg [32]byte) {
	c.mu.Lock()
	if e, ok := c.items[dg]; ok {
		c.lru.Remove(e)
		delete(c.items, dg)
		c.total -= e.Value.(*cacheEntry).size
	}
	c.mu.Unlock()
	os.Remove(c.path(dg))
}

// ---- constructors ----

// s3MarkerObject marks a bucket prefix as a datastore (the .lock file of
// the directory layout, formats.md 9.1).
const s3MarkerObject = ".lock"

func (b *s3Backend) exists() (bool, error) {
	_, err := b.stat(s3MarkerObject)
	if err == nil {
		return true, nil
	}
	if errors.Is(err, fs.ErrNotExist) {
		return false, nil
	}
	if r := s3Resp(err); r.Code == "NoSuchBucket" {
		return false, nil
	}
	return false, err
}

// CreateS3 makes a datastore in a bucket: the bucket if it is missing, the
// .chunks/ folder, then the .lock object that marks the datastore (chunk
// prefixes need no objects: a chunk's key is all there is). Each step is
// idempotent and .lock comes last, so an interrupted creation is finished
// by the next CreateS3 (or OpenS3) and two processes may create the same
// datastore at once. An existing datastore is left as it is.
func CreateS3(cfg S3Config) error {
	b, err := newS3Backend(cfg)
	if err != nil {
		return err
	}
	ctx, cancel := b.ctx()
	defer cancel()
	ok, err := b.client.BucketExists(ctx, b.cfg.Bucket)
	if err != nil {
		return b.wrap(fmt.Errorf("create S3 datastore %s: %w", b.cfg, err))
	}
	if !ok {
		if err := b.client.MakeBucket(ctx, b.cfg.Bucket, minio.MakeBucketOptions{Region: b.cfg.Region}); err != nil {
			r := s3Resp(err)
			if r.Code != "BucketAlreadyOwnedByYou" && r.Code != "BucketAlreadyExists" {
				return b.wrap(fmt.Errorf("create bucket %s: %w", b.cfg.Bucket, err))
			}
		}
	}
	if ok, err := b.exists(); err != nil || ok {
		return err
	}
	return b.finishCreate()
}

// finishCreate writes the .chunks/ folder and the .lock marker, in that order.
func (b *s3Backend) finishCreate() error {
	if _, err := b.put(".chunks/", nil, minio.PutObjectOptions{}); err != nil {
		return err
	}
	_, err := b.put(s3MarkerObject, nil, minio.PutObjectOptions{})
	return err
}

// unfinished reports that a creation stopped between the .chunks/ folder
// and the .lock marker.
func (b *s3Backend) unfinished() (bool, error) {
	_, err := b.stat(".chunks/")
	if err == nil {
		return true, nil
	}
	if errors.Is(err, fs.ErrNotExist) || s3Resp(err).Code == "NoSuchBucket" {
		return false, nil
	}
	return false, err
}

// OpenS3 opens the datastore in a bucket. owner is the auth id recorded for
// groups this process creates. Root() of the result is the cache directory.
func OpenS3(cfg S3Config, owner string) (*Datastore, error) {
	b, err := newS3Backend(cfg)
	if err != nil {
		return nil, err
	}
	ok, err := b.exists()
	if err != nil {
		return nil, err
	}
	if !ok {
		unf, err := b.unfinished()
		if err != nil {
			return nil, err
		}
		if !unf {
			return nil, core.NotFoundf("datastore %s does not exist", b.cfg)
		}
		// An interrupted creation: the next command finishes it.
		if err := b.finishCreate(); err != nil {
			return nil, err
		}
	}
	if err := b.refresh(); err != nil {
		return nil, err
	}
	return &Datastore{root: b.cache, name: b.cfg.String(), backend: b, owner: owner}, nil
}
