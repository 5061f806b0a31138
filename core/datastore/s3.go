package datastore

import (
	"bytes"
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net/http"
	"os"
	"path"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/minio/minio-go/v7"
	"github.com/minio/minio-go/v7/pkg/credentials"

	"cairn/core"
	"cairn/core/manifest"
)

// The S3 backend keeps a datastore as objects under the upstream layout's
// keys, relative to the configured prefix: chunks at .chunks/<4 hex>/<64 hex>,
// snapshot files at <ns path>/<type>/<id>/<time>/<file>, owners at
// <type>/<id>/owner, the .lock object marking a datastore. Directories that
// must exist while empty (namespaces, a snapshot being written) are
// zero-length "folder" objects whose key ends in "/". So a datastore copies
// between a path and a bucket without conversion.
//
// The local cache directory (S3Config.CacheDir) holds:
//   - meta/: copies of the metadata files (manifests, indexes, blobs, owner)
//     named by key and ETag, so listing snapshots and reading catalogs do not
//     fetch each object; the key listing itself is held in memory and
//     reloaded (a few LIST calls, not one per entry) when an operation starts;
//   - chunks/: recently used chunks, bounded by CacheBytes, evicted LRU;
//   - using/<2 hex>/<64 hex>: per-chunk "last used" markers (mtime), as PBS
//     4 keeps <digest>.using in its local cache store. A marker with content
//     also records that the chunk is known to be stored, so uploads skip
//     the HEAD request;
//   - locks/, .writers/, .gc-lock: group/snapshot flocks, the registry of
//     running backups and the GC lock.
//
// Locks, markers and the writer registry are local: they coordinate every
// process of this host that uses the same cache directory (the embedded CLI
// and a single server). Several hosts writing one bucket concurrently would
// need a shared lock service; that is not supported.

// s3Backend implements Backend on an S3 bucket.
type s3Backend struct {
	cfg    S3Config
	client *minio.Client
	prefix string // "" or "prefix/"
	cache  string

	clockMu sync.Mutex
	now     func() time.Time

	mu         sync.Mutex
	meta       map[string]objMeta // non-chunk keys (relative), folder markers end in "/"
	sorted     []string           // sorted keys of meta, nil when stale
	loaded     bool
	refreshing time.Time

	chunks *chunkCache

	sem     chan struct{}
	wg      sync.WaitGroup
	errMu   sync.Mutex
	pendErr error
}

type objMeta struct {
	size  int64
	mtime time.Time
	etag  string
}

const s3OpTimeout = 5 * time.Minute

func newS3Backend(cfg S3Config) (*s3Backend, error) {
	cfg, err := cfg.normalized()
	if err != nil {
		return nil, err
	}
	opts := &minio.Options{
		Creds:      credentials.NewStaticV4(cfg.AccessKey, cfg.SecretKey, ""),
		Secure:     !cfg.Insecure,
		Region:     cfg.Region,
		MaxRetries: cfg.MaxRetries,
	}
	if cfg.PathStyle {
		opts.BucketLookup = minio.BucketLookupPath
	}
	client, err := minio.New(cfg.Endpoint, opts)
	if err != nil {
		return nil, scrubError(cfg, fmt.Errorf("S3 client for %s: %w", cfg.Endpoint, err))
	}
	b := &s3Backend{cfg: cfg, client: client, cache: cfg.CacheDir, now: time.Now,
		meta: map[string]objMeta{}, sem: make(chan struct{}, cfg.Parallel)}
	if cfg.Prefix != "" {
		b.prefix = cfg.Prefix + "/"
	}
	if err := os.MkdirAll(b.cache, 0o700); err != nil {
		return nil, fmt.Errorf("S3 cache directory: %w", err)
	}
	b.chunks = newChunkCache(filepath.Join(b.cache, "chunks"), cfg.CacheBytes)
	return b, nil
}

func (b *s3Backend) setClock(now func() time.Time) {
	b.clockMu.Lock()
	b.now = now
	b.clockMu.Unlock()
}

