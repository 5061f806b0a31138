package benchmark

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestStore(t *testing.T) {
	dir := t.TempDir()
	if _, err := Store(dir); err == nil || !strings.Contains(err.Error(), "is not a datastore") {
		t.Fatalf("Store of a plain directory: %v", err)
	}
	if err := os.Mkdir(filepath.Join(dir, ".chunks"), 0o755); err != nil {
		t.Fatal(err)
	}
	defer func(w time.Duration) { storeWindow = w }(storeWindow)
	storeWindow = 50 * time.Millisecond
	speed, err := Store(dir)
	if err != nil || speed <= 0 {
		t.Fatalf("Store = %v, %v", speed, err)
	}
	ents, _ := os.ReadDir(dir)
	if len(ents) != 1 || ents[0].Name() != ".chunks" {
		t.Errorf("scratch left behind: %v", ents)
	}
}
