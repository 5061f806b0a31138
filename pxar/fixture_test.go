package pxar

import (
	"bufio"
	"bytes"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"hash/fnv"
	"io"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

var fixtures = []string{"simple", "many", "special"}

// listRecords decodes an archive into the README's jsonl schema.
func listRecords(t testing.TB, r io.Reader) []map[string]any {
	t.Helper()
	d := NewDecoder(r)
	var out []map[string]any
	byPath := map[string]map[string]any{}
	for {
		e, err := d.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatalf("decode: %v", err)
		}
		if e.Kind == KindGoodbye {
			byPath[e.Path]["entry_end"] = float64(e.EndOffset)
			continue
		}
		m := map[string]any{"path": e.Path, "kind": e.Kind.String()}
		if e.Kind != KindHardlink {
			m["mode"] = fmt.Sprintf("%o", e.Stat.Mode)
			m["perm"] = fmt.Sprintf("%04o", e.Stat.Mode&0o7777)
			m["flags"] = float64(e.Stat.Flags)
			m["uid"] = float64(e.Stat.UID)
			m["gid"] = float64(e.Stat.GID)
			m["mtime"] = float64(e.Stat.MtimeSec)
			m["mtime_nsec"] = float64(e.Stat.MtimeNsec)
		}
		switch e.Kind {
		case KindFile:
			h := fnv.New64a()
			if _, err := io.Copy(h, e.Contents); err != nil {
				t.Fatalf("read %s: %v", e.Path, err)
			}
			m["size"] = float64(e.Size)
			m["fnv1a64"] = fmt.Sprintf("%016x", h.Sum64())
			m["content_offset"] = float64(e.ContentOffset)
		case KindSymlink:
			m["target"] = e.LinkTarget
		case KindHardlink:
			m["target"] = e.LinkTarget
			m["hardlink_offset"] = float64(e.HardlinkOffset)
		case KindDevice:
			m["major"] = float64(e.Device.Major)
			m["minor"] = float64(e.Device.Minor)
		}
		if len(e.Xattrs) > 0 {
			var xs []any
			for _, x := range e.Xattrs {
				xs = append(xs, map[string]any{"name": string(x.Name), "value_hex": hex.EncodeToString(x.Value)})
			}
			m["xattrs"] = xs
		}
		if e.FilenameOffset >= 0 {
			m["filename_header_offset"] = float64(e.FilenameOffset)
		}
		m["entry_start"] = float64(e.EntryOffset)
		if e.Kind != KindDirectory {
			m["entry_end"] = float64(e.EndOffset)
		}
		byPath[e.Path] = m
		out = append(out, m)
	}
	return out
}

func readListing(t testing.TB, name string) []map[string]any {
	t.Helper()
	data, err := os.ReadFile(filepath.Join("testdata", name+".list.jsonl"))
	if err != nil {
		t.Fatal(err)
	}
	var out []map[string]any
	sc := bufio.NewScanner(bytes.NewReader(data))
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		var m map[string]any
		if err := json.Unmarshal(sc.Bytes(), &m); err != nil {
			t.Fatal(err)
		}
		out = append(out, m)
	}
	return out
}

func TestDecodeFixtures(t *testing.T) {
	for _, name := range fixtures {
		t.Run(name, func(t *testing.T) {
			f, err := os.Open(filepath.Join("testdata", name+".pxar"))
			if err != nil {
				t.Fatal(err)
			}
			defer f.Close()
			got := listRecords(t, f)
			want := readListing(t, name)
			if len(got) != len(want) {
				t.Fatalf("got %d entries, want %d", len(got), len(want))
			}
			for i := range want {
				if !reflect.DeepEqual(got[i], want[i]) {
					g, _ := json.Marshal(got[i])
					w, _ := json.Marshal(want[i])
					t.Fatalf("entry %d differs:\n got %s\nwant %s", i, g, w)
				}
			}
		})
	}
}

// TestWorkedExample checks the encoder against the hex dump in spec 1.11.
func TestWorkedExample(t *testing.T) {
	var buf bytes.Buffer
	st := Stat{Mode: ModeIFDIR | 0o755, MtimeSec: 1700000000}
	e, err := NewEncoder(&buf, &Metadata{Stat: st})
	if err != nil {
		t.Fatal(err)
	}
	fst := Stat{Mode: ModeIFREG | 0o644, MtimeSec: 1700000000}
	if _, err := e.AddFile([]byte("a"), &Metadata{Stat: fst}, 2, strings.NewReader("hi")); err != nil {
		t.Fatal(err)
	}
	if err := e.Finish(); err != nil {
		t.Fatal(err)
	}
	want, _ := hex.DecodeString(strings.Join(strings.Fields(`
ef ac 88 e5 74 64 95 d5 38 00 00 00 00 00 00 00
ed 41 00 00 00 00 00 00 00 00 00 00 00 00 00 00
00 00 00 00 00 00 00 00 00 f1 53 65 00 00 00 00
00 00 00 00 00 00 00 00 b3 17 39 06 21 11 70 16
12 00 00 00 00 00 00 00 61 00 ef ac 88 e5 74 64
95 d5 38 00 00 00 00 00 00 00 a4 81 00 00 00 00
00 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00
00 00 00 f1 53 65 00 00 00 00 00 00 00 00 00 00
00 00 25 1a 7c 0b 1b 7a 14 28 12 00 00 00 00 00
00 00 68 69 1d 73 d5 42 a6 4f ec 2f 40 00 00 00
00 00 00 00 cf 7b 2c 7c 06 e9 26 0c 5c 00 00 00
00 00 00 00 5c 00 00 00 00 00 00 00 55 15 3e 75
5b ed 5e ef 94 00 00 00 00 00 00 00 40 00 00 00
00 00 00 00`), ""))
	if !bytes.Equal(buf.Bytes(), want) {
		t.Fatalf("encoding differs:\n got %x\nwant %x", buf.Bytes(), want)
	}
}

func TestBSTPermutation(t *testing.T) {
	if got := bstPermutation(5); !reflect.DeepEqual(got, []int{3, 1, 4, 0, 2}) {
		t.Fatalf("n=5: %v", got)
	}
	sorted := []int{0, 1, 2, 2, 2, 3, 4, 5, 6, 6, 7, 8, 8, 8}
	var got []int
	for _, i := range bstPermutation(len(sorted)) {
		got = append(got, sorted[i])
	}
	if want := []int{5, 2, 8, 1, 3, 6, 8, 0, 2, 2, 4, 6, 7, 8}; !reflect.DeepEqual(got, want) {
		t.Fatalf("n=14: %v", got)
	}
}

func TestTypeHashes(t *testing.T) {
	for s, want := range map[string]uint64{
		"__PROXMOX_FORMAT_ENTRY_V2__":                  htypeEntry,
		"__PROXMOX_FORMAT_FILENAME__":                  htypeFilename,
		"__PROXMOX_FORMAT_GOODBYE__":                   htypeGoodbye,
		"__PROXMOX_FORMAT_PXAR_GOODBYE_TAIL_MARKER__":  goodbyeTailMarker,
		"__PROXMOX_FORMAT_PXAR_PAYLOAD__":              htypePayload,
		"__PROXMOX_FORMAT_HARDLINK__":                  htypeHardlink,
		"__PROXMOX_FORMAT_ACL_DEFAULT_GROUP__":         htypeACLDefaultGroup,
		"__PROXMOX_FORMAT_PXAR_PAYLOAD_START_MARKER__": htypePayloadStart,
	} {
		if got := hashName([]byte(s)); got != want {
			t.Errorf("%s: %#x, want %#x", s, got, want)
		}
	}
}
