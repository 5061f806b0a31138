package cli

import (
	"encoding/json"
	"net"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"cairn/internal/testutil"
)

// These tests run the command tree in-process, as `cairn` would, against a
// local datastore path and against a real `cairn serve` on loopback.

// outputEnv is isolateClient plus a fixed locale: an installed UTF-8
// locale (via LOCPATH), so tables use box drawing whatever the machine has.
func outputEnv(t *testing.T) string {
	t.Helper()
	home := isolateClient(t)
	for _, k := range []string{"PBS_PASSWORD_FD", "PBS_PASSWORD_FILE", "PBS_PASSWORD_CMD", "ALL_PROXY", "all_proxy", "LC_CTYPE", "LANG"} {
		t.Setenv(k, "")
		os.Unsetenv(k)
	}
	locales := filepath.Join(home, "locales", "C.utf8")
	if err := os.MkdirAll(locales, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(locales, "LC_CTYPE"), nil, 0o644); err != nil {
		t.Fatal(err)
	}
	t.Setenv("LOCPATH", filepath.Dir(locales))
	t.Setenv("LC_ALL", "C.UTF-8")
	return home
}

// stdoutOf runs a command line that must succeed and returns its stdout.
func stdoutOf(t *testing.T, args ...string) string {
	t.Helper()
	return mustRun(t, args...).stdout
}

// fails runs a command line that must fail and returns its stderr.
func fails(t *testing.T, args ...string) string {
	t.Helper()
	r := cairnRun(t, args...)
	if r.code == 0 {
		t.Errorf("cairn %q succeeded, want an error; stdout:\n%s", args, r.stdout)
	}
	return r.stderr
}

// backupListingFixture makes the snapshots the listing tests look at, out of order:
// vm/100 (two archives, aa and zz), host/b at two times, host/a.
func backupListingFixture(t *testing.T, repo string) {
	t.Helper()
	src := sourceTree(t)
	for _, b := range []struct {
		typ, id string
		time    int64
		specs   []string
	}{
		{"vm", "100", 1700000300, []string{"zz.pxar:" + src, "aa.pxar:" + filepath.Join(src, "home")}},
		{"host", "b", 1700000000, []string{"root.pxar:" + src}},
		{"host", "a", 1700000100, []string{"root.pxar:" + src}},
		{"host", "b", 1700000200, []string{"root.pxar:" + src}},
	} {
		args := append([]string{"backup"}, b.specs...)
		args = append(args, "--repository", repo, "--backup-type", b.typ, "--backup-id", b.id,
			"--backup-time", strconv.FormatInt(b.time, 10))
		stdoutOf(t, args...)
	}
}

// tableRows returns the cells of a box-drawn table's text lines.
func tableRows(out string) [][]string {
	var rows [][]string
	for _, l := range strings.Split(out, "\n") {
		if !strings.HasPrefix(l, "│") {
			continue
		}
		var cells []string
		for _, c := range strings.Split(strings.Trim(l, "│"), "│") {
			cells = append(cells, strings.TrimSpace(c))
		}
		rows = append(rows, cells)
	}
	return rows
}

func firstColumn(out string) []string {
	var col []string
	for _, r := range tableRows(out) {
		col = append(col, r[0])
	}
	return col
}

