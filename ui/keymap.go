package ui

import "github.com/charmbracelet/bubbles/key"

// KeyMap holds every binding; DESIGN.md's keys are a contract, and tests
// press them by these names.
type KeyMap struct {
	Quit      key.Binding
	Help      key.Binding
	Open      key.Binding
	Back      key.Binding
	Find      key.Binding
	Mark      key.Binding
	Restore   key.Binding
	Prune     key.Binding
	Backup    key.Binding
	History   key.Binding
	GC        key.Binding
	Up        key.Binding
	Down      key.Binding
	PageUp    key.Binding
	PageDown  key.Binding
	Home      key.Binding
	End       key.Binding
	Confirm   key.Binding
	Clear     key.Binding
	Cancel    key.Binding
	NextField key.Binding
	PrevField key.Binding
	Inc       key.Binding
	Dec       key.Binding
	Protect   key.Binding
	Reload    key.Binding
	// Find results (the catalog tree's whole-archive find).
	MarkHit  key.Binding
	MarkAll  key.Binding
	EditFind key.Binding
	// LoadKey loads an encryption key from inside the UI.
	LoadKey key.Binding
}

// NewKeyMap builds the bindings once.
func NewKeyMap() *KeyMap {
	return &KeyMap{
		Quit:      key.NewBinding(key.WithKeys("q", "ctrl+c"), key.WithHelp("q", "quit")),
		Help:      key.NewBinding(key.WithKeys("?"), key.WithHelp("?", "help")),
		Open:      key.NewBinding(key.WithKeys("enter"), key.WithHelp("enter", "open")),
		Back:      key.NewBinding(key.WithKeys("esc", "backspace"), key.WithHelp("esc", "back")),
		Find:      key.NewBinding(key.WithKeys("/"), key.WithHelp("/", "find")),
		Mark:      key.NewBinding(key.WithKeys(" "), key.WithHelp("space", "mark")),
		Restore:   key.NewBinding(key.WithKeys("r"), key.WithHelp("r", "restore")),
		Prune:     key.NewBinding(key.WithKeys("p"), key.WithHelp("p", "prune preview")),
		Backup:    key.NewBinding(key.WithKeys("b"), key.WithHelp("b", "backup")),
		History:   key.NewBinding(key.WithKeys("h"), key.WithHelp("h", "history")),
		GC:        key.NewBinding(key.WithKeys("g"), key.WithHelp("g", "garbage collect")),
		Up:        key.NewBinding(key.WithKeys("up", "k"), key.WithHelp("↑/k", "up")),
		Down:      key.NewBinding(key.WithKeys("down", "j"), key.WithHelp("↓/j", "down")),
		PageUp:    key.NewBinding(key.WithKeys("pgup", "ctrl+b"), key.WithHelp("pgup", "page up")),
		PageDown:  key.NewBinding(key.WithKeys("pgdown", "ctrl+f"), key.WithHelp("pgdn", "page down")),
		Home:      key.NewBinding(key.WithKeys("home"), key.WithHelp("home", "first")),
		End:       key.NewBinding(key.WithKeys("end"), key.WithHelp("end", "last")),
		Confirm:   key.NewBinding(key.WithKeys("y"), key.WithHelp("y", "confirm")),
		Clear:     key.NewBinding(key.WithKeys("ctrl+u"), key.WithHelp("ctrl+u", "clear")),
		Cancel:    key.NewBinding(key.WithKeys("esc"), key.WithHelp("esc", "cancel")),
		NextField: key.NewBinding(key.WithKeys("tab", "right", "l"), key.WithHelp("tab/→", "next field")),
		PrevField: key.NewBinding(key.WithKeys("shift+tab", "left"), key.WithHelp("shift+tab/←", "previous field")),
		Inc:       key.NewBinding(key.WithKeys("+", "="), key.WithHelp("+", "more")),
		Dec:       key.NewBinding(key.WithKeys("-"), key.WithHelp("-", "fewer")),
		Protect:   key.NewBinding(key.WithKeys("P"), key.WithHelp("P", "toggle protected")),
		Reload:    key.NewBinding(key.WithKeys("ctrl+r"), key.WithHelp("ctrl+r", "reload")),
		MarkHit:   key.NewBinding(key.WithKeys("tab", "ctrl+@"), key.WithHelp("tab", "mark hit")),
		MarkAll:   key.NewBinding(key.WithKeys("ctrl+a"), key.WithHelp("ctrl+a", "mark all hits")),
		EditFind:  key.NewBinding(key.WithKeys("/"), key.WithHelp("/", "edit query")),
		LoadKey:   key.NewBinding(key.WithKeys("K"), key.WithHelp("K", "load key")),
	}
}
