package datastore

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"sync"
	"time"

	"cairn/core"
)

// Datastore is a local datastore directory.
type Datastore struct {
	root    string
	name    string
	store   string // the configured name on a server (SetStoreName)
	backend Backend
	owner   string

	mu        sync.Mutex
	chunkLock *os.File // shared lock on .lock, held while the datastore is open

	// now is the clock writers are registered with and (S3) chunk uses are
	// stamped with; tests move it forward instead of ageing atimes.
	now func() time.Time
}

// SetClock replaces the datastore's clock (a test hook: it ages an S3
// datastore's chunks without waiting a day). The directory backend's GC
// keeps using atimes.
func (d *Datastore) SetClock(now func() time.Time) {
	d.now = now
	if c, ok := d.backend.(interface{ setClock(func() time.Time) }); ok {
		c.setClock(now)
	}
}

func (d *Datastore) clock() time.Time {
	if d.now != nil {
		return d.now()
	}
	return time.Now()
}

// refresher is a backend whose view of the namespace tree is cached (S3):
// refresh reloads it, so another process's changes show up.
type refresher interface{ refresh() error }

func (d *Datastore) refresh() {
	if r, ok := d.backend.(refresher); ok {
		r.refresh()
	}
}

// SetStoreName sets the name the datastore is known by on a server
// (store1), which task ids and messages use instead of the directory's.
func (d *Datastore) SetStoreName(name string) { d.store = name }

// storeName names the store in task ids and messages.
func (d *Datastore) storeName() string {
	if d.store != "" {
		return d.store
	}
	if s, ok := d.backend.(interface{ storeName() string }); ok {
		return s.storeName()
	}
	return filepath.Base(d.root)
}

// displayPath is a datastore path as messages show it.
func (d *Datastore) displayPath(p string) string {
	if s, ok := d.backend.(interface{ displayPath(string) string }); ok {
		return s.displayPath(p)
	}
	return filepath.Join(d.root, filepath.FromSlash(p))
}

// Exists reports whether dir holds a datastore: its .chunks directory, the
// last thing Create makes (the commit point of a creation).
func Exists(dir string) bool {
	st, err := os.Stat(filepath.Join(dir, ".chunks"))
	return err == nil && st.IsDir()
}

// What an interrupted creation can leave in a directory that is not yet a
// datastore: the lock file Create makes before .chunks, and the chunk
// directory that versions before on-demand prefix directories built under
// a temporary name (a valid partial chunk directory: prefix directories
// only).
const (
	lockName      = ".lock"
	chunksName    = ".chunks"
	chunksTmpName = ".chunks.tmp"
)

// createHook, when set (tests only), is called after each step of Create and
// CreateFull; an error stops the creation right there, as a kill would:
// Create never undoes a step, so what a stop leaves is what a crash leaves.
var createHook func(step string) error

func createStep(step string) error {
	if createHook != nil {
		return createHook(step)
	}
	return nil
}

// complete reports that dir is a datastore whose creation has finished:
// .chunks and .lock are there, no leftover of an older creation is.
func complete(dir string) bool {
	if !Exists(dir) {
		return false
	}
	if st, err := os.Stat(filepath.Join(dir, lockName)); err != nil || !st.Mode().IsRegular() {
		return false
	}
	_, err := os.Lstat(filepath.Join(dir, chunksTmpName))
	return errors.Is(err, fs.ErrNotExist)
}

// unfinished reports that dir holds an interrupted creation and nothing
// else: some of .lock and .chunks.tmp, and no .chunks yet.
func unfinished(dir string) bool {
	ents, err := os.ReadDir(dir)
	if err != nil || len(ents) == 0 {
		return false
	}
	for _, e := range ents {
		if e.Name() != lockName && e.Name() != chunksTmpName {
			return false
		}
	}
	return true
}