func (b *s3Backend) clock() time.Time {
	b.clockMu.Lock()
	now := b.now
	b.clockMu.Unlock()
	return now()
}

func (b *s3Backend) storeName() string {
	if b.cfg.Prefix != "" {
		return path.Base(b.cfg.Prefix)
	}
	return b.cfg.Bucket
}

func (b *s3Backend) displayPath(p string) string { return b.cfg.String() + "/" + p }

func (b *s3Backend) ctx() (context.Context, context.CancelFunc) {
	return context.WithTimeout(context.Background(), s3OpTimeout)
}

// scrubError removes the credentials from an error's text, whatever the S3
// library put there, keeping the error chain for errors.Is.
func scrubError(cfg S3Config, err error) error {
	if err == nil {
		return nil
	}
	msg := err.Error()
	clean := msg
	for _, secret := range []string{cfg.SecretKey, cfg.AccessKey} {
		if len(secret) >= 3 {
			clean = strings.ReplaceAll(clean, secret, "***")
		}
	}
	if clean == msg {
		return err
	}
	return &scrubbed{msg: clean, err: err}
}

type scrubbed struct {
	msg string
	err error
}

func (s *scrubbed) Error() string { return s.msg }

// Unwrap gives errors.Is access to sentinels only, never the raw text.
func (s *scrubbed) Unwrap() error {
	switch {
	case errors.Is(s.err, fs.ErrNotExist):
		return fs.ErrNotExist
	case errors.Is(s.err, fs.ErrExist):
		return fs.ErrExist
	case errors.Is(s.err, core.ErrNotFound):
		return core.ErrNotFound
	}
	if r := s3Resp(s.err); r.Code != "" || r.StatusCode != 0 {
		return minio.ErrorResponse{Code: r.Code, StatusCode: r.StatusCode}
	}
	return nil
}

// s3Resp finds the S3 error response in an error chain.
func s3Resp(err error) minio.ErrorResponse {
	var r minio.ErrorResponse
	if errors.As(err, &r) {
		return r
	}
	return minio.ErrorResponse{}
}

func (b *s3Backend) wrap(err error) error { return scrubError(b.cfg, err) }

func isNotFound(err error) bool {
	r := s3Resp(err)
	return r.StatusCode == http.StatusNotFound || r.Code == "NoSuchKey" || r.Code == "NotFound"
}

func isNotImplemented(err error) bool {
	r := s3Resp(err)
	return r.StatusCode == http.StatusNotImplemented || r.Code == "NotImplemented"
}

func isPreconditionFailed(err error) bool {
	r := s3Resp(err)
	return r.StatusCode == http.StatusPreconditionFailed || r.Code == "PreconditionFailed"
}

// relKey cleans a datastore path into a key relative to the prefix.
func relKey(p string) (string, error) {
	for _, c := range strings.Split(p, "/") {
		if c == ".." {
			return "", fmt.Errorf("invalid datastore path %q", p)
		}
	}
	k := strings.TrimPrefix(path.Clean("/"+p), "/")
	return k, nil
}

// loadedRel is p's key below the prefix, the metadata cache loaded.
func (b *s3Backend) loadedRel(p string) (string, error) {
	rel, err := relKey(p)
	if err != nil {
		return "", err
	}
	return rel, b.ensureLoaded()
}

// fileRel is loadedRel for a file to write, which the root is not.
func (b *s3Backend) fileRel(p string) (string, error) {
	rel, err := relKey(p)
	if err != nil {
		return "", err
	}
	if rel == "" {
		return "", fmt.Errorf("invalid datastore path %q", p)
	}
	return rel, b.ensureLoaded()
}

func (b *s3Backend) key(rel string) string { return b.prefix + rel }

func chunkKey(digest [32]byte) string {
	h := hex.EncodeToString(digest[:])
	return ".chunks/" + h[:4] + "/" + h
}

// ---- object primitives ----

