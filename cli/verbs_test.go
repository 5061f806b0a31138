package cli

import (
	"encoding/json"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
)

// Every verb of the command tree, walked from newRoot: its help, its flag
// errors, and for the main verbs a success and a bad-input path on a local
// path repository, each with its exit code and output.

// commandPaths lists the path of every command below the root ("key
// create" …), the root's own cobra additions (help, completion) included.
func commandPaths(t *testing.T) [][]string {
	t.Helper()
	root := newRoot()
	root.InitDefaultHelpCmd()
	root.InitDefaultCompletionCmd()
	var out [][]string
	var walk func(c *cobra.Command, path []string)
	walk = func(c *cobra.Command, path []string) {
		for _, sub := range c.Commands() {
			p := append(append([]string(nil), path...), sub.Name())
			out = append(out, p)
			walk(sub, p)
		}
	}
	walk(root, nil)
	t.Logf("%d commands", len(out))
	if len(out) < 30 {
		t.Fatalf("only %d commands in the tree: %v", len(out), out)
	}
	return out
}

// cairnRunAll is cairnRun that also captures what goes to the process's
// own stdout (cobra prints help there).
func cairnRunAll(t *testing.T, args ...string) result {
	t.Helper()
	f, err := os.CreateTemp(t.TempDir(), "stdout")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	saved := os.Stdout
	os.Stdout = f
	r := cairnRun(t, args...)
	os.Stdout = saved
	f.Seek(0, io.SeekStart)
	rest, _ := io.ReadAll(f)
	r.stdout += string(rest)
	return r
}

func TestEveryVerbHasHelp(t *testing.T) {
	isolateClient(t)
	for _, path := range commandPaths(t) {
		name := strings.Join(path, " ")
		for _, h := range []string{"--help", "-h"} {
			r := cairnRunAll(t, append(append([]string(nil), path...), h)...)
			if r.code != 0 {
				t.Errorf("cairn %s %s: exit %d, stderr %q", name, h, r.code, r.stderr)
				continue
			}
			if !strings.Contains(r.stdout, "Usage:") || !strings.Contains(r.stdout, "cairn "+name) {
				t.Errorf("cairn %s %s: no usage naming the command:\n%s", name, h, r.stdout)
			}
			if r.stderr != "" {
				t.Errorf("cairn %s %s: stderr %q", name, h, r.stderr)
			}
		}
	}
	// The root's help lists every top-level verb.
	r := cairnRunAll(t, "--help")
	for _, path := range commandPaths(t) {
		if len(path) == 1 && !strings.Contains(r.stdout, "\n  "+path[0]+" ") {
			t.Errorf("cairn --help does not list %s", path[0])
		}
	}
}

func TestEveryVerbRefusesUnknownFlags(t *testing.T) {
	isolateClient(t)
	for _, path := range commandPaths(t) {
		name := strings.Join(path, " ")
		for _, flag := range []string{"--no-such-flag", "--no-such-flag=3", "-Z"} {
			r := cairnRunAll(t, append(append([]string(nil), path...), flag)...)
			if r.code != exitUsage {
				t.Errorf("cairn %s %s: exit %d, want %d (stderr %q)", name, flag, r.code, exitUsage, r.stderr)
			}
			bare, _, _ := strings.Cut(flag, "=")
			if strings.Count(r.stderr, "\n") != 1 || !strings.HasPrefix(r.stderr, "Error: ") || !strings.Contains(r.stderr, strings.TrimLeft(bare, "-")) {
				t.Errorf("cairn %s %s: stderr %q, want one line naming the flag", name, flag, r.stderr)
			}
			if r.stdout != "" {
				t.Errorf("cairn %s %s: printed %q", name, flag, r.stdout)
			}
		}
	}
}

// verbRepo is a path repository holding host/elsa (one snapshot of a
// small tree), a key file and a namespace "a", for the verb table below.
type verbRepo struct {
	repo, src, key, dir string
}

