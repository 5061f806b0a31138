package backup

import (
	"context"
	"errors"
	"fmt"
	"io"
	"sort"
	"time"

	"cairn/core"
	"cairn/core/index"
	"cairn/core/manifest"
	"cairn/core/snapshot"
	"cairn/pxar"
)

// Change detection modes (protocol.md 9.5): legacy writes one .pxar stream
// and a catalog; data and metadata split each archive into .mpxar and
// .ppxar; metadata also reuses the payload of unchanged files.
const (
	ModeLegacy   = "legacy"
	ModeData     = "data"
	ModeMetadata = "metadata"
)

// DefaultMode is what the CLI and the TUI back up with unless told
// otherwise. It stays legacy, one .pxar and a catalog per archive: the
// acceptance walkthrough (shared/accept), a contract, checks those names in
// listings and catalog dumps, and every upstream client and server reads
// them. ModeMetadata (files whose metadata did not change are not read
// again) is one flag away.
const DefaultMode = ModeLegacy

// splitNames are the stored names of a split archive: NAME.pxar ->
// NAME.mpxar.didx, NAME.ppxar.didx.
func splitNames(s Spec) (meta, payload string) {
	return manifest.ArchiveName(s.Name).Split()
}

// previousArchive is what metadata change detection reads of the snapshot
// before: the metadata stream (sequentially, in step with the walk) and the
// payload index (whose chunks get injected).
type previousArchive struct {
	snap    *snapshot.Snapshot
	meta    io.ReadCloser
	payload *index.Dynamic
}

func (p *previousArchive) Close() {
	p.meta.Close()
	p.snap.Close()
}

// openPrevious opens the split archive of the same name in the group's
// newest finished snapshot (the one being written is not finished yet). A
// nil result means there is nothing to reuse; why is reported as upstream
// does.
func openPrevious(ctx context.Context, o *Options, s Spec) *previousArchive {
	metaName, payloadName := splitNames(s)
	cannot := func(err error) { o.Events.Info("Couldn't re-use previous manifest - " + err.Error()) }
	prev, err := snapshot.Resolve(o.Repo, o.Namespace, o.Snapshot.Group.String())
	if errors.Is(err, core.ErrNotFound) {
		o.Events.Info("No previous manifest available.")
		return nil
	}
	if err != nil {
		cannot(err)
		return nil
	}
	o.Events.Info(fmt.Sprintf("Downloading previous manifest (%s)", time.Unix(prev.Time, 0).Format(time.ANSIC)))
	snap, err := snapshot.Open(ctx, o.Repo, o.Namespace, prev)
	if err != nil {
		cannot(err)
		return nil
	}
	fail := func(err error) *previousArchive {
		snap.Close()
		cannot(err)
		return nil
	}
	// A snapshot that failed verification may miss chunks (verify moves bad
	// ones aside): read everything again rather than refer to them.
	if vs, ok := snap.Manifest.Unprotected["verify_state"].(map[string]any); ok && vs["state"] == "failed" {
		return fail(errors.New("its last verification failed"))
	}
	// Chunk digests of encrypted snapshots depend on the key: only chunks
	// made with this very key (or none) can be referred to again.
	wantFP := ""
	if c := o.encrypter(); c != nil {
		wantFP = c.Fingerprint().String()
	}
	if snap.KeyFingerprint() != wantFP {
		return fail(errors.New("it was made with another key"))
	}
	mf, okM := snap.Manifest.Lookup(metaName)
	pf, okP := snap.Manifest.Lookup(payloadName)
	if !okM || !okP {
		snap.Close()
		o.Events.Info(fmt.Sprintf("Previous manifest does not contain an archive called '%s', skipping download..", metaName))
		return nil
	}
	if mf.CryptMode != o.CryptMode || pf.CryptMode != o.CryptMode {
		return fail(fmt.Errorf("crypt mode %s differs", mf.CryptMode))
	}
	if o.encrypter() != nil {
		if err := snap.UseKey(o.Crypt); err != nil {
			return fail(err)
		}
	}
	idx, _, err := snap.Index(payloadName)
	if err != nil {
		return fail(err)
	}
	dyn, ok := idx.(*index.Dynamic)
	if !ok {
		return fail(fmt.Errorf("%s is not a dynamic index", payloadName))
	}
	meta, _, err := snap.Stream(ctx, metaName)
	if err != nil {
		return fail(err)
	}
	return &previousArchive{snap: snap, meta: meta, payload: dyn}
}

// injector reuses whole chunks of the previous payload index for unchanged
// files (formats.md 5.5). Consecutive unchanged files share one run of
// injected chunks; within a run, new offset = old offset - subOld + subNew.
type injector struct {
	ds   *dynamicStream
	prev *index.Dynamic

	last   int    // last injected chunk of prev, -1 before the first
	runEnd uint64 // new stream length right after the last injection
	oldEnd uint64 // end of the last reused entry in the previous stream
	subOld uint64 // previous-stream start of the current run's first chunk
	subNew uint64 // where that chunk starts in the new stream

	reusedEntryBytes uint64 // headers + data of reused files
	injected, chunks uint64
	paddedChunks     uint64
	checked          map[int]bool // chunk -> still stored
}

