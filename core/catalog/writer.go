// Package catalog reads and writes the "pcat1" catalog format
// (catalog.pcat1.didx, formats.md section 7): a compact directory tree of
// all pxar archives of a snapshot.
package catalog

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
)

// Magic is the 8-byte magic at the start of every catalog file
// (PROXMOX_CATALOG_FILE_MAGIC_1_0).
var Magic = [8]byte{145, 253, 96, 249, 196, 103, 88, 213}

// MaxNameLen is the exclusive upper bound for entry name lengths accepted
// by readers (names of MaxNameLen bytes or more are rejected).
const MaxNameLen = 4096

// pendingEntry is one entry of a directory table under construction.
type pendingEntry struct {
	typ   EntryType
	name  []byte
	size  uint64
	mtime int64
	start uint64 // block start of a child directory
}

// pendingDir is the table under construction for an open directory.
type pendingDir struct {
	name    []byte
	entries []pendingEntry
}

// Writer streams a catalog. Each directory's block is written when the
// directory ends (children before parents); the root block and the
// trailing root offset are written by Finish. Only the pending tables of
// the currently open directories are held in memory.
type Writer struct {
	w     io.Writer
	pos   uint64
	stack []*pendingDir
	err   error
	done  bool
}

// NewWriter writes the catalog magic to w and returns a Writer whose
// implicit root directory is open.
func NewWriter(w io.Writer) (*Writer, error) {
	cw := &Writer{w: w, stack: []*pendingDir{{}}}
	if err := cw.write(Magic[:]); err != nil {
		return nil, err
	}
	return cw, nil
}

func (w *Writer) write(p []byte) error {
	if w.err != nil {
		return w.err
	}
	n, err := w.w.Write(p)
	w.pos += uint64(n)
	if err == nil && n != len(p) {
		err = io.ErrShortWrite
	}
	if err != nil {
		w.err = fmt.Errorf("catalog: write: %w", err)
		return w.err
	}
	return nil
}

func checkName(name []byte) error {
	switch {
	case len(name) == 0:
		return errors.New("catalog: empty entry name")
	case len(name) >= MaxNameLen:
		return fmt.Errorf("catalog: entry name too long (%d >= %d)", len(name), MaxNameLen)
	case bytes.IndexByte(name, 0) >= 0:
		return fmt.Errorf("catalog: entry name %q contains NUL", name)
	case bytes.IndexByte(name, '/') >= 0:
		return fmt.Errorf("catalog: entry name %q contains '/'", name)
	}
	return nil
}

func (w *Writer) current() (*pendingDir, error) {
	if w.err != nil {
		return nil, w.err
	}
	if w.done || len(w.stack) == 0 {
		return nil, errors.New("catalog: writer already finished")
	}
	return w.stack[len(w.stack)-1], nil
}

func (w *Writer) add(t EntryType, name []byte, size uint64, mtime int64) error {
	d, err := w.current()
	if err != nil {
		return err
	}
	if err := checkName(name); err != nil {
		return err
	}
	d.entries = append(d.entries, pendingEntry{typ: t, name: append([]byte(nil), name...), size: size, mtime: mtime})
	return nil
}

// StartDirectory opens a directory named name inside the current directory.
// For the top level (children of the catalog root) the name is the stored
// archive file name, e.g. "root.pxar.didx".
func (w *Writer) StartDirectory(name []byte) error {
	if _, err := w.current(); err != nil {
		return err
	}
	if err := checkName(name); err != nil {
		return err
	}
	w.stack = append(w.stack, &pendingDir{name: append([]byte(nil), name...)})
	return nil
}

// EndDirectory writes the block of the innermost open directory and adds
// its entry to the parent directory.
func (w *Writer) EndDirectory() error {
	if _, err := w.current(); err != nil {
		return err
	}
	if len(w.stack) < 2 {
		return errors.New("catalog: EndDirectory without open directory")
	}
	d := w.stack[len(w.stack)-1]
	start := w.pos
	if err := w.writeBlock(d, start); err != nil {
		return err
	}
	w.stack = w.stack[:len(w.stack)-1]
	parent := w.stack[len(w.stack)-1]
	parent.entries = append(parent.entries, pendingEntry{typ: TypeDirectory, name: d.name, start: start})
	return nil
}

// writeBlock encodes and writes the table of d, whose block starts at pos.
func (w *Writer) writeBlock(d *pendingDir, pos uint64) error {
	table := appendU64(nil, uint64(len(d.entries)))
	for _, e := range d.entries {
		table = append(table, byte(e.typ))
		table = appendU64(table, uint64(len(e.name)))
		table = append(table, e.name...)
		switch e.typ {
		case TypeDirectory:
			table = appendU64(table, pos-e.start)
		case TypeFile:
			table = appendU64(table, e.size)
			table = appendI64(table, e.mtime)
		}
	}
	block := appendU64(make([]byte, 0, len(table)+10), uint64(len(table)))
	block = append(block, table...)
	return w.write(block)
}

// AddFile adds a regular file entry with its size and mtime (seconds).
func (w *Writer) AddFile(name []byte, size uint64, mtime int64) error {
	return w.add(TypeFile, name, size, mtime)
}

// AddSymlink adds a symlink entry (the target is not stored).
func (w *Writer) AddSymlink(name []byte) error { return w.add(TypeSymlink, name, 0, 0) }

// AddHardlink adds a hardlink entry (the target is not stored).
func (w *Writer) AddHardlink(name []byte) error { return w.add(TypeHardlink, name, 0, 0) }

// AddBlockDevice adds a block device entry.
func (w *Writer) AddBlockDevice(name []byte) error { return w.add(TypeBlockDevice, name, 0, 0) }

// AddCharDevice adds a character device entry.
func (w *Writer) AddCharDevice(name []byte) error { return w.add(TypeCharDevice, name, 0, 0) }

// AddFifo adds a FIFO entry.
func (w *Writer) AddFifo(name []byte) error { return w.add(TypeFifo, name, 0, 0) }

// AddSocket adds a socket entry.
func (w *Writer) AddSocket(name []byte) error { return w.add(TypeSocket, name, 0, 0) }

// Finish writes the root directory block and the trailing 8-byte
// little-endian root block offset. All directories must have been ended.
func (w *Writer) Finish() error {
	if _, err := w.current(); err != nil {
		return err
	}
	if len(w.stack) != 1 {
		return fmt.Errorf("catalog: unable to finish catalog at level %d", len(w.stack))
	}
	start := w.pos
	if err := w.writeBlock(w.stack[0], start); err != nil {
		return err
	}
	var tail [8]byte
	binary.LittleEndian.PutUint64(tail[:], start)
	if err := w.write(tail[:]); err != nil {
		return err
	}
	w.stack = nil
	w.done = true
	return nil
}

// CopyDir adds the contents of directory dir of catalog r to the current
// directory, recursively (to put another catalog's archive into a new one).
func (w *Writer) CopyDir(r *Reader, dir Entry) error {
	entries, err := r.ReadDir(dir)
	if err != nil {
		return err
	}
	for _, e := range entries {
		if !e.IsDir() {
			if err := w.add(e.Type, e.Name, e.Size, e.Mtime); err != nil {
				return err
			}
			continue
		}
		// Child blocks lie strictly before their parent's (ReadDir checks),
		// so the recursion ends even on a corrupt catalog.
		if err := w.StartDirectory(e.Name); err != nil {
			return err
		}
		if err := w.CopyDir(r, e); err != nil {
			return err
		}
		if err := w.EndDirectory(); err != nil {
			return err
		}
	}
	return nil
}
