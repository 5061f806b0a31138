package pxar_test

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"

	"golang.org/x/sys/unix"

	"cairn/pxar"
	"cairn/pxar/pxartest"
)

// The extraction options of restore (issue 14) in every extraction path:
// sequential from a unified archive, sequential from a split archive with
// large files written in the background, and random access (the accessor,
// as the catalog shell and single-directory restores use it).

type extractPath struct {
	name string
	run  func(dest string, o pxar.ExtractOptions) error
	// bgRead counts what the background writer read (split path only).
	bgRead *atomic.Int64
}

type countingRA struct {
	r io.ReaderAt
	n *atomic.Int64
}

func (c countingRA) ReadAt(p []byte, off int64) (int, error) {
	k, err := c.r.ReadAt(p, off)
	c.n.Add(int64(k))
	return k, err
}

func extractPaths(t *testing.T, unified []byte) []extractPath {
	t.Helper()
	meta, payload := split(t, unified, pxartest.Options{})
	bg := &atomic.Int64{}
	return []extractPath{
		{name: "unified", run: func(dest string, o pxar.ExtractOptions) error {
			return pxar.Extract(bytes.NewReader(unified), dest, o)
		}},
		{name: "split", bgRead: bg, run: func(dest string, o pxar.ExtractOptions) error {
			o.BackgroundPayload = countingRA{bytes.NewReader(payload), bg}
			return pxar.ExtractSplit(bytes.NewReader(meta), bytes.NewReader(payload), dest, o)
		}},
		{name: "accessor", run: func(dest string, o pxar.ExtractOptions) error {
			a, err := pxar.NewAccessor(bytes.NewReader(meta), uint64(len(meta)))
			if err != nil {
				return err
			}
			a.SetPayload(bytes.NewReader(payload))
			return a.ExtractFrom(a.Root(), dest, o)
		}},
	}
}

func aclXattr(entries ...[3]uint32) []byte {
	b := binary.LittleEndian.AppendUint32(nil, 2)
	for _, e := range entries {
		b = binary.LittleEndian.AppendUint16(b, uint16(e[0]))
		b = binary.LittleEndian.AppendUint16(b, uint16(e[1]))
		b = binary.LittleEndian.AppendUint32(b, e[2])
	}
	return b
}

const (
	aclAccess  = "system.posix_acl_access"
	aclDefault = "system.posix_acl_default"
)

// metaTree has a file large enough for the background writer, a setuid
// file without ACL, a directory with a default ACL, a symlink; owners
// other than root where root can set them, user xattrs and ACLs where the
// file system takes them.
type metaTree struct {
	dir              string
	root, xattr, acl bool
}

func makeMetaTree(t *testing.T) metaTree {
	t.Helper()
	m := metaTree{dir: filepath.Join(t.TempDir(), "src"), root: os.Geteuid() == 0}
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	must(os.MkdirAll(filepath.Join(m.dir, "dir"), 0o755))
	big := make([]byte, 2<<20+5)
	for i := range big {
		big[i] = byte(i*13 + i>>9)
	}
	must(os.WriteFile(filepath.Join(m.dir, "big.bin"), big, 0o644))
	must(os.WriteFile(filepath.Join(m.dir, "plain"), []byte("#!/bin/sh\n"), 0o644))
	must(os.WriteFile(filepath.Join(m.dir, "dir/f"), []byte("f\n"), 0o644))
	must(os.Symlink("plain", filepath.Join(m.dir, "link")))
	if m.root {
		for _, p := range []string{"big.bin", "plain", "dir"} {
			must(os.Lchown(filepath.Join(m.dir, p), 1234, 5678))
		}
		must(os.Lchown(filepath.Join(m.dir, "link"), 42, 43))
	}
	must(os.Chmod(filepath.Join(m.dir, "big.bin"), 0o604))
	must(unix.Chmod(filepath.Join(m.dir, "plain"), 0o4751))
	must(os.Chmod(filepath.Join(m.dir, "dir"), 0o751))
	m.xattr = unix.Setxattr(filepath.Join(m.dir, "plain"), "user.x", []byte("plain"), 0) == nil
	if m.xattr {
		must(unix.Setxattr(filepath.Join(m.dir, "big.bin"), "user.x", []byte("big"), 0))
		must(unix.Setxattr(filepath.Join(m.dir, "dir"), "user.x", []byte("dir"), 0))
	}
	u := uint32(0xffffffff)
	// big.bin: user 1000 may write, mask r-x; dir: a default ACL.
	m.acl = unix.Setxattr(filepath.Join(m.dir, "big.bin"), aclAccess,
		aclXattr([3]uint32{1, 6, u}, [3]uint32{2, 6, 1000}, [3]uint32{4, 0, u}, [3]uint32{16, 6, u}, [3]uint32{32, 4, u}), 0) == nil
	if m.acl {
		must(unix.Setxattr(filepath.Join(m.dir, "dir"), aclDefault,
			aclXattr([3]uint32{1, 7, u}, [3]uint32{2, 5, 1001}, [3]uint32{4, 5, u}, [3]uint32{16, 5, u}, [3]uint32{32, 0, u}), 0))
	}
	return m
}