func (b *s3Backend) put(rel string, data []byte, opts minio.PutObjectOptions) (minio.UploadInfo, error) {
	ctx, cancel := b.ctx()
	defer cancel()
	if opts.ContentType == "" {
		opts.ContentType = "application/octet-stream"
	}
	info, err := b.client.PutObject(ctx, b.cfg.Bucket, b.key(rel), bytes.NewReader(data), int64(len(data)), opts)
	if err != nil {
		return info, b.wrap(fmt.Errorf("upload %s: %w", rel, err))
	}
	return info, nil
}

func (b *s3Backend) get(rel string) ([]byte, error) {
	ctx, cancel := b.ctx()
	defer cancel()
	obj, err := b.client.GetObject(ctx, b.cfg.Bucket, b.key(rel), minio.GetObjectOptions{})
	if err != nil {
		return nil, b.wrap(fmt.Errorf("download %s: %w", rel, err))
	}
	defer obj.Close()
	data, err := io.ReadAll(obj)
	if err != nil {
		if isNotFound(err) {
			return nil, fmt.Errorf("%s: %w", rel, fs.ErrNotExist)
		}
		return nil, b.wrap(fmt.Errorf("download %s: %w", rel, err))
	}
	return data, nil
}

func (b *s3Backend) stat(rel string) (minio.ObjectInfo, error) {
	ctx, cancel := b.ctx()
	defer cancel()
	info, err := b.client.StatObject(ctx, b.cfg.Bucket, b.key(rel), minio.StatObjectOptions{})
	if err != nil {
		if isNotFound(err) {
			return info, fmt.Errorf("%s: %w", rel, fs.ErrNotExist)
		}
		return info, b.wrap(fmt.Errorf("stat %s: %w", rel, err))
	}
	return info, nil
}

func (b *s3Backend) remove(rel string) error {
	ctx, cancel := b.ctx()
	defer cancel()
	if err := b.client.RemoveObject(ctx, b.cfg.Bucket, b.key(rel), minio.RemoveObjectOptions{}); err != nil && !isNotFound(err) {
		return b.wrap(fmt.Errorf("remove %s: %w", rel, err))
	}
	return nil
}

// list calls fn for every object below prefix (relative keys).
func (b *s3Backend) list(ctx context.Context, prefix string, recursive bool, fn func(rel string, o minio.ObjectInfo) error) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	for o := range b.client.ListObjects(ctx, b.cfg.Bucket, minio.ListObjectsOptions{Prefix: b.key(prefix), Recursive: recursive}) {
		if o.Err != nil {
			return b.wrap(fmt.Errorf("list %s: %w", prefix, o.Err))
		}
		if err := fn(strings.TrimPrefix(o.Key, b.prefix), o); err != nil {
			return err
		}
	}
	return nil
}

// ---- the key listing (metadata view) ----

// refresh reloads the listing of every non-chunk key: one LIST of the top
// level plus one recursive LIST per top-level directory other than .chunks.
// Calls within half a second reuse the last listing.
func (b *s3Backend) refresh() error {
	b.mu.Lock()
	if b.loaded && time.Since(b.refreshing) < 500*time.Millisecond {
		b.mu.Unlock()
		return nil
	}
	b.mu.Unlock()
	ctx, cancel := b.ctx()
	defer cancel()
	meta := map[string]objMeta{}
	var dirs []string
	err := b.list(ctx, "", false, func(rel string, o minio.ObjectInfo) error {
		if strings.HasSuffix(rel, "/") {
			if rel != ".chunks/" {
				dirs = append(dirs, rel)
			}
			return nil
		}
		meta[rel] = objMeta{size: o.Size, mtime: o.LastModified, etag: o.ETag}
		return nil
	})
	for _, d := range dirs {
		if err != nil {
			break
		}
		err = b.list(ctx, d, true, func(rel string, o minio.ObjectInfo) error {
			meta[rel] = objMeta{size: o.Size, mtime: o.LastModified, etag: o.ETag}
			return nil
		})
	}
	if err != nil {
		return err
	}
	b.mu.Lock()
	b.meta, b.sorted, b.loaded, b.refreshing = meta, nil, true, time.Now()
	b.mu.Unlock()
	return nil
}