// Foreign reports that dir exists and holds files that are neither a
// datastore nor an interrupted creation of one, so making a datastore there
// would take over someone else's directory. A missing or empty directory is
// not foreign.
func Foreign(dir string) bool {
	if Exists(dir) {
		return false
	}
	ents, err := os.ReadDir(dir)
	return err == nil && len(ents) > 0 && !unfinished(dir)
}

// Create makes a datastore at dir (formats.md 3.2, 9.1): the directory, the
// .lock file, then the .chunks directory. Chunk prefix directories
// (.chunks/XXXX) are made when the first chunk needs one, so a new datastore
// costs a few system calls and a few KiB; CreateFull makes upstream's full
// layout.
//
// Each step is idempotent and the datastore only counts as one (Exists)
// once .chunks is there, so a creation stopped at any point, by a crash or
// a kill, is finished by the next Create (or Open), and two processes may
// create the same datastore at once. A leftover .chunks.tmp of an older
// version's interrupted creation is taken as the chunk directory. An
// existing datastore is left as it is.
func Create(dir string) error {
	if complete(dir) {
		return nil
	}
	if err := create(dir); err != nil {
		return fmt.Errorf("create datastore %q: %w", dir, err)
	}
	return nil
}

func create(dir string) error {
	if _, err := os.Stat(dir); errors.Is(err, fs.ErrNotExist) {
		// Directories above the datastore are made 0755, as upstream's
		// create_path makes them; the datastore itself is not
		// world-accessible (see dirMode).
		if err := os.MkdirAll(filepath.Dir(dir), 0o755); err != nil {
			return err
		}
		if err := os.Mkdir(dir, dirMode); err != nil && !errors.Is(err, fs.ErrExist) {
			return err
		}
		if err := createStep("mkdir"); err != nil {
			return err
		}
		if err := syncDir(filepath.Dir(dir)); err != nil {
			return err
		}
	}
	if err := createStep("dir"); err != nil {
		return err
	}
	f, err := os.OpenFile(filepath.Join(dir, lockName), os.O_CREATE|os.O_WRONLY, fileMode)
	if err != nil {
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	if err := createStep("lock"); err != nil {
		return err
	}
	// .lock is durable before .chunks appears: a directory that is a
	// datastore always has its lock file.
	if err := syncDir(dir); err != nil {
		return err
	}
	if err := createStep("sync-lock"); err != nil {
		return err
	}
	chunks, tmp := filepath.Join(dir, chunksName), filepath.Join(dir, chunksTmpName)
	if _, err := os.Lstat(tmp); err == nil {
		if !Exists(dir) {
			// Another process may finish the same creation at once: its
			// rename wins, ours then finds no .chunks.tmp (or a .chunks
			// that is not empty) and .chunks exists all the same.
			if err := os.Rename(tmp, chunks); err != nil && !Exists(dir) {
				return err
			}
		}
		if err := createStep("rename-tmp"); err != nil {
			return err
		}
		if Exists(dir) {
			// Both there (two older creations raced): .chunks.tmp holds
			// nothing but empty prefix directories.
			if err := os.RemoveAll(tmp); err != nil && !errors.Is(err, fs.ErrNotExist) {
				return err
			}
		}
	}
	if err := os.Mkdir(chunks, dirMode); err != nil && !errors.Is(err, fs.ErrExist) {
		return err
	}
	if !Exists(dir) {
		return fmt.Errorf("%s is not a directory", chunks)
	}
	if err := createStep("chunks"); err != nil {
		return err
	}
	return syncDir(dir)
}

// CreateFull is Create with upstream's full layout: all 65536 prefix
// directories, which upstream PBS expects of a datastore it serves. On an
// existing datastore (a path repository whose prefix directories were made
// on demand) it adds the missing ones and keeps everything else, so the
// datastore can be served by upstream. Resumable like Create: a stopped run
// leaves a valid datastore that the next CreateFull completes.
func CreateFull(dir string) error {
	if err := Create(dir); err != nil {
		return err
	}
	if err := completeLayout(filepath.Join(dir, chunksName)); err != nil {
		return fmt.Errorf("create datastore %q: %w", dir, err)
	}
	return nil
}

// completeLayout makes the missing prefix directories of a chunk directory
// and syncs it.
func completeLayout(chunks string) error {
	var have [65536]bool
	ents, err := os.ReadDir(chunks)
	if err != nil {
		return err
	}
	for _, e := range ents {
		if i, ok := prefixIndex(e.Name()); ok && e.IsDir() {
			have[i] = true
		}
	}
	made := false
	for i := range have {
		if have[i] {
			continue
		}
		p := filepath.Join(chunks, prefixName(i))
		if err := os.Mkdir(p, dirMode); err != nil {
			if st, serr := os.Stat(p); serr != nil || !st.IsDir() {
				return err
			}
		}
		made = true
		if err := createStep("prefix"); err != nil {
			return err
		}
	}
	if !made {
		return nil
	}
	return syncDir(chunks)
}

const hexDigits = "0123456789abcdef"

// prefixName is the name of prefix directory i: 4 lowercase hex digits.
func prefixName(i int) string {
	return string([]byte{hexDigits[i>>12&15], hexDigits[i>>8&15], hexDigits[i>>4&15], hexDigits[i&15]})
}

// prefixIndex parses a prefix directory name.
func prefixIndex(name string) (int, bool) {
	if len(name) != 4 {
		return 0, false
	}
	n := 0
	for i := 0; i < 4; i++ {
		c := name[i]
		switch {
		case c >= '0' && c <= '9':
			n = n<<4 | int(c-'0')
		case c >= 'a' && c <= 'f':
			n = n<<4 | int(c-'a'+10)
		default:
			return 0, false
		}
	}
	return n, true
}

// openDir opens the datastore at dir. owner is the auth id recorded for
// groups this process creates.
func openDir(dir, owner string) (*Datastore, error) {
	abs, err := filepath.Abs(dir)
	if err != nil {
		return nil, err
	}
	switch {
	case complete(abs):
	case Exists(abs):
		// Created, but its lock file or the cleanup of an older
		// creation's leftover is missing: finish it if we may write here
		// (reading works without).
		Create(abs)
	case unfinished(abs):
		// An interrupted creation: the next command finishes it.
		if err := Create(abs); err != nil {
			return nil, err
		}
	default:
		return nil, core.NotFoundf("datastore %q does not exist", dir)
	}
	ds := &Datastore{root: abs, name: dir, backend: &dirBackend{root: abs}, owner: owner}
	return ds, nil
}

// Root is the datastore's directory; for an S3 datastore, its local cache
// directory (no datastore files live there, only cached copies and locks).
func (d *Datastore) Root() string { return d.root }

// Name is the repository string the datastore was opened with.
func (d *Datastore) Name() string { return d.name }

// Backend exposes the storage backend.
func (d *Datastore) Backend() Backend { return d.backend }

// Close releases the datastore.
func (d *Datastore) Close() error {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.chunkLock != nil {
		d.chunkLock.Close()
		d.chunkLock = nil
	}
	if c, ok := d.backend.(interface{ Close() error }); ok {
		return c.Close()
	}
	return nil
}

// nsPath maps a namespace to its directory: a/b → ns/a/ns/b (formats.md 9.1).
func nsPath(ns core.Namespace) string {
	p := ""
	for _, c := range ns.Components() {
		p = path.Join(p, "ns", c)
	}
	return p
}

func groupPath(ns core.Namespace, g core.Group) string {
	return path.Join(nsPath(ns), string(g.Type), g.ID)
}

func snapshotPath(ns core.Namespace, s core.Snapshot) string {
	return path.Join(groupPath(ns, s.Group), s.TimeString())
}

func (d *Datastore) nsExists(ns core.Namespace) bool {
	if ns.IsRoot() {
		return true
	}
	st, err := d.backend.Stat(nsPath(ns))
	return err == nil && st.IsDir()
}

func (d *Datastore) requireNamespace(ns core.Namespace) error {
	if !d.nsExists(ns) {
		return core.NotFoundf("namespace '%s' does not exist.", ns)
	}
	return nil
}

// ListNamespaces returns parent and all namespaces below it, up to maxDepth
// levels deeper (maxDepth < 0: unlimited), depth first in name order.
func (d *Datastore) ListNamespaces(parent core.Namespace, maxDepth int) ([]core.Namespace, error) {
	d.refresh()
	if err := d.requireNamespace(parent); err != nil {
		return nil, err
	}
	out := []core.Namespace{parent}
	var walk func(ns core.Namespace, depth int) error
	walk = func(ns core.Namespace, depth int) error {
		if maxDepth >= 0 && depth >= maxDepth {
			return nil
		}
		ents, err := d.backend.ReadDir(path.Join(nsPath(ns), "ns"))
		if errors.Is(err, fs.ErrNotExist) {
			return nil
		}
		if err != nil {
			return err
		}
		for _, e := range ents {
			if !e.IsDir() {
				continue
			}
			child := core.Namespace(e.Name())
			if !ns.IsRoot() {
				child = ns + "/" + child
			}
			if _, err := core.ParseNamespace(string(child)); err != nil {
				continue
			}
			out = append(out, child)
			if err := walk(child, depth+1); err != nil {
				return err
			}
		}
		return nil
	}
	return out, walk(parent, 0)
}

// CreateNamespace creates ns; its parent must exist.
func (d *Datastore) CreateNamespace(ns core.Namespace) error {
	if ns.IsRoot() {
		return fmt.Errorf("cannot create the root namespace")
	}
	d.refresh()
	if err := d.requireNamespace(ns.Parent()); err != nil {
		return fmt.Errorf("cannot create namespace '%s': parent %w", ns, err)
	}
	if d.nsExists(ns) {
		return fmt.Errorf("namespace '%s' %w", ns, core.ErrExists)
	}
	return d.backend.Mkdir(nsPath(ns), false)
}

// DeleteNamespace removes an empty namespace, or with deleteGroups also its
// groups and child namespaces; protected snapshots are kept (and so is the
// namespace holding them).
func (d *Datastore) DeleteNamespace(ns core.Namespace, deleteGroups bool) error {
	if ns.IsRoot() {
		return fmt.Errorf("cannot delete the root namespace")
	}
	if err := d.requireNamespace(ns); err != nil {
		return err
	}
	all, err := d.ListNamespaces(ns, -1)
	if err != nil {
		return err
	}
	// Deepest first, so children go before their parents.
	for i := len(all) - 1; i >= 0; i-- {
		sub := all[i]
		// Every group directory counts, one with no snapshot left too
		// (ListGroups hides those), as upstream refuses them.
		groups, err := d.listGroupsOf(sub)
		if err != nil {
			return err
		}
		if len(groups) > 0 && !deleteGroups {
			return fmt.Errorf("namespace '%s' is not empty (it has backup groups; use --delete-groups)", sub)
		}
		kept := false
		for _, g := range groups {
			k, err := d.deleteGroup(sub, g)
			if err != nil {
				return err
			}
			kept = kept || k
		}
		if kept {
			return fmt.Errorf("namespace '%s' still holds protected snapshots: %w", sub, core.ErrProtected)
		}
		for _, t := range core.BackupTypes {
			d.backend.Remove(path.Join(nsPath(sub), string(t)))
		}
		d.backend.Remove(path.Join(nsPath(sub), "ns"))
		if err := d.backend.Remove(nsPath(sub)); err != nil {
			return fmt.Errorf("delete namespace '%s': %w", sub, err)
		}
	}
	return nil
}
