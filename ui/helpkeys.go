package ui

import "github.com/charmbracelet/bubbles/key"

// withoutListed drops the bindings the groups already show (the same help
// key and text), so the help lists each key once.
func withoutListed(groups [][]key.Binding, keys []key.Binding) []key.Binding {
	shown := map[[2]string]bool{}
	for _, g := range groups {
		for _, b := range g {
			shown[[2]string{b.Help().Key, b.Help().Desc}] = true
		}
	}
	var out []key.Binding
	for _, b := range keys {
		if !shown[[2]string{b.Help().Key, b.Help().Desc}] {
			out = append(out, b)
		}
	}
	return out
}
