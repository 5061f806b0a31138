// Package views holds one Bubble Tea model per screen of the terminal UI:
// groups, snapshots, archives, the catalog tree with fuzzy find and marks,
// restore, file history, prune preview, backup progress and garbage
// collection. Views do no I/O in Update or View: every engine call runs in a
// tea.Cmd and comes back as a message.
package views