func hasXattr(p, name string) bool {
	_, err := unix.Lgetxattr(p, name, make([]byte, 4096))
	return err == nil
}

func currentUmask() uint32 {
	old := unix.Umask(0)
	unix.Umask(old)
	return uint32(old)
}

// checkMeta asserts what of the metadata is on disk: owners, permissions,
// xattrs and ACLs each restored (want) or left as created.
func (m metaTree) checkMeta(t *testing.T, dest string, owner, perms, xattrs, acls bool) {
	t.Helper()
	st := func(rel string) unix.Stat_t {
		t.Helper()
		var s unix.Stat_t
		if err := unix.Lstat(filepath.Join(dest, rel), &s); err != nil {
			t.Fatal(err)
		}
		return s
	}
	if m.root {
		for rel, want := range map[string][2]uint32{"big.bin": {1234, 5678}, "plain": {1234, 5678}, "dir": {1234, 5678}, "link": {42, 43}} {
			s := st(rel)
			if !owner {
				want = [2]uint32{0, 0}
			}
			if s.Uid != want[0] || s.Gid != want[1] {
				t.Errorf("%s: owner %d:%d, want %d:%d", rel, s.Uid, s.Gid, want[0], want[1])
			}
		}
	}
	umask := currentUmask()
	for rel, want := range map[string]uint32{"plain": 0o4751, "dir": 0o751} {
		if !perms {
			want = 0o600 &^ umask // as created
			if rel == "dir" {
				want = 0o700 &^ umask
			}
		}
		if got := st(rel).Mode & 0o7777; got != want {
			t.Errorf("%s: permissions %04o, want %04o", rel, got, want)
		}
	}
	if m.xattr {
		for _, rel := range []string{"big.bin", "plain", "dir"} {
			if got := hasXattr(filepath.Join(dest, rel), "user.x"); got != xattrs {
				t.Errorf("%s: xattr user.x present %v, want %v", rel, got, xattrs)
			}
		}
	}
	if m.acl {
		if got := hasXattr(filepath.Join(dest, "big.bin"), aclAccess); got != acls {
			t.Errorf("big.bin: access ACL present %v, want %v", got, acls)
		}
		if got := hasXattr(filepath.Join(dest, "dir"), aclDefault); got != acls {
			t.Errorf("dir: default ACL present %v, want %v", got, acls)
		}
	}
	if data, err := os.ReadFile(filepath.Join(dest, "big.bin")); err != nil || len(data) != 2<<20+5 {
		t.Errorf("big.bin: %d bytes, %v", len(data), err)
	}
}

func TestExtractIgnoreMetadata(t *testing.T) {
	m := makeMetaTree(t)
	unified := pxar.CreateBytes(t, m.dir, pxar.CreateOptions{})
	t.Logf("checked: owners %v (root), xattrs %v, ACLs %v (file system support)", m.root, m.xattr, m.acl)
	cases := []struct {
		name                       string
		o                          pxar.ExtractOptions
		owner, perms, xattrs, acls bool
	}{
		{"all", pxar.ExtractOptions{}, true, true, true, true},
		{"ignore-ownership", pxar.ExtractOptions{IgnoreOwnership: true}, false, true, true, true},
		{"ignore-permissions", pxar.ExtractOptions{IgnorePermissions: true}, true, false, true, true},
		{"ignore-xattrs", pxar.ExtractOptions{IgnoreXattrs: true}, true, true, false, true},
		{"ignore-acls", pxar.ExtractOptions{IgnoreACLs: true}, true, true, true, false},
		{"ignore-all", pxar.ExtractOptions{IgnoreOwnership: true, IgnorePermissions: true, IgnoreXattrs: true, IgnoreACLs: true}, false, false, false, false},
	}
	for _, p := range extractPaths(t, unified) {
		for _, c := range cases {
			t.Run(p.name+"/"+c.name, func(t *testing.T) {
				dest := filepath.Join(t.TempDir(), "out")
				o := c.o
				o.OnWarning = func(msg string) { t.Errorf("warning: %s", msg) }
				if err := p.run(dest, o); err != nil {
					t.Fatal(err)
				}
				m.checkMeta(t, dest, c.owner, c.perms, c.xattrs, c.acls)
			})
		}
		if p.bgRead != nil && p.bgRead.Load() == 0 {
			t.Errorf("%s: the background writer read nothing: big.bin did not take that path", p.name)
		}
	}
}