func newVerbRepo(t *testing.T) verbRepo {
	t.Helper()
	isolateClient(t)
	v := verbRepo{repo: localRepo(t), src: sourceTree(t), dir: t.TempDir()}
	v.key = filepath.Join(v.dir, "key.json")
	mustRun(t, "backup", "root.pxar:"+v.src, "--repository", v.repo, "--backup-id", "elsa")
	mustRun(t, "key", "create", v.key, "--kdf", "none")
	mustRun(t, "namespace", "create", "a", "--repository", v.repo)
	return v
}

// snapshot is the name of host/elsa's snapshot (TYPE/ID/TIME).
func (v verbRepo) snapshot(t *testing.T) string {
	t.Helper()
	var snaps []struct {
		ID   string `json:"backup-id"`
		Time int64  `json:"backup-time"`
	}
	if err := json.Unmarshal([]byte(mustRun(t, "snapshots", "host/elsa", "--repository", v.repo, "--output-format", "json").stdout), &snaps); err != nil || len(snaps) == 0 {
		t.Fatalf("snapshots of host/elsa: %v %v", snaps, err)
	}
	return "host/elsa/" + time.Unix(snaps[0].Time, 0).UTC().Format("2006-01-02T15:04:05Z")
}

// verbCase is one command line and what it must do: exit code, and text
// that stdout (out) or stderr (err) must contain.
type verbCase struct {
	name string
	args []string
	code int // -1: any failure
	out  []string
	err  []string
}

func runVerbCases(t *testing.T, cases []verbCase) {
	t.Helper()
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			r := cairnRunAll(t, c.args...)
			switch {
			case c.code == -1 && r.code == 0, c.code != -1 && r.code != c.code:
				t.Fatalf("cairn %q: exit %d, want %d\nstdout: %s\nstderr: %s", c.args, r.code, c.code, r.stdout, r.stderr)
			}
			for _, s := range c.out {
				if !strings.Contains(r.stdout, s) {
					t.Errorf("cairn %q: stdout lacks %q:\n%s", c.args, s, r.stdout)
				}
			}
			for _, s := range c.err {
				if !strings.Contains(r.stderr, s) {
					t.Errorf("cairn %q: stderr lacks %q:\n%s", c.args, s, r.stderr)
				}
			}
			if r.code != 0 && (strings.Count(r.stderr, "\n") != 1 || !strings.HasPrefix(r.stderr, "Error: ")) {
				t.Errorf("cairn %q: error is not one line: %q", c.args, r.stderr)
			}
		})
	}
}

