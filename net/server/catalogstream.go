package server

import (
	"bufio"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"runtime"
	"strings"

	"cairn/core"
	"cairn/core/catalog"
	"cairn/core/manifest"
	"cairn/core/snapshot"
	"cairn/net/server/config"
	"cairn/pxar"
)

// serveCatalog is GET .../catalog (protocol.md 5.7): one directory of a
// snapshot's catalog, streamed (issue 16 item 2). The stored catalog is
// read through a chunk cache of two chunks, one directory block entry by
// entry (catalog.Reader.ScanDir); a split archive (which has no stored
// catalog) is listed from its metadata stream's GOODBYE tables (pxar
// Accessor), never rebuilt whole. The answer is written as it is read, so
// the server holds neither the catalog nor the listing: a catalog of
// 1 GiB from one small chunk referred to 64 times costs what any other
// listing costs. At most catalogListings listings run at once; a
// directory block is checked whole before the first entry is sent.
func (h *dsReq) serveCatalog() {
	snap, err := h.snapshotFor(config.PrivDatastoreRead)
	if err != nil {
		h.reply(nil, err)
		return
	}
	fp, err := h.p.required("filepath")
	if err != nil {
		h.reply(nil, err)
		return
	}
	dir := "/"
	if fp != "root" && fp != "/" {
		b, err := base64.StdEncoding.DecodeString(fp)
		if err != nil {
			h.reply(nil, badRequest("parameter verification failed - 'filepath': invalid base64"))
			return
		}
		dir = string(b)
	}
	sem := h.s.catalogSlots()
	if err := sem.acquire(h.r.Context(), 1); err != nil {
		h.reply(nil, err)
		return
	}
	defer sem.release(1)
	ctx, cancel := context.WithCancel(h.r.Context())
	defer cancel()
	cat, err := openCatalogView(ctx, h, snap)
	if err != nil {
		h.reply(nil, catalogError(err))
		return
	}
	defer cat.close()
	list, err := cat.dir(dir)
	if err != nil {
		h.reply(nil, catalogError(err))
		return
	}
	// First pass: the listing is sound (and the entries exist) before
	// anything is sent.
	if err := list(func(catalog.Entry) error { return nil }); err != nil {
		h.reply(nil, catalogError(err))
		return
	}
	root := strings.Trim(dir, "/") == ""
	base := strings.TrimRight(dir, "/")
	h.w.Header().Set("Content-Type", jsonContentType)
	h.w.WriteHeader(http.StatusOK)
	bw := bufio.NewWriterSize(h.w, 32<<10)
	bw.WriteString(`{"data":[`)
	first := true
	err = list(func(e catalog.Entry) error {
		full := base + "/" + string(e.Name)
		item := catalogItem{Filepath: base64.StdEncoding.EncodeToString([]byte(full)), Text: string(e.Name),
			Type: e.Type.String(), Leaf: !e.IsDir()}
		if root {
			item.Type, item.Leaf = "v", false
		}
		if e.Type == catalog.TypeFile {
			item.Size, item.Mtime = &e.Size, &e.Mtime
		}
		b, err := json.Marshal(item)
		if err != nil {
			return err
		}
		if !first {
			bw.WriteByte(',')
		}
		first = false
		_, err = bw.Write(b)
		return err
	})
	if err != nil {
		// Only a read error after the first pass, or the client gone: the
		// answer is cut short.
		h.s.logf("catalog listing of %s cut short: %v", snap, err)
		return
	}
	bw.WriteString(`]}`)
	bw.Flush()
}

// catalogItem is one entry of the answer; its fields are in the order
// json.Marshal gives a map's keys, so the bytes are those of the
// map-based answer before.
type catalogItem struct {
	Filepath string  `json:"filepath"`
	Leaf     bool    `json:"leaf"`
	Mtime    *int64  `json:"mtime,omitempty"`
	Size     *uint64 `json:"size,omitempty"`
	Text     string  `json:"text"`
	Type     string  `json:"type"`
}

func catalogError(err error) error {
	var mk *snapshot.MissingKeyError
	var ae *apiError
	switch {
	case errors.As(err, &mk):
		return badRequest("cannot decode '%s' - is encrypted", mk.File)
	case errors.As(err, &ae):
		return err
	case errors.Is(err, core.ErrNotFound), errors.Is(err, catalog.ErrNotFound):
		return errorf(http.StatusNotFound, "%v", err)
	}
	return err
}

// catalogSlots bounds the catalog listings running at once: each holds up
// to two decoded chunks (32 MiB).
func (s *Server) catalogSlots() *weighted {
	s.slots.mu.Lock()
	defer s.slots.mu.Unlock()
	if s.slots.catalog == nil {
		s.slots.catalog = newWeighted(int64(max(2, runtime.GOMAXPROCS(0)/2)))
	}
	return s.slots.catalog
}

// catalogView is a snapshot's catalog as the endpoint sees it: the stored
// catalog when every archive is in it, else the archives' own trees as
// top-level directories (named by their metadata stream, as
// snapshot.Snapshot.Catalog names them).
type catalogView struct {
	ctx      context.Context
	snap     *snapshot.Snapshot
	stored   *catalog.Reader         // nil without a stored catalog
	storedRA *snapshot.IndexReaderAt // its reader
	archives []snapshot.PxarArchive
	// fromStored: the stored catalog holds everything (no split archive).
	fromStored bool
	inStored   map[string]bool // archives the stored catalog has
	closers    []func() error
}

