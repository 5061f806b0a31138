package server

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"cairn/core"
	"cairn/core/catalog"
	"cairn/core/datastore"
	"cairn/core/snapshot"
	"cairn/core/snapshot/snapshottest"
	"cairn/internal/testutil"
)

// wholeCatalogListing is the listing as the endpoint made it before it
// streamed: the whole catalog (rebuilt in memory for split archives),
// Lookup, ReadDir, maps, json.Marshal.
func wholeCatalogListing(t *testing.T, ds *datastore.Datastore, snap core.Snapshot, dir string) (int, []byte) {
	ctx := context.Background()
	s, err := snapshot.Open(ctx, ds, "", snap)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	cr, err := s.Catalog(ctx)
	if err != nil {
		t.Fatal(err)
	}
	ent, err := cr.Lookup(dir)
	if err != nil {
		return http.StatusNotFound, nil
	}
	entries, err := cr.ReadDir(ent)
	if err != nil {
		return http.StatusBadRequest, nil
	}
	root := strings.Trim(dir, "/") == ""
	base := strings.TrimRight(dir, "/")
	out := []map[string]any{}
	for _, e := range entries {
		full := base + "/" + string(e.Name)
		item := map[string]any{"filepath": base64.StdEncoding.EncodeToString([]byte(full)), "text": string(e.Name),
			"type": e.Type.String(), "leaf": !e.IsDir()}
		if root {
			item["type"] = "v"
			item["leaf"] = false
		}
		if e.Type == catalog.TypeFile {
			item["size"] = e.Size
			item["mtime"] = e.Mtime
		}
		out = append(out, item)
	}
	b, _ := json.Marshal(map[string]any{"data": out})
	return http.StatusOK, b
}

// TestCatalogStreamSameBytes: the streamed listing is byte for byte the
// listing the whole-catalog code made, for unified archives (stored
// catalog), split ones (metadata stream), mixed snapshots, names that
// JSON escapes, and missing paths.
func TestCatalogStreamSameBytes(t *testing.T) {
	e := newEnv(t)
	ds, err := datastore.Open(e.store, "alice@pbs")
	if err != nil {
		t.Fatal(err)
	}
	defer ds.Close()
	src := filepath.Join(t.TempDir(), "src")
	tree := testutil.Files(map[string]string{"etc/hostname": "alice\n", "etc/hosts": "127.0.0.1 localhost\n", "README": "hi\n",
		"a <b> & \"c\"/x": "escaped\n", "ünïcode/日本": "u\n", "deep/1/2/3/f": "deep\n"})
	tree["link"], tree["empty"] = testutil.Symlink("README"), testutil.Dir()
	testutil.WriteTree(t, src, tree, time.Time{})
	g := core.Group{Type: core.TypeHost, ID: "cat"}
	snaps := []core.Snapshot{{Group: g, Time: 1700000000}, {Group: g, Time: 1700000001}, {Group: g, Time: 1700000002}}
	snapshottest.Write(t, ds, "", snaps[0], snapshottest.Options{Owner: "alice@pbs"}, snapshottest.Archive{Name: "uni", Dir: src}, snapshottest.Archive{Name: "two", Dir: filepath.Join(src, "etc")})
	snapshottest.Write(t, ds, "", snaps[1], snapshottest.Options{Owner: "alice@pbs"}, snapshottest.Archive{Name: "spl", Dir: src, Split: true})
	snapshottest.Write(t, ds, "", snaps[2], snapshottest.Options{Owner: "alice@pbs"}, snapshottest.Archive{Name: "uni", Dir: src}, snapshottest.Archive{Name: "spl", Dir: src, Split: true})
	a, _ := e.login("alice@pbs", "alice@pbs-pw")
	dirs := []string{"/", "root", "/uni.pxar.didx", "/uni.pxar.didx/", "/uni.pxar.didx/etc", "/uni.pxar.didx/a <b> & \"c\"", "/uni.pxar.didx/ünïcode",
		"/uni.pxar.didx/deep/1/2", "/uni.pxar.didx/empty", "/uni.pxar.didx/nothing", "/two.pxar.didx", "/spl.mpxar.didx", "/spl.mpxar.didx/etc",
		"/spl.mpxar.didx/deep/1/2/3", "/spl.mpxar.didx/nope", "/nope.pxar.didx", "/uni.pxar.didx/README"}
	checked := 0
	for _, snap := range snaps {
		for _, dir := range dirs {
			fp := "root"
			if dir != "root" {
				fp = base64.StdEncoding.EncodeToString([]byte(dir))
			}
			if dir == "root" {
				dir = "/"
			}
			wantCode, want := wholeCatalogListing(t, ds, snap, dir)
			q := url.Values{"backup-type": {"host"}, "backup-id": {"cat"}, "backup-time": {fmt.Sprint(snap.Time)}, "filepath": {fp}}
			code, got := e.do(a, http.MethodGet, "admin/datastore/store1/catalog", q, nil)
			if wantCode == http.StatusOK && (code != http.StatusOK || string(got) != string(want)) {
				t.Errorf("%s %s: got %d %s\nwant %s", snap, dir, code, got, want)
			}
			if wantCode == http.StatusNotFound && code != http.StatusNotFound {
				t.Errorf("%s %s: got %d %s, want 404", snap, dir, code, got)
			}
			if wantCode == http.StatusBadRequest && (code < 400 || code >= 500) {
				t.Errorf("%s %s: got %d %s, want a 4xx", snap, dir, code, got)
			}
			checked++
		}
	}
	t.Logf("%d listings compared", checked)
}