func TestVerbsSucceedOnAPathRepository(t *testing.T) {
	v := newVerbRepo(t)
	R := []string{"--repository", v.repo}
	with := func(args ...string) []string { return append(args, R...) }
	target := filepath.Join(v.dir, "restored")
	runVerbCases(t, []verbCase{
		{name: "backup", args: with("backup", "root.pxar:"+v.src, "--backup-id", "anna"), err: []string{"Starting backup: host/anna/", "root.pxar"}},
		{name: "list", args: with("list"), out: []string{"host/elsa", "host/anna", "catalog.pcat1 index.json root.pxar"}},
		{name: "snapshot list", args: with("snapshot", "list", "host/elsa"), out: []string{"host/elsa/", "root.pxar"}},
		{name: "snapshots", args: with("snapshots"), out: []string{"host/elsa/", "host/anna/"}},
		{name: "files", args: with("files", v.snapshot(t)), out: []string{"root.pxar.didx", "index.json.blob"}},
		{name: "catalog dump", args: with("catalog", "dump", "host/elsa"), out: []string{`"./root.pxar.didx/etc/hostname"`, `"./root.pxar.didx/home/a.txt"`}},
		{name: "restore", args: with("restore", "host/elsa", "root.pxar", target)},
		{name: "prune dry run", args: with("prune", "host/elsa", "--keep-last", "1", "--dry-run"), out: []string{"host/elsa/", "keep"}},
		{name: "namespace list", args: with("namespace", "list"), out: []string{"a"}},
		{name: "namespace create", args: with("namespace", "create", "a/b")},
		{name: "status", args: with("status"), out: []string{"total", "used", "avail"}},
		{name: "verify", args: with("verify"), out: []string{"verified 2 snapshot(s), 0 failed"}},
		{name: "garbage-collect", args: with("garbage-collect"), out: []string{"Disk chunks"}},
		{name: "version", args: []string{"version"}, out: []string{"client version: "}},
		{name: "key show", args: []string{"key", "show", v.key}, out: []string{"fingerprint", "none"}},
		{name: "key create", args: []string{"key", "create", filepath.Join(v.dir, "k2.json"), "--kdf", "none"}},
	})
	if data, err := os.ReadFile(filepath.Join(target, "etc/hostname")); err != nil || string(data) != "elsa\n" {
		t.Errorf("restored etc/hostname: %q %v", data, err)
	}
	if nss := mustRun(t, with("namespace", "list")...).stdout; !strings.Contains(nss, "a/b") {
		t.Errorf("namespace list after create:\n%s", nss)
	}

	// JSON output parses and carries the fields.
	var snaps []map[string]any
	if err := json.Unmarshal([]byte(mustRun(t, with("snapshots", "--output-format", "json")...).stdout), &snaps); err != nil || len(snaps) != 2 {
		t.Fatalf("snapshots json: %v %v", snaps, err)
	}
	for _, s := range snaps {
		if s["backup-type"] != "host" || s["owner"] != "root@pam" {
			t.Errorf("snapshot json %v", s)
		}
	}
	var key map[string]any
	if err := json.Unmarshal([]byte(mustRun(t, "key", "show", v.key, "--output-format", "json").stdout), &key); err != nil || key["kdf"] != "none" {
		t.Errorf("key show json: %v %v", key, err)
	}
	var st map[string]any
	if err := json.Unmarshal([]byte(mustRun(t, with("status", "--output-format", "json")...).stdout), &st); err != nil || st["backend-type"] != "filesystem" {
		t.Errorf("status json: %v %v", st, err)
	}
}

