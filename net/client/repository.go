package client

import (
	"context"
	"encoding/json"
	"fmt"
	"net/url"
	"strconv"
	"strings"
	"time"

	"cairn/core"
)

// Repository is a datastore on a server, as core.Repository.
type Repository struct {
	c     *Client
	store string
	name  string
	ctx   context.Context
}

var _ core.Repository = (*Repository)(nil)

// Open connects (lazily) to the server of a repository spec.
func Open(opts Options) (*Repository, error) {
	c, err := New(opts)
	if err != nil {
		return nil, err
	}
	return NewRepository(c), nil
}

// NewRepository wraps a client for its repository's datastore.
func NewRepository(c *Client) *Repository {
	return &Repository{c: c, store: c.opts.Spec.Store, name: c.opts.Spec.String(), ctx: context.Background()}
}

// Client gives the underlying client.
func (r *Repository) Client() *Client { return r.c }

func (r *Repository) Name() string { return r.name }

func (r *Repository) Close() error { return r.c.Close() }

func (r *Repository) path(sub string) string {
	p := "admin/datastore/" + url.PathEscape(r.store)
	if sub != "" {
		p += "/" + sub
	}
	return p
}

func nsQuery(ns core.Namespace) url.Values {
	q := url.Values{}
	if !ns.IsRoot() {
		q.Set("ns", string(ns))
	}
	return q
}

func groupQuery(ns core.Namespace, g core.Group) url.Values {
	q := nsQuery(ns)
	q.Set("backup-type", string(g.Type))
	q.Set("backup-id", g.ID)
	return q
}

func snapQuery(ns core.Namespace, s core.Snapshot) url.Values {
	q := groupQuery(ns, s.Group)
	q.Set("backup-time", strconv.FormatInt(s.Time, 10))
	return q
}

// Status is GET status (protocol.md 5.5).
func (r *Repository) Status(ctx context.Context, verbose bool) (map[string]any, error) {
	var out map[string]any
	q := url.Values{}
	if verbose {
		q.Set("verbose", "true")
	}
	err := r.c.Get(ctx, r.path("status"), q, &out)
	return out, err
}

func (r *Repository) ListNamespaces(parent core.Namespace, maxDepth int) ([]core.Namespace, error) {
	q := url.Values{}
	if !parent.IsRoot() {
		q.Set("parent", string(parent))
	}
	if maxDepth >= 0 {
		q.Set("max-depth", strconv.Itoa(min(maxDepth, core.MaxNamespaceDepth)))
	}
	var items []struct {
		NS      string `json:"ns"`
		Comment string `json:"comment"`
	}
	if err := r.c.Get(r.ctx, r.path("namespace"), q, &items); err != nil {
		return nil, err
	}
	out := make([]core.Namespace, 0, len(items))
	for _, it := range items {
		out = append(out, core.Namespace(it.NS))
	}
	return out, nil
}

func (r *Repository) CreateNamespace(ns core.Namespace) error {
	if ns.IsRoot() {
		return fmt.Errorf("cannot create the root namespace: %w", core.ErrExists)
	}
	comps := ns.Components()
	body := map[string]any{"name": comps[len(comps)-1]}
	if p := ns.Parent(); !p.IsRoot() {
		body["parent"] = string(p)
	}
	return r.c.Post(r.ctx, r.path("namespace"), body, nil)
}

func (r *Repository) DeleteNamespace(ns core.Namespace, deleteGroups bool) error {
	q := nsQuery(ns)
	q.Set("delete-groups", strconv.FormatBool(deleteGroups))
	return r.c.Delete(r.ctx, r.path("namespace"), q, nil)
}

type groupItem struct {
	Type        string   `json:"backup-type"`
	ID          string   `json:"backup-id"`
	LastBackup  int64    `json:"last-backup"`
	BackupCount int      `json:"backup-count"`
	Files       []string `json:"files"`
	Owner       string   `json:"owner"`
	Comment     string   `json:"comment"`
}

func (r *Repository) ListGroups(ns core.Namespace) ([]core.GroupInfo, error) {
	var items []groupItem
	if err := r.c.Get(r.ctx, r.path("groups"), nsQuery(ns), &items); err != nil {
		return nil, err
	}
	out := make([]core.GroupInfo, 0, len(items))
	for _, it := range items {
		out = append(out, core.GroupInfo{Group: core.Group{Type: core.BackupType(it.Type), ID: it.ID},
			LastBackup: it.LastBackup, BackupCount: it.BackupCount, Files: it.Files, Owner: it.Owner, Comment: it.Comment})
	}
	return out, nil
}