func newInjector(ds *dynamicStream, prev *index.Dynamic) *injector {
	return &injector{ds: ds, prev: prev, last: -1, checked: map[int]bool{}}
}

// stored checks that the store still has chunks from..to of the previous
// index (and marks them used, as a reused upload does). A chunk gone since
// (removed by hand, a damaged store) makes the file be read instead, so the
// backup heals what it can, as a legacy one would.
func (j *injector) stored(from, to int) bool {
	for i := from; i <= to; i++ {
		ok, seen := j.checked[i]
		if !seen {
			size := j.prev.Ends[i] - j.chunkStart(i)
			_, _, err := j.ds.up.w.UploadChunk(j.prev.Digests[i], size, func() ([]byte, error) {
				return nil, errChunkGone
			})
			ok = err == nil
			j.checked[i] = ok
		}
		if !ok {
			return false
		}
	}
	return true
}

var errChunkGone = errors.New("chunk of the previous snapshot is no longer stored")

func (j *injector) chunkStart(i int) uint64 {
	if i == 0 {
		return 0
	}
	return j.prev.Ends[i-1]
}

// chunkAt is the chunk holding byte off of the previous stream.
func (j *injector) chunkAt(off uint64) int {
	return sort.Search(len(j.prev.Ends), func(i int) bool { return j.prev.Ends[i] > off })
}

// Padding policy (a client choice, spec 1.9): newly injected chunks must be
// at least half used by this file and the unchanged files stored after it
// up to the next changed one. Upstream allows a tenth; padding is never
// stored twice, but every restore reads it. Measured on the bench dataset
// after its 2% mutation (bench/compare.sh): a tenth re-read 850 MiB and
// stored 40 MiB more (re-read files get new chunk boundaries); a half
// re-read 800 MiB with 29 MiB of padding; no limit gave 120 MiB padding.
const maxWasteDiv = 2

func (j *injector) Reuse(pos, prevOffset, size uint64, unchangedAfter func(limit uint64) uint64) (uint64, uint64, bool, error) {
	end := prevOffset + 16 + size
	if len(j.prev.Ends) == 0 || end > j.prev.Ends[len(j.prev.Ends)-1] || end < prevOffset {
		return 0, 0, false, nil // not in the previous stream: read the file
	}
	if pos != j.ds.position() {
		return 0, 0, false, fmt.Errorf("payload position %d does not match the chunk stream (%d)", pos, j.ds.position())
	}
	a, b := j.chunkAt(prevOffset), j.chunkAt(end-1)
	running := j.last >= 0 && pos == j.runEnd && prevOffset >= j.oldEnd
	from := a // first chunk to inject
	if running && a <= j.last {
		from = j.last + 1 // starts in chunks already injected
	}
	if from <= b {
		// New chunks: worth it only if this file and the unchanged files
		// after it leave at most 1/maxWasteDiv of them unused.
		start, stop := j.chunkStart(from), j.prev.Ends[b]
		used := end - max(prevOffset, start) + unchangedAfter(stop)
		if (stop-start-min(used, stop-start))*maxWasteDiv > stop-start {
			return 0, 0, false, nil
		}
	}
	if !j.stored(from, b) {
		return 0, 0, false, nil
	}
	if running && a <= j.last {
		if prevOffset > j.oldEnd {
			j.paddedChunks++
		}
		grown, err := j.inject(from, b)
		if err != nil {
			return 0, 0, false, err
		}
		j.oldEnd = end
		j.reusedEntryBytes += end - prevOffset
		return prevOffset - j.subOld + j.subNew, grown, true, nil
	}
	start := j.chunkStart(a)
	if j.last >= 0 && j.oldEnd < j.prev.Ends[j.last] {
		j.paddedChunks++ // the previous run's last chunk had a tail nobody uses
	}
	if prevOffset > start {
		j.paddedChunks++
	}
	encPos := pos // the encoder's idea of the payload length
	if a == 0 && j.ds.dropStartMarker() {
		// The previous stream starts with the same marker: its first chunk
		// takes the place of ours, so unchanged data keeps its offsets and
		// the metadata archive stays byte-identical.
		pos = 0
		j.reusedEntryBytes += 16 // the marker is used, not padding
	}
	j.subOld, j.subNew = start, pos
	if _, err := j.inject(a, b); err != nil {
		return 0, 0, false, err
	}
	j.oldEnd = end
	j.reusedEntryBytes += end - prevOffset
	return prevOffset - start + pos, j.ds.position() - encPos, true, nil
}

// inject appends previous chunks from..to (inclusive) to the new stream.
func (j *injector) inject(from, to int) (uint64, error) {
	if from > to {
		return 0, nil
	}
	sizes := make([]uint64, 0, to-from+1)
	var grown uint64
	for i := from; i <= to; i++ {
		n := j.prev.Ends[i] - j.chunkStart(i)
		sizes = append(sizes, n)
		grown += n
	}
	if err := j.ds.inject(j.prev.Digests[from:to+1], sizes); err != nil {
		return 0, err
	}
	j.last = to
	j.runEnd = j.ds.position()
	j.injected += grown
	j.chunks += uint64(len(sizes))
	return grown, nil
}

