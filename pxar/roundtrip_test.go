package pxar

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"cairn/internal/testutil"

	"golang.org/x/sys/unix"
)

// makeTree builds a tree with every entry kind and the metadata the format
// carries. Root-only parts (devices, foreign owners, ACLs) are skipped otherwise.
func makeTree(t testing.TB, dir string) {
	t.Helper()
	root := os.Geteuid() == 0
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	big := make([]byte, 300<<10)
	for i := range big {
		big[i] = byte(i * 7 % 251)
	}
	var deep []string
	for i := 0; i < 40; i++ {
		deep = append(deep, fmt.Sprintf("level%02d", i))
	}
	testutil.WriteTree(t, dir, testutil.Tree{
		"empty":                             testutil.File(""),
		"small.txt":                         testutil.File("hello\n"),
		"big.bin":                           testutil.File(big).Mode(0o640),
		"setuid":                            testutil.File("#!/bin/sh\n").Mode(0o755 | os.ModeSetuid),
		strings.Repeat("n", 255):            testutil.File("long name").Mode(0o600),
		"weird name \t\"'\\ üñï":            testutil.File("weird"),
		"emptydir":                          testutil.Dir(),
		"sticky":                            testutil.Dir().Mode(0o777 | os.ModeSticky),
		strings.Join(deep, "/"):             testutil.Dir(),
		strings.Join(deep, "/") + "/bottom": testutil.File("deep"),
		"link":                              testutil.Symlink("small.txt"),
		"longlink":                          testutil.Symlink(strings.Repeat("x/", 1000) + "end"),
		"hl/one":                            testutil.File("linked"),
		"hl/two":                            testutil.HardLink("hl/one"),
		"zz-three":                          testutil.HardLink("hl/one"),
		"fifo":                              testutil.Fifo().Mode(0o640),
	}, time.Time{})
	if l, err := net.Listen("unix", filepath.Join(dir, "sock")); err == nil {
		l.(*net.UnixListener).SetUnlinkOnClose(false)
		l.Close()
	}
	if err := unix.Setxattr(filepath.Join(dir, "small.txt"), "user.b", []byte("2"), 0); err == nil {
		must(unix.Setxattr(filepath.Join(dir, "small.txt"), "user.a", []byte{}, 0))
		must(unix.Setxattr(filepath.Join(dir, "emptydir"), "user.dir", []byte("d\x00d"), 0))
	}
	if root {
		must(unix.Mknod(filepath.Join(dir, "null"), unix.S_IFCHR|0o666, int(unix.Mkdev(1, 3))))
		must(unix.Mknod(filepath.Join(dir, "blk"), unix.S_IFBLK|0o600, int(unix.Mkdev(259, 1048575))))
		must(os.Lchown(filepath.Join(dir, "small.txt"), 1234, 5678))
		must(os.Lchown(filepath.Join(dir, "link"), 42, 43))
		must(os.Chmod(filepath.Join(dir, "setuid"), 0o4755))
		acl := func(entries ...[3]uint32) []byte {
			b := binary.LittleEndian.AppendUint32(nil, 2)
			for _, e := range entries {
				b = binary.LittleEndian.AppendUint16(b, uint16(e[0]))
				b = binary.LittleEndian.AppendUint16(b, uint16(e[1]))
				b = binary.LittleEndian.AppendUint32(b, e[2])
			}
			return b
		}
		u := uint32(0xffffffff)
		// An ACL failure means no ACL support here; the rest of the tree still counts.
		_ = unix.Setxattr(filepath.Join(dir, "big.bin"), xattrACLAccess,
			acl([3]uint32{1, 6, u}, [3]uint32{2, 4, 1000}, [3]uint32{4, 4, u}, [3]uint32{8, 5, 2000}, [3]uint32{16, 5, u}, [3]uint32{32, 0, u}), 0)
		_ = unix.Setxattr(filepath.Join(dir, "emptydir"), xattrACLDefault,
			acl([3]uint32{1, 7, u}, [3]uint32{2, 5, 1001}, [3]uint32{4, 5, u}, [3]uint32{16, 5, u}, [3]uint32{32, 0, u}), 0)
	}
	// Fixed times (with nanoseconds, one before 1970), deepest first so
	// creating children does not change them afterwards.
	var paths []string
	filepath.Walk(dir, func(p string, _ os.FileInfo, err error) error {
		paths = append(paths, p)
		return err
	})
	for i := len(paths) - 1; i >= 0; i-- {
		ts := []unix.Timespec{unix.NsecToTimespec(0), {Sec: 1600000000 + int64(i), Nsec: int64(i) * 1000003 % 1e9}}
		if strings.HasSuffix(paths[i], "empty") {
			ts[1] = unix.Timespec{Sec: -86401, Nsec: 5}
		}
		must(unix.UtimesNanoAt(unix.AT_FDCWD, paths[i], ts, unix.AT_SYMLINK_NOFOLLOW))
	}
}

