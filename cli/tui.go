package cli

import (
	"fmt"
	"os"
	"os/signal"
	"syscall"

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
	c := &ui.Common{Repo: repo, RepoName: repo.Name(), Keys: ui.NewKeyMap(), Styles: ui.NewStyles(false), Owner: localOwner(),
		LoadKeyFile: tuiKeyFile}
	// The server and the key are settled before the UI takes the
	// terminal, so no prompt fights with it (tui_setup.go).
	if err := connectTUI(repo); err != nil {
		return err
	}
	var startMsg tea.Cmd
	note, err := tuiKey(c, &o.crypt)
	if err != nil {
		return err
	}
	if note != "" {
		startMsg = ui.Status(note)
	}
	termquiet.Detect()
	root := ui.NewRoot(c, views.NewGroups(c))
	p := tea.NewProgram(root, tea.WithAltScreen(), tea.WithMouseCellMotion())
	terminalTaken.Store(true)
	defer terminalTaken.Store(false)
	if startMsg != nil {
		go p.Send(startMsg())
	}
	// A closed terminal (SIGHUP) ends the UI the way q does, so the jobs
	// below are stopped cleanly instead of dying with the process.
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	defer signal.Stop(hup)
	ended := make(chan struct{})
	defer close(ended)
	go func() {
		select {
		case <-hup:
			p.Quit()
		case <-ended:
		}
	}()
	_, err = p.Run()
	// However the UI ended (a signal, a second ctrl+c), jobs still running
	// are stopped and cleaned up before cairn exits: no backup leaves an
	// unfinished snapshot behind because the program went away under it.
	c.JobList().CancelAll()
	c.JobList().Wait(ui.StopTimeout)
	return err
}

// tuiKeyFile loads a key file the backup form names. Its password comes
// from PBS_ENCRYPTION_PASSWORD (or _FD, _FILE, _CMD) only: the terminal
// belongs to the UI.
func tuiKeyFile(path string) (*keys.CryptConfig, []byte, error) {
	kc, err := keys.ReadKeyConfig(path)
	if err != nil {
		return nil, nil, err
	}
	var pw []byte
	if kc.KDF != nil {
		secret, ok, err := secretFromEnv("PBS_ENCRYPTION_PASSWORD")
		if err != nil {
			return nil, nil, err
		}
		if !ok {
			return nil, nil, fmt.Errorf("key %s is protected by a password: set PBS_ENCRYPTION_PASSWORD before starting cairn", path)
		}
		pw = secret
	}
	raw, err := kc.Unwrap(pw)
	if err != nil {
		return nil, nil, fmt.Errorf("key %s: %w", path, err)
	}
	cc, err := keys.NewCryptConfig(raw)
	if err != nil {
		return nil, nil, err
	}
	rsaKey, err := masterKeyCopy(&loadedKey{config: kc, crypt: cc, raw: raw})
	return cc, rsaKey, err
}
