package mount

import (
	"os"
	"path/filepath"
	"testing"
)

func TestMappingsListsStateDirectories(t *testing.T) {
	state := t.TempDir()
	if got := Mappings(filepath.Join(state, "none")); len(got) != 0 {
		t.Errorf("no state directory: %v", got)
	}
	for _, n := range []string{"b-img", "a-img"} {
		if err := os.MkdirAll(filepath.Join(state, n), 0o700); err != nil {
			t.Fatal(err)
		}
	}
	got := Mappings(state)
	want := []Mapping{{Name: "a-img", Dir: filepath.Join(state, "a-img")}, {Name: "b-img", Dir: filepath.Join(state, "b-img")}}
	if len(got) != len(want) || got[0] != want[0] || got[1] != want[1] {
		t.Errorf("Mappings = %+v, want %+v", got, want)
	}
}
