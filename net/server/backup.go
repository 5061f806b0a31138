package server

import (
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"

	"cairn/core"
	"cairn/core/blob"
	"cairn/core/datastore"
	"cairn/net/server/config"
)

// groupOwner reads a group's owner file ("" if the group does not exist).
func groupOwner(ds *datastore.Datastore, ns core.Namespace, g core.Group) string {
	return ds.GroupOwner(ns, g)
}

func nsExists(ds *datastore.Datastore, ns core.Namespace) bool {
	return ds.NamespaceExists(ns)
}

func snapshotLabel(ns core.Namespace, s core.Snapshot) string {
	if ns.IsRoot() {
		return s.String()
	}
	return string(ns) + ":" + s.String()
}

// handleBackupUpgrade is GET /api2/json/backup (protocol.md 3.1).
func (s *Server) handleBackupUpgrade(c *reqCtx) {
	p, store, ns, snap, err := snapshotTarget(c)
	if err == nil {
		if terr := datastore.CheckBackupTime(snap.Time); terr != nil {
			err = badRequest("parameter verification failed - 'backup-time': %v", terr)
		}
	}
	if err != nil {
		c.reply(nil, err)
		return
	}
	benchmark, err := p.boolean("benchmark", false)
	if err != nil {
		c.reply(nil, err)
		return
	}
	debug, _ := p.boolean("debug", false)
	aclPath := config.DatastoreACLPath(store, string(ns))
	if !c.privs(store, string(ns)).Has(config.PrivDatastoreBackup) {
		c.reply(nil, permDenied(aclPath, config.PrivDatastoreBackup))
		return
	}
	slot, ds, err := s.openSession(c, store)
	if err != nil {
		c.reply(nil, err)
		return
	}
	defer slot.releaseUnlessServing()
	bs, err := s.startBackup(c, ds, ns, snap, benchmark)
	if err != nil {
		ds.Close()
		c.reply(nil, err)
		return
	}
	typ := "backup"
	if benchmark {
		typ = "benchmark"
	}
	t := s.tasks.start(typ, store+":"+snap.Group.String(), c.id.authID)
	t.logf("starting new backup on datastore '%s' from %s: \"%s\"", store, c.r.RemoteAddr, snapshotLabel(ns, snap))
	sess := &backupSession{srv: s, task: t, ds: ds, sess: bs, ns: ns, snap: snap, store: store, debug: debug,
		benchmark: benchmark}
	if err := bs.LoadPrevious(); err != nil {
		t.warn("%v", err)
	}
	conn, err := c.upgrade(BackupProtocol)
	if err != nil {
		bs.End()
		bs.Abort()
		ds.Close()
		t.finish(err)
		s.logf("backup upgrade failed: %v", err)
		return
	}
	s.serveSession(conn, sess, t, slot, sess.end)
}

// startBackup checks a backup upgrade against the store (the upgrade
// header, the namespace, the benchmark group, the group's owner) and starts
// the backup's session.
func (s *Server) startBackup(c *reqCtx, ds *datastore.Datastore, ns core.Namespace, snap core.Snapshot, benchmark bool) (*datastore.BackupSession, error) {
	if err := checkUpgrade(c.r, BackupProtocol); err != nil {
		return nil, err
	}
	if !nsExists(ds, ns) {
		return nil, errorf(http.StatusNotFound, "namespace not found")
	}
	isBenchGroup := snap.Type == core.TypeHost && snap.ID == "benchmark"
	if isBenchGroup && !benchmark {
		return nil, badRequest("unable to run benchmark without --benchmark flags")
	}
	if benchmark && !isBenchGroup {
		return nil, badRequest("benchmark is only allowed on 'host/benchmark'")
	}
	// Fail closed: no one may back up into (and so become the owner of) an
	// existing group whose owner file is missing, empty or unreadable.
	if o := ownershipOf(ds, ns, snap.Group); o.ownerless() && !benchmark {
		return nil, o.check(c.id.authID)
	}
	owner := c.id.authID
	if cur := groupOwner(ds, ns, snap.Group); cur != "" && !benchmark {
		if !isOwner(c.id.authID, cur) {
			return nil, errorf(http.StatusForbidden, "backup owner check failed (%s != %s)", c.id.authID, cur)
		}
		owner = cur
	}
	bs, err := ds.StartSession(context.Background(), core.BackupOptions{Namespace: ns, Snapshot: snap, Owner: owner}, s.decodeBudget())
	if err != nil {
		if errors.Is(err, core.ErrExists) {
			err = badRequest("backup directory already exists.")
		} else if strings.Contains(err.Error(), "not newer than") {
			err = badRequest("backup timestamp is older than last backup. (%v)", err)
		}
		return nil, err
	}
	return bs, nil
}

// backupSession is one backup session: the HTTP side of a
// datastore.BackupSession, which holds the datastore's rules.
type backupSession struct {
	srv       *Server
	task      *task
	ds        *datastore.Datastore
	sess      *datastore.BackupSession
	ns        core.Namespace
	snap      core.Snapshot
	store     string
	debug     bool
	benchmark bool
}

