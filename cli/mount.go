package cli

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/hanwen/go-fuse/v2/fs"
	"github.com/spf13/cobra"

	"cairn/core/manifest"
	"cairn/mount"
)

// mapStateDir holds one directory per mapped image (its FUSE mount point).
var mapStateDir = "/run/cairn/map"

type mountFlags struct {
	rf         repoFlags
	cf         cryptFlags
	foreground bool
	debug      bool
}

func (m *mountFlags) add(cmd *cobra.Command) {
	m.rf.add(cmd, true)
	m.cf.add(cmd, false)
	cmd.Flags().BoolVar(&m.foreground, "foreground", false, "stay in the foreground until unmounted (default: daemonize once mounted)")
	cmd.Flags().BoolVar(&m.foreground, "verbose", false, "same as --foreground (upstream's name)")
	cmd.Flags().BoolVar(&m.debug, "fuse-debug", false, "log FUSE requests (with --foreground)")
	cmd.Flags().MarkHidden("fuse-debug")
}

// serveFS opens the snapshot, builds the file system with mk, mounts it
// at dir and serves until unmounted or signalled (mount.Mount.Run), in the
// background unless --foreground. after runs once mounted and returns the
// message to print (e.g. the loop device).
func (m *mountFlags) serveFS(cmd *cobra.Command, snapArg, dir string,
	mk func(ctx context.Context, o *openedSnapshot) (fs.InodeEmbedder, func(), error),
	after func() (string, error)) error {
	if !m.foreground && !mount.IsChild() {
		return mount.Background(stdout)
	}
	var o *openedSnapshot
	defer func() {
		if o != nil {
			o.Close()
		}
	}()
	return mount.Mount{Dir: dir, Debug: m.debug, After: after,
		Open: func(ctx context.Context) (fs.InodeEmbedder, string, func(), error) {
			var err error
			if o, err = openSnapshotForRead(ctx, &m.rf, &m.cf, snapArg); err != nil {
				return nil, "", nil, err
			}
			root, release, err := mk(ctx, o)
			if err != nil {
				return nil, "", nil, err
			}
			return root, "cairn:" + o.snap.Reader.Snapshot().String(), release, nil
		},
	}.Run(cmd.Context(), stdout)
}

func newMountCmd() *cobra.Command {
	var m mountFlags
	cmd := &cobra.Command{
		Use:   "mount SNAPSHOT ARCHIVE MOUNTPOINT",
		Short: "Mount a pxar archive of a snapshot as a read-only FUSE file system",
		Long: `Mount a .pxar archive read-only at MOUNTPOINT. Files are read on demand:
only the chunks that are accessed are fetched and verified. A split archive
(NAME.mpxar + NAME.ppxar) is mounted under its NAME.pxar name too.

The command returns once the file system is mounted and keeps serving it in
the background; with --foreground it stays attached. Unmount with
'cairn umount MOUNTPOINT' (or fusermount3 -u / umount).`,
		Args: exactArgs(3, "SNAPSHOT ARCHIVE MOUNTPOINT"),
		RunE: func(cmd *cobra.Command, args []string) error {
			name := manifest.ArchiveName(args[1])
			switch {
			case name.IsImage():
				return usageError{errors.New("use the 'map' command to map drive images")}
			case !name.IsPxar():
				//lint:ignore ST1005 upstream's exact words
				return usageError{errors.New("Can only mount/map pxar archives and drive images.")}
			}
			if st, err := os.Stat(args[2]); err != nil || !st.IsDir() {
				return fmt.Errorf("mount point %s is not a directory", args[2])
			}
			return m.serveFS(cmd, args[0], args[2], func(ctx context.Context, o *openedSnapshot) (fs.InodeEmbedder, func(), error) {
				// A split archive (NAME.mpxar + NAME.ppxar) serves file data
				// from its payload stream.
				a, err := o.snap.FindPxar(args[1])
				if err != nil {
					return nil, nil, err
				}
				acc, closeAcc, err := o.snap.PxarAccessor(ctx, a)
				if err != nil {
					return nil, nil, err
				}
				return mount.NewPxarRoot(acc), func() { closeAcc() }, nil
			}, nil)
		},
	}
	m.add(cmd)
	return cmd
}

func newUmountCmd() *cobra.Command {
	return &cobra.Command{
		Use:     "umount MOUNTPOINT",
		Aliases: []string{"unmount"},
		Short:   "Unmount an archive mounted with 'cairn mount'",
		Args:    exactArgs(1, "MOUNTPOINT"),
		RunE: func(cmd *cobra.Command, args []string) error {
			return mount.Unmount(args[0])
		},
	}
}

