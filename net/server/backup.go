package server

import (
	"bufio"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"sync"
	"time"

	"golang.org/x/net/http2"

	"cairn/core"
	"cairn/core/blob"
	"cairn/core/datastore"
	"cairn/core/manifest"
	"cairn/net/server/config"
)

// Protocol names of the two HTTP/2 session upgrades.
const (
	BackupProtocol = "proxmox-backup-protocol-v1"
	ReaderProtocol = "proxmox-backup-reader-protocol-v1"
)

// Limits of the backup protocol (protocol.md 3.3).
const (
	maxChunkSize   = 16 << 20
	maxEncodedSize = maxChunkSize + blob.EncryptedHeaderSize
	fixedChunkSize = 4 << 20
	maxWriters     = 256
)

// session is one upgraded connection (backup or reader).
type session struct {
	conn net.Conn
}

// bufConn is a hijacked connection whose first bytes may sit in a bufio.Reader.
type bufConn struct {
	net.Conn
	r *bufio.Reader
}

func (c *bufConn) Read(p []byte) (int, error) { return c.r.Read(p) }

// upgrade answers 101 and returns the raw connection for HTTP/2.
func (c *reqCtx) upgrade(protocol string) (net.Conn, error) {
	conn, brw, err := http.NewResponseController(c.w).Hijack()
	if err != nil {
		return nil, err
	}
	conn.SetDeadline(time.Time{})
	fmt.Fprintf(brw.Writer, "HTTP/1.1 101 Switching Protocols\r\nConnection: upgrade\r\nUpgrade: %s\r\n\r\n", protocol)
	if err := brw.Writer.Flush(); err != nil {
		conn.Close()
		return nil, err
	}
	if rec, ok := c.w.(*statusRecorder); ok {
		rec.status = http.StatusSwitchingProtocols
	}
	return &bufConn{Conn: conn, r: brw.Reader}, nil
}

// checkUpgrade validates the Upgrade header of a session request.
func checkUpgrade(r *http.Request, protocol string) error {
	if r.ProtoMajor >= 2 {
		return badRequest("unexpected http version '%s' (expected version < 2)", r.Proto)
	}
	up := r.Header.Get("Upgrade")
	if up == "" {
		return badRequest("missing Upgrade header")
	}
	if up != protocol {
		return badRequest("invalid protocol name")
	}
	return nil
}

