package pxar

import (
	"bytes"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// decodeAll reads every entry and all contents, returning the first error.
func decodeAll(data []byte) error {
	d := NewDecoder(bytes.NewReader(data))
	for i := 0; ; i++ {
		e, err := d.Next()
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return err
		}
		if e.Contents != nil && i%2 == 0 { // also exercise skipping unread contents
			if _, err := io.Copy(io.Discard, e.Contents); err != nil {
				return err
			}
		}
	}
}

func TestTruncatedInputFails(t *testing.T) {
	for _, name := range []string{"simple", "special"} {
		data, err := os.ReadFile(filepath.Join("testdata", name+".pxar"))
		must(t, err)
		for n := 0; n < len(data); n++ {
			err := decodeAll(data[:n])
			if err == nil {
				t.Fatalf("%s truncated to %d bytes decoded without error", name, n)
			}
			if !errors.Is(err, ErrCorrupt) {
				t.Fatalf("%s truncated to %d: error %v is not ErrCorrupt", name, n, err)
			}
		}
	}
}

func TestCorruptInputNeverPanics(t *testing.T) {
	data, err := os.ReadFile(filepath.Join("testdata", "special.pxar"))
	must(t, err)
	buf := make([]byte, len(data))
	for i := 0; i < len(data); i++ {
		for _, v := range []byte{0x00, 0xff, 0x80} {
			copy(buf, data)
			buf[i] ^= v | 1
			_ = decodeAll(buf) // any result is fine as long as it returns
		}
	}
}

func TestBadSizesRejected(t *testing.T) {
	data, err := os.ReadFile(filepath.Join("testdata", "simple.pxar"))
	must(t, err)
	// First item is the root ENTRY (40-byte content); any other size is invalid.
	for _, size := range []uint64{0, 15, 55, 57, 1 << 62} {
		b := bytes.Clone(data)
		putU64(b[8:], size)
		if err := decodeAll(b); !errors.Is(err, ErrCorrupt) {
			t.Errorf("ENTRY size %d: %v", size, err)
		}
	}
	// An oversized FILENAME must be refused before allocating it.
	b := bytes.Clone(data)
	putU64(b[56+8:], 1<<40)
	if err := decodeAll(b); !errors.Is(err, ErrCorrupt) {
		t.Errorf("huge FILENAME: %v", err)
	}
}

func putU64(b []byte, v uint64) {
	for i := 0; i < 8; i++ {
		b[i] = byte(v >> (8 * i))
	}
}

// Names that would escape the destination are refused by name.
func TestPathTraversalRefused(t *testing.T) {
	for _, bad := range []string{"..", ".", "a/b", "/ab"} {
		var buf bytes.Buffer
		e, err := NewEncoder(&buf, &Metadata{Stat: Stat{Mode: ModeIFDIR | 0o755}})
		must(t, err)
		placeholder := strings.Repeat("q", len(bad))
		_, err = e.AddFile([]byte(placeholder), &Metadata{Stat: Stat{Mode: ModeIFREG | 0o644}}, 1, strings.NewReader("x"))
		must(t, err)
		must(t, e.Finish())
		arch := bytes.Replace(buf.Bytes(), []byte(placeholder+"\x00"), []byte(bad+"\x00"), 1)
		dest := t.TempDir()
		err = Extract(bytes.NewReader(arch), dest, ExtractOptions{})
		if err == nil || !strings.Contains(err.Error(), `"`+bad+`"`) {
			t.Errorf("name %q: error %v", bad, err)
		}
		if _, serr := os.Stat(filepath.Join(dest, "..", "x")); serr == nil {
			t.Errorf("name %q: wrote outside dest", bad)
		}
	}
	// Encoder refuses them too.
	var buf bytes.Buffer
	e, _ := NewEncoder(&buf, &Metadata{Stat: Stat{Mode: ModeIFDIR | 0o755}})
	if err := e.AddFifo([]byte(".."), &Metadata{Stat: Stat{Mode: ModeIFIFO | 0o644}}); err == nil {
		t.Error("encoder accepted ..")
	}
}

func TestHardlinkTargetTraversalRefused(t *testing.T) {
	var buf bytes.Buffer
	e, err := NewEncoder(&buf, &Metadata{Stat: Stat{Mode: ModeIFDIR | 0o755}})
	must(t, err)
	off, err := e.AddFile([]byte("a"), &Metadata{Stat: Stat{Mode: ModeIFREG | 0o644}}, 0, strings.NewReader(""))
	must(t, err)
	must(t, e.AddHardlink([]byte("b"), "../../etc/passwd", off))
	must(t, e.Finish())
	err = Extract(bytes.NewReader(buf.Bytes()), t.TempDir(), ExtractOptions{})
	if err == nil || !strings.Contains(err.Error(), "..") {
		t.Fatalf("hardlink to ../../etc/passwd: %v", err)
	}
}

func FuzzDecoder(f *testing.F) {
	for _, name := range fixtures {
		data, err := os.ReadFile(filepath.Join("testdata", name+".pxar"))
		if err != nil {
			f.Fatal(err)
		}
		if len(data) > 64<<10 {
			data = data[:64<<10] // keep the corpus small; truncation is interesting anyway
		}
		f.Add(data)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		_ = decodeAll(data)
		_ = List(bytes.NewReader(data), io.Discard, true)
	})
}