// endsWithPreviousTail reports whether the previous stream's last chunk
// (which ends with its tail marker) was injected last, with only the new
// tail marker written after it.
func (j *injector) endsWithPreviousTail() bool {
	return j.last == len(j.prev.Ends)-1 && j.ds.offset == j.runEnd && len(j.ds.buf) == 16
}

// padding is how many injected bytes no file refers to.
func (j *injector) padding() uint64 {
	if j.injected < j.reusedEntryBytes {
		return 0
	}
	return j.injected - j.reusedEntryBytes
}

// writeSplitArchive writes a directory as a split archive: the metadata stream
// and the payload stream are chunked and uploaded side by side.
func writeSplitArchive(ctx context.Context, o *Options, p *prepared, w core.BackupWriter, total *stats, s Spec) ([]manifest.File, error) {
	metaName, payloadName := splitNames(s)
	o.Events.Info(fmt.Sprintf("Upload directory '%s' to '%s' as %s", s.Path, o.Repo.Name(), metaName))
	var prev *previousArchive
	if o.ChangeDetection == ModeMetadata {
		if prev = openPrevious(ctx, o, s); prev != nil {
			defer prev.Close()
		}
	}
	began := time.Now()
	metaSt, paySt := total.child(), total.child()
	metaChunks, err := core.BeginArchive(w, core.Archive{Name: metaName})
	if err != nil {
		return nil, fmt.Errorf("backup %s: %w", s.Name, err)
	}
	metaUp := newUploader(ctx, metaChunks, o.encrypter(), metaSt, o.Workers)
	payChunks, err := core.BeginArchive(w, core.Archive{Name: payloadName})
	if err != nil {
		metaUp.close()
		return nil, fmt.Errorf("backup %s: %w", s.Name, err)
	}
	payUp := newUploader(ctx, payChunks, o.encrypter(), paySt, o.Workers)
	metaDs := newDynamicStream(metaUp, o.ChunkSize, metaSt)
	payDs := newDynamicStream(payUp, o.ChunkSize, paySt)
	payDs.suggest = true

	reuse := &pxar.ReuseStats{}
	co := createOptions(ctx, o, p, metaSt)
	co.Payload = payDs
	co.Reuse = reuse
	var inj *injector
	if prev != nil {
		inj = newInjector(payDs, prev.payload)
		co.Previous = pxar.NewPrevious(prev.meta)
		co.Injector = inj
	}
	err = pxar.Create(metaDs, s.Path, co)
	if err == nil && inj != nil && inj.endsWithPreviousTail() {
		// The injected last chunk ends with the same tail marker the
		// encoder just wrote: keep the stream (and its index) identical.
		payDs.dropPending(16)
	}
	if err == nil {
		err = metaDs.finish()
	}
	if err == nil {
		err = payDs.finish()
	}
	for _, up := range []*uploader{metaUp, payUp} {
		if cerr := up.close(); err == nil {
			err = cerr
		}
	}
	if err != nil {
		return nil, fmt.Errorf("backup %s: %w", s.Name, err)
	}
	if co.Previous != nil && co.Previous.Err() != nil {
		// Reuse stopped at the damage; everything after was read afresh.
		o.Events.Warn(fmt.Sprintf("previous metadata archive of %s is unreadable: %v", s.Name, co.Previous.Err()))
	}
	var files []manifest.File
	for _, a := range []struct {
		name string
		ds   *dynamicStream
		st   *stats
	}{{metaName, metaDs, metaSt}, {payloadName, payDs, paySt}} {
		idx := a.ds.index()
		if err := w.WriteFile(a.name, idx.Encode()); err != nil {
			return nil, err
		}
		ev := core.Event{Kind: core.EventArchiveDone, Progress: a.st.snapshot()}
		ev.Progress.Archive = a.name
		ev.Progress.Elapsed = time.Since(began)
		if a.ds == payDs && o.ChangeDetection == ModeMetadata {
			ev.Reuse = summary(reuse, inj)
		}
		o.Events.Emit(ev)
		csum := idx.Csum()
		files = append(files, manifest.File{Filename: a.name, CryptMode: o.CryptMode, Size: idx.Size(), Csum: fmt.Sprintf("%x", csum[:])})
	}
	return files, nil
}

func summary(r *pxar.ReuseStats, inj *injector) *core.ReuseSummary {
	sum := &core.ReuseSummary{
		Files: r.Files, Hardlinks: r.Hardlinks,
		ReusedFiles: r.ReusedFiles, ReusedBytes: r.Reused,
		ChangedFiles: r.ChangedFiles, ChangedBytes: r.Changed,
	}
	if inj != nil {
		sum.InjectedBytes, sum.InjectedChunks = inj.injected, inj.chunks
		sum.PaddingBytes, sum.PaddingChunks = inj.padding(), inj.paddedChunks
	}
	return sum
}