func createBytes(t testing.TB, dir string, o CreateOptions) []byte {
	t.Helper()
	var buf bytes.Buffer
	if err := Create(&buf, dir, o); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// TestRoundtrip: create, extract, create again must give identical bytes,
// which covers every piece of metadata the archive holds.
func TestRoundtrip(t *testing.T) {
	src := filepath.Join(t.TempDir(), "src")
	must(t, os.Mkdir(src, 0o755))
	makeTree(t, src)
	a1 := createBytes(t, src, CreateOptions{})

	dest := filepath.Join(t.TempDir(), "dest")
	var warnings []string
	if err := Extract(bytes.NewReader(a1), dest, ExtractOptions{OnWarning: func(s string) { warnings = append(warnings, s) }}); err != nil {
		t.Fatal(err)
	}
	if os.Geteuid() == 0 && len(warnings) > 0 {
		t.Errorf("warnings: %q", warnings)
	}
	if os.Geteuid() != 0 {
		t.Skip("without root, owners and devices are not restored; byte comparison skipped")
	}
	a2 := createBytes(t, dest, CreateOptions{})
	if !bytes.Equal(a1, a2) {
		t.Fatalf("re-created archive differs (%d vs %d bytes)\nfirst:\n%s\nsecond:\n%s", len(a1), len(a2), listString(t, a1), listString(t, a2))
	}
	// The ACLs must have made it into the archive (if the file system supports them).
	var buf [64]byte
	if _, err := unix.Getxattr(filepath.Join(src, "big.bin"), xattrACLAccess, buf[:]); err == nil {
		if !strings.Contains(listString(t, a1), "-rw-r-x---+  0/0") {
			t.Errorf("ACL not shown in listing:\n%s", listString(t, a1))
		}
	}
	// Extracting again onto the same tree needs the flags.
	if err := Extract(bytes.NewReader(a1), dest, ExtractOptions{}); err == nil {
		t.Fatal("extracting over existing entries succeeded")
	}
	if err := Extract(bytes.NewReader(a1), dest, ExtractOptions{AllowExistingDirs: true, Overwrite: true}); err != nil {
		t.Fatalf("overwrite: %v", err)
	}
	if a3 := createBytes(t, dest, CreateOptions{}); !bytes.Equal(a1, a3) {
		t.Fatal("archive after overwrite differs")
	}
}

func must(t testing.TB, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

func listString(t testing.TB, a []byte) string {
	t.Helper()
	var out bytes.Buffer
	if err := List(bytes.NewReader(a), &out, true); err != nil {
		t.Fatal(err)
	}
	return out.String()
}

func TestListFormat(t *testing.T) {
	f, err := os.ReadFile(filepath.Join("testdata", "special.pxar"))
	must(t, err)
	var out bytes.Buffer
	must(t, List(bytes.NewReader(f), &out, false))
	lines := strings.Split(strings.TrimSuffix(out.String(), "\n"), "\n")
	if len(lines) != 32 || lines[0] != `"/"` || lines[len(lines)-1] != `"/zz-second-of-pair"` {
		t.Fatalf("unexpected listing: %q", lines)
	}
	if !strings.Contains(out.String(), `"/odd 'single' \"double\" back\\slash"`) || !strings.Contains(out.String(), `"/tab\tin-name"`) {
		t.Fatalf("quoting: %s", out.String())
	}
	tz := time.Local
	time.Local = time.UTC
	defer func() { time.Local = tz }()
	out.Reset()
	must(t, List(bytes.NewReader(f), &out, true))
	for _, want := range []string{
		`drwxr-xr-x   0/0           2017-07-14 01:40:00        0 "/"`,
		`-rwsr-xr-x   0/0           2017-07-14 03:00:00       22 "/setuid-bin"`,
		`drwxrwxrwt   0/0           2017-07-14 03:02:00        0 "/sticky-dir"`,
		`crw-------   0/0           2017-07-14 02:43:00 259,1048575 "/bigdev"`,
		`L---------   0/0           1970-01-01 00:00:00        0 "/hardlink-b" -> "hardlink-a"`,
		`-rw-r--r-- + 0/0`,
		`lrwxrwxrwx   0/0           2017-07-14 02:50:00        0 "/link-to-long" -> "LLL`,
		`prw-r-----   0/0`,
		`srwxr-xr-x   0/0`,
	} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("verbose listing lacks %q:\n%s", want, out.String())
		}
	}
}