func TestLocalListings(t *testing.T) {
	outputEnv(t)
	repo := filepath.Join(testutil.TempDir(t), "store")
	backupListingFixture(t, repo)

	// list: sorted by group, files sorted by name.
	out := stdoutOf(t, "list", "--repository", repo)
	rows := tableRows(out)
	if len(rows) != 4 || rows[0][0] != "group" {
		t.Fatalf("list:\n%s", out)
	}
	if got := strings.Join(firstColumn(out)[1:], " "); got != "host/a host/b vm/100" {
		t.Errorf("list order %q:\n%s", got, out)
	}
	if rows[3][1] != "vm/100/2023-11-14T22:18:20Z" || rows[3][2] != "1" || rows[3][3] != "aa.pxar catalog.pcat1 index.json zz.pxar" {
		t.Errorf("list row %q", rows[3])
	}
	if rows[2][2] != "2" {
		t.Errorf("host/b backup-count %q", rows[2][2])
	}

	// snapshot list: by group, then time; sizes as HumanByte; files sorted.
	out = stdoutOf(t, "snapshot", "list", "--repository", repo)
	want := []string{"snapshot", "host/a/2023-11-14T22:15:00Z", "host/b/2023-11-14T22:13:20Z",
		"host/b/2023-11-14T22:16:40Z", "vm/100/2023-11-14T22:18:20Z"}
	if got := firstColumn(out); strings.Join(got, " ") != strings.Join(want, " ") {
		t.Errorf("snapshot list order %q:\n%s", got, out)
	}
	for _, r := range tableRows(out)[1:] {
		if !strings.HasSuffix(r[1], " KiB") && !strings.HasSuffix(r[1], " MiB") {
			t.Errorf("size %q is not HumanByte:\n%s", r[1], out)
		}
	}
	if r := tableRows(out)[4]; r[2] != "aa.pxar catalog.pcat1 index.json zz.pxar" {
		t.Errorf("files column %q", r[2])
	}
	// JSON keeps bytes.
	var items []map[string]any
	if err := json.Unmarshal([]byte(stdoutOf(t, "snapshot", "list", "--repository", repo, "--output-format", "json")), &items); err != nil {
		t.Fatal(err)
	}
	if len(items) != 4 {
		t.Fatalf("json items %d", len(items))
	}
	for _, it := range items {
		if _, ok := it["size"].(float64); !ok {
			t.Errorf("json size %#v is not a number", it["size"])
		}
	}

	// snapshot files: rows sorted by file name.
	out = stdoutOf(t, "snapshot", "files", "vm/100/2023-11-14T22:18:20Z", "--repository", repo)
	if got := strings.Join(firstColumn(out), " "); got != "filename aa.pxar.didx catalog.pcat1.didx index.json.blob zz.pxar.didx" {
		t.Errorf("snapshot files order %q:\n%s", got, out)
	}
	fails(t, "snapshot", "files", "vm/100/2020-01-01T00:00:00Z", "--repository", repo)

	// An empty namespace lists nothing, as upstream.
	stdoutOf(t, "namespace", "create", "a", "--repository", repo)
	for _, cmd := range [][]string{{"list"}, {"snapshot", "list"}} {
		if out := stdoutOf(t, append(cmd, "--repository", repo, "--ns", "a")...); out != "" {
			t.Errorf("%v of an empty namespace printed %q", cmd, out)
		}
		if out := stdoutOf(t, append(cmd, "--repository", repo, "--ns", "a", "--output-format", "json")...); out != "[]\n" {
			t.Errorf("%v json of an empty namespace printed %q", cmd, out)
		}
	}
}

func TestLocalNamespaceList(t *testing.T) {
	outputEnv(t)
	repo := filepath.Join(testutil.TempDir(t), "store")
	stdoutOf(t, "namespace", "create", "a", "--repository", repo)
	stdoutOf(t, "namespace", "create", "a/b", "--repository", repo)
	if out := stdoutOf(t, "namespace", "list", "--repository", repo); out != "a\na/b\n" {
		t.Errorf("text %q", out)
	}
	// Upstream prints the whole answer: {"data": [...]}.
	if out := stdoutOf(t, "namespace", "list", "--repository", repo, "--output-format", "json"); out != `{"data":[{"ns":""},{"ns":"a"},{"ns":"a/b"}]}`+"\n" {
		t.Errorf("json %q", out)
	}
	want := "{\n  \"data\": [\n    {\n      \"ns\": \"a\"\n    },\n    {\n      \"ns\": \"a/b\"\n    }\n  ]\n}\n"
	if out := stdoutOf(t, "namespace", "list", "a", "--repository", repo, "--output-format", "json-pretty"); out != want {
		t.Errorf("json-pretty %q", out)
	}
	if out := stdoutOf(t, "namespace", "list", "--ns", "a", "--max-depth", "0", "--repository", repo); out != "a\n" {
		t.Errorf("--ns a --max-depth 0: %q", out)
	}
	if e := fails(t, "namespace", "list", "--max-depth", "8", "--repository", repo); !strings.Contains(e, "out of range (0 - 7)") {
		t.Errorf("--max-depth 8: %s", e)
	}
}

func TestLocalBordersFollowLocaleAndEnv(t *testing.T) {
	outputEnv(t)
	repo := filepath.Join(testutil.TempDir(t), "store")
	backupListingFixture(t, repo)
	t.Setenv("LC_ALL", "C")
	out := stdoutOf(t, "snapshot", "list", "--repository", repo)
	lines := strings.Split(out, "\n")
	if !strings.HasPrefix(lines[0], "+====") || !strings.HasPrefix(lines[1], "| snapshot ") ||
		!strings.HasPrefix(lines[2], "+====") || !strings.HasPrefix(lines[4], "+----") || strings.ContainsAny(out, "│─┌") {
		t.Errorf("LC_ALL=C table:\n%s", out)
	}
	os.Unsetenv("LC_ALL")
	t.Setenv("LANG", "C.UTF-8")
	if out := stdoutOf(t, "list", "--repository", repo); !strings.HasPrefix(out, "┌") {
		t.Errorf("LANG=C.UTF-8 table:\n%s", out)
	}
	t.Setenv("PROXMOX_OUTPUT_NO_BORDER", "")
	out = stdoutOf(t, "list", "--repository", repo)
	if strings.ContainsAny(out, "│─┌+|") || strings.Contains(out, "group") || !strings.HasPrefix(out, "host/a ") {
		t.Errorf("NO_BORDER (no header either):\n%s", out)
	}
	os.Unsetenv("PROXMOX_OUTPUT_NO_BORDER")
	t.Setenv("PROXMOX_OUTPUT_NO_HEADER", "1")
	out = stdoutOf(t, "list", "--repository", repo)
	if strings.Contains(out, "group") || !strings.HasPrefix(out, "┌") || strings.Contains(out, "╞") {
		t.Errorf("NO_HEADER:\n%s", out)
	}
}

