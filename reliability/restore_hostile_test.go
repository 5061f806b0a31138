//go:build reliability

package reliability

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"cairn/core"
	"cairn/core/datastore"
	"cairn/core/snapshot"
	"cairn/core/snapshot/snapshottest"
	"cairn/pxar"
	"cairn/pxar/pxartest"
)

// TestHostileArchives restores crafted archives (issue 16 item 1) with the
// built binary — `cairn restore` of unified and split archives, with and
// without --overwrite, with a pattern, `cairn pxar extract`, and the
// catalog shell's random-access restore — and the accessor in process.
// The archives try to reach a victim directory beside the target: a large
// file written in the background and then replaced by a symlink to the
// victim (the chmod race), hardlinks through archive-made symlinks, a
// directory through a symlink, "..", names with slashes, duplicate names
// over device nodes and fifos. After every restore, everything beside the
// target must be exactly as before (mode, owner, link count, size, mtime,
// contents), and the attacks must be refused with a non-zero exit.
func TestHostileArchives(t *testing.T) {
	rounds := runs(1, 3)
	raceRuns := runs(10, 40)
	base := tmpDir(t, "hostile-archives")
	w, err := pxartest.NewWorld(filepath.Join(base, "world"))
	if err != nil {
		t.Fatal(err)
	}
	cases, err := pxartest.HostileCases(w.Outside)
	if err != nil {
		t.Fatal(err)
	}
	race, err := pxartest.RaceCase(w.Outside, 24<<20, 64)
	if err != nil {
		t.Fatal(err)
	}
	store := filepath.Join(base, "store")
	if err := datastore.Create(store); err != nil {
		t.Fatal(err)
	}
	ds, err := datastore.Open(store, "root@pam")
	if err != nil {
		t.Fatal(err)
	}
	snaps := make([]core.Snapshot, len(cases))
	files := make([]string, len(cases))
	for i, c := range cases {
		snaps[i] = core.Snapshot{Group: core.Group{Type: core.TypeHost, ID: "hostile"}, Time: 1700000000 + int64(i)}
		snapshottest.Write(t, ds, "", snaps[i], snapshottest.Options{ChunkSize: 256 << 10},
			snapshottest.Archive{Name: "uni", Meta: c.Unified},
			snapshottest.Archive{Name: "spl", Meta: c.Meta, Payload: c.Payload})
		files[i] = filepath.Join(base, fmt.Sprintf("case%02d.pxar", i))
		if err := os.WriteFile(files[i], c.Unified, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	raceSnap := core.Snapshot{Group: core.Group{Type: core.TypeHost, ID: "race"}, Time: 1700000000}
	snapshottest.Write(t, ds, "", raceSnap, snapshottest.Options{ChunkSize: 1 << 20}, snapshottest.Archive{Name: "spl", Meta: race.Meta, Payload: race.Payload})
	ds.Close()

	var restores, touched, refusals, mustRefuse, dupNamed, dups, hangs int
	var problems []string
	problem := func(format string, args ...any) {
		msg := fmt.Sprintf(format, args...)
		t.Error(msg)
		if len(problems) < 5 {
			problems = append(problems, msg)
		}
	}
	// one runs a restore and checks the world around the target.
	one := func(c pxartest.Case, how string, f func() (string, error)) {
		restores++
		before, err := w.Snapshot()
		if err != nil {
			t.Fatal(err)
		}
		start := time.Now()
		out, rerr := f()
		if time.Since(start) > time.Minute {
			hangs++
		}
		after, err := w.Snapshot()
		if err != nil {
			t.Fatal(err)
		}
		if d := pxartest.Diff(before, after); d != "" {
			touched += changedPaths(d)
			problem("%s (%s): outside the target changed (exit: %v):\n%s", c.Name, how, rerr, d)
			// Put the victim back for the next runs.
			os.RemoveAll(w.Outside)
			nw, err := pxartest.NewWorld(w.Work)
			if err != nil {
				t.Fatal(err)
			}
			w = nw
		}
		refuse := c.Dup || strings.Contains(c.Name, "hardlink") || strings.Contains(c.Name, "..") || strings.Contains(c.Name, "slashes")
		if refuse && !(how == "restore --pattern" && strings.Contains(c.Name, "absolute")) {
			mustRefuse++
			if rerr != nil {
				refusals++
			} else {
				problem("%s (%s): exit 0", c.Name, how)
			}
		}
		if c.Dup {
			dups++
			if strings.Contains(out, "duplicate name") || strings.Contains(out, "two entries named") {
				dupNamed++
			} else {
				problem("%s (%s): the error does not name the duplicate: %s", c.Name, how, lastLines(out, 2))
			}
		}
		if strings.HasPrefix(c.Name, "race:") {
			if _, err := os.Lstat(filepath.Join(w.Target, "g")); err == nil {
				problem("%s (%s): the restore went on after the duplicate (g written)", c.Name, how)
			}
		}
		os.RemoveAll(w.Target)
	}
	repo := []string{"--repository", store}
	bin := func(args ...string) func() (string, error) {
		return func() (string, error) { return run(nil, args...) }
	}
	for round := 0; round < rounds; round++ {
		for i, c := range cases {
			if strings.Contains(c.Name, "device") && os.Geteuid() != 0 {
				continue // mknod fails first without root
			}
			snap := snaps[i].String()
			for _, archive := range []string{"uni.pxar", "spl.pxar"} {
				one(c, "restore "+archive, bin(append([]string{"restore", snap, archive, w.Target}, repo...)...))
				one(c, "restore "+archive+" --overwrite", bin(append([]string{"restore", snap, archive, w.Target, "--overwrite", "--allow-existing-dirs"}, repo...)...))
			}
			one(c, "restore --pattern", bin(append([]string{"restore", snap, "spl.pxar", w.Target, "--pattern", "**", "--overwrite"}, repo...)...))
			one(c, "pxar extract", bin("pxar", "extract", files[i], w.Target))
			one(c, "pxar extract --overwrite", bin("pxar", "extract", files[i], w.Target, "--overwrite", "--allow-existing-dirs"))
			one(c, "catalog shell restore", func() (string, error) {
				cmd := cairnCmd(context.Background(), nil, append([]string{"catalog", "shell", snap, "spl.pxar"}, repo...)...)
				cmd.Stdin = strings.NewReader("restore " + w.Target + "\n")
				out, err := cmd.CombinedOutput()
				if err == nil && strings.Contains(string(out), "Error") {
					err = fmt.Errorf("shell: %s", lastLines(string(out), 1))
				}
				return string(out), err
			})
			one(c, "accessor", func() (string, error) {
				err := accessorRestore(store, snaps[i], "uni.pxar", w.Target)
				if err != nil {
					return err.Error(), err
				}
				return "", nil
			})
		}
	}
	for r := 0; r < raceRuns; r++ {
		one(race, "race: restore spl.pxar --overwrite", bin(append([]string{"restore", raceSnap.String(), "spl.pxar", w.Target, "--overwrite"}, repo...)...))
	}

	outcome := fmt.Sprintf("%d files outside the target touched in %d crafted restores; %d/%d attacks refused with exit != 0; duplicate named in %d/%d; %d hangs",
		touched, restores, refusals, mustRefuse, dupNamed, dups, hangs)
	if len(problems) > 0 || touched > 0 || hangs > 0 {
		outcome = "FAIL: " + outcome + "; " + strings.Join(problems, "; ")
	} else {
		outcome = "PASS: " + outcome
	}
	report(t, "hostile archives: crafted restores", restores,
		fmt.Sprintf("%d crafted pxar archives (chmod race: %d MiB background file then a symlink of its name, run %d times; hardlinks through archive-made symlinks; directory through a symlink; .., slashes, absolute and ../ hardlink targets; duplicate names over device nodes, fifos, directories) restored by cairn restore (unified, split, --overwrite, --pattern), pxar extract, catalog shell and the accessor, as root, into a target beside a victim directory",
			len(cases)+1, len(race.Payload)>>20, raceRuns),
		"everything beside the target unchanged after each restore (mode, owner, links, size, mtime, sha256), attacks refused with exit != 0, duplicates named, nothing written after the duplicate", outcome)
}

// accessorRestore restores archive of snap from the local datastore store
// into target through the random-access accessor, as the catalog shell
// and the TUI do.
func accessorRestore(store string, snap core.Snapshot, archive, target string) error {
	ctx := context.Background()
	ds, err := datastore.Open(store, "root@pam")
	if err != nil {
		return err
	}
	defer ds.Close()
	s, err := snapshot.Open(ctx, ds, "", snap)
	if err != nil {
		return err
	}
	defer s.Close()
	a, err := s.FindPxar(archive)
	if err != nil {
		return err
	}
	acc, release, err := s.PxarAccessor(ctx, a)
	if err != nil {
		return err
	}
	defer release()
	return acc.ExtractFrom(acc.Root(), target, pxar.ExtractOptions{Overwrite: true, AllowExistingDirs: true, OnWarning: func(string) {}})
}

// changedPaths counts the paths a pxartest.Diff names.
func changedPaths(diff string) int {
	paths := map[string]bool{}
	for l := range strings.SplitSeq(diff, "\n") {
		if f := strings.Fields(l); len(f) >= 2 {
			paths[f[1]] = true
		}
	}
	return len(paths)
}
