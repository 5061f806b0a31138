// Package ui is the frame of the terminal UI: the root Bubble Tea model with
// its view stack, the keymap, the theme, shared widgets (list, prompt, fuzzy
// index) and the messages that carry engine results into the views.
package ui