// overwriteTree: a file large enough for the background writer, a
// symlink, and a hardlink pair.
func overwriteArchive(t *testing.T) (unified, fileData []byte) {
	t.Helper()
	src := filepath.Join(t.TempDir(), "src")
	fileData = bytes.Repeat([]byte("new content "), 1<<17) // 1.5 MiB
	if err := os.MkdirAll(filepath.Join(src, "hl"), 0o755); err != nil {
		t.Fatal(err)
	}
	for _, err := range []error{
		os.WriteFile(filepath.Join(src, "f"), fileData, 0o644),
		os.Symlink("f", filepath.Join(src, "s")),
		os.WriteFile(filepath.Join(src, "hl/one"), []byte("one"), 0o644),
		os.Link(filepath.Join(src, "hl/one"), filepath.Join(src, "hl/two")),
	} {
		if err != nil {
			t.Fatal(err)
		}
	}
	return pxar.CreateBytes(t, src, pxar.CreateOptions{}), fileData
}

func writeOld(t *testing.T, p string) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(p, []byte("old"), 0o644); err != nil {
		t.Fatal(err)
	}
}

// Each --overwrite-* flag replaces existing entries only for archive
// entries of its kind; --overwrite replaces all three; without the flag
// the existing entry is an error and stays as it was.
func TestExtractOverwriteKinds(t *testing.T) {
	unified, fileData := overwriteArchive(t)
	type kind struct {
		name     string
		existing string // the path that is in the way
		flag     func(*pxar.ExtractOptions)
		others   func(*pxar.ExtractOptions)
		check    func(t *testing.T, dest string)
	}
	kinds := []kind{
		{"files", "f",
			func(o *pxar.ExtractOptions) { o.OverwriteFiles = true },
			func(o *pxar.ExtractOptions) { o.OverwriteSymlinks, o.OverwriteHardlinks = true, true },
			func(t *testing.T, dest string) {
				if got, _ := os.ReadFile(filepath.Join(dest, "f")); !bytes.Equal(got, fileData) {
					t.Errorf("f: %d bytes, not the archive's file", len(got))
				}
			}},
		{"symlinks", "s",
			func(o *pxar.ExtractOptions) { o.OverwriteSymlinks = true },
			func(o *pxar.ExtractOptions) { o.OverwriteFiles, o.OverwriteHardlinks = true, true },
			func(t *testing.T, dest string) {
				if got, err := os.Readlink(filepath.Join(dest, "s")); err != nil || got != "f" {
					t.Errorf("s: %q %v, not the archive's symlink", got, err)
				}
			}},
		{"hardlinks", "hl/two",
			func(o *pxar.ExtractOptions) { o.OverwriteHardlinks = true },
			func(o *pxar.ExtractOptions) { o.OverwriteFiles, o.OverwriteSymlinks = true, true },
			func(t *testing.T, dest string) {
				var a, b unix.Stat_t
				if unix.Lstat(filepath.Join(dest, "hl/one"), &a) != nil || unix.Lstat(filepath.Join(dest, "hl/two"), &b) != nil || a.Ino != b.Ino {
					t.Error("hl/two is not a hardlink of hl/one")
				}
			}},
	}
	for _, p := range extractPaths(t, unified) {
		for _, k := range kinds {
			for _, fs := range []struct {
				name string
				set  func(*pxar.ExtractOptions)
				ok   bool
			}{
				{"none", func(*pxar.ExtractOptions) {}, false},
				{"other-kinds", k.others, false},
				{"own-flag", k.flag, true},
				{"overwrite", func(o *pxar.ExtractOptions) { o.Overwrite = true }, true},
			} {
				t.Run(p.name+"/"+k.name+"/"+fs.name, func(t *testing.T) {
					dest := filepath.Join(t.TempDir(), "out")
					writeOld(t, filepath.Join(dest, k.existing))
					o := pxar.ExtractOptions{AllowExistingDirs: true}
					fs.set(&o)
					err := p.run(dest, o)
					if !fs.ok {
						if err == nil || !errors.Is(err, os.ErrExist) {
							t.Fatalf("existing %s: err %v, want file exists", k.existing, err)
						}
						if got, _ := os.ReadFile(filepath.Join(dest, k.existing)); string(got) != "old" {
							t.Fatalf("refused %s was changed: %q", k.existing, got)
						}
						return
					}
					if err != nil {
						t.Fatal(err)
					}
					k.check(t, dest)
				})
			}
		}
		// All three in the way at once: --overwrite replaces them all.
		t.Run(p.name+"/all-kinds", func(t *testing.T) {
			dest := filepath.Join(t.TempDir(), "out")
			for _, k := range kinds {
				writeOld(t, filepath.Join(dest, k.existing))
			}
			if err := p.run(dest, pxar.ExtractOptions{AllowExistingDirs: true, Overwrite: true}); err != nil {
				t.Fatal(err)
			}
			for _, k := range kinds {
				k.check(t, dest)
			}
		})
		// A directory is never replaced.
		t.Run(p.name+"/directory", func(t *testing.T) {
			dest := filepath.Join(t.TempDir(), "out")
			writeOld(t, filepath.Join(dest, "f", "inside"))
			if err := p.run(dest, pxar.ExtractOptions{AllowExistingDirs: true, Overwrite: true}); err == nil {
				t.Fatal("a file entry replaced a directory")
			}
			if got, _ := os.ReadFile(filepath.Join(dest, "f", "inside")); string(got) != "old" {
				t.Fatal("the directory in the way was touched")
			}
		})
	}
}

