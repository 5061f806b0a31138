package shell_test

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"syscall"
	"testing"
	"time"

	"cairn/core"
	"cairn/core/backup"
	"cairn/core/datastore"
	"cairn/core/snapshot"
	"cairn/internal/testutil"
	"cairn/pxar"
	"cairn/shell"
)

// modes are the archive forms every test runs against: a unified archive
// with its catalog, and a split one (metadata change detection, second
// backup reusing the first's payload) with none.
var modes = []string{backup.ModeLegacy, backup.ModeMetadata}

// forEachMode runs a test once per archive form.
func forEachMode(t *testing.T, f func(t *testing.T, mode string)) {
	for _, m := range modes {
		t.Run(m, func(t *testing.T) { f(t, m) })
	}
}

func setup(t *testing.T, mode string) (src string, o shell.Options, s *snapshot.Snapshot) {
	t.Helper()
	dir := testutil.TempDir(t)
	src = filepath.Join(dir, "src")
	testutil.WriteTree(t, src, testutil.Tree{
		"etc/hostname":           testutil.File("host\n"),
		"etc/a.conf":             testutil.File("a=1\n").Mode(0o600),
		"etc/conf.d/b.conf":      testutil.File("b=2\n"),
		"etc/conf.d/deep/c.conf": testutil.File("c=3\n").Mode(0o640),
		"etc/conf.d/notes.txt":   testutil.File("notes\n"),
		"home/user/doc.txt":      testutil.File(strings.Repeat("document\n", 100000)),
		"home/user/big.bin":      testutil.File(bytes.Repeat([]byte{1, 2, 3, 4, 5, 6, 7}, 3<<20)),
		"home/user/My File.txt":  testutil.File("spaces\n"),
		"home/link":              testutil.Symlink("../etc/hostname"),
		"etc/a.hard":             testutil.HardLink("etc/a.conf"),
	}, time.Date(2024, 5, 1, 12, 0, 0, 5000, time.UTC))
	ds, err := datastore.NewMemory("root@pam")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ds.Close() })
	sp, _ := backup.ParseSpec("root.pxar:" + src)
	snap := core.Snapshot{Group: core.Group{Type: core.TypeHost, ID: "sh"}, Time: 1700000000}
	ctx := context.Background()
	runs := 1
	if mode == backup.ModeMetadata {
		runs = 2
	}
	for i := range runs {
		snap.Time = 1700000000 + int64(i)
		if _, err := backup.Run(ctx, backup.Options{Repo: ds, Snapshot: snap, Specs: []backup.Spec{sp}, ChunkSize: 64 << 10, ChangeDetection: mode}); err != nil {
			t.Fatal(err)
		}
	}
	s, err = snapshot.Open(ctx, ds, "", snap)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	o, done, err := shell.SnapshotOptions(ctx, s, "root.pxar")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(done)
	return src, o, s
}

func run(t *testing.T, o shell.Options, script string) string {
	t.Helper()
	var out bytes.Buffer
	if err := shell.Run(strings.NewReader(script), &out, o); err != nil {
		t.Fatal(err)
	}
	return out.String()
}

func listFiles(t *testing.T, dir string) []string {
	var out []string
	filepath.Walk(dir, func(p string, info os.FileInfo, err error) error {
		if err != nil {
			t.Fatal(err)
		}
		if !info.IsDir() {
			rel, _ := filepath.Rel(dir, p)
			out = append(out, rel)
		}
		return nil
	})
	sort.Strings(out)
	return out
}

func sameFile(t *testing.T, a, b string) {
	t.Helper()
	x, err := os.ReadFile(a)
	if err != nil {
		t.Fatal(err)
	}
	y, err := os.ReadFile(b)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(x, y) {
		t.Fatalf("%s and %s differ", a, b)
	}
	sa, _ := os.Lstat(a)
	sb, _ := os.Lstat(b)
	if sa.Mode() != sb.Mode() || !sa.ModTime().Equal(sb.ModTime()) {
		t.Fatalf("%s: metadata differs: %v %v / %v %v", b, sa.Mode(), sa.ModTime(), sb.Mode(), sb.ModTime())
	}
}

