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

// storeName names the store in task ids and messages.
func (d *Datastore) storeName() string {
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

// Exists reports whether dir holds a datastore.
func Exists(dir string) bool {
	st, err := os.Stat(filepath.Join(dir, ".chunks"))
	return err == nil && st.IsDir()
}

// Create makes a new datastore at dir: the .chunks directory with its 65536
// prefix directories and the .lock file (formats.md 3.2, 9.1). An existing
// datastore is left as it is.
func Create(dir string) error {
	if Exists(dir) {
		return nil
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("create datastore %q: %w", dir, err)
	}
	// Build the chunk directory under a temp name and rename it, so a crash
	// never leaves a half-made store that looks complete.
	tmp := filepath.Join(dir, ".chunks.tmp")
	os.RemoveAll(tmp)
	if err := os.Mkdir(tmp, 0o755); err != nil {
		return fmt.Errorf("create datastore %q: %w", dir, err)
	}
	const hexdigits = "0123456789abcdef"
	name := []byte("0000")
	for i := 0; i < 65536; i++ {
		name[0], name[1], name[2], name[3] = hexdigits[i>>12], hexdigits[i>>8&15], hexdigits[i>>4&15], hexdigits[i&15]
		if err := os.Mkdir(filepath.Join(tmp, string(name)), 0o755); err != nil {
			return fmt.Errorf("create datastore %q: %w", dir, err)
		}
	}
	if f, err := os.OpenFile(filepath.Join(dir, ".lock"), os.O_CREATE|os.O_WRONLY, 0o644); err == nil {
		f.Close()
	} else {
		return fmt.Errorf("create datastore %q: %w", dir, err)
	}
	if err := os.Rename(tmp, filepath.Join(dir, ".chunks")); err != nil {
		return fmt.Errorf("create datastore %q: %w", dir, err)
	}
	return syncDir(dir)
}

// Open opens the datastore at dir. owner is the auth id recorded for groups
// this process creates.
func Open(dir, owner string) (*Datastore, error) {
	abs, err := filepath.Abs(dir)
	if err != nil {
		return nil, err
	}
	if !Exists(abs) {
		return nil, fmt.Errorf("datastore %q does not exist: %w", dir, core.ErrNotFound)
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
		return fmt.Errorf("namespace '%s' does not exist: %w", ns, core.ErrNotFound)
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
		groups, err := d.ListGroups(sub)
		if err != nil {
			return err
		}
		if len(groups) > 0 && !deleteGroups {
			return fmt.Errorf("namespace '%s' is not empty (it has backup groups; use --delete-groups)", sub)
		}
		kept := false
		for _, g := range groups {
			k, err := d.deleteGroup(sub, g.Group)
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
