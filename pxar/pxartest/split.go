// Package pxartest makes split archives for the tests of their readers:
// it re-encodes a unified archive as a metadata and a payload stream with
// the pxar encoder, optionally with what chunk reuse leaves in a payload
// stream (unreferenced bytes between entries, references to payload the
// encoder did not write itself).
package pxartest

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"io"
	"strings"

	"cairn/pxar"
)

// htypePayload is the PAYLOAD item type (formats.md 1.3).
const htypePayload uint64 = 0x28147a1b0b7c1a25

// Options shape the payload stream; the zero value writes it tight.
type Options struct {
	// Gap returns how many unreferenced bytes go into the payload stream
	// before the payload of the n-th regular file (from 0).
	Gap func(n int) int
	// Reuse says whether the n-th regular file's payload is written by
	// the caller and referred to with AddFileRef, as metadata change
	// detection does for unchanged files.
	Reuse func(n int) bool
	// Prelude goes after the FORMAT_VERSION item when not empty.
	Prelude []byte
}

// Split re-encodes a unified archive as a split pair.
func Split(unified []byte, o Options) (meta, payload []byte, err error) {
	var mb, pb bytes.Buffer
	s := &splitter{o: o, payload: &pb, filenames: map[string]uint64{}}
	d := pxar.NewDecoder(bytes.NewReader(unified))
	for {
		e, err := d.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			return nil, nil, err
		}
		if s.enc == nil {
			if s.enc, err = pxar.NewSplitEncoder(&mb, &pb, &e.Metadata, o.Prelude); err != nil {
				return nil, nil, err
			}
			continue
		}
		if err := s.entry(e); err != nil {
			return nil, nil, fmt.Errorf("%s: %w", e.Path, err)
		}
	}
	return mb.Bytes(), pb.Bytes(), nil
}

type splitter struct {
	o         Options
	enc       *pxar.Encoder
	payload   *bytes.Buffer
	files     int
	filenames map[string]uint64 // archive path -> FILENAME offset, for hardlinks
}

func (s *splitter) entry(e *pxar.Entry) error {
	m := &e.Metadata
	switch e.Kind {
	case pxar.KindDirectory:
		return s.enc.CreateDirectory(e.Name, m)
	case pxar.KindGoodbye:
		if e.Path == "/" {
			return s.enc.Finish()
		}
		return s.enc.FinishDirectory()
	case pxar.KindFile:
		return s.file(e)
	case pxar.KindSymlink:
		return s.enc.AddSymlink(e.Name, m, []byte(e.LinkTarget))
	case pxar.KindHardlink:
		target := strings.TrimPrefix(e.LinkTarget, "/")
		off, ok := s.filenames["/"+target]
		if !ok {
			return fmt.Errorf("hardlink target %s not seen before", target)
		}
		return s.enc.AddHardlink(e.Name, target, off)
	case pxar.KindDevice:
		return s.enc.AddDevice(e.Name, m, e.Device)
	case pxar.KindFifo:
		return s.enc.AddFifo(e.Name, m)
	case pxar.KindSocket:
		return s.enc.AddSocket(e.Name, m)
	}
	return fmt.Errorf("unexpected entry kind %s", e.Kind)
}

func (s *splitter) file(e *pxar.Entry) error {
	n := s.files
	s.files++
	if s.o.Gap != nil {
		if g := s.o.Gap(n); g > 0 {
			s.inject(gap(g))
		}
	}
	var off uint64
	var err error
	if s.o.Reuse != nil && s.o.Reuse(n) {
		data, rerr := io.ReadAll(e.Contents)
		if rerr != nil {
			return rerr
		}
		at := s.enc.PayloadPosition()
		s.inject(payloadItem(data))
		off, err = s.enc.AddFileRef(e.Name, &e.Metadata, e.Size, at)
	} else {
		off, err = s.enc.AddFile(e.Name, &e.Metadata, e.Size, e.Contents)
	}
	s.filenames[e.Path] = off
	return err
}

// inject puts bytes into the payload stream behind the encoder's back, as
// reused chunks get there.
func (s *splitter) inject(b []byte) {
	s.payload.Write(b)
	s.enc.AdvancePayload(uint64(len(b)))
}

func payloadItem(data []byte) []byte {
	b := binary.LittleEndian.AppendUint64(nil, htypePayload)
	b = binary.LittleEndian.AppendUint64(b, uint64(16+len(data)))
	return append(b, data...)
}

// gap is n unreferenced bytes; when there is room they start like a
// PAYLOAD item, so a reader that parses the stream instead of following
// the references goes wrong.
func gap(n int) []byte {
	b := bytes.Repeat([]byte{0xa5}, n)
	if n >= 16 {
		copy(b, payloadItem(nil)[:16])
		binary.LittleEndian.PutUint64(b[8:], uint64(n+1000))
	}
	return b
}
