package pxar

import (
	"encoding/hex"
	"fmt"
	"hash/fnv"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"golang.org/x/sys/unix"
)

// checkTreeAgainstListing compares an extracted tree with a fixture listing.
func checkTreeAgainstListing(t *testing.T, dir string, want []map[string]any) {
	t.Helper()
	num := func(m map[string]any, k string) int64 { v, _ := m[k].(float64); return int64(v) }
	for _, m := range want {
		p := filepath.Join(dir, strings.TrimPrefix(m["path"].(string), "/"))
		var st unix.Stat_t
		if err := unix.Lstat(p, &st); err != nil {
			t.Errorf("%s: %v", m["path"], err)
			continue
		}
		kind := m["kind"].(string)
		if kind == "hardlink" {
			var tst unix.Stat_t
			if err := unix.Lstat(filepath.Join(dir, m["target"].(string)), &tst); err != nil || tst.Ino != st.Ino {
				t.Errorf("%s: not a hardlink of %s", m["path"], m["target"])
			}
			continue
		}
		if got := fmt.Sprintf("%o", st.Mode); got != m["mode"] {
			t.Errorf("%s: mode %s, want %s", m["path"], got, m["mode"])
		}
		if int64(st.Uid) != num(m, "uid") || int64(st.Gid) != num(m, "gid") {
			t.Errorf("%s: owner %d:%d, want %v:%v", m["path"], st.Uid, st.Gid, m["uid"], m["gid"])
		}
		if st.Mtim.Sec != num(m, "mtime") || st.Mtim.Nsec != num(m, "mtime_nsec") {
			t.Errorf("%s: mtime %d.%09d, want %v.%v", m["path"], st.Mtim.Sec, st.Mtim.Nsec, m["mtime"], m["mtime_nsec"])
		}
		switch kind {
		case "file":
			f, err := os.Open(p)
			if err != nil {
				t.Fatal(err)
			}
			h := fnv.New64a()
			n, _ := io.Copy(h, f)
			f.Close()
			if n != num(m, "size") || fmt.Sprintf("%016x", h.Sum64()) != m["fnv1a64"] {
				t.Errorf("%s: content differs", m["path"])
			}
		case "symlink":
			if got, _ := os.Readlink(p); got != m["target"] {
				t.Errorf("%s: target %q, want %q", m["path"], got, m["target"])
			}
		case "device":
			if unix.Major(st.Rdev) != uint32(num(m, "major")) || unix.Minor(st.Rdev) != uint32(num(m, "minor")) {
				t.Errorf("%s: rdev %d,%d", m["path"], unix.Major(st.Rdev), unix.Minor(st.Rdev))
			}
		}
		if xs, ok := m["xattrs"].([]any); ok {
			for _, x := range xs {
				xm := x.(map[string]any)
				buf := make([]byte, 4096)
				n, err := unix.Lgetxattr(p, xm["name"].(string), buf)
				if err != nil || hex.EncodeToString(buf[:n]) != xm["value_hex"] {
					t.Errorf("%s: xattr %s: %v", m["path"], xm["name"], err)
				}
			}
		}
	}
}

func TestExtractFixtures(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("restoring owners and device nodes needs root")
	}
	for _, name := range fixtures {
		t.Run(name, func(t *testing.T) {
			f, err := os.Open(filepath.Join("testdata", name+".pxar"))
			if err != nil {
				t.Fatal(err)
			}
			defer f.Close()
			dest := filepath.Join(t.TempDir(), "out")
			var warnings []string
			if err := Extract(f, dest, ExtractOptions{OnWarning: func(s string) { warnings = append(warnings, s) }}); err != nil {
				t.Fatal(err)
			}
			if len(warnings) > 0 {
				t.Errorf("warnings: %q", warnings)
			}
			checkTreeAgainstListing(t, dest, readListing(t, name))
		})
	}
}
