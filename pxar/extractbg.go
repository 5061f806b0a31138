package pxar

import (
	"errors"
	"io"
	"sync"
	"sync/atomic"
)

// Large files of a split archive are written by a background goroutine
// with its own payload reader, while the extractor goes on creating the
// entries after them: file creation and data writes are both kernel-bound
// and overlap well. Directory metadata waits for the directory's
// background files; hardlinks wait for all of them.

// bigFile is the size from which a split archive's file goes to the
// background writer.
const bigFile = 1 << 20

type bgJob struct {
	dir  *extractDir
	name string
	path string // for messages
	e    Entry  // a copy: Contents is replaced by a reader of the writer's own
}

type bgWriter struct {
	x       *extractor
	payload io.ReaderAt
	jobs    chan bgJob
	done    chan struct{}
	pending sync.WaitGroup

	mu  sync.Mutex
	err error
	// stop is set at the first error, the extractor's or the writer's:
	// queued files are then skipped and the file being written stops.
	stop atomic.Bool
}

func newBgWriter(x *extractor, payload io.ReaderAt) *bgWriter {
	w := &bgWriter{x: x, payload: payload, jobs: make(chan bgJob, 64), done: make(chan struct{})}
	go w.run()
	return w
}

func (w *bgWriter) run() {
	defer close(w.done)
	buf := make([]byte, 256<<10)
	for j := range w.jobs {
		if w.failed() == nil {
			c := &refContents{r: w.payload, offset: j.e.PayloadOffset, size: j.e.Size}
			err := w.x.finishFile(j.dir.fd, j.name, j.path, &j.e, func(f io.Writer) error {
				_, err := io.CopyBuffer(f, stopReader{c, &w.stop}, buf)
				return err
			})
			if err != nil {
				w.abort(err)
			}
		}
		j.dir.bgFiles.Add(-1)
		w.pending.Done()
	}
}

func (w *bgWriter) failed() error {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.err
}

// abort records err (unless there is one already) and stops writing.
func (w *bgWriter) abort(err error) {
	w.mu.Lock()
	if w.err == nil {
		w.err = err
	}
	w.mu.Unlock()
	w.stop.Store(true)
}

// submit queues the file name of dir.
func (w *bgWriter) submit(dir *extractDir, name, path string, e *Entry) error {
	if err := w.failed(); err != nil {
		return err
	}
	dir.bgFiles.Add(1)
	w.pending.Add(1)
	w.jobs <- bgJob{dir: dir, name: name, path: path, e: *e}
	return nil
}

// drain waits for every queued file.
func (w *bgWriter) drain() error {
	w.pending.Wait()
	return w.failed()
}

// close waits for the writer to finish and returns its first error.
func (w *bgWriter) close() error {
	close(w.jobs)
	<-w.done
	return w.failed()
}

// busy reports whether files of d are still queued or being written.
func (w *bgWriter) busy(d *extractDir) bool { return d.bgFiles.Load() > 0 }

// errStopped ends a background file's copy after an error elsewhere.
var errStopped = errors.New("pxar: extraction stopped")

// stopReader reads r until stop is set.
type stopReader struct {
	r    io.Reader
	stop *atomic.Bool
}

func (s stopReader) Read(p []byte) (int, error) {
	if s.stop.Load() {
		return 0, errStopped
	}
	return s.r.Read(p)
}