func TestLocalStatus(t *testing.T) {
	outputEnv(t)
	repo := filepath.Join(testutil.TempDir(t), "store")
	stdoutOf(t, "namespace", "create", "a", "--repository", repo)
	var st map[string]any
	if err := json.Unmarshal([]byte(stdoutOf(t, "status", "--repository", repo, "--output-format", "json")), &st); err != nil {
		t.Fatal(err)
	}
	total, _ := st["total"].(float64)
	if total <= 0 || st["backend-type"] != "filesystem" || st["used"] == nil || st["avail"] == nil {
		t.Fatalf("status json %v", st)
	}
	out := stdoutOf(t, "status", "--repository", repo)
	rows := tableRows(out)
	if len(rows) != 3 || rows[0][0] != "total" || rows[1][0] != "used" || rows[2][0] != "avail" {
		t.Fatalf("status rows (no header, total/used/avail):\n%s", out)
	}
	if !strings.HasSuffix(rows[0][1], " (100 %)") || !strings.HasPrefix(rows[0][1], strconv.FormatFloat(total, 'f', 0, 64)+"  (") {
		t.Errorf("total row %q", rows[0][1])
	}
}

func TestTotalPercentage(t *testing.T) {
	for _, tc := range []struct {
		v, total uint64
		want     string
	}{
		{100, 100, "100  (100 %)"},
		{0, 100, "0    (0 %)"},
		{10903552, 25276071936, "10903552    (0 %)"},
		{25265168384, 25276071936, "25265168384  (100 %)"},
		{995, 1000, "995  (100 %)"}, // rounds at half a percent
		{994, 1000, "994   (99 %)"},
		{994, 2000, "994   (50 %)"},
		{1, 3, "1   (33 %)"},
	} {
		if got := totalPercentage(tc.v, tc.total); got != tc.want {
			t.Errorf("totalPercentage(%d, %d) = %q, want %q", tc.v, tc.total, got, tc.want)
		}
	}
}

func TestLocalHasNoTasks(t *testing.T) {
	outputEnv(t)
	repo := filepath.Join(testutil.TempDir(t), "store")
	for _, args := range [][]string{
		{"task", "list"},
		{"task", "log", "UPID:host:00000001:00000002:00000003:00000004:backup:store1:root@pam:"},
		{"task", "stop", "UPID:host:00000001:00000002:00000003:00000004:backup:store1:root@pam:"},
	} {
		e := fails(t, append(args, "--repository", repo)...)
		if !strings.Contains(e, "tasks live on a server") || strings.Count(e, "\n") != 1 {
			t.Errorf("%v on a local datastore: %q", args, e)
		}
	}
	if e := fails(t, "task", "log", "UPID:bad", "--repository", repo); !strings.Contains(e, "'upid'") {
		t.Errorf("bad UPID: %s", e)
	}
}

func TestVersionWithoutServer(t *testing.T) {
	outputEnv(t)
	if out := stdoutOf(t, "version"); out != "client version: "+Version+"."+Release+"\n" {
		t.Errorf("text %q", out)
	}
	var v map[string]map[string]any
	if err := json.Unmarshal([]byte(stdoutOf(t, "version", "--output-format", "json")), &v); err != nil {
		t.Fatal(err)
	}
	if c := v["client"]; c["version"] != Version || c["release"] != Release || v["server"] != nil {
		t.Errorf("json %v", v)
	}
	// A local datastore has no server version.
	repo := filepath.Join(testutil.TempDir(t), "store")
	if out := stdoutOf(t, "version", "--repository", repo); strings.Contains(out, "server") {
		t.Errorf("local: %q", out)
	}
	// An unreachable server is reported, not fatal.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	t.Setenv("PBS_PASSWORD", "x")
	host, port, _ := net.SplitHostPort(addr)
	if out := stdoutOf(t, "version", "--repository", "u@pbs@"+host+":"+port+":store1"); out != "client version: "+Version+"."+Release+"\n" {
		t.Errorf("unreachable: %q", out)
	}
}