// serveH2 runs HTTP/2 on an upgraded connection until it ends.
func (s *Server) serveH2(conn net.Conn, h http.Handler) {
	sess := &session{conn: conn}
	s.mu.Lock()
	if s.closing {
		s.mu.Unlock()
		conn.Close()
		return
	}
	s.sessions[sess] = struct{}{}
	s.mu.Unlock()
	defer func() {
		s.mu.Lock()
		delete(s.sessions, sess)
		s.mu.Unlock()
		conn.Close()
	}()
	h2 := &http2.Server{
		MaxUploadBufferPerConnection: 32 << 20,
		MaxUploadBufferPerStream:     32 << 20,
		MaxReadFrameSize:             4 << 20,
		MaxConcurrentStreams:         256,
		IdleTimeout:                  s.limits().SessionIdleTimeout,
	}
	h2.ServeConn(conn, &http2.ServeConnOpts{Handler: h})
}

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
	// A session slot before anything is opened (limits.go); the session
	// releases it when it ends.
	slot, err := s.acquireSession(c.id.authID)
	if err != nil {
		c.reply(nil, err)
		return
	}
	started := false
	defer func() {
		if !started {
			slot.release()
		}
	}()
	ds, err := c.openStore(store)
	if err != nil {
		c.reply(nil, err)
		return
	}
	if err := checkUpgrade(c.r, BackupProtocol); err != nil {
		ds.Close()
		c.reply(nil, err)
		return
	}
	if !nsExists(ds, ns) {
		ds.Close()
		c.reply(nil, errorf(http.StatusNotFound, "namespace not found"))
		return
	}
	isBenchGroup := snap.Type == core.TypeHost && snap.ID == "benchmark"
	if isBenchGroup && !benchmark {
		ds.Close()
		c.reply(nil, badRequest("unable to run benchmark without --benchmark flags"))
		return
	}
	if benchmark && !isBenchGroup {
		ds.Close()
		c.reply(nil, badRequest("benchmark is only allowed on 'host/benchmark'"))
		return
	}
	// Fail closed: no one may back up into (and so become the owner of) an
	// existing group whose owner file is missing, empty or unreadable.
	if o := ownershipOf(ds, ns, snap.Group); o.ownerless() && !benchmark {
		ds.Close()
		c.reply(nil, o.check(c.id.authID))
		return
	}
	owner := c.id.authID
	if cur := groupOwner(ds, ns, snap.Group); cur != "" && !benchmark {
		if !isOwner(c.id.authID, cur) {
			ds.Close()
			c.reply(nil, errorf(http.StatusForbidden, "backup owner check failed (%s != %s)", c.id.authID, cur))
			return
		}
		owner = cur
	}
	bw, err := ds.StartBackup(context.Background(), core.BackupOptions{Namespace: ns, Snapshot: snap, Owner: owner})
	if err != nil {
		ds.Close()
		if errors.Is(err, core.ErrExists) {
			err = badRequest("backup directory already exists.")
		} else if strings.Contains(err.Error(), "not newer than") {
			err = badRequest("backup timestamp is older than last backup. (%v)", err)
		}
		c.reply(nil, err)
		return
	}
	typ := "backup"
	if benchmark {
		typ = "benchmark"
	}
	t := s.tasks.start(typ, store+":"+snap.Group.String(), c.id.authID)
	t.logf("starting new backup on datastore '%s' from %s: \"%s\"", store, c.r.RemoteAddr, snapshotLabel(ns, snap))
	sess := &backupSession{srv: s, task: t, ds: ds, w: bw, ns: ns, snap: snap, store: store, debug: debug,
		benchmark: benchmark, known: map[[32]byte]uint64{}, writers: map[int]*indexWriter{}, files: map[string]uploadedFile{}}
	if err := sess.loadPrevious(); err != nil {
		t.warn("%v", err)
	}
	conn, err := c.upgrade(BackupProtocol)
	if err != nil {
		bw.Abort()
		ds.Close()
		t.finish(err)
		s.logf("backup upgrade failed: %v", err)
		return
	}
	started = true
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		defer slot.release()
		go func() {
			select {
			case <-t.abort:
				conn.Close()
			case <-sess.done():
			}
		}()
		s.serveH2(conn, sess)
		sess.end()
	}()
}

// uploadedFile is a file stored in this session, with what the manifest must say.
type uploadedFile struct {
	size uint64
	csum [32]byte
}

type backupSession struct {
	srv       *Server
	task      *task
	ds        *datastore.Datastore
	w         core.BackupWriter
	ns        core.Namespace
	snap      core.Snapshot
	store     string
	debug     bool
	benchmark bool

	prev       core.SnapshotReader
	prevSnap   *core.Snapshot
	prevIgnore string

	createMu sync.Mutex // index writer creation (indexstate.go)
	mu       sync.Mutex
	known    map[[32]byte]uint64
	writers  map[int]*indexWriter
	nextWID  int
	files    map[string]uploadedFile
	manifest []byte
	finished bool
	ended    bool
	doneCh   chan struct{}

	// chunk_upload_stats
	statCount, statSize, statCompressed, statDup uint64
}

func (b *backupSession) done() chan struct{} {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.doneCh == nil {
		b.doneCh = make(chan struct{})
	}
	return b.doneCh
}

// loadPrevious finds the incremental base: the last finished snapshot,
// unless its verification failed.
func (b *backupSession) loadPrevious() error {
	prev, err := b.w.Previous()
	if err != nil || prev == nil {
		return err
	}
	ps := prev.Snapshot()
	if m, _, err := b.ds.ReadManifest(b.ns, ps); err == nil {
		if vs, ok := m.Unprotected["verify_state"].(map[string]any); ok && vs["state"] == "failed" {
			prev.Close()
			b.prevIgnore = ps.String()
			return nil
		}
	}
	b.prev, b.prevSnap = prev, &ps
	return nil
}

