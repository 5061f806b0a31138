package pxar

import (
	"io"
	"os"
	"sync"
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
	path string
	e    Entry // a copy: Contents is replaced by a reader of the writer's own
	dir  *extractDir
}

type bgWriter struct {
	x       *extractor
	payload io.ReaderAt
	jobs    chan bgJob
	done    chan struct{}
	pending sync.WaitGroup

	mu  sync.Mutex
	err error
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
			err := w.x.finishFile(j.path, &j.e, func(f *os.File) error {
				_, err := io.CopyBuffer(onlyWriter{f}, c, buf)
				return err
			})
			if err != nil {
				w.mu.Lock()
				if w.err == nil {
					w.err = err
				}
				w.mu.Unlock()
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

func (w *bgWriter) submit(path string, e *Entry, dir *extractDir) error {
	if err := w.failed(); err != nil {
		return err
	}
	dir.bgFiles.Add(1)
	w.pending.Add(1)
	w.jobs <- bgJob{path: path, e: *e, dir: dir}
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