// deviceArchive holds a character device between two files (root only).
func deviceArchive(t *testing.T) []byte {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("creating a device node for the archive needs root")
	}
	src := filepath.Join(t.TempDir(), "src")
	if err := os.MkdirAll(src, 0o755); err != nil {
		t.Fatal(err)
	}
	writeOld(t, filepath.Join(src, "a-before"))
	writeOld(t, filepath.Join(src, "z-after"))
	if err := unix.Mknod(filepath.Join(src, "null"), unix.S_IFCHR|0o666, int(unix.Mkdev(1, 3))); err != nil {
		t.Skipf("mknod: %v", err)
	}
	return pxar.CreateBytes(t, src, pxar.CreateOptions{})
}

// A device node that cannot be created (here: something is in its place)
// fails the extraction, unless IgnoreDeviceErrors makes it a warning.
func TestExtractIgnoreDeviceErrorsExisting(t *testing.T) {
	unified := deviceArchive(t)
	for _, p := range extractPaths(t, unified) {
		for _, ignore := range []bool{false, true} {
			t.Run(fmt.Sprintf("%s/ignore=%v", p.name, ignore), func(t *testing.T) {
				dest := filepath.Join(t.TempDir(), "out")
				if err := os.MkdirAll(dest, 0o755); err != nil {
					t.Fatal(err)
				}
				if err := os.Symlink("in-the-way", filepath.Join(dest, "null")); err != nil {
					t.Fatal(err)
				}
				var warnings []string
				err := p.run(dest, pxar.ExtractOptions{AllowExistingDirs: true, IgnoreDeviceErrors: ignore,
					OnWarning: func(m string) { warnings = append(warnings, m) }})
				if !ignore {
					if err == nil || !strings.Contains(err.Error(), "null") {
						t.Fatalf("err %v, want an error about null", err)
					}
					return
				}
				if err != nil {
					t.Fatal(err)
				}
				if len(warnings) != 1 || !strings.Contains(warnings[0], "null") {
					t.Fatalf("warnings %q", warnings)
				}
				if _, err := os.Stat(filepath.Join(dest, "z-after")); err != nil {
					t.Fatal("extraction stopped at the device node")
				}
				if l, _ := os.Readlink(filepath.Join(dest, "null")); l != "in-the-way" {
					t.Fatal("the entry in the way was changed")
				}
			})
		}
	}
}

