package main

import (
	"encoding/json"
	"io"
	"os/exec"
	"strings"
	"testing"
)

// The layering rules (README "Layout"): the engine never imports a face,
// and the TUI never reaches into the command line. The test reads the real
// dependency graph (`go list -deps`), so an indirect import breaks it too.
func TestImportRules(t *testing.T) {
	if testing.Short() {
		t.Skip("runs go list over the module")
	}
	cmd := exec.Command("go", "list", "-deps", "-json=ImportPath,Deps", "./...")
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("go list: %v", err)
	}
	type pkg struct {
		ImportPath string
		Deps       []string
	}
	var pkgs []pkg
	dec := json.NewDecoder(strings.NewReader(string(out)))
	for {
		var p pkg
		if err := dec.Decode(&p); err == io.EOF {
			break
		} else if err != nil {
			t.Fatal(err)
		}
		if strings.HasPrefix(p.ImportPath, "cairn/") {
			pkgs = append(pkgs, p)
		}
	}
	if len(pkgs) < 10 {
		t.Fatalf("go list found only %d cairn packages", len(pkgs))
	}
	rules := []struct {
		from   []string // package prefixes the rule applies to
		banned []string // package prefixes they must not depend on
	}{
		{[]string{"cairn/core", "cairn/pxar", "cairn/keys"}, []string{"cairn/cli", "cairn/ui", "cairn/views", "cairn/net"}},
		{[]string{"cairn/views", "cairn/ui"}, []string{"cairn/cli"}},
	}
	for _, p := range pkgs {
		for _, r := range rules {
			if !under(p.ImportPath, r.from) {
				continue
			}
			for _, d := range p.Deps {
				if under(d, r.banned) {
					t.Errorf("%s depends on %s", p.ImportPath, d)
				}
			}
		}
	}
}

// under reports whether path is one of prefixes or inside one of them.
func under(path string, prefixes []string) bool {
	for _, p := range prefixes {
		if path == p || strings.HasPrefix(path, p+"/") {
			return true
		}
	}
	return false
}