// systemdEscape escapes a string like systemd-escape (without --path).
func systemdEscape(s string) string {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c == '/':
			b.WriteByte('-')
		case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9', c == ':', c == '_', c == '.' && i > 0:
			b.WriteByte(c)
		default:
			fmt.Fprintf(&b, `\x%02x`, c)
		}
	}
	return b.String()
}

func newMapCmd() *cobra.Command {
	var m mountFlags
	cmd := &cobra.Command{
		Use:   "map SNAPSHOT ARCHIVE [MOUNTPOINT]",
		Short: "Expose a drive image (.img) of a snapshot read-only",
		Long: `Expose an .img archive as a read-only file through FUSE. With MOUNTPOINT the
image appears as MOUNTPOINT/<archive>; without, it is also attached to a free
loop device ("Image '<name>' mapped on /dev/loopN"). Undo with 'cairn unmap'.`,
		Args: rangeArgs(2, 3, "SNAPSHOT ARCHIVE [MOUNTPOINT]"),
		RunE: func(cmd *cobra.Command, args []string) error {
			name := manifest.ArchiveName(args[1])
			switch {
			case name.IsPxar():
				return usageError{errors.New("use the 'mount' command to mount pxar archives")}
			case !name.IsImage():
				//lint:ignore ST1005 upstream's exact words
				return usageError{errors.New("Can only mount/map pxar archives and drive images.")}
			}
			file := name.Plain()
			var dir string
			var after func() (string, error)
			if len(args) == 3 {
				dir = args[2]
				if st, err := os.Stat(dir); err != nil || !st.IsDir() {
					return fmt.Errorf("mount point %s is not a directory", dir)
				}
			} else {
				mapName := systemdEscape(m.rf.value() + ":" + args[0] + "/" + file)
				dir = filepath.Join(mapStateDir, mapName)
				if m.foreground || mount.IsChild() {
					if err := os.MkdirAll(dir, 0o700); err != nil {
						return err
					}
				}
				after = func() (string, error) {
					dev, err := mount.AttachLoop(filepath.Join(dir, file))
					if err != nil {
						return "", err
					}
					return fmt.Sprintf("Image '%s' mapped on %s", mapName, dev), nil
				}
			}
			return m.serveFS(cmd, args[0], dir, func(ctx context.Context, o *openedSnapshot) (fs.InodeEmbedder, func(), error) {
				ra, err := o.snap.ReaderAt(ctx, name.FileName())
				if err != nil {
					return nil, nil, err
				}
				mt := time.Unix(o.snap.Reader.Snapshot().Time, 0)
				return mount.NewImageRoot(file, ra, mt), func() { ra.Close() }, nil
			}, after)
		},
	}
	m.add(cmd)
	return cmd
}

func newUnmapCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "unmap [NAME|/dev/loopN|N|MOUNTPOINT]",
		Short: "Remove a mapping made with 'cairn map' (no argument: list mappings)",
		Args:  rangeArgs(0, 1, "[NAME]"),
		RunE: func(cmd *cobra.Command, args []string) error {
			maps := mount.Mappings(mapStateDir)
			if len(args) == 0 {
				any := false
				for _, mp := range maps {
					if mp.Loop == "" {
						// Stale: nothing attached any more.
						mount.Unmount(mp.Dir)
						os.Remove(mp.Dir)
						continue
					}
					fmt.Fprintf(stdout, "%s:\t%s\n", mp.Loop, mp.Name)
					any = true
				}
				if !any {
					fmt.Fprintln(stdout, "Nothing mapped.")
				}
				return nil
			}
			arg := args[0]
			if _, err := fmt.Sscanf(arg, "%d", new(int)); err == nil && !strings.ContainsAny(arg, "/") {
				arg = "/dev/loop" + arg
			}
			for _, mp := range maps {
				if mp.Name == arg || (mp.Loop != "" && mp.Loop == arg) {
					if err := mp.Unmap(); err != nil {
						return err
					}
					os.Remove(mp.Dir)
					fmt.Fprintln(stdout, "Image unmapped")
					return nil
				}
			}
			if st, err := os.Stat(arg); err == nil && st.IsDir() {
				if err := mount.Unmount(arg); err != nil {
					return err
				}
				fmt.Fprintln(stdout, "Image unmapped")
				return nil
			}
			return fmt.Errorf("no mapping %q", args[0])
		},
	}
}