func (b *s3Backend) ensureLoaded() error {
	b.mu.Lock()
	loaded := b.loaded
	b.mu.Unlock()
	if loaded {
		return nil
	}
	return b.refresh()
}

func (b *s3Backend) setMeta(rel string, m objMeta) {
	b.mu.Lock()
	if _, ok := b.meta[rel]; !ok {
		b.sorted = nil
	}
	b.meta[rel] = m
	b.mu.Unlock()
}

func (b *s3Backend) dropMeta(rel string) {
	b.mu.Lock()
	if _, ok := b.meta[rel]; ok {
		delete(b.meta, rel)
		b.sorted = nil
	}
	b.mu.Unlock()
}

// keysUnder returns the sorted keys starting with prefix; b.mu held.
func (b *s3Backend) keysUnderLocked(prefix string) []string {
	if b.sorted == nil {
		b.sorted = make([]string, 0, len(b.meta))
		for k := range b.meta {
			b.sorted = append(b.sorted, k)
		}
		sort.Strings(b.sorted)
	}
	i := sort.SearchStrings(b.sorted, prefix)
	j := i
	for j < len(b.sorted) && strings.HasPrefix(b.sorted[j], prefix) {
		j++
	}
	return b.sorted[i:j]
}

func dirPrefix(rel string) string {
	if rel == "" {
		return ""
	}
	return rel + "/"
}

// ---- metadata content cache ----

func (b *s3Backend) metaCachePath(rel, etag string) string {
	h := hex.EncodeToString([]byte(rel))
	if len(h) > 180 {
		h = h[:100] + fmt.Sprintf("%x", fnv64(h))
	}
	e := strings.Trim(etag, `"`)
	return filepath.Join(b.cache, "meta", h+"."+e)
}

func fnv64(s string) uint64 {
	var h uint64 = 14695981039346656037
	for i := 0; i < len(s); i++ {
		h ^= uint64(s[i])
		h *= 1099511628211
	}
	return h
}

func (b *s3Backend) cacheMeta(rel, etag string, data []byte) {
	if etag == "" {
		return
	}
	p := b.metaCachePath(rel, etag)
	os.MkdirAll(filepath.Dir(p), 0o700)
	tmp := fmt.Sprintf("%s.tmp%d", p, time.Now().UnixNano())
	if os.WriteFile(tmp, data, 0o600) == nil {
		os.Rename(tmp, p)
	}
}

// ---- Backend: snapshot files ----

func (b *s3Backend) ReadFile(p string) ([]byte, error) {
	rel, err := b.loadedRel(p)
	if err != nil {
		return nil, err
	}
	b.mu.Lock()
	m, ok := b.meta[rel]
	b.mu.Unlock()
	if !ok {
		return nil, &fs.PathError{Op: "open", Path: p, Err: fs.ErrNotExist}
	}
	if data, err := os.ReadFile(b.metaCachePath(rel, m.etag)); err == nil && int64(len(data)) == m.size {
		return data, nil
	}
	data, err := b.get(rel)
	if errors.Is(err, fs.ErrNotExist) {
		b.dropMeta(rel)
		return nil, &fs.PathError{Op: "open", Path: p, Err: fs.ErrNotExist}
	}
	if err != nil {
		return nil, err
	}
	b.cacheMeta(rel, m.etag, data)
	return data, nil
}

func (b *s3Backend) writeFile(p string, data []byte, opts minio.PutObjectOptions) error {
	rel, err := b.fileRel(p)
	if err != nil {
		return err
	}
	info, err := b.put(rel, data, opts)
	if err != nil {
		return err
	}
	b.setMeta(rel, objMeta{size: int64(len(data)), mtime: time.Now(), etag: info.ETag})
	b.cacheMeta(rel, info.ETag, data)
	return nil
}

