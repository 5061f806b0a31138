package server

import (
	"bytes"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"cairn/core"
	"cairn/core/blob"
	"cairn/core/datastore"
	"cairn/net/server/config"
)

// uploadLog posts body as upload-backup-log the way the upstream client
// does: parameters in the query, the blob as an octet-stream body.
func (e *testEnv) uploadLog(authHdr string, a *auth, q url.Values, body io.Reader, size int64) (int, string) {
	e.t.Helper()
	req, _ := http.NewRequest("POST", "https://"+e.addr+"/api2/json/admin/datastore/store1/upload-backup-log?"+q.Encode(), body)
	req.ContentLength = size
	req.Header.Set("Content-Type", "application/octet-stream")
	if authHdr != "" {
		req.Header.Set("Authorization", authHdr)
	}
	if a != nil {
		req.Header.Set("Cookie", "PBSAuthCookie="+a.ticket)
		req.Header.Set("CSRFPreventionToken", a.csrf)
	}
	resp, err := e.client.Do(req)
	if err != nil {
		e.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

func snapQuery(id string, tm int64) url.Values {
	return url.Values{"backup-type": {"host"}, "backup-id": {id}, "backup-time": {fmt.Sprint(tm)}}
}

func TestUploadBackupLog(t *testing.T) {
	e := newEnv(t)
	a, _ := e.login("alice@pbs", "alice@pbs-pw")
	b, _ := e.login("bob@pbs", "bob@pbs-pw")
	fullBackup(t, e, a, "elsa", 1700000000, [][]byte{[]byte("x")})
	q := snapQuery("elsa", 1700000000)
	logBlob, _ := blob.Encode([]byte("the client's log\n"), true, nil)
	up := func(a *auth, q url.Values, body []byte) (int, string) {
		return e.uploadLog("", a, q, bytes.NewReader(body), int64(len(body)))
	}

	// Refusals first: nothing may be written by them.
	if code, msg := up(a, snapQuery("elsa", 1700000001), logBlob); code != 404 {
		t.Errorf("missing snapshot: %d %s", code, msg)
	}
	if code, msg := up(a, snapQuery("nobody", 1700000000), logBlob); code != 404 {
		t.Errorf("missing group: %d %s", code, msg)
	}
	if code, msg := up(b, q, logBlob); code != 403 || !strings.Contains(msg, "owner check failed") {
		t.Errorf("bob (Backup, not the owner): %d %s", code, msg)
	}
	config.Update(e.cfgDir, func(c *config.Config) error {
		h, _ := config.HashSecret("carol-pw")
		c.Users["carol@pbs"] = config.User{Hash: h, Enable: true}
		c.ACLs = append(c.ACLs, config.ACL{Path: "/datastore/store1", Role: "DatastoreReader", AuthID: "carol@pbs", Propagate: true})
		return nil
	})
	cl, _ := e.login("carol@pbs", "carol-pw")
	if code, msg := up(cl, q, logBlob); code != 403 || !strings.Contains(msg, "Datastore.Backup") {
		t.Errorf("carol (no Backup): %d %s", code, msg)
	}
	bad := bytes.Clone(logBlob)
	bad[len(bad)-1] ^= 1
	for name, body := range map[string][]byte{"empty": nil, "bad CRC": bad, "no blob": []byte("just some text, no magic")} {
		if code, msg := up(a, q, body); code != 400 {
			t.Errorf("%s: %d %s", name, code, msg)
		}
	}
	huge := make([]byte, maxClientLog+1)
	if code, msg := up(a, q, huge); code != 400 || !strings.Contains(msg, "too large") {
		t.Errorf("oversized: %d %s", code, msg)
	}
	// Without a Content-Length (chunked) the bound holds as well.
	if code, msg := e.uploadLog("", a, q, io.MultiReader(bytes.NewReader(huge), bytes.NewReader(huge)), -1); code != 400 || !strings.Contains(msg, "too large") {
		t.Errorf("oversized, chunked: %d %s", code, msg)
	}
	logPath := filepath.Join(e.store, "host", "elsa", core.FormatSnapshotTime(1700000000), "client.log.blob")
	if _, err := os.Stat(logPath); !os.IsNotExist(err) {
		t.Fatalf("a refused upload left %s: %v", logPath, err)
	}

	if code, msg := up(a, q, logBlob); code != 200 || msg != `{"data":null}` {
		t.Fatalf("upload: %d %s", code, msg)
	}
	if got, err := os.ReadFile(logPath); err != nil || !bytes.Equal(got, logBlob) {
		t.Fatalf("stored log: %v", err)
	}
	if code, msg := up(a, q, logBlob); code != 400 || msg != "backup already contains a log." {
		t.Fatalf("second upload: %d %s", code, msg)
	}
	entries, _ := os.ReadDir(filepath.Dir(logPath))
	for _, en := range entries {
		if strings.Contains(en.Name(), ".tmp") {
			t.Errorf("temporary file left: %s", en.Name())
		}
	}

	// The listings show it like upstream: no size, no crypt-mode.
	code, body := e.do(a, "GET", "admin/datastore/store1/files", q, nil)
	if code != 200 || !strings.Contains(string(body), `{"filename":"client.log.blob"}`) {
		t.Fatalf("files: %d %s", code, body)
	}
	// Only what upstream's BACKUP_FILE_REGEX matches is listed.
	os.WriteFile(filepath.Join(filepath.Dir(logPath), "stray.txt"), []byte("x"), 0o644)
	if code, body := e.do(a, "GET", "admin/datastore/store1/files", q, nil); code != 200 || strings.Contains(string(body), "stray") {
		t.Fatalf("files with a stray file: %d %s", code, body)
	}
	if s := snapshotsOf(t, e, a); len(s) != 1 || !strings.Contains(fmt.Sprint(s[0]["files"]), "client.log.blob") {
		t.Fatalf("snapshots: %v", s)
	}
	if code, body := e.do(a, "GET", "admin/datastore/store1/groups", nil, nil); code != 200 || !strings.Contains(string(body), `"client.log.blob"`) {
		t.Fatalf("groups: %d %s", code, body)
	}
	// Downloads: the REST download and the reader protocol.
	dq := snapQuery("elsa", 1700000000)
	dq.Set("file-name", "client.log.blob")
	if code, got := e.do(a, "GET", "admin/datastore/store1/download", dq, nil); code != 200 || !bytes.Equal(got, logBlob) {
		t.Fatalf("download: %d", code)
	}
	r, code, msg := e.upgrade(a, "reader", ReaderProtocol, backupQuery("elsa", 1700000000))
	if code != 101 {
		t.Fatalf("reader: %d %s", code, msg)
	}
	if code, got := r.call("GET", "download", url.Values{"file-name": {"client.log.blob"}}, "", nil); code != 200 || !bytes.Equal(got, logBlob) {
		t.Fatalf("reader download: %d %s", code, got)
	}
	// Only indexes and blobs, as upstream's reader.
	if code, got := r.call("GET", "download", url.Values{"file-name": {"stray.txt"}}, "", nil); code != 400 || string(got) != "unknown archive type: stray.txt" {
		t.Fatalf("reader download of another file: %d %s", code, got)
	}
	r.close()
}

// TestUploadBackupLogOwnerRules: upstream needs Datastore.Backup and
// ownership even from a DatastoreAdmin; a user owns its tokens' groups.
func TestUploadBackupLogOwnerRules(t *testing.T) {
	e := newEnv(t)
	tok := e.token("alice@pbs!t1", "DatastoreBackup")
	config.Update(e.cfgDir, func(c *config.Config) error {
		c.ACLs = append(c.ACLs, config.ACL{Path: "/datastore/store1", Role: "DatastoreAdmin", AuthID: "bob@pbs", Propagate: true})
		return nil
	})
	a, _ := e.login("alice@pbs", "alice@pbs-pw")
	b, _ := e.login("bob@pbs", "bob@pbs-pw")
	fullBackup(t, e, a, "elsa", 1700000000, [][]byte{[]byte("x")})
	lb, _ := blob.Encode([]byte("log"), true, nil)
	if code, msg := e.uploadLog("", b, snapQuery("elsa", 1700000000), bytes.NewReader(lb), int64(len(lb))); code != 403 {
		t.Errorf("DatastoreAdmin, not the owner: %d %s", code, msg)
	}
	// A token does not own its user's groups.
	if code, msg := e.uploadLog(tok, nil, snapQuery("elsa", 1700000000), bytes.NewReader(lb), int64(len(lb))); code != 403 {
		t.Errorf("token into its user's group: %d %s", code, msg)
	}
	// The user may add one to a group its token owns.
	ds, err := datastore.Open(e.store, "")
	if err != nil {
		t.Fatal(err)
	}
	if err := ds.SetGroupOwner("", core.Group{Type: "host", ID: "elsa"}, "alice@pbs!t1"); err != nil {
		t.Fatal(err)
	}
	ds.Close()
	if code, msg := e.uploadLog("", a, snapQuery("elsa", 1700000000), bytes.NewReader(lb), int64(len(lb))); code != 200 {
		t.Errorf("user into its token's group: %d %s", code, msg)
	}
}

// TestUploadBackupLogUnfinished: a running backup's snapshot takes no log.
func TestUploadBackupLogUnfinished(t *testing.T) {
	e := newEnv(t)
	a, _ := e.login("alice@pbs", "alice@pbs-pw")
	s, code, msg := e.upgrade(a, "backup", BackupProtocol, backupQuery("run", 1700000000))
	if code != 101 {
		t.Fatalf("upgrade: %d %s", code, msg)
	}
	defer s.close()
	s.must("GET", "previous_backup_time", nil, "", nil)
	lb, _ := blob.Encode([]byte("log"), true, nil)
	if code, msg := e.uploadLog("", a, snapQuery("run", 1700000000), bytes.NewReader(lb), int64(len(lb))); code != 404 {
		t.Fatalf("log into a running backup: %d %s", code, msg)
	}
}