// end runs when the HTTP/2 connection is gone: an unfinished backup is removed.
func (b *backupSession) end() {
	finished := b.sess.End()
	switch {
	case b.benchmark:
		if finished {
			// A benchmark snapshot is always removed again.
			b.sess.Forget()
		} else {
			b.sess.Abort()
		}
		b.task.logf("benchmark finished successfully")
		b.task.finish(nil)
	case finished:
		b.task.logf("backup finished successfully")
		b.task.finish(nil)
	case b.task.abortRequested():
		// Stopped with DELETE .../tasks/UPID: upstream's session loses
		// the race against the abort future.
		b.task.logf("backup failed: %v", errTaskAborted)
		b.task.logf("removing failed backup")
		if err := b.sess.Abort(); err != nil {
			b.task.warn("removing failed backup failed: %v", err)
		}
		b.srv.logf("backup %s on '%s' aborted by request", snapshotLabel(b.ns, b.snap), b.store)
		b.task.finish(errTaskAborted)
	default:
		b.task.logf("backup ended and finish failed: connection closed before finish")
		b.task.logf("removing unfinished backup")
		if err := b.sess.Abort(); err != nil {
			b.task.warn("removing unfinished backup failed: %v", err)
		}
		b.srv.logf("backup %s on '%s' aborted: connection closed before finish", snapshotLabel(b.ns, b.snap), b.store)
		b.task.finish(fmt.Errorf("backup ended and finish failed: connection closed before finish"))
	}
	b.ds.Close()
}

// ServeHTTP handles the requests inside the HTTP/2 session.
func (b *backupSession) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	defer recoverRequest(b.task, w, r)
	name := requestName(b.task, b.debug, r)
	if b.sess.Finished() {
		writeError(w, badRequest("backup already marked as finished."))
		return
	}
	var data any
	var err error
	raw := false
	switch r.Method + " " + name {
	case "GET ":
		data = []map[string]string{{"subdir": "blob"}, {"subdir": "dynamic_chunk"}, {"subdir": "dynamic_close"},
			{"subdir": "dynamic_index"}, {"subdir": "finish"}, {"subdir": "fixed_chunk"}, {"subdir": "fixed_close"},
			{"subdir": "fixed_index"}, {"subdir": "previous"}, {"subdir": "previous_backup_time"}, {"subdir": "speedtest"}}
	case "GET previous_backup_time":
		if prev := b.sess.PreviousSnapshot(); prev != nil {
			data = prev.Time
		}
	case "GET previous":
		err = b.servePrevious(w, r)
		if finishStreamed(err) {
			return
		}
	case "POST dynamic_index":
		data, err = b.createWriter(r, false)
	case "POST fixed_index":
		data, err = b.createWriter(r, true)
	case "POST dynamic_chunk", "POST fixed_chunk":
		data, err = b.uploadChunk(r)
	case "PUT dynamic_index", "PUT fixed_index":
		err = b.appendIndex(r, name == "fixed_index")
	case "POST dynamic_close":
		err = b.closeWriter(r, false)
	case "POST fixed_close":
		err = b.closeWriter(r, true)
	case "POST blob":
		err = b.uploadBlob(r)
	case "POST finish":
		err = b.sess.Finish()
	case "POST speedtest":
		_, err = io.Copy(io.Discard, io.LimitReader(r.Body, 64<<20))
	default:
		err = errorf(http.StatusNotFound, "Path '/%s' not found.", name)
	}
	if err != nil {
		if b.debug || statusOf(err) != http.StatusNotFound {
			b.task.debugf("%s %s: %v", r.Method, name, err)
		}
		writeError(w, err)
		return
	}
	if !raw {
		writeData(w, data, nil)
	}
}

func (b *backupSession) uploadChunk(r *http.Request) (any, error) {
	p, err := parseParams(r)
	if err != nil {
		return nil, err
	}
	wid, err := p.requiredInt("wid", 1, datastore.MaxWriters)
	if err != nil {
		return nil, err
	}
	ds, err := p.required("digest")
	if err != nil {
		return nil, err
	}
	digest, err := datastore.ParseDigest(ds)
	if err != nil {
		return nil, badRequest("parameter verification failed - 'digest': %v", err)
	}
	size, err := p.requiredInt("size", 1, datastore.MaxChunkSize)
	if err != nil {
		return nil, err
	}
	encSize, err := p.requiredInt("encoded-size", blob.HeaderSize+1, datastore.MaxEncodedSize)
	if err != nil {
		return nil, err
	}
	if err := b.sess.UploadChunk(r.Context(), int(wid), digest, size, encSize, r.Body); err != nil {
		return nil, err
	}
	return hex.EncodeToString(digest[:]), nil
}

func (b *backupSession) uploadBlob(r *http.Request) error {
	p, err := parseParams(r)
	if err != nil {
		return err
	}
	name, err := p.safeName("file-name", ".blob")
	if err != nil {
		return err
	}
	encSize, err := p.requiredInt("encoded-size", blob.HeaderSize, datastore.MaxEncodedSize)
	if err != nil {
		return err
	}
	n, err := b.sess.UploadBlob(r.Context(), name, encSize, r.Body)
	if err != nil {
		return err
	}
	if name != datastore.ManifestName {
		b.task.logf("add blob \"%s\" (%d bytes, comp: %d)", name, n, n)
	}
	return nil
}
