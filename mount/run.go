package mount

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"os/signal"
	"strings"
	"syscall"

	"github.com/hanwen/go-fuse/v2/fs"
)

// notifyEnv marks the re-executed foreground child of Background; its
// value is the file descriptor to report readiness on.
const notifyEnv = "CAIRN_MOUNT_NOTIFY"

// IsChild reports that this process is the foreground child Background
// started, which must serve (Run) rather than daemonize again.
func IsChild() bool { return os.Getenv(notifyEnv) != "" }

// Background re-executes the command (os.Args with --foreground) in a new
// session and waits until the child reports that the file system is
// mounted, or why it failed. The child's message (Mount.After's) is
// printed to stdout.
func Background(stdout io.Writer) error {
	exe, err := os.Executable()
	if err != nil {
		return err
	}
	r, w, err := os.Pipe()
	if err != nil {
		return err
	}
	defer r.Close()
	null, err := os.OpenFile(os.DevNull, os.O_RDWR, 0)
	if err != nil {
		return err
	}
	defer null.Close()
	c := exec.Command(exe, append(os.Args[1:], "--foreground")...)
	c.Env = append(os.Environ(), notifyEnv+"=3")
	c.Stdin, c.Stdout, c.Stderr = null, null, null
	c.ExtraFiles = []*os.File{w}
	c.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
	if err := c.Start(); err != nil {
		w.Close()
		return err
	}
	w.Close()
	line, _ := bufio.NewReader(r).ReadString('\n')
	line = strings.TrimRight(line, "\n")
	if msg, ok := strings.CutPrefix(line, "OK"); ok {
		c.Process.Release()
		if msg = strings.TrimSpace(msg); msg != "" {
			fmt.Fprintln(stdout, msg)
		}
		return nil
	}
	c.Wait()
	if msg, ok := strings.CutPrefix(line, "ERR "); ok {
		return errors.New(msg)
	}
	return errors.New("the mount process ended before the file system was mounted")
}

// notifier reports the outcome of the mount to a waiting parent, if any.
type notifier struct{ f *os.File }

func newNotifier() *notifier {
	v := os.Getenv(notifyEnv)
	if v == "" {
		return &notifier{}
	}
	os.Unsetenv(notifyEnv)
	var fd int
	if _, err := fmt.Sscanf(v, "%d", &fd); err != nil {
		return &notifier{}
	}
	return &notifier{f: os.NewFile(uintptr(fd), "notify")}
}

func (n *notifier) done(err error, msg string) {
	if n.f == nil {
		return
	}
	if err != nil {
		fmt.Fprintf(n.f, "ERR %s\n", strings.ReplaceAll(err.Error(), "\n", " "))
	} else {
		fmt.Fprintf(n.f, "OK %s\n", msg)
	}
	n.f.Close()
	n.f = nil
}

// Mount is one file system a command serves at Dir.
type Mount struct {
	Dir   string
	Debug bool // log FUSE requests
	// Open builds the file system once signals are caught: its root, the
	// name shown as the mount's source (Options.FsName) and a release
	// function run after the unmount.
	Open func(ctx context.Context) (root fs.InodeEmbedder, fsName string, release func(), err error)
	// After, if set, runs once mounted and returns the message to print
	// (e.g. the loop device); an error unmounts again.
	After func() (string, error)
}

// Run serves m in this process until it is unmounted or the process gets
// SIGTERM, SIGINT or SIGHUP (then it unmounts). Signals are caught from
// the start, so one arriving while mounting cannot leave a stale mount
// behind. A parent waiting in Background learns that the file system is
// mounted, or why not; without one, After's message goes to stdout.
func (m Mount) Run(ctx context.Context, stdout io.Writer) error {
	n := newNotifier()
	err := m.run(ctx, n, stdout)
	n.done(err, "")
	return err
}

func (m Mount) run(ctx context.Context, n *notifier, stdout io.Writer) error {
	sigs := make(chan os.Signal, 1)
	signal.Notify(sigs, syscall.SIGTERM, os.Interrupt, syscall.SIGHUP)
	defer signal.Stop(sigs)
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	root, fsName, release, err := m.Open(ctx)
	if err != nil {
		return err
	}
	defer release()
	srv, err := Serve(m.Dir, root, Options{FsName: fsName, Debug: m.Debug})
	if err != nil {
		return fmt.Errorf("mount %s: %w", m.Dir, err)
	}
	if err := srv.WaitMount(); err != nil {
		srv.Unmount()
		return err
	}
	msg := ""
	if m.After != nil {
		if msg, err = m.After(); err != nil {
			srv.Unmount()
			srv.Wait()
			return err
		}
	}
	go func() {
		for range sigs {
			if err := srv.Unmount(); err != nil {
				Unmount(m.Dir)
			}
		}
	}()
	if msg != "" && n.f == nil {
		fmt.Fprintln(stdout, msg)
	}
	n.done(nil, msg)
	srv.Wait()
	return nil
}