func TestVerbsNameTheBadValue(t *testing.T) {
	v := newVerbRepo(t)
	R := []string{"--repository", v.repo}
	with := func(args ...string) []string { return append(args, R...) }
	missing := filepath.Join(v.dir, "nothere")
	out := filepath.Join(v.dir, "out")
	var cases []verbCase
	// A malformed repository string, named whatever the verb.
	for _, repo := range []string{"bad@@host:store", "alice@pbs@:store:", "user@host:99999999:store", ":"} {
		for _, verb := range [][]string{{"list"}, {"snapshots"}, {"status"}, {"backup", "root.pxar:" + v.src}, {"restore", "host/elsa", "root.pxar", out},
			{"catalog", "dump", "host/elsa"}, {"prune", "host/elsa", "--keep-last", "1"}, {"namespace", "list"}, {"verify"}, {"task", "list"}, {"garbage-collect"}} {
			cases = append(cases, verbCase{name: verb[0] + " " + repo, args: append(verb, "--repository", repo), code: -1,
				err: []string{`invalid repository "` + repo + `"`}})
		}
	}
	cases = append(cases, []verbCase{
		// A path repository that is not there.
		{name: "list missing repo", args: []string{"list", "--repository", missing}, code: exitFailure, err: []string{`datastore "` + missing + `" does not exist` + "\n"}},
		{name: "status missing repo", args: []string{"status", "--repository", missing}, code: exitFailure, err: []string{missing}},
		{name: "benchmark missing repo", args: []string{"benchmark", "--repository", missing}, code: exitFailure, err: []string{`datastore "` + missing + `" does not exist` + "\n"}},
		// Bad snapshot and group names.
		{name: "restore bad time", args: with("restore", "host/elsa/notatime", "root.pxar", out), code: exitUsage, err: []string{"notatime"}},
		{name: "restore bad snapshot", args: with("restore", "badsnap", "root.pxar", out), code: exitUsage, err: []string{`"badsnap"`}},
		{name: "catalog dump bad type", args: with("catalog", "dump", "h@st/x"), code: exitUsage, err: []string{"h@st"}},
		{name: "catalog dump no group", args: with("catalog", "dump", "host/nobody"), code: exitFailure, err: []string{"host/nobody"}},
		{name: "prune bad group", args: with("prune", "notagroup", "--keep-last", "1"), code: exitUsage, err: []string{`"notagroup"`}},
		{name: "verify no group", args: with("verify", "host/nobody"), code: exitFailure, err: []string{"host/nobody"}},
		{name: "files of a group", args: with("files", "host/elsa"), code: exitUsage, err: []string{`"host/elsa"`, "TYPE/ID/TIME"}},
		{name: "pxar list not an archive", args: []string{"pxar", "list", v.key}, code: exitFailure, err: []string{`archive "` + v.key + `"`, "corrupt"}},
		{name: "forget bad snapshot", args: with("forget", "host/elsa/yesterday"), code: exitUsage, err: []string{"yesterday"}},
		// Bad archive specs and names.
		{name: "backup bad type", args: with("backup", "root.bad:"+v.src), code: exitUsage, err: []string{`"root.bad:` + v.src + `"`}},
		{name: "backup no path", args: with("backup", "root.pxar"), code: exitUsage, err: []string{`"root.pxar"`}},
		{name: "backup missing source", args: with("backup", "root.pxar:"+missing), code: exitFailure, err: []string{missing}},
		{name: "restore no such archive", args: with("restore", "host/elsa", "nope.pxar", out), code: exitFailure, err: []string{"nope.pxar"}},
		// Bad option values.
		{name: "prune negative keep", args: with("prune", "host/elsa", "--keep-last", "-3"), code: exitUsage, err: []string{"--keep-last -3"}},
		{name: "output format", args: []string{"version", "--output-format", "yaml"}, code: exitUsage, err: []string{"'yaml'"}},
		{name: "snapshots output format", args: with("snapshots", "--output-format", "yaml"), code: exitUsage, err: []string{"'yaml'"}},
		{name: "key create bad kdf", args: []string{"key", "create", filepath.Join(v.dir, "k3.json"), "--kdf", "bogus"}, code: exitUsage, err: []string{`"bogus"`}},
		{name: "key create over a key", args: []string{"key", "create", v.key, "--kdf", "none"}, code: exitFailure, err: []string{v.key}},
		{name: "key show missing", args: []string{"key", "show", missing}, code: exitFailure, err: []string{missing}},
		{name: "namespace bad name", args: with("namespace", "create", "a/../b"), code: exitUsage, err: []string{`"a/../b"`}},
		{name: "namespace no parent", args: with("namespace", "create", "x/y"), code: exitFailure, err: []string{"'x/y'", "'x'"}},
		// Server-only verbs on a path repository say so.
		{name: "task list local", args: with("task", "list"), code: exitFailure, err: []string{v.repo, "local datastore"}},
		// Arguments.
		{name: "restore too few", args: with("restore", "host/elsa"), code: exitUsage, err: []string{"restore"}},
		{name: "unknown verb", args: []string{"frobnicate"}, code: exitUsage, err: []string{`"frobnicate"`}},
	}...)
	runVerbCases(t, cases)
}