type snapshotItem struct {
	Type         string            `json:"backup-type"`
	ID           string            `json:"backup-id"`
	Time         int64             `json:"backup-time"`
	Comment      string            `json:"comment"`
	Verification *core.VerifyState `json:"verification"`
	Fingerprint  string            `json:"fingerprint"`
	Files        []json.RawMessage `json:"files"`
	Size         *uint64           `json:"size"`
	Owner        string            `json:"owner"`
	Protected    bool              `json:"protected"`
}

func (it snapshotItem) info() core.SnapshotInfo {
	si := core.SnapshotInfo{
		Snapshot: core.Snapshot{Group: core.Group{Type: core.BackupType(it.Type), ID: it.ID}, Time: it.Time},
		Owner:    it.Owner, Protected: it.Protected, Comment: it.Comment, Fingerprint: it.Fingerprint,
		Verification: it.Verification,
	}
	if it.Size != nil {
		si.Size, si.HasSize = *it.Size, true
	}
	for _, raw := range it.Files {
		var f core.FileInfo
		if json.Unmarshal(raw, &f) != nil {
			// Older shapes list bare names.
			var name string
			if json.Unmarshal(raw, &name) != nil {
				continue
			}
			f.Filename = name
		}
		si.Files = append(si.Files, f)
		if f.Filename == "index.json.blob" {
			si.Finished = true
		}
	}
	return si
}

func (r *Repository) ListSnapshots(ns core.Namespace, group *core.Group) ([]core.SnapshotInfo, error) {
	q := nsQuery(ns)
	if group != nil {
		q = groupQuery(ns, *group)
	}
	var items []snapshotItem
	if err := r.c.Get(r.ctx, r.path("snapshots"), q, &items); err != nil {
		return nil, err
	}
	out := make([]core.SnapshotInfo, 0, len(items))
	for _, it := range items {
		out = append(out, it.info())
	}
	return out, nil
}

func (r *Repository) ForgetSnapshot(ns core.Namespace, snap core.Snapshot) error {
	return r.c.Delete(r.ctx, r.path("snapshots"), snapQuery(ns, snap), nil)
}

func (r *Repository) SetProtected(ns core.Namespace, snap core.Snapshot, protected bool) error {
	q := snapQuery(ns, snap)
	q.Set("protected", strconv.FormatBool(protected))
	return r.c.Put(r.ctx, r.path("protected"), q, nil)
}

func (r *Repository) DeleteGroup(ns core.Namespace, g core.Group) (int, int, error) {
	q := groupQuery(ns, g)
	q.Set("error-on-protected", "false")
	var res struct {
		RemovedGroups      int `json:"removed-groups"`
		ProtectedSnapshots int `json:"protected-snapshots"`
		RemovedSnapshots   int `json:"removed-snapshots"`
	}
	// Servers answering null are fine too.
	var raw json.RawMessage
	if err := r.c.Delete(r.ctx, r.path("groups"), q, &raw); err != nil {
		return 0, 0, err
	}
	if len(raw) > 0 && string(raw) != "null" {
		json.Unmarshal(raw, &res)
	}
	return res.RemovedSnapshots, res.ProtectedSnapshots, nil
}

// ChangeOwner sets a group's owner (POST change-owner).
func (r *Repository) ChangeOwner(ctx context.Context, ns core.Namespace, g core.Group, newOwner string) error {
	body := map[string]any{"backup-type": string(g.Type), "backup-id": g.ID, "new-owner": newOwner}
	if !ns.IsRoot() {
		body["ns"] = string(ns)
	}
	return r.c.Post(ctx, r.path("change-owner"), body, nil)
}

func (r *Repository) Prune(ns core.Namespace, g core.Group, opts core.KeepOptions, dryRun bool) ([]core.PruneResult, error) {
	body := map[string]any{"backup-type": string(g.Type), "backup-id": g.ID, "dry-run": dryRun}
	if !ns.IsRoot() {
		body["ns"] = string(ns)
	}
	for _, c := range opts.Counts() {
		if c.Count > 0 {
			body[c.Name] = c.Count
		}
	}
	var items []struct {
		Type      string `json:"backup-type"`
		ID        string `json:"backup-id"`
		Time      int64  `json:"backup-time"`
		Keep      bool   `json:"keep"`
		Protected bool   `json:"protected"`
		Mark      string `json:"mark"`
	}
	if err := r.c.Post(r.ctx, r.path("prune"), body, &items); err != nil {
		return nil, err
	}
	out := make([]core.PruneResult, 0, len(items))
	for _, it := range items {
		mark := it.Mark
		if mark == "" {
			switch {
			case it.Protected:
				mark = "protected"
			case it.Keep:
				mark = "keep"
			default:
				mark = "remove"
			}
		}
		out = append(out, core.PruneResult{Snapshot: core.Snapshot{Group: core.Group{Type: core.BackupType(it.Type), ID: it.ID}, Time: it.Time},
			Keep: it.Keep, Protected: it.Protected, Mark: mark})
	}
	return out, nil
}