func TestNavigation(t *testing.T) {
	forEachMode(t, func(t *testing.T, mode string) {
		_, o, _ := setup(t, mode)
		out := run(t, o, `pwd
	ls
	cd etc/conf.d
	pwd
	ls
	cd ..
	pwd
	cd /home/user
	ls "My File.txt"
	cd nothere
	cd /etc/hostname
	cd
	pwd
	ls home
	stat /etc/a.conf
	stat home/link
	stat etc/a.hard
	bogus
	exit
	pwd
	`)
		want := []string{
			"/\n",
			"etc   home\n",
			"/etc/conf.d\n",
			"b.conf     deep       notes.txt\n",
			"/etc\n",
			"My File.txt\n",
			"Error: /home/user/nothere: no such file or directory\n",
			"Error: /etc/hostname is not a directory\n",
			"/\n",
			"link  user\n",
			"  File: /etc/a.conf\n  Size: 4 ",
			"Access: (0600/-rw-------)  Uid: ",
			"  File: /home/link -> ../etc/hostname\n",
			"  File: /etc/a.hard => /etc/a.conf\n",
			"Error: unknown command \"bogus\"",
		}
		rest := out
		for _, w := range want {
			i := strings.Index(rest, w)
			if i < 0 {
				t.Fatalf("output lacks %q (in order); output:\n%s", w, out)
			}
			rest = rest[i+len(w):]
		}
		if strings.Count(out, "\n/\n")+boolInt(strings.HasPrefix(out, "/\n")) != 2 {
			t.Fatalf("commands after exit ran:\n%s", out)
		}
	})
}

func boolInt(b bool) int {
	if b {
		return 1
	}
	return 0
}

func TestFindSelectRestore(t *testing.T) {
	forEachMode(t, func(t *testing.T, mode string) {
		src, o, _ := setup(t, mode)
		target := filepath.Join(t.TempDir(), "out")
		out := run(t, o, `find etc/**/*.conf --select
	select /home/user/doc.txt
	select home/user/nothere
	list-selected
	list-selected --patterns
	deselect /etc/hostname
	restore-selected `+target+`
	`)
		for _, w := range []string{
			"/etc/a.conf\n/etc/conf.d/b.conf\n/etc/conf.d/deep/c.conf\n",
			"Error: /home/user/nothere: no such file or directory\n",
			"/etc/a.conf\n/etc/conf.d/b.conf\n/etc/conf.d/deep/c.conf\n/home/user/doc.txt\n",
			"etc/**/*.conf\n/home/user/doc.txt\n",
			"Error: /etc/hostname is not selected\n",
		} {
			if !strings.Contains(out, w) {
				t.Fatalf("output lacks %q:\n%s", w, out)
			}
		}
		got := listFiles(t, target)
		want := []string{"etc/a.conf", "etc/conf.d/b.conf", "etc/conf.d/deep/c.conf", "home/user/doc.txt"}
		if strings.Join(got, " ") != strings.Join(want, " ") {
			t.Fatalf("restored %v, want %v", got, want)
		}
		for _, f := range want {
			sameFile(t, filepath.Join(src, f), filepath.Join(target, f))
		}

		// deselect and clear-selected
		out = run(t, o, `select etc/hostname
	select etc/a.conf
	deselect /etc/hostname
	list-selected --patterns
	clear-selected
	list-selected --patterns
	restore-selected /tmp/never
	`)
		if !strings.Contains(out, "/etc/a.conf\nError: no entries selected") {
			t.Fatalf("selection handling:\n%s", out)
		}
	})
}