// WriteFile uploads a snapshot file; a PUT is atomic, and durable when it
// returns. Pending chunk uploads finish first, so an index never refers to
// a chunk that is not stored yet.
func (b *s3Backend) WriteFile(p string, data []byte) error {
	if err := b.Sync(); err != nil {
		return err
	}
	return b.writeFile(p, data, minio.PutObjectOptions{})
}

// CreateFile uploads with If-None-Match: *, so of two creators one wins.
func (b *s3Backend) CreateFile(p string, data []byte) error {
	rel, err := b.loadedRel(p)
	if err != nil {
		return err
	}
	b.mu.Lock()
	_, exists := b.meta[rel]
	b.mu.Unlock()
	if exists {
		return &fs.PathError{Op: "create", Path: p, Err: fs.ErrExist}
	}
	opts := minio.PutObjectOptions{}
	opts.SetMatchETagExcept("*")
	err = b.writeFile(p, data, opts)
	if err != nil && isPreconditionFailed(err) {
		return &fs.PathError{Op: "create", Path: p, Err: fs.ErrExist}
	}
	return err
}

func (b *s3Backend) dirExistsLocked(rel string) bool {
	if rel == "" {
		return true
	}
	return len(b.keysUnderLocked(rel+"/")) > 0
}

func (b *s3Backend) Mkdir(p string, exclusive bool) error {
	rel, err := b.loadedRel(p)
	if err != nil {
		return err
	}
	if rel == "" {
		return nil
	}
	b.mu.Lock()
	exists := b.dirExistsLocked(rel)
	_, isFile := b.meta[rel]
	b.mu.Unlock()
	if isFile || (exists && exclusive) {
		return &fs.PathError{Op: "mkdir", Path: p, Err: fs.ErrExist}
	}
	if exists {
		return nil
	}
	info, err := b.put(rel+"/", nil, minio.PutObjectOptions{})
	if err != nil {
		return err
	}
	b.setMeta(rel+"/", objMeta{mtime: time.Now(), etag: info.ETag})
	return nil
}

type s3DirEntry struct {
	name string
	dir  bool
	m    objMeta
}

func (e s3DirEntry) Name() string { return e.name }
func (e s3DirEntry) IsDir() bool  { return e.dir }
func (e s3DirEntry) Type() fs.FileMode {
	if e.dir {
		return fs.ModeDir
	}
	return 0
}
func (e s3DirEntry) Info() (fs.FileInfo, error) { return e, nil }
func (e s3DirEntry) Size() int64                { return e.m.size }
func (e s3DirEntry) Mode() fs.FileMode {
	if e.dir {
		return fs.ModeDir | 0o755
	}
	return 0o644
}
func (e s3DirEntry) ModTime() time.Time { return e.m.mtime }
func (e s3DirEntry) Sys() any           { return nil }

func (b *s3Backend) ReadDir(p string) ([]fs.DirEntry, error) {
	rel, err := b.loadedRel(p)
	if err != nil {
		return nil, err
	}
	pre := dirPrefix(rel)
	b.mu.Lock()
	defer b.mu.Unlock()
	keys := b.keysUnderLocked(pre)
	if rel != "" && len(keys) == 0 {
		return nil, &fs.PathError{Op: "readdir", Path: p, Err: fs.ErrNotExist}
	}
	var out []fs.DirEntry
	seen := map[string]bool{}
	for _, k := range keys {
		rest := k[len(pre):]
		if rest == "" {
			continue // the folder marker itself
		}
		name, sub, isDir := strings.Cut(rest, "/")
		_ = sub
		if rel == "" && name == ".chunks" {
			isDir = true
		}
		if seen[name] {
			continue
		}
		seen[name] = true
		out = append(out, s3DirEntry{name: name, dir: isDir, m: b.meta[k]})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name() < out[j].Name() })
	return out, nil
}