// Every flag says what it does, and a flag name means one thing: the same
// type everywhere it appears (--repository,
// --output-format, --keyfile, --ns …).
func TestEveryFlagIsDocumentedAndConsistent(t *testing.T) {
	root := newRoot()
	type seen struct{ typ, where string }
	flags := map[string]seen{}
	var walk func(c *cobra.Command)
	walk = func(c *cobra.Command) {
		c.Flags().VisitAll(func(f *pflag.Flag) {
			if f.Name == "help" {
				return
			}
			if strings.TrimSpace(f.Usage) == "" {
				t.Errorf("cairn %s --%s has no help text", c.CommandPath(), f.Name)
			}
			s := seen{f.Value.Type(), c.CommandPath()}
			if prev, ok := flags[f.Name]; ok && prev.typ != s.typ {
				t.Errorf("--%s is a %s in %q but a %s in %q", f.Name, prev.typ, prev.where, s.typ, s.where)
			} else if !ok {
				flags[f.Name] = s
			}
		})
		for _, sub := range c.Commands() {
			walk(sub)
		}
	}
	walk(root)
	t.Logf("%d distinct flags", len(flags))
}

// The other local verbs: plain pxar archives, notes, protection, client
// logs, shell completion.
func TestMoreVerbsOnAPathRepository(t *testing.T) {
	v := newVerbRepo(t)
	snap := v.snapshot(t)
	with := func(args ...string) []string { return append(args, "--repository", v.repo) }
	archive := filepath.Join(v.dir, "a.pxar")
	extracted := filepath.Join(v.dir, "px")
	missing := filepath.Join(v.dir, "nothere")
	notArchive := filepath.Join(v.src, "etc/hostname")
	runVerbCases(t, []verbCase{
		{name: "pxar create", args: []string{"pxar", "create", archive, v.src}},
		{name: "pxar list", args: []string{"pxar", "list", archive}, out: []string{`"/etc/hostname"`, `"/home/a.txt"`, `"/big"`}},
		{name: "pxar extract", args: []string{"pxar", "extract", archive, extracted}},
		{name: "pxar create from nothing", args: []string{"pxar", "create", filepath.Join(v.dir, "b.pxar"), missing}, code: exitFailure, err: []string{missing}},
		{name: "pxar list missing", args: []string{"pxar", "list", missing}, code: exitFailure, err: []string{missing}},
		// The message does not name the file (see the report of issue 18).
		{name: "pxar list not an archive", args: []string{"pxar", "list", notArchive}, code: exitFailure, err: []string{"corrupt archive"}},

		{name: "notes update", args: with("snapshot", "notes", "update", snap, "a note")},
		{name: "notes show", args: with("snapshot", "notes", "show", snap), out: []string{"a note"}},
		{name: "notes bad snapshot", args: with("snapshot", "notes", "show", "host/elsa/never"), code: exitUsage, err: []string{"never"}},
		{name: "protect", args: with("snapshot", "protected", "update", snap, "true")},
		{name: "protected show", args: with("snapshot", "protected", "show", snap), out: []string{"true"}},
		{name: "forget protected", args: with("forget", snap), code: exitFailure, err: []string{snap, "protected"}},
		{name: "unprotect", args: with("snapshot", "protected", "update", snap, "false")},
		{name: "upload-log", args: with("upload-log", snap, notArchive)},
		{name: "upload-log again", args: with("upload-log", snap, notArchive), code: exitFailure},
		{name: "upload-log missing file", args: with("upload-log", snap, missing), code: exitFailure, err: []string{missing}},
		{name: "change-owner local", args: with("change-owner", "host/elsa", "bob@pbs"), code: exitFailure, err: []string{"server repository"}},
		{name: "forget", args: with("forget", snap)},
		{name: "forget gone", args: with("forget", snap), code: exitFailure, err: []string{snap}},
		{name: "completion bash", args: []string{"completion", "bash"}, out: []string{"bash completion", "cairn"}},
	})
	if data, err := os.ReadFile(filepath.Join(extracted, "home/a.txt")); err != nil || string(data) != "alpha\n" {
		t.Errorf("pxar extract: home/a.txt %q %v", data, err)
	}
}
