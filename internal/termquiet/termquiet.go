// Package termquiet keeps cairn's commands from talking to the terminal.
//
// Bubble Tea v1's init asks the terminal for its background colour
// (lipgloss.HasDarkBackground: an OSC 11 and a cursor position query) in
// every process that links it, so each CLI command run on a terminal wrote
// escape sequences and, on a terminal that does not answer, waited for
// termenv's 5 s timeout. This package is initialised before Bubble Tea (Go
// initialises independent packages in import path order, and "cairn/…" sorts
// before "github.com/…"), and settles the answer without asking. The TUI asks
// for real, once, when it starts (Detect).
package termquiet

import (
	"os"

	"github.com/charmbracelet/lipgloss"
	"github.com/muesli/termenv"
)

func init() { lipgloss.SetHasDarkBackground(true) }

// Detect asks the terminal on stdout for its background colour, as Bubble
// Tea would have at start-up; only the TUI needs it.
func Detect() {
	lipgloss.SetHasDarkBackground(termenv.NewOutput(os.Stdout).HasDarkBackground())
}
