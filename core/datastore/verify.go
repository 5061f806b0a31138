package datastore

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"io/fs"
	"path"
	"sort"
	"strings"
	"time"

	"cairn/core"
	"cairn/core/blob"
	"cairn/core/index"
)

// verifier checks each chunk once per run. Good chunks go to a set without
// pointers (as upstream's verified_chunks set), so the collector never
// scans it however many chunks a store has; the few bad ones keep their
// error.
type verifier struct {
	d      *Datastore
	ctx    context.Context
	events core.Sink
	good   map[[32]byte]struct{}
	bad    map[[32]byte]error
	report *core.VerifyReport
}

// Verify re-reads every chunk the selected snapshots need and checks CRC,
// digest and size, as upstream's verify job does. snap selects one snapshot,
// group one group; with neither, every snapshot of ns and the namespaces
// below it. Each snapshot's manifest records the result (verify_state).
func (d *Datastore) Verify(ctx context.Context, ns core.Namespace, group *core.Group, snap *core.Snapshot, events core.Sink) (*core.VerifyReport, error) {
	d.refresh()
	if err := d.requireNamespace(ns); err != nil {
		return nil, err
	}
	start := time.Now()
	v := &verifier{d: d, ctx: ctx, events: events, good: map[[32]byte]struct{}{}, bad: map[[32]byte]error{},
		report: &core.VerifyReport{UPID: core.NewUPID("verify", d.storeName(), d.owner, start), BadChunks: map[string][]string{}}}
	type target struct {
		ns core.Namespace
		s  core.Snapshot
	}
	var targets []target
	switch {
	case snap != nil:
		if err := d.requireSnapshot(ns, *snap); err != nil {
			return nil, err
		}
		targets = append(targets, target{ns, *snap})
	default:
		spaces := []core.Namespace{ns}
		if group == nil {
			var err error
			if spaces, err = d.ListNamespaces(ns, -1); err != nil {
				return nil, err
			}
		}
		for _, n := range spaces {
			var groups []core.Group
			if group != nil {
				groups = []core.Group{*group}
			} else {
				var err error
				if groups, err = d.listGroupsOf(n); err != nil {
					return nil, err
				}
			}
			for _, g := range groups {
				times, err := d.snapshotTimes(n, g)
				if err != nil {
					return nil, err
				}
				for i := len(times) - 1; i >= 0; i-- {
					s := core.Snapshot{Group: g, Time: times[i]}
					if d.isFinished(n, s) {
						targets = append(targets, target{n, s})
					}
				}
			}
		}
	}
	for _, t := range targets {
		if err := ctx.Err(); err != nil {
			return v.report, err
		}
		v.snapshot(t.ns, t.s)
	}
	for _, list := range v.report.BadChunks {
		sort.Strings(list)
	}
	return v.report, nil
}

func snapshotLabel(ns core.Namespace, s core.Snapshot) string {
	if ns.IsRoot() {
		return s.String()
	}
	return string(ns) + ":" + s.String()
}