// GarbageCollect starts a GC task, follows its log and returns its figures.
func (r *Repository) GarbageCollect(ctx context.Context, events core.Sink) (*core.GCStatus, error) {
	upid, err := r.StartGarbageCollection(ctx)
	if err != nil {
		return nil, err
	}
	if err := r.c.FollowTask(ctx, upid, func(line string) { events.Emit(gcLogEvent(line)) }); err != nil {
		return nil, err
	}
	var st core.GCStatus
	if err := r.c.Get(ctx, r.path("gc"), nil, &st); err != nil {
		return nil, err
	}
	if st.UPID == "" {
		st.UPID = upid
	}
	return &st, nil
}

// gcLogEvent turns a line of the server's GC task log into an info event.
// The task log is all a server says about a running collection, so the
// lines that tell where it is (upstream's wording, which cairn serve
// writes too) also become structured progress here, once, for every caller.
func gcLogEvent(line string) core.Event {
	ev := core.Event{Kind: core.EventInfo, Message: line}
	percent := func(s string) (int, bool) {
		end := strings.IndexFunc(s, func(r rune) bool { return r < '0' || r > '9' })
		if end < 0 {
			end = len(s)
		}
		n, err := strconv.Atoi(s[:end])
		return min(max(n, 0), 100), err == nil
	}
	switch {
	case strings.HasPrefix(line, "Start GC phase1"):
		ev.GC = &core.GCProgress{Phase: core.GCPhaseMark}
	case strings.HasPrefix(line, "Start GC phase2"):
		ev.GC = &core.GCProgress{Phase: core.GCPhaseSweep}
	case strings.HasPrefix(line, "marked ") && strings.Contains(line, "%"):
		if n, ok := percent(strings.TrimPrefix(line, "marked ")); ok {
			ev.GC = &core.GCProgress{Phase: core.GCPhaseMark, Percent: n}
		}
	case strings.HasPrefix(line, "percentage done: "):
		if n, ok := percent(strings.TrimPrefix(line, "percentage done: ")); ok {
			ev.GC = &core.GCProgress{Phase: core.GCPhaseSweep, Percent: n}
		}
	}
	return ev
}

// StartGarbageCollection starts the server's GC task and returns its UPID
// without waiting for it.
func (r *Repository) StartGarbageCollection(ctx context.Context) (string, error) {
	var upid string
	err := r.c.Post(ctx, r.path("gc"), nil, &upid)
	return upid, err
}

// Verify starts a verify task, follows it and reads back each snapshot's
// recorded verification state.
func (r *Repository) Verify(ctx context.Context, ns core.Namespace, group *core.Group, snap *core.Snapshot, events core.Sink) (*core.VerifyReport, error) {
	body := map[string]any{}
	if !ns.IsRoot() {
		body["ns"] = string(ns)
	}
	if snap != nil {
		group = &snap.Group
		body["backup-time"] = snap.Time
	}
	if group != nil {
		body["backup-type"] = string(group.Type)
		body["backup-id"] = group.ID
	}
	var upid string
	if err := r.c.Post(ctx, r.path("verify"), body, &upid); err != nil {
		return nil, err
	}
	taskErr := r.c.FollowTask(ctx, upid, func(line string) { events.Info(line) })
	if taskErr != nil && !strings.Contains(taskErr.Error(), "task failed") {
		return nil, taskErr
	}
	rep := &core.VerifyReport{UPID: upid, BadChunks: map[string][]string{}}
	spaces := []core.Namespace{ns}
	if group == nil {
		if list, err := r.ListNamespaces(ns, -1); err == nil {
			spaces = list
		}
	}
	for _, n := range spaces {
		list, err := r.ListSnapshots(n, group)
		if err != nil {
			return nil, err
		}
		for _, s := range list {
			if snap != nil && s.Snapshot != *snap {
				continue
			}
			if !s.Finished {
				continue
			}
			res := core.VerifyResult{Namespace: n, Snapshot: s.Snapshot, OK: true}
			if s.Verification == nil {
				res.OK = false
				res.Errors = append(res.Errors, "no verification state recorded")
			} else if s.Verification.State != "ok" {
				res.OK = false
				res.Errors = append(res.Errors, "verification "+s.Verification.State)
			}
			rep.Snapshots = append(rep.Snapshots, res)
		}
	}
	if taskErr != nil && rep.Failed() == 0 {
		return nil, taskErr
	}
	return rep, nil
}

// sleep waits unless ctx ends first.
func sleep(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}
