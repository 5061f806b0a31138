package pxar

import (
	"encoding/binary"
	"os"
	"path"
	"path/filepath"
	"testing"
)

// TestGoodbyeLookup finds every fixture entry again through its parent's
// goodbye table, the way upstream's random-access Accessor does.
func TestGoodbyeLookup(t *testing.T) {
	for _, name := range fixtures {
		data, err := os.ReadFile(filepath.Join("testdata", name+".pxar"))
		must(t, err)
		listing := readListing(t, name)
		dirEnd := map[string]uint64{}
		for _, m := range listing {
			if m["kind"] == "dir" {
				dirEnd[m["path"].(string)] = uint64(m["entry_end"].(float64))
			}
		}
		le := binary.LittleEndian
		for _, m := range listing[1:] {
			p := m["path"].(string)
			end := dirEnd[path.Dir(p)]
			tail := data[end-goodbyeItemSize : end]
			if le.Uint64(tail) != goodbyeTailMarker {
				t.Fatalf("%s: %s: no tail marker", name, path.Dir(p))
			}
			g := end - le.Uint64(tail[16:])
			n := int(le.Uint64(tail[16:])-headerSize)/goodbyeItemSize - 1
			items := make([]goodbyeItem, n)
			for i := range items {
				b := data[g+headerSize+uint64(i*goodbyeItemSize):]
				items[i] = goodbyeItem{hash: le.Uint64(b), offset: le.Uint64(b[8:]), size: le.Uint64(b[16:])}
			}
			want := uint64(m["filename_header_offset"].(float64))
			found := lookupGoodbye(items, hashName([]byte(path.Base(p))), func(it goodbyeItem) bool {
				return g-it.offset == want
			})
			if !found {
				t.Errorf("%s: %s not found via goodbye table", name, p)
			}
		}
	}
}
