package datastore_test

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	mrand "math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"cairn/core"
	"cairn/core/datastore"
	"cairn/core/restore"
	"cairn/internal/testutil"
)

func restoreErr(t *testing.T, repo core.Repository, snap string) error {
	return restore.Run(context.Background(), restore.Options{Repo: repo, Snapshot: snap, Archive: "root.pxar",
		Target: filepath.Join(t.TempDir(), "dst")})
}

// Creating a path repository: resumable from any point (issue 15, item 1),
// with chunk prefix directories made on demand (item 2).

var errKilled = errors.New("killed by the test")

// stopCreateAt makes the next creations stop after their n-th step (1-based)
// and returns a function reporting how many steps ran.
func stopCreateAt(t *testing.T, n int) func() int {
	t.Helper()
	steps := 0
	datastore.SetCreateHook(func(string) error {
		steps++
		if steps == n {
			return errKilled
		}
		return nil
	})
	t.Cleanup(func() { datastore.SetCreateHook(nil) })
	return func() int { return steps }
}

// countSteps runs create on a fresh state and counts its steps.
func countSteps(t *testing.T, prepare func(string), create func(string) error) int {
	t.Helper()
	dir := filepath.Join(testutil.TempDir(t), "count")
	prepare(dir)
	steps := stopCreateAt(t, -1)
	if err := create(dir); err != nil {
		t.Fatal(err)
	}
	datastore.SetCreateHook(nil)
	return steps()
}

// checkComplete checks a finished layout: .lock is a file, .chunks a
// directory holding nothing but 4-hex-digit prefix directories, and no
// leftover of a creation.
func checkComplete(t *testing.T, dir string) int {
	t.Helper()
	if st, err := os.Stat(filepath.Join(dir, ".lock")); err != nil || !st.Mode().IsRegular() {
		t.Fatalf(".lock: %v", err)
	}
	if _, err := os.Lstat(filepath.Join(dir, ".chunks.tmp")); !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf(".chunks.tmp left behind (%v)", err)
	}
	ents, err := os.ReadDir(filepath.Join(dir, ".chunks"))
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range ents {
		if len(e.Name()) != 4 || !e.IsDir() || strings.Trim(e.Name(), "0123456789abcdef") != "" {
			t.Fatalf("unexpected entry .chunks/%s", e.Name())
		}
	}
	return len(ents)
}

// checkUsable shows that every later command works on dir: read commands
// open it, a backup goes in (creating the datastore if the interrupted
// creation got nowhere) and restores, verify passes, garbage collection
// runs, and the layout is complete and valid.
func checkUsable(t *testing.T, dir, src string, when int64) {
	t.Helper()
	if datastore.Foreign(dir) {
		t.Fatalf("%s is taken for someone else's directory", dir)
	}
	// A read: works, or (nothing but an empty directory there) says the
	// repository does not exist.
	if ds, err := datastore.Open(dir, "root@pam"); err == nil {
		if _, err := ds.ListGroups(""); err != nil {
			t.Fatalf("list groups: %v", err)
		}
		ds.Close()
	} else if ents, _ := os.ReadDir(dir); len(ents) > 0 || !errors.Is(err, core.ErrNotFound) {
		t.Fatalf("open after an interrupted creation: %v", err)
	}
	if err := datastore.Create(dir); err != nil {
		t.Fatalf("create after an interrupted creation: %v", err)
	}
	ds, err := datastore.Open(dir, "root@pam")
	if err != nil {
		t.Fatal(err)
	}
	defer ds.Close()
	if err := runBackup(t, ds, "after", when, src); err != nil {
		t.Fatalf("backup after an interrupted creation: %v", err)
	}
	restoreAndCompare(t, ds, "host/after", src)
	rep, err := ds.Verify(context.Background(), "", nil, nil, nil)
	if err != nil || rep.Failed() != 0 {
		t.Fatalf("verify: %v %+v", err, rep)
	}
	if _, err := ds.GarbageCollect(context.Background(), nil); err != nil {
		t.Fatalf("gc: %v", err)
	}
	if n := checkComplete(t, dir); n == 0 {
		t.Fatal("a backup stored chunks but made no prefix directory")
	}
}

