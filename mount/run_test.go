package mount

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"testing"

	"github.com/hanwen/go-fuse/v2/fs"
)

// childOf makes this process look like Background's child: notifyEnv names
// the write end of a pipe; the read end is returned.
func childOf(t *testing.T) *bufio.Reader {
	t.Helper()
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { r.Close(); w.Close() })
	t.Setenv(notifyEnv, fmt.Sprint(w.Fd()))
	return bufio.NewReader(r)
}

// TestRunReportsOpenFailure: a file system that cannot be built is
// reported to the waiting parent as one ERR line, and returned.
func TestRunReportsOpenFailure(t *testing.T) {
	rd := childOf(t)
	if !IsChild() {
		t.Fatal("IsChild is false with the notify variable set")
	}
	boom := errors.New("no such\nsnapshot")
	err := Mount{Dir: t.TempDir(), Open: func(context.Context) (fs.InodeEmbedder, string, func(), error) {
		return nil, "", nil, boom
	}}.Run(context.Background(), io.Discard)
	if !errors.Is(err, boom) {
		t.Fatalf("Run = %v, want %v", err, boom)
	}
	line, _ := rd.ReadString('\n')
	if line != "ERR no such snapshot\n" {
		t.Errorf("parent read %q", line)
	}
	if IsChild() {
		t.Error("the notify variable outlived the report")
	}
}

func TestNotifierWithoutParent(t *testing.T) {
	t.Setenv(notifyEnv, "")
	n := newNotifier()
	n.done(nil, "fine") // nothing to tell, nothing to fail
	if n.f != nil || IsChild() {
		t.Error("a notifier without a parent")
	}
}
