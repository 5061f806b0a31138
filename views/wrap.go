package views

import (
	"strings"

	"github.com/charmbracelet/lipgloss"
	"github.com/charmbracelet/x/ansi"
)

// wrapText styles plain text wrapped to width cells (at least 10), so an
// error that names a long path is read whole instead of cut.
func wrapText(text string, width int, st lipgloss.Style) string {
	var out []string
	for _, l := range strings.Split(ansi.Wrap(text, max(width, 10), " /"), "\n") {
		out = append(out, st.Render(l))
	}
	return strings.Join(out, "\n")
}