// end runs when the HTTP/2 connection is gone: an unfinished backup is removed.
func (b *backupSession) end() {
	b.mu.Lock()
	b.ended = true
	finished := b.finished
	if b.doneCh == nil {
		b.doneCh = make(chan struct{})
	}
	close(b.doneCh)
	b.mu.Unlock()
	b.dropScratch()
	if b.prev != nil {
		b.prev.Close()
	}
	switch {
	case b.benchmark:
		if finished {
			// A benchmark snapshot is always removed again.
			b.ds.ForgetSnapshot(b.ns, b.snap)
		} else {
			b.w.Abort()
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
		if err := b.w.Abort(); err != nil {
			b.task.warn("removing failed backup failed: %v", err)
		}
		b.srv.logf("backup %s on '%s' aborted by request", snapshotLabel(b.ns, b.snap), b.store)
		b.task.finish(errTaskAborted)
	default:
		b.task.logf("backup ended and finish failed: connection closed before finish")
		b.task.logf("removing unfinished backup")
		err := b.w.Abort()
		if err != nil {
			b.task.warn("removing unfinished backup failed: %v", err)
		}
		b.srv.logf("backup %s on '%s' aborted: connection closed before finish", snapshotLabel(b.ns, b.snap), b.store)
		b.task.finish(fmt.Errorf("backup ended and finish failed: connection closed before finish"))
	}
	b.ds.Close()
}

// ServeHTTP handles the requests inside the HTTP/2 session.
func (b *backupSession) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	defer func() {
		if v := recover(); v != nil {
			if v == http.ErrAbortHandler {
				panic(v)
			}
			b.task.debugf("panic in %s %s: %v", r.Method, r.URL.Path, v)
			writeError(w, errorf(http.StatusInternalServerError, "internal error"))
		}
	}()
	name := trimPath(r.URL.Path)
	if b.debug {
		b.task.debugf("%s %s", r.Method, name)
	}
	b.mu.Lock()
	fin := b.finished
	b.mu.Unlock()
	if fin {
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
		if b.prevSnap != nil {
			data = b.prevSnap.Time
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
		err = b.finish()
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

func parseDigest(s string) ([32]byte, error) {
	var d [32]byte
	if len(s) != 64 {
		return d, fmt.Errorf("expected 64 hex digits, got %d characters", len(s))
	}
	if _, err := hex.Decode(d[:], []byte(s)); err != nil {
		return d, fmt.Errorf("invalid hex digest")
	}
	return d, nil
}

func (b *backupSession) uploadChunk(r *http.Request) (any, error) {
	p, err := parseParams(r)
	if err != nil {
		return nil, err
	}
	wid, err := p.requiredInt("wid", 1, maxWriters)
	if err != nil {
		return nil, err
	}
	ds, err := p.required("digest")
	if err != nil {
		return nil, err
	}
	digest, err := parseDigest(ds)
	if err != nil {
		return nil, badRequest("parameter verification failed - 'digest': %v", err)
	}
	size, err := p.requiredInt("size", 1, maxChunkSize)
	if err != nil {
		return nil, err
	}
	encSize, err := p.requiredInt("encoded-size", blob.HeaderSize+1, maxEncodedSize)
	if err != nil {
		return nil, err
	}
	b.mu.Lock()
	wr := b.writers[int(wid)]
	b.mu.Unlock()
	if wr == nil || wr.closed.Load() {
		return nil, badRequest("no such open writer %d", wid)
	}
	data, err := readBody(r.Body, encSize)
	if err != nil {
		return nil, badRequest("reading chunk failed - %v", err)
	}
	if int64(len(data)) > encSize {
		return nil, badRequest("uploaded chunk is larger than announced.")
	}
	if int64(len(data)) != encSize {
		return nil, badRequest("uploaded chunk has unexpected size.")
	}
	kind, err := blob.KindOf(data)
	if err != nil {
		return nil, badRequest("invalid chunk - %v", err)
	}
	if kind.Encrypted {
		if err := blob.VerifyCRC(data); err != nil {
			return nil, badRequest("invalid chunk - %v", err)
		}
		if len(data) < blob.EncryptedHeaderSize {
			return nil, badRequest("invalid chunk - encrypted chunk too short")
		}
	} else if err := b.verifyPlainChunk(r.Context(), data, size, digest); err != nil {
		return nil, err
	}
	reused, _, err := b.w.UploadChunk(digest, uint64(size), func() ([]byte, error) { return data, nil })
	if err != nil {
		return nil, fmt.Errorf("inserting chunk failed - %w", err)
	}
	b.mu.Lock()
	b.known[digest] = uint64(size)
	b.statCount++
	b.statSize += uint64(size)
	b.statCompressed += uint64(len(data))
	if reused {
		b.statDup++
	}
	b.mu.Unlock()
	wr.upload.Add(uint64(size))
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
	encSize, err := p.requiredInt("encoded-size", blob.HeaderSize, maxEncodedSize)
	if err != nil {
		return err
	}
	data, err := readBody(r.Body, encSize)
	if err != nil {
		return badRequest("reading blob failed - %v", err)
	}
	if int64(len(data)) != encSize {
		return badRequest("uploaded blob has unexpected size (%d != %d)", len(data), encSize)
	}
	if err := blob.VerifyCRC(data); err != nil {
		return badRequest("invalid blob '%s' - %v", name, err)
	}
	if name == datastore.ManifestName {
		if _, err := b.decodeManifest(r.Context(), data); err != nil {
			return badRequest("invalid manifest blob - %v", err)
		}
		b.mu.Lock()
		b.manifest = data
		b.statSize += uint64(len(data))
		b.mu.Unlock()
		return nil
	}
	b.mu.Lock()
	for _, o := range b.writers {
		if o.name == name {
			b.mu.Unlock()
			return badRequest("file '%s' is being written as an index", name)
		}
	}
	b.mu.Unlock()
	if err := b.w.WriteFile(name, data); err != nil {
		return fmt.Errorf("writing blob '%s' failed - %w", name, err)
	}
	b.mu.Lock()
	b.files[name] = uploadedFile{size: uint64(len(data)), csum: sha256.Sum256(data)}
	// Upstream counts every uploaded blob's encoded length, the manifest's
	// too, in chunk_upload_stats.size (not in count or compressed_size):
	// measured against PBS 3.2.4, size = raw chunk bytes + blob bytes.
	b.statSize += uint64(len(data))
	b.mu.Unlock()
	b.task.logf("add blob \"%s\" (%d bytes, comp: %d)", name, len(data), len(data))
	return nil
}

func (b *backupSession) finish() error {
	b.mu.Lock()
	defer b.mu.Unlock()
	if len(b.writers) > 0 {
		return badRequest("found open index writer - unable to finish backup")
	}
	if len(b.files) == 0 && b.manifest == nil {
		return badRequest("backup does not contain valid files (file count == 0)")
	}
	if b.manifest == nil {
		return badRequest("unable to finish backup - no manifest (index.json.blob) uploaded")
	}
	if b.prevSnap != nil {
		b.ds.Refresh()
		if !b.ds.SnapshotExists(b.ns, *b.prevSnap) {
			return badRequest("base snapshot %s was removed during the backup", b.prevSnap)
		}
	}
	plain, err := b.decodeManifest(context.Background(), b.manifest)
	if err != nil {
		return badRequest("unable to load manifest - %v", err)
	}
	m, err := manifest.Parse(plain)
	if err != nil {
		return badRequest("unable to load manifest - %v", err)
	}
	if m.BackupType != string(b.snap.Type) || m.BackupID != b.snap.ID || m.BackupTime != b.snap.Time {
		return badRequest("manifest does not match the backup (%s/%s/%d != %s)", m.BackupType, m.BackupID, m.BackupTime, b.snap)
	}
	listed := map[string]bool{}
	for _, f := range m.Files {
		listed[f.Filename] = true
		up, ok := b.files[f.Filename]
		if !ok {
			return badRequest("manifest lists '%s', which was not uploaded in this backup", f.Filename)
		}
		if up.size != f.Size {
			return badRequest("manifest entry '%s' has wrong size (%d != %d)", f.Filename, f.Size, up.size)
		}
		if hex.EncodeToString(up.csum[:]) != strings.ToLower(f.Csum) {
			return badRequest("manifest entry '%s' has wrong checksum", f.Filename)
		}
	}
	for name := range b.files {
		if !listed[name] {
			return badRequest("uploaded file '%s' is not listed in the manifest", name)
		}
	}
	if m.Unprotected == nil {
		m.Unprotected = map[string]any{}
	}
	m.Unprotected["chunk_upload_stats"] = map[string]any{"count": b.statCount, "size": b.statSize,
		"compressed_size": b.statCompressed, "duplicates": b.statDup}
	enc, err := m.Encode()
	if err != nil {
		return fmt.Errorf("unable to update manifest - %w", err)
	}
	mb, err := blob.Encode(enc, true, nil)
	if err != nil {
		return err
	}
	if err := b.w.Finish(mb); err != nil {
		return fmt.Errorf("unable to finish backup - %w", err)
	}
	b.finished = true
	return nil
}
