package cli

import (
	"fmt"
	"os"

	tea "github.com/charmbracelet/bubbletea"
	"github.com/spf13/cobra"
	"golang.org/x/term"

	"cairn/internal/termquiet"
	"cairn/keys"
	"cairn/ui"
	"cairn/views"
)

// tuiOptions are the flags of `cairn tui` (and of bare `cairn`).
type tuiOptions struct {
	repo  repoFlags
	crypt cryptFlags
}

func (o *tuiOptions) add(cmd *cobra.Command) {
	o.repo.add(cmd, false)
	o.crypt.add(cmd, false)
}

func newTUICmd() *cobra.Command {
	o := &tuiOptions{}
	cmd := &cobra.Command{
		Use:   "tui",
		Short: "Open the terminal UI: browse snapshots, find, mark and restore files, preview prunes, run backups",
		Args:  exactArgs(0, "no arguments"),
		RunE:  func(cmd *cobra.Command, args []string) error { return runTUI(o) },
	}
	o.add(cmd)
	return cmd
}

// isTerminal tells whether cairn runs on a terminal, where bare `cairn`
// opens the UI instead of printing help.
func isTerminal() bool {
	return term.IsTerminal(int(os.Stdin.Fd())) && term.IsTerminal(int(os.Stdout.Fd()))
}

func runTUI(o *tuiOptions) error {
	if !isTerminal() {
		return fmt.Errorf("the terminal UI needs a terminal (stdin and stdout); use the commands instead, see 'cairn --help'")
	}
	repo, err := o.repo.open(false)
	if err != nil {
		return err
	}
	defer repo.Close()
	c := &ui.Common{Repo: repo, RepoName: repo.Name(), Keys: ui.NewKeyMap(), Styles: ui.NewStyles(false), Owner: localOwner()}
	// The key is loaded before the UI takes the terminal, so a password
	// prompt never fights with it.
	var startMsg tea.Cmd
	src, err := o.crypt.source()
	if err != nil {
		return err
	}
	if src != keyNone {
		explicit := src != keyDefault
		k, err := o.crypt.load()
		switch {
		case err != nil && explicit:
			return err
		case err != nil:
			startMsg = ui.Error(fmt.Errorf("default key not loaded: %w", err))
		default:
			c.Key = func() (*keys.CryptConfig, error) { return k.crypt, nil }
			c.KeyExplicit = explicit
			rsaKey, err := masterKeyCopy(k)
			if err != nil {
				return err
			}
			c.RSAEncryptedKey = rsaKey
		}
	}
	termquiet.Detect()
	root := ui.NewRoot(c, views.NewGroups(c))
	p := tea.NewProgram(root, tea.WithAltScreen())
	if startMsg != nil {
		go p.Send(startMsg())
	}
	_, err = p.Run()
	return err
}
