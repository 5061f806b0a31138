package client

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/url"
	"strconv"

	"cairn/core"
)

// The calls in this file return the server's "data" as it came, in generic
// JSON form (objects as map[string]any, numbers as json.Number), for
// commands that print what the server answered the way upstream's client
// does: every field, in the server's order.

// GetData calls GET on an API path and returns its "data" in generic form.
func (c *Client) GetData(ctx context.Context, path string, q url.Values) (any, error) {
	var raw json.RawMessage
	if err := c.Get(ctx, path, q, &raw); err != nil {
		return nil, err
	}
	return decodeGeneric(raw)
}

func decodeGeneric(raw []byte) (any, error) {
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		return nil, fmt.Errorf("bad answer from server: %v", err)
	}
	return v, nil
}

// DatastoreData calls GET admin/datastore/{store}/{sub} and returns "data"
// in generic form.
func (r *Repository) DatastoreData(ctx context.Context, sub string, q url.Values) (any, error) {
	return r.c.GetData(ctx, r.path(sub), q)
}

// GroupsData is GET groups (protocol.md 5.3), as the server answered.
func (r *Repository) GroupsData(ctx context.Context, ns core.Namespace) (any, error) {
	return r.DatastoreData(ctx, "groups", nsQuery(ns))
}

// SnapshotsData is GET snapshots of one group or of all groups of ns.
func (r *Repository) SnapshotsData(ctx context.Context, ns core.Namespace, group *core.Group) (any, error) {
	q := nsQuery(ns)
	if group != nil {
		q = groupQuery(ns, *group)
	}
	return r.DatastoreData(ctx, "snapshots", q)
}

// FilesData is GET files of a snapshot: the manifest's files, the manifest
// itself and any other file in the snapshot directory.
func (r *Repository) FilesData(ctx context.Context, ns core.Namespace, snap core.Snapshot) (any, error) {
	return r.DatastoreData(ctx, "files", snapQuery(ns, snap))
}

// NamespacesData is GET namespace below parent (maxDepth < 0: no limit).
func (r *Repository) NamespacesData(ctx context.Context, parent core.Namespace, maxDepth int) (any, error) {
	q := url.Values{}
	if !parent.IsRoot() {
		q.Set("parent", string(parent))
	}
	if maxDepth >= 0 {
		q.Set("max-depth", strconv.Itoa(maxDepth))
	}
	return r.DatastoreData(ctx, "namespace", q)
}

// StatusData is GET status of the datastore (protocol.md 5.5).
func (r *Repository) StatusData(ctx context.Context) (any, error) {
	return r.DatastoreData(ctx, "status", nil)
}

// VersionData is GET /version: {version, release, repoid}.
func (c *Client) VersionData(ctx context.Context) (any, error) {
	return c.GetData(ctx, "version", nil)
}

// TaskListQuery is the query of GET nodes/localhost/tasks (protocol.md 5.8).
type TaskListQuery struct {
	Running    bool   // only running tasks
	Start      int    // skip this many
	Limit      int    // at most this many
	UserFilter string // tasks of this auth id
	Store      string // tasks of this datastore
}

// TasksData lists tasks as upstream's `task list` asks for them.
func (c *Client) TasksData(ctx context.Context, tq TaskListQuery) (any, error) {
	q := url.Values{}
	q.Set("running", strconv.FormatBool(tq.Running))
	q.Set("start", strconv.Itoa(tq.Start))
	q.Set("limit", strconv.Itoa(tq.Limit))
	if tq.UserFilter != "" {
		q.Set("userfilter", tq.UserFilter)
	}
	if tq.Store != "" {
		q.Set("store", tq.Store)
	}
	return c.GetData(ctx, "nodes/localhost/tasks", q)
}