// smallTree is a source of a few files and chunks: the creation tests back
// it up after every stop, so it must be quick.
func smallTree(t *testing.T) string {
	t.Helper()
	src := filepath.Join(t.TempDir(), "src")
	testutil.WriteTree(t, src, testutil.Tree{
		"etc/hostname":    testutil.File("elsa\n"),
		"data/random.bin": testutil.File(testutil.RandomBytes(300 << 10)),
		"data/empty":      testutil.File(""),
	}, time.Time{})
	return src
}

// legacyTmp makes what an interrupted creation of an older cairn left: a
// .chunks.tmp holding the first n prefix directories.
func legacyTmp(dir string, n int) {
	for i := 0; i < n; i++ {
		os.MkdirAll(filepath.Join(dir, ".chunks.tmp", fmt.Sprintf("%04x", i)), 0o755)
	}
}

var createStarts = []struct {
	name    string
	prepare func(dir string)
}{
	{"missing", func(string) {}},
	{"empty", func(dir string) { os.MkdirAll(dir, 0o755) }},
	{"legacy-tmp", func(dir string) { legacyTmp(dir, 300) }},
	{"legacy-tmp-and-lock", func(dir string) {
		legacyTmp(dir, 4096)
		os.WriteFile(filepath.Join(dir, ".lock"), nil, 0o644)
	}},
	{"legacy-tmp-and-chunks", func(dir string) {
		legacyTmp(dir, 10)
		os.MkdirAll(filepath.Join(dir, ".chunks", "0000"), 0o755)
		os.WriteFile(filepath.Join(dir, ".lock"), nil, 0o644)
	}},
	{"chunks-without-lock", func(dir string) { os.MkdirAll(filepath.Join(dir, ".chunks"), 0o755) }},
	{"lock-only", func(dir string) {
		os.MkdirAll(dir, 0o755)
		os.WriteFile(filepath.Join(dir, ".lock"), nil, 0o644)
	}},
}

// TestCreateStoppedAtEveryStep stops Create after each of its steps, from
// every state an interrupted creation (of this or an older version) can
// leave, and shows that every later command works.
func TestCreateStoppedAtEveryStep(t *testing.T) {
	src := smallTree(t)
	when := time.Now().Unix()
	for _, start := range createStarts {
		n := countSteps(t, start.prepare, datastore.Create)
		for stop := 1; stop <= n+1; stop++ { // n+1: not stopped
			t.Run(fmt.Sprintf("%s/stop-after-%d-of-%d", start.name, stop, n), func(t *testing.T) {
				dir := filepath.Join(testutil.TempDir(t), "r")
				start.prepare(dir)
				stopCreateAt(t, stop)
				err := datastore.Create(dir)
				if stop <= n && !errors.Is(err, errKilled) {
					t.Fatalf("stopped creation: %v", err)
				}
				datastore.SetCreateHook(nil)
				checkUsable(t, dir, src, when)
			})
		}
	}
}

// TestCreateFullStoppedAtManyPoints stops the full layout's creation (and
// the adoption of a path repository) at many points: the datastore works
// meanwhile and the next CreateFull completes it.
func TestCreateFullStoppedAtManyPoints(t *testing.T) {
	src := smallTree(t)
	when := time.Now().Unix()
	n := countSteps(t, func(string) {}, datastore.CreateFull)
	if n < 65536 {
		t.Fatalf("%d steps", n)
	}
	for _, stop := range []int{1, 3, 5, 6, 1000, n - 1, n + 1} {
		t.Run(fmt.Sprint(stop), func(t *testing.T) {
			dir := filepath.Join(testutil.TempDir(t), "r")
			stopCreateAt(t, stop)
			if err := datastore.CreateFull(dir); stop <= n && !errors.Is(err, errKilled) {
				t.Fatalf("stopped creation: %v", err)
			}
			datastore.SetCreateHook(nil)
			checkUsable(t, dir, src, when)
			if err := datastore.CreateFull(dir); err != nil {
				t.Fatal(err)
			}
			if got := checkComplete(t, dir); got != 65536 {
				t.Fatalf("%d prefix directories after CreateFull, want 65536", got)
			}
			ds, err := datastore.Open(dir, "root@pam")
			if err != nil {
				t.Fatal(err)
			}
			defer ds.Close()
			restoreAndCompare(t, ds, "host/after", src)
		})
	}
}

