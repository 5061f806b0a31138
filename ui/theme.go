package ui

import (
	"os"

	"github.com/charmbracelet/lipgloss"
)

// Styles are every style the UI uses; views never make colours themselves.
type Styles struct {
	Header    lipgloss.Style
	Crumb     lipgloss.Style
	CrumbSep  lipgloss.Style
	Title     lipgloss.Style
	Selected  lipgloss.Style
	Normal    lipgloss.Style
	Dim       lipgloss.Style
	Match     lipgloss.Style
	Marked    lipgloss.Style
	Dir       lipgloss.Style
	Error     lipgloss.Style
	OK        lipgloss.Style
	Warn      lipgloss.Style
	Status    lipgloss.Style
	Keep      lipgloss.Style
	Remove    lipgloss.Style
	Protected lipgloss.Style
	BarFull   lipgloss.Style
	BarEmpty  lipgloss.Style
	Box       lipgloss.Style
}

// NewStyles builds the palette; NO_COLOR (or plain) gives a colourless one
// that still marks the selection in reverse video.
func NewStyles(plain bool) *Styles {
	if plain || os.Getenv("NO_COLOR") != "" {
		b := lipgloss.NewStyle()
		return &Styles{
			Header: b.Bold(true), Crumb: b, CrumbSep: b, Title: b.Bold(true),
			Selected: b.Reverse(true), Normal: b, Dim: b, Match: b.Underline(true),
			Marked: b.Bold(true), Dir: b.Bold(true), Error: b.Bold(true), OK: b, Warn: b,
			Status: b, Keep: b, Remove: b, Protected: b, BarFull: b, BarEmpty: b,
			Box: b.Border(lipgloss.NormalBorder()).Padding(0, 1),
		}
	}
	accent := lipgloss.AdaptiveColor{Light: "#5A3FC0", Dark: "#B4A7FF"}
	dim := lipgloss.AdaptiveColor{Light: "#6B6B6B", Dark: "#8A8A8A"}
	green := lipgloss.AdaptiveColor{Light: "#1A7F37", Dark: "#56D364"}
	red := lipgloss.AdaptiveColor{Light: "#CF222E", Dark: "#FF7B72"}
	yellow := lipgloss.AdaptiveColor{Light: "#9A6700", Dark: "#E3B341"}
	blue := lipgloss.AdaptiveColor{Light: "#0969DA", Dark: "#79C0FF"}
	b := lipgloss.NewStyle()
	return &Styles{
		Header:    b.Bold(true).Foreground(accent),
		Crumb:     b.Foreground(blue),
		CrumbSep:  b.Foreground(dim),
		Title:     b.Bold(true),
		Selected:  b.Reverse(true),
		Normal:    b,
		Dim:       b.Foreground(dim),
		Match:     b.Bold(true).Foreground(yellow),
		Marked:    b.Bold(true).Foreground(green),
		Dir:       b.Bold(true).Foreground(blue),
		Error:     b.Bold(true).Foreground(red),
		OK:        b.Foreground(green),
		Warn:      b.Foreground(yellow),
		Status:    b.Foreground(dim),
		Keep:      b.Foreground(green),
		Remove:    b.Foreground(red),
		Protected: b.Foreground(yellow),
		BarFull:   b.Foreground(accent),
		BarEmpty:  b.Foreground(dim),
		Box:       b.Border(lipgloss.RoundedBorder()).BorderForeground(accent).Padding(0, 1),
	}
}