func TestServerCommands(t *testing.T) {
	outputEnv(t)
	srv, repo := remoteRepo(t)
	t.Setenv("PBS_REPOSITORY", repo)
	backupListingFixture(t, repo)

	// Listings read the same as for the datastore opened locally: the
	// server's JSON is printed as it came.
	for _, args := range [][]string{
		{"list"}, {"snapshot", "list"}, {"snapshot", "list", "host/b"},
		{"snapshot", "files", "vm/100/2023-11-14T22:18:20Z"}, {"namespace", "list"},
	} {
		for _, f := range []string{"text", "json", "json-pretty"} {
			remote := stdoutOf(t, append(args, "--output-format", f)...)
			local := stdoutOf(t, append(args, "--output-format", f, "--repository", srv.StorePath)...)
			if remote != local {
				t.Errorf("%v %s: server and local datastore differ:\n%s\n%s", args, f, remote, local)
			}
		}
	}

	// status: the server's numbers.
	out := stdoutOf(t, "status")
	if rows := tableRows(out); len(rows) != 3 || rows[2][0] != "avail" || !strings.HasSuffix(rows[0][1], "(100 %)") {
		t.Errorf("status:\n%s", out)
	}
	var st map[string]any
	if err := json.Unmarshal([]byte(stdoutOf(t, "status", "--output-format", "json-pretty")), &st); err != nil || st["total"] == nil {
		t.Errorf("status json: %v %v", st, err)
	}

	// version: client and server lines; JSON with both objects.
	out = stdoutOf(t, "version")
	lines := strings.Split(strings.TrimSuffix(out, "\n"), "\n")
	if len(lines) != 2 || lines[0] != "client version: "+Version+"."+Release || !strings.HasPrefix(lines[1], "server version: ") {
		t.Errorf("version:\n%s", out)
	}
	var v map[string]map[string]any
	if err := json.Unmarshal([]byte(stdoutOf(t, "version", "--output-format", "json")), &v); err != nil {
		t.Fatal(err)
	}
	if sv := v["server"]; sv == nil || lines[1] != "server version: "+sv["version"].(string)+"."+sv["release"].(string) {
		t.Errorf("version json %v vs %q", v, lines[1])
	}

	// task list: nothing runs; --all shows the four backups, oldest first.
	if out := stdoutOf(t, "task", "list"); out != "" {
		t.Errorf("task list with nothing running:\n%s", out)
	}
	out = stdoutOf(t, "task", "list", "--all")
	rows := tableRows(out)
	if len(rows) != 5 || strings.Join(rows[0], ",") != "starttime,endtime,upid,status" {
		t.Fatalf("task list --all:\n%s", out)
	}
	var tasks []map[string]any
	if err := json.Unmarshal([]byte(stdoutOf(t, "task", "list", "--all", "--output-format", "json")), &tasks); err != nil || len(tasks) != 4 {
		t.Fatalf("task list json: %v %v", tasks, err)
	}
	byUPID := map[string]map[string]any{}
	for _, tk := range tasks {
		byUPID[tk["upid"].(string)] = tk
	}
	var last float64
	for _, r := range rows[1:] {
		tk := byUPID[r[2]]
		if tk == nil || r[3] != "OK" {
			t.Fatalf("task row %q", r)
		}
		start := tk["starttime"].(float64)
		if want := time.Unix(int64(start), 0).Local().Format("Mon Jan _2 15:04:05 2006"); r[0] != want {
			t.Errorf("starttime %q, want %q (%%c)", r[0], want)
		}
		if start < last {
			t.Errorf("task list not sorted by start time:\n%s", out)
		}
		last = start
	}
	if out := stdoutOf(t, "task", "list", "--all", "--limit", "2", "--output-format", "json"); strings.Count(out, `"upid"`) != 2 {
		t.Errorf("--limit 2: %s", out)
	}

	// task log: the whole log, timestamps stripped, ending in TASK OK.
	out = stdoutOf(t, "task", "log", rows[1][2])
	stamped := regexp.MustCompile(`(?m)^\d{4}-\d\d-\d\dT`)
	if !strings.HasSuffix(out, "TASK OK\n") || stamped.MatchString(out) {
		t.Errorf("task log:\n%s", out)
	}
	// task stop on a finished task is accepted by the server.
	stdoutOf(t, "task", "stop", rows[1][2])
	fails(t, "task", "log", strings.Replace(rows[1][2], ":backup:", ":nothing:", 1))
}