func (v *verifier) snapshot(ns core.Namespace, s core.Snapshot) {
	label := snapshotLabel(ns, s)
	v.events.Info(fmt.Sprintf("verify %s", label))
	res := core.VerifyResult{Namespace: ns, Snapshot: s, OK: true}
	fail := func(msg string) {
		res.OK = false
		res.Errors = append(res.Errors, msg)
		v.events.Warn("  " + msg)
	}
	m, _, err := v.d.ReadManifest(ns, s)
	if err != nil {
		fail(fmt.Sprintf("manifest: %v", err))
		v.report.Snapshots = append(v.report.Snapshots, res)
		return
	}
	dir := snapshotPath(ns, s)
	for _, f := range m.Files {
		v.events.Info(fmt.Sprintf("  check %s", f.Filename))
		raw, err := v.d.backend.ReadFile(path.Join(dir, f.Filename))
		if err != nil {
			fail(fmt.Sprintf("%s: %v", f.Filename, err))
			continue
		}
		if strings.HasSuffix(f.Filename, ".blob") {
			sum := sha256.Sum256(raw)
			if fmt.Sprintf("%x", sum[:]) != f.Csum || uint64(len(raw)) != f.Size {
				fail(fmt.Sprintf("%s: checksum or size does not match the manifest", f.Filename))
			} else if err := blob.VerifyCRC(raw); err != nil {
				fail(fmt.Sprintf("%s: %v", f.Filename, err))
			}
			continue
		}
		idx, err := index.Open(raw)
		if err != nil {
			fail(fmt.Sprintf("%s: %v", f.Filename, err))
			continue
		}
		csum := idx.Csum()
		if fmt.Sprintf("%x", csum[:]) != f.Csum || idx.Size() != f.Size {
			fail(fmt.Sprintf("%s: index checksum or size does not match the manifest", f.Filename))
			continue
		}
		encrypted := f.CryptMode == "encrypt"
		for i := 0; i < idx.Count(); i++ {
			dg := idx.ChunkDigest(i)
			start, end := idx.ChunkRange(i)
			if err := v.chunk(dg, end-start, encrypted); err != nil {
				fail(fmt.Sprintf("%s: %v", f.Filename, err))
				hexd := fmt.Sprintf("%x", dg)
				list := v.report.BadChunks[hexd]
				if len(list) == 0 || list[len(list)-1] != label {
					v.report.BadChunks[hexd] = append(list, label)
				}
			}
		}
	}
	state := "ok"
	if !res.OK {
		state = "failed"
	}
	if err := v.d.updateManifest(ns, s, func(u map[string]any) {
		u["verify_state"] = map[string]any{"state": state, "upid": v.report.UPID}
	}); err != nil {
		v.events.Warn(fmt.Sprintf("  could not record the verify state: %v", err))
	}
	v.report.Snapshots = append(v.report.Snapshots, res)
}

// chunk checks one chunk once per run; a corrupt file is renamed to
// <digest>.<n>.bad as upstream does, so a later backup uploads it again.
func (v *verifier) chunk(dg [32]byte, size uint64, encrypted bool) error {
	if _, ok := v.good[dg]; ok {
		return nil
	}
	if err, ok := v.bad[dg]; ok {
		return err
	}
	err := v.checkChunk(dg, size, encrypted)
	if err == nil {
		v.good[dg] = struct{}{}
	} else {
		v.bad[dg] = err
	}
	return err
}

func (v *verifier) checkChunk(dg [32]byte, size uint64, encrypted bool) error {
	raw, err := readChunkForVerify(v.d.backend, dg)
	if errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("chunk %x is missing", dg)
	}
	if err != nil {
		return err
	}
	var problem error
	if err := blob.VerifyCRC(raw); err != nil {
		problem = err
	} else if !encrypted {
		data, err := blob.Decode(raw, nil)
		switch {
		case err != nil:
			problem = err
		case sha256.Sum256(data) != dg:
			problem = fmt.Errorf("digest mismatch")
		case uint64(len(data)) != size:
			problem = fmt.Errorf("size %d, index says %d", len(data), size)
		}
	}
	if problem == nil {
		return nil
	}
	v.markBad(dg)
	return fmt.Errorf("chunk %x is corrupt: %v", dg, problem)
}

func (v *verifier) markBad(dg [32]byte) {
	if bad, err := v.d.backend.MarkBad(dg); err == nil && bad != "" {
		v.events.Warn(fmt.Sprintf("  corrupt chunk renamed to %s", bad))
	}
}

// readChunkForVerify reads a chunk from the store itself, past any local
// cache, so verification checks what is really stored.
func readChunkForVerify(b Backend, dg [32]byte) ([]byte, error) {
	if u, ok := b.(interface {
		readChunkUncached([32]byte) ([]byte, error)
	}); ok {
		return u.readChunkUncached(dg)
	}
	return b.ReadChunk(dg)
}