// TestCreateHelperProcess is the child of the kill tests, not a test.
func TestCreateHelperProcess(t *testing.T) {
	args := strings.Fields(os.Getenv("CAIRN_CREATE_HELPER"))
	if len(args) == 0 {
		t.Skip("helper process of the kill tests")
	}
	var err error
	switch args[0] {
	case "full":
		err = datastore.CreateFull(args[1])
	case "backup": // backup DIR ID SRC TIME
		var when int64
		fmt.Sscan(args[4], &when)
		if err = datastore.Create(args[1]); err == nil {
			var ds *datastore.Datastore
			if ds, err = datastore.Open(args[1], "root@pam"); err == nil {
				err = runBackup(t, ds, args[2], when, args[3])
				ds.Close()
			}
		}
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	os.Exit(0)
}

func helper(args ...string) *exec.Cmd {
	cmd := exec.Command(os.Args[0], "-test.run=^TestCreateHelperProcess$")
	cmd.Env = append(os.Environ(), "CAIRN_CREATE_HELPER="+strings.Join(args, " "))
	return cmd
}

// TestCreateKilledAtRandomMoments kills a process with SIGKILL at random
// moments while it creates a datastore (upstream's full layout, and a path
// repository with its first backup); every later command works.
func TestCreateKilledAtRandomMoments(t *testing.T) {
	src := smallTree(t)
	for _, mode := range []string{"full", "backup"} {
		t.Run(mode, func(t *testing.T) {
			rounds := map[string]int{"full": 6, "backup": 30}[mode]
			if testing.Short() {
				rounds /= 3
			}
			args := func(dir string) []string {
				if mode == "full" {
					return []string{"full", dir}
				}
				return []string{"backup", dir, "first", src, "1000"}
			}
			dir := filepath.Join(testutil.TempDir(t), "timing")
			t0 := time.Now()
			if out, err := helper(args(dir)...).CombinedOutput(); err != nil {
				t.Fatalf("%v: %s", err, out)
			}
			whole := time.Since(t0)
			killed := 0
			for i := 0; i < rounds; i++ {
				dir := filepath.Join(testutil.TempDir(t), "r")
				cmd := helper(args(dir)...)
				if err := cmd.Start(); err != nil {
					t.Fatal(err)
				}
				time.Sleep(time.Duration(mrand.Int64N(int64(whole))))
				if cmd.Process.Signal(syscall.SIGKILL) == nil {
					killed++
				}
				cmd.Wait()
				checkUsable(t, dir, src, 2000)
				if mode == "full" {
					if err := datastore.CreateFull(dir); err != nil {
						t.Fatal(err)
					}
					if got := checkComplete(t, dir); got != 65536 {
						t.Fatalf("%d prefix directories, want 65536", got)
					}
				}
			}
			t.Logf("%d rounds, %d kills, whole run %v", rounds, killed, whole)
		})
	}
}

// TestConcurrentFirstBackups: processes and goroutines backing up into the
// same new repository at once all succeed.
func TestConcurrentFirstBackups(t *testing.T) {
	src := smallTree(t)
	for round := 0; round < 4; round++ {
		dir := filepath.Join(testutil.TempDir(t), "r")
		var cmds []*exec.Cmd
		var outs []*strings.Builder
		for p := 0; p < 2; p++ {
			cmd := helper("backup", dir, fmt.Sprintf("proc%d", p), src, "1000")
			out := &strings.Builder{}
			cmd.Stdout, cmd.Stderr = out, out
			cmds, outs = append(cmds, cmd), append(outs, out)
		}
		for _, c := range cmds {
			if err := c.Start(); err != nil {
				t.Fatal(err)
			}
		}
		var wg sync.WaitGroup
		errs := make([]error, 4)
		for g := range errs {
			wg.Add(1)
			go func() {
				defer wg.Done()
				if errs[g] = datastore.Create(dir); errs[g] != nil {
					return
				}
				ds, err := datastore.Open(dir, "root@pam")
				if err != nil {
					errs[g] = err
					return
				}
				defer ds.Close()
				errs[g] = runBackup(t, ds, fmt.Sprintf("goroutine%d", g), 1000, src)
			}()
		}
		wg.Wait()
		for i, c := range cmds {
			if err := c.Wait(); err != nil {
				t.Fatalf("round %d: process %d: %v: %s", round, i, err, outs[i])
			}
		}
		for g, err := range errs {
			if err != nil {
				t.Fatalf("round %d: goroutine %d: %v", round, g, err)
			}
		}
		ds, err := datastore.Open(dir, "root@pam")
		if err != nil {
			t.Fatal(err)
		}
		if groups, _ := ds.ListGroups(""); len(groups) != 6 {
			t.Fatalf("round %d: %d groups, want 6", round, len(groups))
		}
		rep, err := ds.Verify(context.Background(), "", nil, nil, nil)
		if err != nil || rep.Failed() != 0 || len(rep.Snapshots) != 6 {
			t.Fatalf("round %d: verify: %v %+v", round, err, rep)
		}
		ds.Close()
		checkComplete(t, dir)
	}
}

// TestConcurrentChunkDirCreation: writers of separate datastore handles (as
// separate processes are) storing chunks of one missing prefix directory at
// once all succeed, through both the backup writer and InsertChunk.
func TestConcurrentChunkDirCreation(t *testing.T) {
	dir := filepath.Join(testutil.TempDir(t), "r")
	if err := datastore.Create(dir); err != nil {
		t.Fatal(err)
	}
	const writers, perWriter = 8, 16
	digest := func(w, i int) [32]byte {
		d := sha256.Sum256([]byte(fmt.Sprint(w, i)))
		d[0], d[1] = 0xab, byte(i%2) // two prefix directories for all
		return d
	}
	var wg sync.WaitGroup
	start := make(chan struct{})
	errs := make([]error, writers)
	for w := 0; w < writers; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			ds, err := datastore.Open(dir, "root@pam")
			if err != nil {
				errs[w] = err
				return
			}
			defer ds.Close()
			<-start
			if w%2 == 0 {
				for i := 0; i < perWriter; i++ {
					if _, err := ds.Backend().InsertChunk(digest(w, i), []byte("chunk")); err != nil {
						errs[w] = err
						return
					}
				}
				return
			}
			bw, err := ds.StartBackup(context.Background(), core.BackupOptions{
				Snapshot: core.Snapshot{Group: core.Group{Type: core.TypeHost, ID: fmt.Sprint("w", w)}, Time: 1000}})
			if err != nil {
				errs[w] = err
				return
			}
			for i := 0; i < perWriter; i++ {
				if _, _, err := bw.UploadChunk(digest(w, i), 5, func() ([]byte, error) { return []byte("chunk"), nil }); err != nil {
					errs[w] = err
					bw.Abort()
					return
				}
			}
			errs[w] = bw.Finish([]byte("manifest"))
		}()
	}
	close(start)
	wg.Wait()
	for w, err := range errs {
		if err != nil {
			t.Fatalf("writer %d: %v", w, err)
		}
	}
	ds, err := datastore.Open(dir, "root@pam")
	if err != nil {
		t.Fatal(err)
	}
	defer ds.Close()
	for w := 0; w < writers; w++ {
		for i := 0; i < perWriter; i++ {
			if data, err := ds.Backend().ReadChunk(digest(w, i)); err != nil || string(data) != "chunk" {
				t.Fatalf("chunk %d/%d: %q %v", w, i, data, err)
			}
		}
	}
	if n := checkComplete(t, dir); n != 2 {
		t.Fatalf("%d prefix directories, want 2", n)
	}
}

