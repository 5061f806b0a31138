package server

import (
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
	"cairn/core/datastore"
	"cairn/core/snapshot/snapshottest"
	"cairn/internal/testutil"
	"cairn/keys"
)

// catalogList asks the catalog endpoint for one directory and returns
// "text type" per entry, or the error body.
func catalogList(e *testEnv, a *auth, snap core.Snapshot, dir string) (int, []string) {
	e.t.Helper()
	fp := "root"
	if dir != "/" {
		fp = base64.StdEncoding.EncodeToString([]byte(dir))
	}
	q := url.Values{"backup-type": {string(snap.Type)}, "backup-id": {snap.ID}, "backup-time": {fmt.Sprint(snap.Time)}, "filepath": {fp}}
	code, body := e.do(a, http.MethodGet, "admin/datastore/store1/catalog", q, nil)
	if code != http.StatusOK {
		return code, []string{string(body)}
	}
	var out struct {
		Data []struct {
			Text string  `json:"text"`
			Type string  `json:"type"`
			Size *uint64 `json:"size"`
		} `json:"data"`
	}
	if err := json.Unmarshal(body, &out); err != nil {
		e.t.Fatal(err)
	}
	var lines []string
	for _, d := range out.Data {
		l := d.Text + " " + d.Type
		if d.Size != nil {
			l += fmt.Sprintf(" %d", *d.Size)
		}
		lines = append(lines, l)
	}
	return code, lines
}

// The catalog endpoint lists split archives (which have no stored
// catalog) from their metadata archives, beside unified ones.
func TestCatalogEndpointSplitArchives(t *testing.T) {
	e := newEnv(t)
	ds, err := datastore.Open(e.store, "alice@pbs")
	if err != nil {
		t.Fatal(err)
	}
	defer ds.Close()
	src := filepath.Join(t.TempDir(), "src")
	testutil.WriteTree(t, src, testutil.Files(map[string]string{"etc/hostname": "alice\n", "etc/hosts": "127.0.0.1 localhost\n", "README": "hi\n"}), time.Time{})
	snap := core.Snapshot{Group: core.Group{Type: core.TypeHost, ID: "cat"}, Time: 1700000000}
	snapshottest.Write(t, ds, "", snap, snapshottest.Options{Owner: "alice@pbs"},
		snapshottest.Archive{Name: "uni", Dir: src}, snapshottest.Archive{Name: "spl", Dir: src, Split: true})
	a, _ := e.login("alice@pbs", "alice@pbs-pw")

	code, top := catalogList(e, a, snap, "/")
	if code != http.StatusOK || strings.Join(top, "|") != "uni.pxar.didx v|spl.mpxar.didx v" {
		t.Fatalf("root: %d %q", code, top)
	}
	_, uni := catalogList(e, a, snap, "/uni.pxar.didx/etc")
	code, spl := catalogList(e, a, snap, "/spl.mpxar.didx/etc")
	if code != http.StatusOK || strings.Join(spl, "|") != "hostname f 6|hosts f 20" || strings.Join(spl, "|") != strings.Join(uni, "|") {
		t.Fatalf("etc of the split archive: %d %q (unified %q)", code, spl, uni)
	}
	if code, _ := catalogList(e, a, snap, "/spl.mpxar.didx/nothing"); code != http.StatusNotFound {
		t.Errorf("missing directory: %d", code)
	}

	// Without the key the server cannot read an encrypted metadata archive.
	key, _ := keys.NewKey()
	cc, err := keys.NewCryptConfig(key)
	if err != nil {
		t.Fatal(err)
	}
	enc := core.Snapshot{Group: snap.Group, Time: snap.Time + 1}
	snapshottest.Write(t, ds, "", enc, snapshottest.Options{Owner: "alice@pbs", Crypt: cc}, snapshottest.Archive{Name: "spl", Dir: src, Split: true})
	code, msg := catalogList(e, a, enc, "/")
	if code != http.StatusBadRequest || !strings.Contains(msg[0], "cannot decode 'spl.mpxar.didx' - is encrypted") {
		t.Fatalf("encrypted split archive: %d %q", code, msg)
	}
}
