package keys

import (
	"bytes"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"cairn/internal/atomicfile/atomicfiletest"
)

func testKeyConfig(t *testing.T) *KeyConfig {
	t.Helper()
	raw, err := NewKey()
	if err != nil {
		t.Fatal(err)
	}
	kc, err := Wrap(raw, nil, nil, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	return kc
}

// TestSaveFullFileSystem: on a full file system Save fails and the old key
// file is intact (issue 15 item 3: it used to be replaced by a 0-byte file).
func TestSaveFullFileSystem(t *testing.T) {
	m := atomicfiletest.Mount(t, 64<<10)
	p := filepath.Join(m.Dir, "k.json")
	if err := testKeyConfig(t).Save(p, true); err != nil {
		t.Fatal(err)
	}
	m.Fill()
	if err := testKeyConfig(t).Save(p, false); !errors.Is(err, syscall.ENOSPC) {
		t.Errorf("Save over a key on a full file system: %v, want ENOSPC", err)
	}
	if err := testKeyConfig(t).Save(filepath.Join(m.Dir, "new.json"), true); !errors.Is(err, syscall.ENOSPC) {
		t.Errorf("Save of a new key on a full file system: %v, want ENOSPC", err)
	}
	m.Unchanged()
	if _, err := Load(p); err != nil {
		t.Error(err)
	}
}

func TestSaveModeAndExclusive(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "sub", "k.json")
	kc := testKeyConfig(t)
	old := syscall.Umask(0)
	defer syscall.Umask(old)
	if err := kc.Save(p, true); err != nil {
		t.Fatal(err)
	}
	for path, want := range map[string]fs.FileMode{p: 0o600, filepath.Dir(p): fs.ModeDir | 0o700} {
		if st, err := os.Stat(path); err != nil || st.Mode() != want {
			t.Errorf("%s: mode %v (%v), want %v", path, st.Mode(), err, want)
		}
	}
	before, _ := os.ReadFile(p)
	if err := testKeyConfig(t).Save(p, true); err == nil {
		t.Error("exclusive Save over an existing key succeeded")
	}
	after, _ := os.ReadFile(p)
	if !bytes.Equal(before, after) {
		t.Error("exclusive Save changed the existing key")
	}
	if err := testKeyConfig(t).Save(p, false); err != nil {
		t.Fatal(err)
	}
	if ents, _ := os.ReadDir(filepath.Dir(p)); len(ents) != 1 {
		t.Errorf("%d entries next to the key, want 1", len(ents))
	}
}
