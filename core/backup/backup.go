package backup

import (
	"context"
	"fmt"
	"os"
	"runtime"
	"sync"
	"time"

	"golang.org/x/sys/unix"

	"cairn/core"
	"cairn/core/blob"
	"cairn/core/catalog"
	"cairn/core/manifest"
	"cairn/keys"
	"cairn/pxar"
	"cairn/pxar/pattern"
)

// Chunk sizes (formats.md 5.1, 5.4).
const (
	DefaultChunkSize = 4 << 20
	CatalogChunkSize = 512 << 10
)

// Options describe one backup run.
type Options struct {
	Repo             core.Repository
	Namespace        core.Namespace
	Snapshot         core.Snapshot
	Owner            string
	Specs            []Spec
	Excludes         []string // --exclude patterns, in order
	IncludeDevs      []string // --include-dev paths
	AllFileSystems   bool
	SkipLostAndFound bool
	ChunkSize        int // average dynamic / fixed chunk size; 0 = 4 MiB
	// ChangeDetection is ModeLegacy (or ""), ModeData or ModeMetadata.
	ChangeDetection string
	Workers         int // 0 = GOMAXPROCS
	// Crypt is the key for encrypt and sign-only modes; CryptMode is
	// "none" (or ""), "encrypt" or "sign-only".
	Crypt     *keys.CryptConfig
	CryptMode string
	// RSAEncryptedKey, when set, is stored as rsa-encrypted.key.blob so
	// the key can be recovered with the master key (formats.md 8.5).
	RSAEncryptedKey []byte
	Events          core.Sink
	// RepoName names the repository in messages when Repo is nil (a dry
	// run against a datastore that does not exist yet).
	RepoName string
	// SkipE2BigXattr and EntriesMax are pxar.CreateOptions'.
	SkipE2BigXattr bool
	EntriesMax     int
	// Estimate measures the sources alongside the backup (file sizes
	// only, staying on their file systems) and reports the result as an
	// EventEstimate, then as Progress.BytesTotal: what a progress bar needs.
	Estimate bool
}

// Result sums up a finished backup.
type Result struct {
	Snapshot core.Snapshot
	Totals   core.Progress
	Duration time.Duration
}

// Prepared is a validated backup: everything that can be checked before a
// byte is written to the datastore.
type prepared struct {
	excludes    []*pattern.Pattern
	includeDevs []uint64
	// omit is the datastore's own directory when it lies inside a source:
	// a backup never archives the store it writes to.
	omit []pxar.FileID
}

func prepare(o *Options) (*prepared, error) {
	if len(o.Specs) == 0 {
		return nil, fmt.Errorf("no backup specification given")
	}
	seen := map[string]bool{}
	for _, s := range o.Specs {
		if seen[s.Name] {
			return nil, fmt.Errorf("got target twice: '%s'", s.Name)
		}
		seen[s.Name] = true
		if err := s.Check(); err != nil {
			return nil, err
		}
	}
	if !core.ValidBackupID(o.Snapshot.ID) {
		return nil, fmt.Errorf("invalid backup id %q", o.Snapshot.ID)
	}
	p := &prepared{}
	for _, e := range o.Excludes {
		pat, err := pattern.Parse(e)
		if err != nil {
			return nil, fmt.Errorf("invalid exclude pattern %q: %w", e, err)
		}
		p.excludes = append(p.excludes, pat)
	}
	if o.AllFileSystems && len(o.IncludeDevs) > 0 {
		return nil, fmt.Errorf("--all-file-systems and --include-dev are mutually exclusive")
	}
	for _, d := range o.IncludeDevs {
		var st unix.Stat_t
		if err := unix.Stat(d, &st); err != nil {
			return nil, fmt.Errorf("include-dev %q: %w", d, err)
		}
		p.includeDevs = append(p.includeDevs, st.Dev)
	}
	switch o.ChunkSize {
	case 0:
		o.ChunkSize = DefaultChunkSize
	case 64 << 10, 128 << 10, 256 << 10, 512 << 10, 1 << 20, 2 << 20, 4 << 20:
	default:
		return nil, fmt.Errorf("invalid chunk size %d KiB (one of 64, 128, 256, 512, 1024, 2048, 4096)", o.ChunkSize>>10)
	}
	switch o.ChangeDetection {
	case "":
		o.ChangeDetection = ModeLegacy
	case ModeLegacy, ModeData, ModeMetadata:
	default:
		return nil, fmt.Errorf("invalid change detection mode %q (legacy, data or metadata)", o.ChangeDetection)
	}
	switch o.CryptMode {
	case "", "none":
		o.CryptMode = "none"
	case "encrypt", "sign-only":
		if o.Crypt == nil {
			return nil, fmt.Errorf("crypt mode %s needs an encryption key", o.CryptMode)
		}
	default:
		return nil, fmt.Errorf("invalid crypt mode %q (none, encrypt or sign-only)", o.CryptMode)
	}
	if o.Workers <= 0 {
		o.Workers = runtime.GOMAXPROCS(0)
	}
	if err := p.omitStore(o); err != nil {
		return nil, err
	}
	return p, nil
}