// streamReader reads an index of the snapshot through a cache of two
// chunks, without read-ahead.
func streamReader(ctx context.Context, s *snapshot.Snapshot, name string) (*snapshot.IndexReaderAt, error) {
	return s.ReaderAtWith(ctx, name, snapshot.ReaderAtOptions{CacheBytes: 1, ReadAhead: -1})
}

func openCatalogView(ctx context.Context, h *dsReq, snap core.Snapshot) (*catalogView, error) {
	s, err := snapshot.Open(ctx, h.ds, h.ns, snap)
	if err != nil {
		return nil, err
	}
	v := &catalogView{ctx: ctx, snap: s, archives: s.PxarArchives(), inStored: map[string]bool{}}
	v.closers = append(v.closers, s.Close)
	if _, err := s.File(manifest.CatalogName); err == nil {
		ra, err := streamReader(ctx, s, manifest.CatalogName)
		if err != nil {
			v.close()
			return nil, fmt.Errorf("catalog: %w", err)
		}
		v.closers = append(v.closers, ra.Close)
		cr, err := catalog.NewReader(ra, ra.Size())
		if err != nil {
			v.close()
			return nil, fmt.Errorf("catalog: %w", err)
		}
		v.stored, v.storedRA = cr, ra
	}
	split := false
	for _, a := range v.archives {
		split = split || a.Split()
	}
	v.fromStored = v.stored != nil && !split
	if v.fromStored {
		return v, nil
	}
	if len(v.archives) == 0 {
		v.close()
		return nil, fmt.Errorf("snapshot %s has no catalog and no pxar archive: %w", snap, core.ErrNotFound)
	}
	// Which unified archives the stored catalog has; every other archive
	// is read from its own stream, which must be readable without a key.
	if v.stored != nil {
		root, _ := v.stored.Root()
		err := v.stored.ScanDir(root, func(e catalog.Entry) error {
			if e.IsDir() {
				v.inStored[string(e.Name)] = true
			}
			return nil
		})
		if err != nil {
			v.close()
			return nil, fmt.Errorf("catalog: %w", err)
		}
	}
	for _, a := range v.archives {
		if a.Split() || !v.inStored[a.Meta] {
			f, err := s.File(a.Meta)
			if err != nil {
				v.close()
				return nil, err
			}
			if f.CryptMode == "encrypt" {
				v.close()
				return nil, &snapshot.MissingKeyError{File: f.Filename}
			}
		}
	}
	return v, nil
}

func (v *catalogView) close() {
	for i := len(v.closers) - 1; i >= 0; i-- {
		v.closers[i]()
	}
	v.closers = nil
}

// dir resolves a directory path and returns its lister: a function that
// passes each entry to fn, in stored order (it may be called again).
func (v *catalogView) dir(path string) (func(fn func(catalog.Entry) error) error, error) {
	if v.fromStored {
		return v.storedDir(path)
	}
	comps := strings.FieldsFunc(path, func(r rune) bool { return r == '/' })
	if len(comps) == 0 {
		return func(fn func(catalog.Entry) error) error {
			for _, a := range v.archives {
				if err := fn(catalog.Entry{Name: []byte(a.Meta), Type: catalog.TypeDirectory}); err != nil {
					return err
				}
			}
			return nil
		}, nil
	}
	var arch *snapshot.PxarArchive
	for i := range v.archives {
		if v.archives[i].Meta == comps[0] {
			arch = &v.archives[i]
			break
		}
	}
	if arch == nil {
		return nil, fmt.Errorf("catalog: path %q not found in catalog: %w", path, catalog.ErrNotFound)
	}
	if !arch.Split() && v.inStored[arch.Meta] {
		return v.storedDir(path)
	}
	return v.archiveDir(*arch, path, comps[1:])
}

// storedDir lists a directory of the stored catalog.
func (v *catalogView) storedDir(path string) (func(fn func(catalog.Entry) error) error, error) {
	ent, err := v.stored.LookupScan(path)
	if err != nil {
		return nil, err
	}
	if !ent.IsDir() {
		return nil, badRequest("catalog: %q is not a directory", ent.Name)
	}
	return func(fn func(catalog.Entry) error) error { return v.stored.ScanDir(ent, fn) }, nil
}

// archiveDir lists a directory of a pxar archive from its metadata stream.
func (v *catalogView) archiveDir(a snapshot.PxarArchive, path string, comps []string) (func(fn func(catalog.Entry) error) error, error) {
	ra, err := streamReader(v.ctx, v.snap, a.Meta)
	if err != nil {
		return nil, err
	}
	v.closers = append(v.closers, ra.Close)
	acc, err := pxar.NewAccessor(ra, uint64(ra.Size()))
	if err != nil {
		return nil, fmt.Errorf("archive %s: %w", a.Meta, err)
	}
	n := acc.Root()
	for _, c := range comps {
		if !n.IsDir() {
			return nil, fmt.Errorf("catalog: path %q not found in catalog: %w", path, catalog.ErrNotFound)
		}
		if n, err = acc.LookupChild(n, c); err != nil {
			if errors.Is(err, catalog.ErrNotFound) {
				return nil, fmt.Errorf("catalog: path %q not found in catalog: %w", path, catalog.ErrNotFound)
			}
			return nil, err
		}
	}
	if !n.IsDir() {
		return nil, badRequest("catalog: %q is not a directory", n.Name)
	}
	return func(fn func(catalog.Entry) error) error {
		kids, err := acc.ReadDir(n)
		if err != nil {
			return err
		}
		for _, k := range kids {
			if err := fn(snapshot.CatalogEntryOf(k)); err != nil {
				return err
			}
		}
		return nil
	}, nil
}
