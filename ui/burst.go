package ui

import tea "github.com/charmbracelet/bubbletea"

// Bubble Tea v1 reads the terminal in chunks and reports the printable
// characters of one chunk as one KeyMsg: "jjj" sent at once (a fast typist,
// tmux send-keys, a key held down) arrives as a single key with three
// runes. Every handler matches single keys, so the root splits such a
// burst into the keys it holds before anything sees it. A paste (bracketed,
// Paste set) stays whole, so inputs still take it in one piece.

// splitBurst returns the keys of a burst, nil when km is one key.
func splitBurst(msg tea.Msg) []tea.KeyMsg {
	km, ok := msg.(tea.KeyMsg)
	if !ok || km.Type != tea.KeyRunes || km.Paste || len(km.Runes) < 2 {
		return nil
	}
	keys := make([]tea.KeyMsg, len(km.Runes))
	for i, r := range km.Runes {
		keys[i] = tea.KeyMsg{Type: tea.KeyRunes, Runes: []rune{r}, Alt: km.Alt && i == 0}
		if r == ' ' {
			keys[i].Type = tea.KeySpace
		}
	}
	return keys
}

// burst handles the keys of a burst one after the other, as if they had
// come apart.
func (r *Root) burst(keys []tea.KeyMsg) tea.Cmd {
	cmds := make([]tea.Cmd, 0, len(keys))
	for _, k := range keys {
		_, cmd := r.Update(k)
		cmds = append(cmds, cmd)
	}
	return tea.Batch(cmds...)
}

// SplitKeys returns the keys of a key with several runes, a paste too, nil
// for one key: for views without a text input, where a pasted "12" is
// the digits 1 and 2.
func SplitKeys(km tea.KeyMsg) []tea.KeyMsg {
	km.Paste = false
	return splitBurst(km)
}
