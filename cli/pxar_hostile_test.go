package cli

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"cairn/pxar/pxartest"
)

// `cairn pxar extract` of hostile archive files (issue 16 item 1): each
// attack is refused with a non-zero exit, or extracted harmlessly, and
// nothing outside the target changes.
func TestPxarExtractHostile(t *testing.T) {
	isolateClient(t)
	dir := t.TempDir()
	w, err := pxartest.NewWorld(filepath.Join(dir, "world"))
	if err != nil {
		t.Fatal(err)
	}
	cases, err := pxartest.HostileCases(w.Outside)
	if err != nil {
		t.Fatal(err)
	}
	for i, c := range cases {
		archive := filepath.Join(dir, fmt.Sprintf("hostile%02d.pxar", i))
		if err := os.WriteFile(archive, c.Unified, 0o644); err != nil {
			t.Fatal(err)
		}
		for _, flags := range [][]string{nil, {"--overwrite", "--allow-existing-dirs"}} {
			t.Run(fmt.Sprintf("%s/%s", c.Name, strings.Join(flags, "+")), func(t *testing.T) {
				defer os.RemoveAll(w.Target)
				before, err := w.Snapshot()
				if err != nil {
					t.Fatal(err)
				}
				r := cairnRun(t, append([]string{"pxar", "extract", archive, w.Target}, flags...)...)
				after, err := w.Snapshot()
				if err != nil {
					t.Fatal(err)
				}
				if d := pxartest.Diff(before, after); d != "" {
					t.Fatalf("outside the target changed (exit %d, %s):\n%s", r.code, r.stderr, d)
				}
				refuse := c.Dup || strings.Contains(c.Name, "hardlink") || strings.Contains(c.Name, "..") || strings.Contains(c.Name, "slashes")
				if refuse && r.code == 0 {
					t.Fatalf("%s: exit 0", c.What)
				}
				if c.Dup && !strings.Contains(r.stderr, "duplicate name") {
					t.Errorf("stderr does not name the duplicate: %s", r.stderr)
				}
			})
		}
	}
}