// encrypter is the key chunks and blobs are sealed with, nil unless the mode
// is encrypt.
func (o *Options) encrypter() *keys.CryptConfig {
	if o.CryptMode == "encrypt" {
		return o.Crypt
	}
	return nil
}

// Run makes one snapshot from the specs. On any error the unfinished snapshot
// is removed and nothing of it stays visible.
//
// Cancelling ctx stops the backup wherever it is, in the file walk, in a
// file being read, in the chunk pipeline or in an upload, and Run returns
// ctx's error (context.Canceled) once the unfinished snapshot is removed.
func Run(ctx context.Context, o Options) (*Result, error) {
	start := time.Now()
	p, err := prepare(&o)
	if err != nil {
		return nil, err
	}
	w, err := o.Repo.StartBackup(ctx, core.BackupOptions{Namespace: o.Namespace, Snapshot: o.Snapshot, Owner: o.Owner})
	if err != nil {
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		return nil, err
	}
	st := &stats{}
	if o.Estimate && o.Events != nil {
		// The measuring stops with the backup, done or not.
		ectx, stopEstimate := context.WithCancel(ctx)
		defer stopEstimate()
		go st.estimate(ectx, o.Specs, p.omit)
	}
	stop := startTicker(o.Events, st, start)
	res, err := run(ctx, &o, p, w, st)
	stop()
	if err != nil {
		w.Abort()
		if ctx.Err() != nil {
			// Whatever failed because of the cancel (a stream, an
			// upload), the reason is the cancel.
			return nil, ctx.Err()
		}
		return nil, err
	}
	res.Duration = time.Since(start)
	res.Totals = st.snapshot()
	res.Totals.Elapsed = res.Duration
	return res, nil
}

// startTicker emits progress about ten times a second until stopped.
func startTicker(sink core.Sink, st *stats, start time.Time) func() {
	if sink == nil {
		return func() {}
	}
	done := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		announced := false
		t := time.NewTicker(100 * time.Millisecond)
		defer t.Stop()
		for {
			select {
			case <-done:
				return
			case <-t.C:
				est := st.estimated.Load()
				if est != nil && !announced {
					announced = true
					sink.Emit(core.Event{Kind: core.EventEstimate, Estimate: est})
				}
				pr := st.snapshot()
				pr.Elapsed = time.Since(start)
				pr.BytesTotal, _ = est.Total()
				sink.Emit(core.Event{Kind: core.EventProgress, Progress: pr})
			}
		}
	}()
	return func() { close(done); wg.Wait() }
}