// diskUsage is what du counts: allocated blocks of everything under dir.
func diskUsage(t *testing.T, dir string) int64 {
	t.Helper()
	var total int64
	filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			t.Fatal(err)
		}
		var st syscall.Stat_t
		if err := syscall.Lstat(p, &st); err != nil {
			t.Fatal(err)
		}
		total += st.Blocks * 512
		return nil
	})
	return total
}

// TestCreateIsSmallAndPrefixDirsOnDemand: a new path repository holds no
// prefix directories and takes less than 1 MiB (on a real disk too: t.TempDir,
// not tmpfs); a backup makes the prefix directories of its chunks, no more.
func TestCreateIsSmallAndPrefixDirsOnDemand(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "r")
	t0 := time.Now()
	if err := datastore.Create(dir); err != nil {
		t.Fatal(err)
	}
	took := time.Since(t0)
	if n := checkComplete(t, dir); n != 0 {
		t.Fatalf("a new datastore has %d prefix directories, want none", n)
	}
	if du := diskUsage(t, dir); du >= 1<<20 {
		t.Fatalf("an empty datastore takes %d bytes", du)
	}
	t.Logf("create took %v, %d bytes", took, diskUsage(t, dir))
	src := filepath.Join(t.TempDir(), "src")
	makeTree(t, src)
	ds, err := datastore.Open(dir, "root@pam")
	if err != nil {
		t.Fatal(err)
	}
	defer ds.Close()
	if err := runBackup(t, ds, "a", 1000, src); err != nil {
		t.Fatal(err)
	}
	prefixes := map[string]bool{}
	filepath.WalkDir(filepath.Join(dir, ".chunks"), func(p string, d fs.DirEntry, err error) error {
		if err == nil && d.Type().IsRegular() {
			prefixes[filepath.Base(filepath.Dir(p))] = true
		}
		return nil
	})
	if n := checkComplete(t, dir); n != len(prefixes) || n == 0 {
		t.Fatalf("%d prefix directories for chunks in %d", n, len(prefixes))
	}
}