func TestRestorePattern(t *testing.T) {
	forEachMode(t, func(t *testing.T, mode string) {
		src, o, _ := setup(t, mode)
		target := filepath.Join(t.TempDir(), "out")
		out := run(t, o, "restore "+target+" --pattern 'etc/**/*.conf'\n")
		if out != "" {
			t.Fatalf("output: %s", out)
		}
		got := listFiles(t, target)
		want := []string{"etc/a.conf", "etc/conf.d/b.conf", "etc/conf.d/deep/c.conf"}
		if strings.Join(got, " ") != strings.Join(want, " ") {
			t.Fatalf("restored %v, want %v", got, want)
		}
		for _, f := range want {
			sameFile(t, filepath.Join(src, f), filepath.Join(target, f))
		}

		// restore of the current directory, everything.
		target2 := filepath.Join(t.TempDir(), "home")
		run(t, o, "cd /home\nrestore "+target2+"\n")
		got = listFiles(t, target2)
		want = []string{"link", "user/My File.txt", "user/big.bin", "user/doc.txt"}
		if strings.Join(got, "|") != strings.Join(want, "|") {
			t.Fatalf("restored %v, want %v", got, want)
		}
		for _, f := range want[1:] {
			sameFile(t, filepath.Join(src, "home", f), filepath.Join(target2, f))
		}
		if l, _ := os.Readlink(filepath.Join(target2, "link")); l != "../etc/hostname" {
			t.Fatalf("symlink: %q", l)
		}

		// Whole archive: hardlinks stay hardlinks.
		target3 := filepath.Join(t.TempDir(), "all")
		run(t, o, "restore "+target3+"\n")
		var s1, s2 syscall.Stat_t
		syscall.Stat(filepath.Join(target3, "etc/a.conf"), &s1)
		syscall.Stat(filepath.Join(target3, "etc/a.hard"), &s2)
		if s1.Ino == 0 || s1.Ino != s2.Ino {
			t.Fatal("hardlink not restored as a hardlink")
		}
	})
}

// The random-access restore of one small file must not fetch the big files' chunks.
func TestRestoreFetchesLittle(t *testing.T) {
	forEachMode(t, func(t *testing.T, mode string) {
		_, o, s := setup(t, mode)
		// ra reads the file data: the unified stream, or the payload stream.
		var ra *snapshot.IndexReaderAt
		o.Open = func() (*pxar.Accessor, error) {
			a, err := s.FindPxar("root.pxar")
			if err != nil {
				return nil, err
			}
			meta, err := s.ReaderAt(context.Background(), a.Meta)
			if err != nil {
				return nil, err
			}
			ra = meta
			acc, err := pxar.NewAccessor(meta, uint64(meta.Size()))
			if err != nil || !a.Split() {
				return acc, err
			}
			if ra, err = s.ReaderAt(context.Background(), a.Payload); err != nil {
				return nil, err
			}
			acc.SetPayload(ra)
			return acc, nil
		}
		target := filepath.Join(t.TempDir(), "x")
		run(t, o, "select etc/hostname\nrestore-selected "+target+"\n")
		if b, _ := os.ReadFile(filepath.Join(target, "etc/hostname")); string(b) != "host\n" {
			t.Fatalf("got %q", b)
		}
		total := ra.Index().Count()
		if total < 20 {
			t.Fatalf("archive has only %d chunks; the test needs more", total)
		}
		if f := ra.Fetched(); f > int64(total/4) {
			t.Fatalf("fetched %d of %d chunks to restore one small file", f, total)
		}
		ra.Close()
	})
}

func TestComplete(t *testing.T) {
	forEachMode(t, func(t *testing.T, mode string) {
		_, o, _ := setup(t, mode)
		sh, err := shell.New(o)
		if err != nil {
			t.Fatal(err)
		}
		for _, c := range []struct{ line, want string }{
			{"ls", "ls "},
			{"li", "list-selected "},
			{"res", "restore"},
			{"cd e", "cd etc/"},
			{"cd etc/co", "cd etc/conf.d/"},
			{"ls etc/conf.d/n", "ls etc/conf.d/notes.txt "},
			{"ls /home/u", "ls /home/user/"},
		} {
			got, pos, ok := sh.Complete(c.line, len(c.line))
			if !ok || got != c.want || pos != len(c.want) {
				t.Errorf("complete %q: %q %d %v, want %q", c.line, got, pos, ok, c.want)
			}
		}
		if _, _, ok := sh.Complete("ls zz", 5); ok {
			t.Error("completed a missing name")
		}
	})
}