func run(ctx context.Context, o *Options, p *prepared, w core.BackupWriter, st *stats) (*Result, error) {
	m := &manifest.Manifest{BackupType: string(o.Snapshot.Type), BackupID: o.Snapshot.ID, BackupTime: o.Snapshot.Time, Unprotected: map[string]any{}}

	// The catalog spans all pxar archives of the snapshot.
	var cat *catalog.Writer
	var catStream *dynamicStream
	var catUp *uploader
	for _, s := range o.Specs {
		if s.Type == "pxar" && o.ChangeDetection == ModeLegacy && cat == nil {
			chunks, err := core.BeginArchive(w, core.Archive{Name: manifest.CatalogName})
			if err != nil {
				return nil, fmt.Errorf("catalog: %w", err)
			}
			catUp = newUploader(ctx, chunks, o.encrypter(), &stats{}, 1)
			catStream = newDynamicStream(catUp, CatalogChunkSize, nil)
			if cat, err = catalog.NewWriter(catStream); err != nil {
				catUp.close()
				return nil, err
			}
		}
	}
	abortCatalog := func() {
		if catUp != nil {
			catUp.close()
		}
	}

	for _, s := range o.Specs {
		if err := ctx.Err(); err != nil {
			abortCatalog()
			return nil, err
		}
		var files []manifest.File
		var err error
		if s.Type == "pxar" && o.ChangeDetection != ModeLegacy {
			files, err = writeSplitArchive(ctx, o, p, w, st, s)
		} else {
			var f *manifest.File
			if f, err = backupOne(ctx, o, p, w, st, s, cat); f != nil {
				files = []manifest.File{*f}
			}
		}
		if err != nil {
			abortCatalog()
			return nil, err
		}
		m.Files = append(m.Files, files...)
	}

	if cat != nil {
		err := cat.Finish()
		if err == nil {
			err = catStream.finish()
		}
		if cerr := catUp.close(); err == nil {
			err = cerr
		}
		if err != nil {
			return nil, fmt.Errorf("catalog: %w", err)
		}
		idx := catStream.index()
		data := idx.Encode()
		if err := w.WriteFile(manifest.CatalogName, data); err != nil {
			return nil, err
		}
		csum := idx.Csum()
		m.Files = append(m.Files, manifest.File{Filename: manifest.CatalogName, CryptMode: o.CryptMode, Size: idx.Size(), Csum: fmt.Sprintf("%x", csum[:])})
		o.Events.Emit(core.Event{Kind: core.EventInfo, Message: fmt.Sprintf("Uploaded backup catalog (%s)", core.HumanByte(idx.Size()))})
	}

	if len(o.RSAEncryptedKey) > 0 {
		o.Events.Info(fmt.Sprintf("Upload RSA encoded key to '%s' as rsa-encrypted.key.blob", o.Repo.Name()))
		// Stored plain: the payload is already RSA-encrypted (formats.md 2.7).
		kb, err := blob.Encode(o.RSAEncryptedKey, false, nil)
		if err != nil {
			return nil, err
		}
		if err := w.WriteFile(manifest.EncryptedKeyName, kb); err != nil {
			return nil, err
		}
		// Listed with the backup's crypt mode although the blob itself is
		// plain, as upstream's client records it.
		m.Files = append(m.Files, manifest.File{Filename: manifest.EncryptedKeyName, CryptMode: o.CryptMode, Size: uint64(len(kb)), Csum: fmt.Sprintf("%x", sha256Sum(kb))})
	}
	if o.Crypt != nil && o.CryptMode != "none" {
		m.Unprotected["key-fingerprint"] = o.Crypt.Fingerprint().String()
		if err := m.Sign(o.Crypt.IDKey()); err != nil {
			return nil, err
		}
	}
	data, err := m.Encode()
	if err != nil {
		return nil, err
	}
	mb, err := blob.Encode(data, true, nil)
	if err != nil {
		return nil, err
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if err := w.Finish(mb); err != nil {
		return nil, err
	}
	return &Result{Snapshot: w.Snapshot()}, nil
}

// createOptions are the pxar options of a directory archive: the backup's
// options, its entries counted in st.
func createOptions(ctx context.Context, o *Options, p *prepared, st *stats) pxar.CreateOptions {
	return pxar.CreateOptions{
		SkipE2BigXattr:   o.SkipE2BigXattr,
		EntriesMax:       o.EntriesMax,
		Excludes:         p.excludes,
		SkipLostAndFound: o.SkipLostAndFound,
		AllFileSystems:   o.AllFileSystems,
		IncludeDevs:      p.includeDevs,
		OnWarning:        func(msg string) { o.Events.Warn(msg) },
		OnEntry:          func(path string) { st.addFile(path) },
		Context:          ctx,
		Omit:             p.omit,
	}
}

// backupOne writes one archive and returns its manifest entry.
func backupOne(ctx context.Context, o *Options, p *prepared, w core.BackupWriter, total *stats, s Spec, cat *catalog.Writer) (*manifest.File, error) {
	name := manifest.ArchiveName(s.Name).FileName()
	st := total.child()
	began := time.Now()
	done := func(size uint64, csum [32]byte) *manifest.File {
		pr := st.snapshot()
		pr.Archive = name
		pr.Elapsed = time.Since(began)
		o.Events.Emit(core.Event{Kind: core.EventArchiveDone, Progress: pr})
		return &manifest.File{Filename: name, CryptMode: o.CryptMode, Size: size, Csum: fmt.Sprintf("%x", csum[:])}
	}
	repo := o.Repo.Name()
	switch s.Type {
	case "pxar":
		o.Events.Info(fmt.Sprintf("Upload %s '%s' to '%s' as %s", s.kindName(), s.Path, repo, name))
		chunks, err := core.BeginArchive(w, core.Archive{Name: name})
		if err != nil {
			return nil, fmt.Errorf("backup %s: %w", s.Name, err)
		}
		up := newUploader(ctx, chunks, o.encrypter(), st, o.Workers)
		ds := newDynamicStream(up, o.ChunkSize, st)
		if err := cat.StartDirectory([]byte(name)); err != nil {
			up.close()
			return nil, err
		}
		co := createOptions(ctx, o, p, st)
		co.Catalog = cat
		err = pxar.Create(ds, s.Path, co)
		if err == nil {
			err = cat.EndDirectory()
		}
		if err == nil {
			err = ds.finish()
		}
		if cerr := up.close(); err == nil {
			err = cerr
		}
		if err != nil {
			return nil, fmt.Errorf("backup %s: %w", s.Name, err)
		}
		idx := ds.index()
		if err := w.WriteFile(name, idx.Encode()); err != nil {
			return nil, err
		}
		return done(idx.Size(), idx.Csum()), nil
	case "img":
		o.Events.Info(fmt.Sprintf("Upload %s '%s' to '%s' as %s", s.kindName(), s.Path, repo, name))
		f, size, err := openImage(s.Path)
		if err != nil {
			return nil, fmt.Errorf("backup %s: %w", s.Name, err)
		}
		defer f.Close()
		chunks, err := core.BeginArchive(w, core.Archive{Name: name, Fixed: true, Size: size, ChunkSize: uint64(o.ChunkSize)})
		if err != nil {
			return nil, fmt.Errorf("backup %s: %w", s.Name, err)
		}
		up := newUploader(ctx, chunks, o.encrypter(), st, o.Workers)
		idx, err := imageStream(up, st, f, s.Path, size, o.ChunkSize)
		if cerr := up.close(); err == nil {
			err = cerr
		}
		if err != nil {
			return nil, fmt.Errorf("backup %s: %w", s.Name, err)
		}
		if err := w.WriteFile(name, idx.Encode()); err != nil {
			return nil, err
		}
		return done(idx.Size(), idx.Csum()), nil
	default:
		o.Events.Info(fmt.Sprintf("Upload %s '%s' to '%s' as %s", s.kindName(), s.Path, repo, name))
		data, err := os.ReadFile(s.Path)
		if err != nil {
			return nil, fmt.Errorf("backup %s: %w", s.Name, err)
		}
		if len(data) > blob.MaxSize {
			return nil, fmt.Errorf("backup %s: %q is larger than %d bytes", s.Name, s.Path, blob.MaxSize)
		}
		enc, err := blob.Encode(data, true, cipherOf(o.encrypter()))
		if err != nil {
			return nil, err
		}
		if err := w.WriteFile(name, enc); err != nil {
			return nil, err
		}
		st.addRead(uint64(len(data)))
		return done(uint64(len(enc)), sha256Sum(enc)), nil
	}
}