// chunkFiles lists the chunk files of the datastore at dir.
func chunkFiles(t *testing.T, dir string) []string {
	t.Helper()
	var out []string
	filepath.WalkDir(filepath.Join(dir, ".chunks"), func(p string, d fs.DirEntry, err error) error {
		if err == nil && d.Type().IsRegular() {
			out = append(out, p)
		}
		return nil
	})
	return out
}

// TestMissingPrefixDirectory: a prefix directory that is not there is an
// empty one. GC runs, verify and restore name the missing chunk, and a new
// backup stores the chunk again, making the directory.
func TestMissingPrefixDirectory(t *testing.T) {
	dir := filepath.Join(testutil.TempDir(t), "r")
	if err := datastore.CreateFull(dir); err != nil { // even a full layout may lose one
		t.Fatal(err)
	}
	src := filepath.Join(t.TempDir(), "src")
	makeTree(t, src)
	ds, err := datastore.Open(dir, "root@pam")
	if err != nil {
		t.Fatal(err)
	}
	defer ds.Close()
	if err := runBackup(t, ds, "a", 1000, src); err != nil {
		t.Fatal(err)
	}
	victim := chunkFiles(t, dir)[0]
	name := filepath.Base(victim)
	if err := os.RemoveAll(filepath.Dir(victim)); err != nil {
		t.Fatal(err)
	}
	var dg [32]byte
	if _, err := hex.Decode(dg[:], []byte(name)); err != nil {
		t.Fatal(err)
	}
	if _, err := ds.Backend().ReadChunk(dg); !errors.Is(err, fs.ErrNotExist) || !strings.Contains(err.Error(), name) {
		t.Fatalf("read of a chunk in a missing directory: %v", err)
	}
	if ok, err := ds.Backend().TouchChunk(dg); ok || err != nil {
		t.Fatalf("touch: %v %v", ok, err)
	}
	var warned []string
	st, err := ds.GarbageCollect(context.Background(), func(e core.Event) {
		if e.Kind == core.EventWarning {
			warned = append(warned, e.Message)
		}
	})
	if err != nil {
		t.Fatalf("gc: %v", err)
	}
	if len(warned) == 0 || !strings.Contains(strings.Join(warned, "\n"), name) {
		t.Fatalf("gc did not name the missing chunk: %q", warned)
	}
	if st.DiskChunks == 0 {
		t.Fatalf("gc saw no chunks: %+v", st)
	}
	rep, err := ds.Verify(context.Background(), "", nil, nil, nil)
	if err != nil || rep.Failed() != 1 || len(rep.BadChunks[name]) != 1 {
		t.Fatalf("verify: %v %+v", err, rep)
	}
	if !strings.Contains(strings.Join(rep.Snapshots[0].Errors, "\n"), "chunk "+name+" is missing") {
		t.Fatalf("verify errors: %q", rep.Snapshots[0].Errors)
	}
	snaps, _ := ds.ListSnapshots("", nil)
	rerr := restoreErr(t, ds, snaps[0].Snapshot.String())
	if rerr == nil || !strings.Contains(rerr.Error(), name) {
		t.Fatalf("restore with a missing chunk: %v", rerr)
	}
	// The next backup stores the chunk again, into a new directory.
	if err := runBackup(t, ds, "a", 2000, src); err != nil {
		t.Fatalf("backup into a missing prefix directory: %v", err)
	}
	if _, err := os.Stat(victim); err != nil {
		t.Fatalf("chunk not stored again: %v", err)
	}
	restoreAndCompare(t, ds, "host/a", src)
}
