package testutil

import (
	"fmt"
	"math/rand"
	"strings"
)

// SynthNode is one entry of a synthetic directory tree.
type SynthNode struct {
	Name string
	Dir  bool
	Kids []*SynthNode
}

// SynthUsr builds a tree of n entries (below the returned root) shaped like
// /usr, for the find benchmarks: a few big top directories, package
// directories below them, paths 1–13 components deep (most 4–7), names
// from a vocabulary of library, locale, python, kernel-header and
// documentation names with their extensions. The same n gives the same
// tree.
func SynthUsr(n int) *SynthNode {
	r := rand.New(rand.NewSource(17))
	words := strings.Fields(`lib share include bin src doc man locale python3 dist-packages site-packages
		x86_64-linux-gnu perl5 gems node_modules icons hicolor scalable apps mime packages
		linux-headers arch drivers net firmware sound gpu drm amd intel nvidia media usb
		kernel fs ext4 btrfs xfs crypto block scsi ata input hid video tty serial pci acpi
		gtk glib gio gdk pango cairo harfbuzz freetype fontconfig pixman x11 xcb wayland
		systemd dbus polkit udev pam ssl openssl gnutls nettle gmp mpfr zlib bz2 lzma zstd
		boost qt5 qt6 kf5 plasma gnome mate xfce vim emacs nano git perl ruby node go rust
		cmake pkgconfig aclocal autoconf automake libtool gcc clang llvm binutils gdb
		numpy scipy pandas requests urllib3 certifi idna chardet setuptools pip wheel six
		yaml json xml html css javascript typescript sql sqlite postgres mysql redis
		LC_MESSAGES de fr es it ja zh_CN pt_BR ru pl nl sv cs tr ko uk fi da nb hu`)
	exts := []string{"", "", "", ".so", ".so.1", ".so.6.0.30", ".a", ".h", ".hpp", ".c", ".py", ".pyc", ".mo",
		".gz", ".1.gz", ".8.gz", ".png", ".svg", ".xml", ".json", ".js", ".pm", ".rb", ".txt", ".conf", ".cmake", ".pc"}
	fixed := []string{"__init__.py", "Makefile", "Kconfig", "README", "README.md", "copyright", "changelog.Debian.gz",
		"index.js", "package.json", "LICENSE", "NEWS.gz", "__pycache__", "setup.py", "CMakeLists.txt"}
	name := func() string {
		if r.Intn(7) == 0 {
			return fixed[r.Intn(len(fixed))]
		}
		w := words[r.Intn(len(words))]
		switch r.Intn(4) {
		case 0:
			w = "lib" + w
		case 1:
			w += []string{"-", "_", "."}[r.Intn(3)] + words[r.Intn(len(words))]
		case 2:
			w += fmt.Sprint(r.Intn(40))
		}
		return w + exts[r.Intn(len(exts))]
	}
	root := &SynthNode{Dir: true}
	count := 0
	// Directories fan out less the deeper they are; files gather in
	// every directory, as in /usr/share/locale/*/LC_MESSAGES.
	var grow func(d *SynthNode, depth int)
	grow = func(d *SynthNode, depth int) {
		seen := map[string]bool{}
		for _, k := range d.Kids {
			seen[k.Name] = true
		}
		dirs := 0
		switch {
		case depth < 2:
			dirs = 6 + r.Intn(6)
		case depth < 5:
			dirs = r.Intn(max(7-depth, 2))
		case depth < 12:
			dirs = r.Intn(2)
		}
		files := r.Intn(24 + 2*depth)
		for i := 0; i < dirs+files && count < n; i++ {
			nm := name()
			if seen[nm] {
				continue
			}
			seen[nm] = true
			k := &SynthNode{Name: nm, Dir: i < dirs}
			d.Kids = append(d.Kids, k)
			count++
			if k.Dir {
				grow(k, depth+1)
			}
		}
	}
	for count < n {
		grow(root, 0)
	}
	return root
}
