package backup

import (
	"fmt"
	"os"
	"regexp"
)

// Spec is one archive of a backup: "NAME.TYPE:PATH" (protocol.md 9.5).
type Spec struct {
	Name string // archive name with type, e.g. root.pxar
	Type string // pxar, img, conf or log
	Path string // source on this machine
}

var specRe = regexp.MustCompile(`^([a-zA-Z0-9_-]+\.(pxar|img|conf|log)):(.+)$`)

// ParseSpec parses an archive specification.
func ParseSpec(s string) (Spec, error) {
	m := specRe.FindStringSubmatch(s)
	if m == nil {
		return Spec{}, fmt.Errorf("invalid backup specification %q (expected NAME.pxar|img|conf|log:PATH)", s)
	}
	return Spec{Name: m[1], Type: m[2], Path: m[3]}, nil
}

// kindName is how upstream's messages name the source ("Upload directory …").
func (s Spec) kindName() string {
	switch s.Type {
	case "pxar":
		return "directory"
	case "img":
		return "image"
	case "log":
		return "log file"
	}
	return "config file"
}

// Check verifies that the source exists and has the right kind, before
// anything is written.
func (s Spec) Check() error {
	st, err := os.Stat(s.Path)
	if err != nil {
		if os.IsNotExist(err) {
			return fmt.Errorf("source path %q of %s does not exist", s.Path, s.Name)
		}
		return fmt.Errorf("source path %q of %s: %w", s.Path, s.Name, err)
	}
	switch s.Type {
	case "pxar":
		if !st.IsDir() {
			return fmt.Errorf("source path %q of %s is not a directory", s.Path, s.Name)
		}
	case "img":
		if !st.Mode().IsRegular() && st.Mode()&os.ModeDevice == 0 {
			return fmt.Errorf("source path %q of %s is not a regular file or block device", s.Path, s.Name)
		}
	default:
		if !st.Mode().IsRegular() {
			return fmt.Errorf("source path %q of %s is not a regular file", s.Path, s.Name)
		}
	}
	return nil
}