func (b *s3Backend) Stat(p string) (fs.FileInfo, error) {
	rel, err := b.loadedRel(p)
	if err != nil {
		return nil, err
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	if m, ok := b.meta[rel]; ok && rel != "" {
		return s3DirEntry{name: path.Base(rel), m: m}, nil
	}
	if b.dirExistsLocked(rel) {
		return s3DirEntry{name: path.Base(rel), dir: true, m: b.meta[rel+"/"]}, nil
	}
	return nil, &fs.PathError{Op: "stat", Path: p, Err: fs.ErrNotExist}
}

func (b *s3Backend) Remove(p string) error {
	rel, err := b.loadedRel(p)
	if err != nil {
		return err
	}
	b.mu.Lock()
	_, isFile := b.meta[rel]
	keys := b.keysUnderLocked(dirPrefix(rel))
	b.mu.Unlock()
	switch {
	case isFile && rel != "":
		if err := b.remove(rel); err != nil {
			return err
		}
		b.dropMeta(rel)
		return nil
	case len(keys) == 0:
		return &fs.PathError{Op: "remove", Path: p, Err: fs.ErrNotExist}
	case len(keys) > 1 || keys[0] != rel+"/":
		return &fs.PathError{Op: "remove", Path: p, Err: errors.New("directory not empty")}
	}
	if err := b.remove(rel + "/"); err != nil {
		return err
	}
	b.dropMeta(rel + "/")
	return nil
}

func (b *s3Backend) RemoveAll(p string) error {
	rel, err := relKey(p)
	if err != nil {
		return err
	}
	if rel == "" {
		return fmt.Errorf("refusing to remove the datastore root")
	}
	if err := b.ensureLoaded(); err != nil {
		return err
	}
	b.mu.Lock()
	keys := append([]string(nil), b.keysUnderLocked(rel+"/")...)
	if _, ok := b.meta[rel]; ok {
		keys = append(keys, rel)
	}
	b.mu.Unlock()
	// Deepest and folder markers last, so an interruption leaves a prefix of
	// the removal that still lists as a (now incomplete) directory.
	sort.Slice(keys, func(i, j int) bool { return len(keys[i]) > len(keys[j]) })
	for _, k := range keys {
		if err := b.remove(k); err != nil {
			return err
		}
		b.dropMeta(k)
	}
	return nil
}

// ---- Backend: locks and coordination (local to the cache directory) ----

func (b *s3Backend) StateDir() string { return b.cache }

func (b *s3Backend) lockFile(rel, suffix string) string {
	name := strings.ReplaceAll(rel, "%", "%25")
	name = strings.ReplaceAll(name, "/", "%2F") + suffix
	if name == "" {
		name = "%root"
	}
	if len(name) > 200 {
		name = fmt.Sprintf("hashed-%x-%x", fnv64(name), fnv64(name+"\x00"))
	}
	return filepath.Join(b.cache, "locks", name)
}

func (b *s3Backend) LockDir(p string, exclusive bool) (func(), error) {
	rel, err := relKey(p)
	if err != nil {
		return nil, err
	}
	return flockFile(b.lockFile(rel, ""), rel, exclusive, false)
}

func (b *s3Backend) LockManifest(dir string) (func(), error) {
	rel, err := relKey(dir)
	if err != nil {
		return nil, err
	}
	// One flat lock file beside the directory's own (LockDir's) lock file:
	// "<dir>/.index.json.lck" would need the latter to be a directory.
	return flockFile(b.lockFile(rel+"/.index.json.lck", ""), rel, true, true)
}

// ---- Backend: GC helpers ----

func (b *s3Backend) ListIndexFiles() ([]string, error) {
	if err := b.refresh(); err != nil {
		return nil, err
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	var out []string
	for _, k := range b.keysUnderLocked("") {
		if !manifest.IsIndexFile(k) {
			continue
		}
		hidden := false
		for _, c := range strings.Split(k, "/") {
			if strings.HasPrefix(c, ".") {
				hidden = true
				break
			}
		}
		if !hidden {
			out = append(out, k)
		}
	}
	return out, nil
}

// Close waits for pending uploads.
func (b *s3Backend) Close() error { return b.Sync() }