// As a user without the right to make device nodes (mknod: EPERM), the
// extraction fails, or with IgnoreDeviceErrors goes on without them.
// Runs this test binary again as nobody.
func TestExtractIgnoreDeviceErrorsEPERM(t *testing.T) {
	if os.Getenv("CAIRN_PXAR_DEVICE_CHILD") != "" {
		deviceChild()
		return
	}
	unified := deviceArchive(t)
	// A directory nobody can use: the test binary, the archive, the targets.
	base := "/tmp"
	if st, err := os.Stat("/dev/shm"); err == nil && st.IsDir() {
		base = "/dev/shm"
	}
	dir, err := os.MkdirTemp(base, "cairn-devtest-")
	if err != nil {
		t.Fatal(err)
	}
	defer os.RemoveAll(dir)
	if err := os.Chmod(dir, 0o777); err != nil {
		t.Fatal(err)
	}
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	exe := filepath.Join(dir, "pxar.test")
	data, err := os.ReadFile(self)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(exe, data, 0o755); err != nil {
		t.Fatal(err)
	}
	archive := filepath.Join(dir, "dev.pxar")
	if err := os.WriteFile(archive, unified, 0o644); err != nil {
		t.Fatal(err)
	}
	for _, mode := range []string{"unified", "split", "accessor"} {
		for _, ignore := range []bool{false, true} {
			t.Run(fmt.Sprintf("%s/ignore=%v", mode, ignore), func(t *testing.T) {
				dest := filepath.Join(dir, fmt.Sprintf("out-%s-%v", mode, ignore))
				cmd := exec.Command(exe, "-test.run=^TestExtractIgnoreDeviceErrorsEPERM$")
				cmd.Env = append(os.Environ(), "CAIRN_PXAR_DEVICE_CHILD=1", "CHILD_ARCHIVE="+archive, "CHILD_DEST="+dest,
					"CHILD_MODE="+mode, fmt.Sprintf("CHILD_IGNORE=%v", ignore))
				cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: 65534, Gid: 65534}}
				out, err := cmd.CombinedOutput()
				res := string(out)
				if !strings.Contains(res, "CHILD-RESULT:") {
					t.Fatalf("child did not run: %v\n%s", err, res)
				}
				if !ignore {
					if !strings.Contains(res, "CHILD-RESULT: error") || !strings.Contains(res, "operation not permitted") {
						t.Fatalf("want an EPERM error:\n%s", res)
					}
					return
				}
				if !strings.Contains(res, "CHILD-RESULT: ok") || !strings.Contains(res, "CHILD-WARNING:") {
					t.Fatalf("want success with a warning:\n%s", res)
				}
				if _, err := os.Lstat(filepath.Join(dest, "null")); err == nil {
					t.Fatal("a device node appeared")
				}
				for _, f := range []string{"a-before", "z-after"} {
					if got, _ := os.ReadFile(filepath.Join(dest, f)); string(got) != "old" {
						t.Fatalf("%s not extracted", f)
					}
				}
			})
		}
	}
}

// deviceChild is the unprivileged side of TestExtractIgnoreDeviceErrorsEPERM.
func deviceChild() {
	unified, err := os.ReadFile(os.Getenv("CHILD_ARCHIVE"))
	if err != nil {
		fmt.Println("CHILD-RESULT: setup", err)
		return
	}
	if os.Geteuid() == 0 {
		fmt.Println("CHILD-RESULT: setup still root")
		return
	}
	meta, payload, err := pxartest.Split(unified, pxartest.Options{})
	if err != nil {
		fmt.Println("CHILD-RESULT: setup", err)
		return
	}
	o := pxar.ExtractOptions{IgnoreDeviceErrors: os.Getenv("CHILD_IGNORE") == "true",
		OnWarning: func(m string) { fmt.Println("CHILD-WARNING:", m) }}
	dest := os.Getenv("CHILD_DEST")
	switch os.Getenv("CHILD_MODE") {
	case "unified":
		err = pxar.Extract(bytes.NewReader(unified), dest, o)
	case "split":
		o.BackgroundPayload = bytes.NewReader(payload)
		err = pxar.ExtractSplit(bytes.NewReader(meta), bytes.NewReader(payload), dest, o)
	case "accessor":
		var a *pxar.Accessor
		if a, err = pxar.NewAccessor(bytes.NewReader(meta), uint64(len(meta))); err == nil {
			a.SetPayload(bytes.NewReader(payload))
			err = a.ExtractFrom(a.Root(), dest, o)
		}
	}
	if err != nil {
		fmt.Println("CHILD-RESULT: error", err)
		return
	}
	fmt.Println("CHILD-RESULT: ok")
}
