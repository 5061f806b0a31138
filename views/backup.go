package views

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/charmbracelet/bubbles/key"
	tea "github.com/charmbracelet/bubbletea"
	"github.com/charmbracelet/lipgloss"
	"github.com/charmbracelet/x/ansi"
	"github.com/mattn/go-runewidth"

	"cairn/core"
	"cairn/core/backup"
	"cairn/keys"
	"cairn/ui"
)

// BackupDoneMsg is sent (to every open view) when a backup started from the
// TUI has finished, so lists showing groups or snapshots can reload.
type BackupDoneMsg struct {
	Namespace core.Namespace
	Snapshot  core.Snapshot
}

// backupStartedMsg says the engine is about to write snap.
type backupStartedMsg struct {
	run       int
	snap      core.Snapshot
	encrypted bool
}

// backupEventMsg carries one engine event.
type backupEventMsg struct {
	run int
	ev  core.Event
}

// backupFinishedMsg is the last message of a run; input marks errors in
// what the user typed (a missing source), which reopen the prompt.
type backupFinishedMsg struct {
	run   int
	res   *backup.Result
	err   error
	input bool
}

// backupScanMsg carries the source sizes of a run, one per spec; -1 is unknown.
type backupScanMsg struct {
	run   int
	sizes []int64
}

const backupPromptLabel = "Archive specs (name.pxar:/path …)"

// backupQueue bounds the events waiting for the UI; progress is dropped
// when the UI falls behind, other events are not.
const backupQueue = 256

// backupRuns numbers runs across all Backup views: the root hands
// results to every open view, and each must know its own.
var backupRuns atomic.Int64

var backupFrames = []string{"⠋", "⠙", "⠹", "⠸", "⠼", "⠴", "⠦", "⠧", "⠇", "⠏"}

// Backup runs one backup into a namespace and shows it live: it asks for
// the archive specs, then draws per-archive progress, warnings and a
// summary. It captures keys while its prompt is open.
type Backup struct {
	c      *ui.Common
	ns     core.Namespace
	width  int
	height int
	prompt *ui.Prompt

	// Defaults of the prompt, set by NewBackup; tests pin them.
	dir, host string
	line      string // what was last confirmed, for a retry
	inputErr  string

	run        int // tags messages; stale runs are ignored
	running    bool
	stopping   bool
	confirming bool
	cancel     context.CancelFunc
	ch         chan tea.Msg

	specs     []backup.Spec
	group     core.Group
	snap      core.Snapshot
	started   bool
	encrypted bool
	sizes     []int64
	scanned   bool
	total     core.Progress
	ticks     int
	done      []core.Progress
	warnings  []string
	info      string
	result    *backup.Result
	err       error
	cancelled bool

	kStart, kStop, kStopYes, kKeep, kAgain key.Binding
}

// NewBackup makes the backup screen for namespace ns.
func NewBackup(c *ui.Common, ns core.Namespace) *Backup {
	b := &Backup{c: c, ns: ns, prompt: ui.NewPrompt(c), width: 80, height: 21}
	// The default source is the directory cairn was started in: it is the
	// one the user most likely means ("back up this"), it is shown in the
	// prompt to change, and unlike the home directory it is rarely huge by
	// accident. The home directory (then /) is the fallback.
	if wd, err := os.Getwd(); err == nil {
		b.dir = wd
	} else if home, err := os.UserHomeDir(); err == nil {
		b.dir = home
	} else {
		b.dir = "/"
	}
	b.host = backupHostName()
	b.kStart = c.Keys.Open
	b.kStart.SetHelp("enter", "start backup")
	b.kStop = c.Keys.Cancel
	b.kStop.SetHelp("esc", "stop backup")
	b.kStopYes = c.Keys.Confirm
	b.kStopYes.SetHelp("y", "stop")
	b.kKeep = c.Keys.Cancel
	b.kKeep.SetHelp("esc", "keep running")
	b.kAgain = c.Keys.Backup
	b.kAgain.SetHelp("b", "new backup")
	return b
}

// backupHostName is the machine's name without its domain, as upstream's
// default backup id.
func backupHostName() string {
	h, err := os.Hostname()
	if err != nil || h == "" {
		return "localhost"
	}
	h, _, _ = strings.Cut(h, ".")
	return h
}

// defaultLine is the prompt's prefilled value: one pxar archive of the
// default directory and the backup id, both visible and editable.
func (b *Backup) defaultLine() string {
	return "root.pxar:" + backupQuote(b.dir) + " --backup-id " + backupQuote(b.host)
}

// Init opens the prompt.
func (b *Backup) Init() tea.Cmd { return b.prompt.Open(backupPromptLabel, b.defaultLine()) }

// Title is the breadcrumb part.
func (b *Backup) Title() string { return "backup" }

// Capturing is true while the prompt is open.
func (b *Backup) Capturing() bool { return b.prompt.Active() }

// SetSize sets the drawing area.
func (b *Backup) SetSize(w, h int) {
	b.width, b.height = w, h
	b.prompt.SetWidth(w)
}

// ShortHelp lists the keys of the current state.
func (b *Backup) ShortHelp() []key.Binding {
	switch {
	case b.prompt.Active():
		return []key.Binding{b.kStart, b.c.Keys.Clear, b.c.Keys.Cancel}
	case b.confirming:
		return []key.Binding{b.kStopYes, b.kKeep}
	case b.running:
		return []key.Binding{b.kStop}
	}
	return []key.Binding{b.c.Keys.Back, b.kAgain}
}

// FullHelp is ShortHelp in one column.
func (b *Backup) FullHelp() [][]key.Binding { return [][]key.Binding{b.ShortHelp()} }

// Update handles keys, engine events and scan results.
func (b *Backup) Update(msg tea.Msg) (tea.Model, tea.Cmd) {
	switch msg := msg.(type) {
	case tea.KeyMsg:
		return b, b.key(msg)
	case backupStartedMsg:
		if msg.run != b.run {
			return b, nil
		}
		b.snap, b.started, b.encrypted = msg.snap, true, msg.encrypted
		return b, b.waitCmd()
	case backupEventMsg:
		if msg.run != b.run {
			return b, nil
		}
		b.event(msg.ev)
		return b, b.waitCmd()
	case backupScanMsg:
		if msg.run == b.run {
			b.sizes, b.scanned = msg.sizes, true
		}
		return b, nil
	case backupFinishedMsg:
		if msg.run != b.run {
			return b, nil
		}
		return b, b.finish(msg)
	}
	if b.prompt.Active() {
		_, cmd := b.prompt.Update(msg)
		return b, cmd
	}
	return b, nil
}

func (b *Backup) key(km tea.KeyMsg) tea.Cmd {
	k := b.c.Keys
	switch {
	case b.prompt.Active():
		res, cmd := b.prompt.Update(km)
		switch res {
		case ui.PromptConfirmed:
			return b.confirm(b.prompt.Value())
		case ui.PromptCancelled:
			// esc leaves the screen, whether or not a backup ran in it.
			b.inputErr = ""
			return ui.Pop()
		}
		return cmd
	case b.confirming:
		b.confirming = false
		if key.Matches(km, k.Confirm) && b.running {
			b.stopping = true
			b.cancel()
			return ui.Status("Stopping the backup…")
		}
		return nil
	case b.running:
		if key.Matches(km, k.Cancel) {
			b.confirming = true
		}
		return nil
	case key.Matches(km, k.Back):
		return ui.Pop()
	case key.Matches(km, k.Backup):
		line := b.line
		if line == "" {
			line = b.defaultLine()
		}
		return b.prompt.Open(backupPromptLabel, line)
	}
	return nil
}

// confirm parses the line and starts the run, or reopens the prompt with
// the error.
func (b *Backup) confirm(line string) tea.Cmd {
	b.line = line
	specs, group, err := b.parseLine(line)
	if err != nil {
		b.inputErr = err.Error()
		return tea.Batch(b.prompt.Open(backupPromptLabel, line), ui.Error(err))
	}
	b.inputErr = ""
	return b.start(specs, group)
}

// parseLine reads "SPEC… [--backup-id ID] [--backup-type TYPE]", with
// shell-like quotes for paths with spaces.
func (b *Backup) parseLine(line string) ([]backup.Spec, core.Group, error) {
	words, err := backupSplit(line)
	if err != nil {
		return nil, core.Group{}, err
	}
	g := core.Group{Type: core.TypeHost, ID: b.host}
	var specs []backup.Spec
	seen := map[string]bool{}
	for i := 0; i < len(words); i++ {
		w := words[i]
		if !strings.HasPrefix(w, "--") {
			s, err := backup.ParseSpec(w)
			if err != nil {
				return nil, g, err
			}
			if seen[s.StoredName()] {
				return nil, g, fmt.Errorf("archive %s given twice", s.Name)
			}
			seen[s.StoredName()] = true
			specs = append(specs, s)
			continue
		}
		name, val, hasVal := strings.Cut(w, "=")
		if name != "--backup-id" && name != "--backup-type" {
			return nil, g, fmt.Errorf("unknown option %q (--backup-id ID, --backup-type host|vm|ct)", name)
		}
		if !hasVal {
			if i+1 >= len(words) {
				return nil, g, fmt.Errorf("%s needs a value", name)
			}
			i++
			val = words[i]
		}
		if name == "--backup-id" {
			if !core.ValidBackupID(val) {
				return nil, g, fmt.Errorf("invalid backup id %q", val)
			}
			g.ID = val
		} else {
			t, err := core.ParseBackupType(val)
			if err != nil {
				return nil, g, err
			}
			g.Type = t
		}
	}
	if len(specs) == 0 {
		return nil, g, fmt.Errorf("no archive given (expected NAME.pxar:DIR, NAME.img:FILE, NAME.conf:FILE or NAME.log:FILE)")
	}
	return specs, g, nil
}

// start resets the figures and returns the commands that run the engine,
// receive its events and scan the sources.
func (b *Backup) start(specs []backup.Spec, g core.Group) tea.Cmd {
	b.run = int(backupRuns.Add(1))
	ctx, cancel := context.WithCancel(context.Background())
	b.cancel = cancel
	b.ch = make(chan tea.Msg, backupQueue)
	b.specs, b.group = specs, g
	b.running, b.stopping, b.confirming, b.started, b.encrypted = true, false, false, false, false
	b.sizes, b.scanned, b.total, b.ticks = nil, false, core.Progress{}, 0
	b.done, b.warnings, b.info, b.result, b.err, b.cancelled = nil, nil, "", nil, nil, false
	job := backupJob{
		run: b.run, ch: b.ch, repo: b.c.Repo, key: b.c.Key, rsaKey: b.c.RSAEncryptedKey, owner: b.c.Owner,
		ns: b.ns, group: g, specs: specs,
	}
	return tea.Batch(job.cmd(ctx), b.waitCmd(), backupScanCmd(ctx, b.run, specs))
}

// waitCmd receives one message of the running job; it is re-issued after
// each one until the job's channel closes.
func (b *Backup) waitCmd() tea.Cmd {
	ch := b.ch
	return func() tea.Msg {
		m, ok := <-ch
		if !ok {
			return nil
		}
		return m
	}
}

func (b *Backup) event(ev core.Event) {
	switch ev.Kind {
	case core.EventInfo:
		b.info = ev.Message
	case core.EventWarning:
		b.warnings = append(b.warnings, ev.Message)
	case core.EventProgress:
		b.total = ev.Progress
		b.ticks++
	case core.EventArchiveDone:
		b.done = append(b.done, ev.Progress)
	}
}

func (b *Backup) finish(m backupFinishedMsg) tea.Cmd {
	b.running, b.confirming = false, false
	b.cancel()
	if m.err != nil {
		if m.input {
			// Nothing ran: back to the prompt with the text.
			b.inputErr = m.err.Error()
			return tea.Batch(b.prompt.Open(backupPromptLabel, b.line), ui.Error(m.err))
		}
		if errors.Is(m.err, context.Canceled) {
			b.cancelled = true
			return ui.Status("Backup stopped; the unfinished snapshot was removed")
		}
		b.err = m.err
		return ui.Error(fmt.Errorf("backup failed: %w", m.err))
	}
	b.result = m.res
	b.snap = m.res.Snapshot
	b.total = m.res.Totals
	done := BackupDoneMsg{Namespace: b.ns, Snapshot: m.res.Snapshot}
	return tea.Batch(
		ui.Status(fmt.Sprintf("Backup %s finished in %s", m.res.Snapshot, backupDur(m.res.Duration))),
		func() tea.Msg { return done },
	)
}

// backupJob is what the engine goroutine needs, copied out of the view so
// the goroutine never touches it.
type backupJob struct {
	run  int
	ch   chan tea.Msg
	repo core.Repository
	key  func() (*keys.CryptConfig, error)
	// rsaKey is stored as rsa-encrypted.key with encrypted backups.
	rsaKey []byte
	owner  string
	ns     core.Namespace
	group  core.Group
	specs  []backup.Spec
}

// cmd runs the whole backup; everything it reports, the final result
// included, goes through the channel so the UI sees it in order.
func (j backupJob) cmd(ctx context.Context) tea.Cmd {
	return func() tea.Msg {
		defer close(j.ch)
		for _, s := range j.specs {
			if err := s.Check(); err != nil {
				j.ch <- backupFinishedMsg{run: j.run, err: err, input: true}
				return nil
			}
		}
		mode := "none"
		var crypt *keys.CryptConfig
		if j.key != nil {
			cfg, err := j.key()
			if err != nil {
				j.ch <- backupFinishedMsg{run: j.run, err: fmt.Errorf("encryption key: %w", err)}
				return nil
			}
			if cfg != nil {
				mode, crypt = "encrypt", cfg
			}
		}
		var rsaKey []byte
		if crypt != nil {
			rsaKey = j.rsaKey
		}
		snap := core.Snapshot{Group: j.group, Time: backupNextTime(j.repo, j.ns, j.group)}
		j.ch <- backupStartedMsg{run: j.run, snap: snap, encrypted: crypt != nil}
		res, err := backup.Run(ctx, backup.Options{
			Repo: j.repo, Namespace: j.ns, Snapshot: snap, Owner: j.owner, Specs: j.specs,
			Crypt: crypt, CryptMode: mode, RSAEncryptedKey: rsaKey, Events: j.sink(ctx),
			ChangeDetection: backup.DefaultMode,
		})
		j.ch <- backupFinishedMsg{run: j.run, res: res, err: err}
		return nil
	}
}

// sink forwards events to the channel. Progress is a snapshot of totals,
// so one may be dropped when the UI is behind; warnings and archive
// figures wait for room (unless the run is being stopped). The margin
// keeps room for the final message.
func (j backupJob) sink(ctx context.Context) core.Sink {
	return func(ev core.Event) {
		m := backupEventMsg{run: j.run, ev: ev}
		if ev.Kind == core.EventProgress {
			if len(j.ch) < cap(j.ch)-16 {
				select {
				case j.ch <- m:
				default:
				}
			}
			return
		}
		select {
		case j.ch <- m:
		case <-ctx.Done():
		}
	}
}

// backupNextTime is now, unless the group's newest snapshot is from this
// very second: snapshot times are whole seconds and must grow, so wait for
// the next one (as the CLI does).
func backupNextTime(repo core.Repository, ns core.Namespace, g core.Group) int64 {
	now := time.Now().Unix()
	list, err := repo.ListSnapshots(ns, &g)
	if err != nil {
		return now
	}
	var last int64
	for _, s := range list {
		last = max(last, s.Snapshot.Time)
	}
	if last >= now && last-now < 3 {
		time.Sleep(time.Until(time.Unix(last+1, 0)))
		return max(time.Now().Unix(), last+1)
	}
	return now
}

// backupScanCmd sums the sizes of the sources for the ETA: regular files
// under a pxar directory (staying on its file system, as pxar does by
// default), the size of an image or file. It stops when ctx is done.
func backupScanCmd(ctx context.Context, run int, specs []backup.Spec) tea.Cmd {
	return func() tea.Msg {
		sizes := make([]int64, len(specs))
		for i, s := range specs {
			sizes[i] = backupSourceSize(ctx, s)
			if ctx.Err() != nil {
				return nil
			}
		}
		return backupScanMsg{run: run, sizes: sizes}
	}
}

func backupSourceSize(ctx context.Context, s backup.Spec) int64 {
	st, err := os.Stat(s.Path)
	if err != nil {
		return -1
	}
	if s.Type != "pxar" {
		if !st.Mode().IsRegular() {
			return -1 // a block device's size needs a seek; leave it unknown
		}
		return st.Size()
	}
	dev := func(fi fs.FileInfo) (uint64, bool) {
		if sys, ok := fi.Sys().(*syscall.Stat_t); ok {
			return uint64(sys.Dev), true
		}
		return 0, false
	}
	rootDev, haveDev := dev(st)
	var total int64
	filepath.WalkDir(s.Path, func(p string, d fs.DirEntry, err error) error {
		if ctx.Err() != nil {
			return filepath.SkipAll
		}
		if err != nil {
			return nil
		}
		fi, err := d.Info()
		if err != nil {
			return nil
		}
		if d.IsDir() {
			if dv, ok := dev(fi); haveDev && ok && dv != rootDev {
				return filepath.SkipDir
			}
			return nil
		}
		if fi.Mode().IsRegular() {
			total += fi.Size()
		}
		return nil
	})
	return total
}

// backupSplit splits a line into words; single and double quotes group,
// a backslash escapes the next character.
func backupSplit(line string) ([]string, error) {
	var words []string
	var cur strings.Builder
	inWord := false
	var quote rune
	esc := false
	for _, r := range line {
		switch {
		case esc:
			cur.WriteRune(r)
			esc = false
		case r == '\\' && quote != '\'':
			esc, inWord = true, true
		case quote != 0:
			if r == quote {
				quote = 0
			} else {
				cur.WriteRune(r)
			}
		case r == '"' || r == '\'':
			quote, inWord = r, true
		case r == ' ' || r == '\t':
			if inWord {
				words = append(words, cur.String())
				cur.Reset()
				inWord = false
			}
		default:
			cur.WriteRune(r)
			inWord = true
		}
	}
	if quote != 0 {
		return nil, fmt.Errorf("unclosed quote %c in %q", quote, line)
	}
	if inWord {
		words = append(words, cur.String())
	}
	return words, nil
}

// backupQuote quotes s for backupSplit when it needs it.
func backupQuote(s string) string {
	if s != "" && !strings.ContainsAny(s, " \t'\"\\") {
		return s
	}
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}

// backupBytes formats a byte count with binary units.
func backupBytes(n uint64) string {
	const unit = 1024
	if n < unit {
		return fmt.Sprintf("%d B", n)
	}
	v, i := float64(n)/unit, 0
	for v >= unit && i < 5 {
		v /= unit
		i++
	}
	return fmt.Sprintf("%.1f %ciB", v, "KMGTPE"[i])
}

// backupDur formats a duration for humans: 4.2s, 3m05s, 2h07m.
func backupDur(d time.Duration) string {
	switch {
	case d < time.Minute:
		return fmt.Sprintf("%.1fs", d.Seconds())
	case d < time.Hour:
		return fmt.Sprintf("%dm%02ds", int(d/time.Minute), int(d%time.Minute/time.Second))
	}
	return fmt.Sprintf("%dh%02dm", int(d/time.Hour), int(d%time.Hour/time.Minute))
}

// backupRate is bytes per second over d.
func backupRate(n uint64, d time.Duration) string {
	if d <= 0 {
		return "– /s"
	}
	return backupBytes(uint64(float64(n)/d.Seconds())) + "/s"
}

// backupDedup is the share of bytes the store already had.
func backupDedup(p core.Progress) string {
	all := p.BytesNew + p.BytesReused
	if all == 0 {
		return "dedup –"
	}
	return "dedup " + strconv.FormatFloat(float64(p.BytesReused)*100/float64(all), 'f', 1, 64) + "%"
}

// backupTail keeps the end of a path in w cells: the file name matters
// more than where it sits.
func backupTail(s string, w int) string {
	if w <= 0 {
		return ""
	}
	if runewidth.StringWidth(s) <= w {
		return s
	}
	rs := []rune(s)
	n := 1 // the "…"
	i := len(rs)
	for i > 0 && n+runewidth.RuneWidth(rs[i-1]) <= w {
		i--
		n += runewidth.RuneWidth(rs[i])
	}
	return "…" + string(rs[i:])
}

// View draws the prompt, or the run: a headline, one block per archive,
// warnings and the outcome.
func (b *Backup) View() string {
	if b.prompt.Active() {
		return b.promptView()
	}
	s := b.c.Styles
	head := []string{b.headline(), b.cut(b.overall(), s.Normal), ""}
	body := b.archiveLines()
	var tail []string
	switch {
	case b.confirming:
		tail = append(tail, "", b.cut("Stop the backup? The unfinished snapshot is removed.  y stop · esc keep running", s.Warn))
	case b.running && b.info != "":
		tail = append(tail, "", b.cut(b.info, s.Dim))
	case b.err != nil:
		tail = append(tail, "", b.wrap("✗ Backup failed: "+b.err.Error(), s.Error))
	case b.cancelled:
		tail = append(tail, "", b.cut("■ Backup stopped; the unfinished snapshot was removed.", s.Warn))
	case b.result != nil:
		tail = append(tail, "")
		tail = append(tail, b.summary()...)
	}
	room := b.height - len(head) - len(body) - len(tail)
	lines := append(head, body...)
	lines = append(lines, b.warningLines(room)...)
	lines = append(lines, tail...)
	return strings.Join(lines, "\n")
}

func (b *Backup) promptView() string {
	s := b.c.Styles
	lines := []string{
		b.cut("New backup into "+b.where(), s.Title),
		"",
		b.prompt.View(),
		"",
		b.cut("Archives: NAME.pxar:DIR  NAME.img:FILE  NAME.conf:FILE  NAME.log:FILE", s.Dim),
		b.cut("Options:  --backup-id ID (default "+b.host+")  --backup-type host|vm|ct", s.Dim),
	}
	if b.inputErr != "" {
		lines = append(lines, "", b.wrap("✗ "+b.inputErr, s.Error))
	}
	return strings.Join(lines, "\n")
}

// where names the repository and namespace the backup goes to.
func (b *Backup) where() string { return b.c.RepoName + " · " + b.nsLabel() }

func (b *Backup) nsLabel() string {
	if b.ns.IsRoot() {
		return "root namespace"
	}
	return "namespace " + string(b.ns)
}

func (b *Backup) headline() string {
	s := b.c.Styles
	name := b.group.String() + " (starting…)"
	if b.started {
		name = b.snap.String()
	}
	var mark, verb string
	st := s.Title
	switch {
	case b.result != nil:
		mark, verb, st = "✓", "finished", s.OK
	case b.err != nil:
		mark, verb, st = "✗", "failed", s.Error
	case b.cancelled:
		mark, verb, st = "■", "stopped", s.Warn
	case b.stopping:
		mark, verb = backupFrames[b.ticks%len(backupFrames)], "stopping…"
	default:
		mark, verb = backupFrames[b.ticks%len(backupFrames)], "running"
	}
	// The breadcrumb names the repository already.
	extra := " · " + b.nsLabel()
	if b.encrypted {
		extra += " · encrypted"
	}
	text := mark + " Backup " + name + " " + verb
	return b.cut(text, st) + b.cutRest(extra, b.width-runewidth.StringWidth(text), s.Dim)
}

// scanTotal is the scanned size of all sources, when every one is known.
func (b *Backup) scanTotal() (uint64, bool) {
	if !b.scanned {
		return 0, false
	}
	var t uint64
	for _, n := range b.sizes {
		if n < 0 {
			return 0, false
		}
		t += uint64(n)
	}
	return t, true
}

func (b *Backup) overall() string {
	p := b.total
	of := " of ? (sizing…)"
	if b.scanned {
		of = " of ?"
	}
	tot, known := b.scanTotal()
	if known {
		of = " of ~" + backupBytes(tot)
	}
	line := "Total " + backupBytes(p.BytesRead) + " read" + of + " · " + backupRate(p.BytesRead, p.Elapsed) +
		" · elapsed " + backupDur(p.Elapsed)
	if b.running && known {
		line += " · ETA " + backupETA(p.BytesRead, tot, p.Elapsed)
	}
	return line
}

// backupETA is the time left at the average rate so far.
func backupETA(read, total uint64, elapsed time.Duration) string {
	if read == 0 || elapsed <= 0 {
		return "–"
	}
	if read >= total {
		return "0s"
	}
	left := time.Duration(float64(total-read) / float64(read) * float64(elapsed)).Round(time.Second)
	if left < time.Minute {
		return fmt.Sprintf("%ds", int(left/time.Second))
	}
	return backupDur(left)
}

// sumDone adds up the figures of the archives already finished.
func (b *Backup) sumDone() core.Progress {
	var t core.Progress
	for _, d := range b.done {
		t.BytesRead += d.BytesRead
		t.BytesNew += d.BytesNew
		t.BytesWritten += d.BytesWritten
		t.BytesReused += d.BytesReused
		t.ChunksNew += d.ChunksNew
		t.ChunksReused += d.ChunksReused
		t.Files += d.Files
		t.Elapsed += d.Elapsed
	}
	return t
}

// current is the running archive's share of the totals.
func (b *Backup) current() core.Progress {
	d, p := b.sumDone(), b.total
	sub := func(a, b uint64) uint64 {
		if a < b {
			return 0
		}
		return a - b
	}
	return core.Progress{
		Path:         p.Path,
		BytesRead:    sub(p.BytesRead, d.BytesRead),
		BytesNew:     sub(p.BytesNew, d.BytesNew),
		BytesWritten: sub(p.BytesWritten, d.BytesWritten),
		BytesReused:  sub(p.BytesReused, d.BytesReused),
		ChunksNew:    sub(p.ChunksNew, d.ChunksNew),
		ChunksReused: sub(p.ChunksReused, d.ChunksReused),
		Files:        sub(p.Files, d.Files),
		Elapsed:      max(p.Elapsed-d.Elapsed, 0),
	}
}

func (b *Backup) archiveLines() []string {
	s := b.c.Styles
	nameW := 0
	for _, sp := range b.specs {
		nameW = max(nameW, runewidth.StringWidth(sp.Name))
	}
	nameW = min(nameW, 24)
	// Chunk counts of finished archives only when every line has room:
	// the other figures matter more, and the columns stay aligned.
	withChunks := true
	doneLine := func(name string, d core.Progress, chunks bool) string {
		line := "✓ " + name + "  " + backupBytes(d.BytesRead) + " read · " + backupBytes(d.BytesNew) + " new · " +
			backupDedup(d) + " · " + backupDur(d.Elapsed)
		if chunks {
			line += " · " + backupChunks(d)
		}
		return line
	}
	for i, d := range b.done {
		if i < len(b.specs) && runewidth.StringWidth(doneLine(ui.Pad(b.specs[i].Name, nameW), d, true)) > b.width {
			withChunks = false
		}
	}
	var lines []string
	for i, sp := range b.specs {
		name := ui.Pad(sp.Name, nameW)
		switch {
		case i < len(b.done):
			lines = append(lines, b.cut(doneLine(name, b.done[i], withChunks), s.Normal))
		case i == len(b.done) && b.running:
			lines = append(lines, b.currentLines(i, name)...)
		case i == len(b.done) && b.err != nil:
			lines = append(lines, b.cut("✗ "+name+"  "+sp.Path+"  failed", s.Error))
		case i == len(b.done) && b.cancelled:
			lines = append(lines, b.cut("■ "+name+"  "+sp.Path+"  stopped", s.Warn))
		default:
			lines = append(lines, b.cut("· "+name+"  "+sp.Path+"  waiting", s.Dim))
		}
	}
	if b.running && len(b.done) >= len(b.specs) && len(b.specs) > 0 {
		lines = append(lines, b.cut("  writing catalog and manifest…", s.Dim))
	}
	return lines
}

func backupChunks(p core.Progress) string {
	return fmt.Sprintf("chunks %d new / %d reused", p.ChunksNew, p.ChunksReused)
}

// currentLines draws the running archive: bar, figures, current file.
func (b *Backup) currentLines(i int, name string) []string {
	s := b.c.Styles
	sp := b.specs[i]
	p := b.current()
	size := int64(-1)
	if b.scanned && i < len(b.sizes) {
		size = b.sizes[i]
	}
	barW := min(max(b.width-34, 10), 60)
	var bar, pct, of string
	if size >= 0 {
		frac := 1.0
		if size > 0 {
			frac = min(float64(p.BytesRead)/float64(size), 1)
		}
		full := int(frac * float64(barW))
		bar = s.BarFull.Render(strings.Repeat("█", full)) + s.BarEmpty.Render(strings.Repeat("░", barW-full))
		pct = ui.PadLeft(fmt.Sprintf("%d%%", int(frac*100)), 4)
		of = " / ~" + backupBytes(uint64(size))
	} else {
		// Size unknown (still scanning, or a device): a block that moves
		// with each progress report.
		pos := b.ticks % barW
		var sb strings.Builder
		for c := range barW {
			if (c-pos+barW)%barW < 6 {
				sb.WriteString(s.BarFull.Render("▓"))
			} else {
				sb.WriteString(s.BarEmpty.Render("░"))
			}
		}
		bar, pct = sb.String(), "   ?"
	}
	eta := "–"
	if size >= 0 {
		eta = backupETA(p.BytesRead, uint64(size), p.Elapsed)
	}
	lines := []string{
		b.cut("▶ "+name+"  "+sp.Path, s.Title),
		"  [" + bar + "]" + pct + "  " + backupBytes(p.BytesRead) + of,
		b.cut("  "+backupBytes(p.BytesRead)+" read · "+backupRate(p.BytesRead, p.Elapsed)+" · "+backupChunks(p)+" · "+backupDedup(p), s.Normal),
		b.cut(fmt.Sprintf("  elapsed %s · ETA %s · %d files", backupDur(p.Elapsed), eta, p.Files), s.Normal),
	}
	if sp.Type == "pxar" {
		lines = append(lines, s.Dim.Render("  file: ")+b.cutRest(backupTail(p.Path, b.width-8), b.width-8, s.Normal))
	}
	return lines
}

// warningLines lists the newest warnings that fit in room lines.
func (b *Backup) warningLines(room int) []string {
	s := b.c.Styles
	n := len(b.warnings)
	if n == 0 {
		return nil
	}
	show := min(n, max(room-2, 0))
	title := fmt.Sprintf("Warnings (%d)", n)
	if show < n {
		title = fmt.Sprintf("Warnings (%d, newest %d shown)", n, show)
	}
	lines := []string{"", b.cut(title, s.Warn)}
	for _, w := range b.warnings[n-show:] {
		lines = append(lines, b.cut("  "+w, s.Normal))
	}
	return lines
}

// summary is the outcome of a finished backup: what, how long, how much.
func (b *Backup) summary() []string {
	s := b.c.Styles
	r := b.result
	t := r.Totals
	return []string{
		b.cut(fmt.Sprintf("✓ Snapshot %s done in %s", r.Snapshot, backupDur(r.Duration)), s.OK),
		b.cut(b.fitting(fmt.Sprintf("  %s read · %s new (%s written) · %s", backupBytes(t.BytesRead), backupBytes(t.BytesNew),
			backupBytes(t.BytesWritten), backupDedup(t)), " · "+backupChunks(t)), s.Normal),
	}
}

// fitting appends extra to line when the result fits the width.
func (b *Backup) fitting(line, extra string) string {
	if runewidth.StringWidth(line+extra) <= b.width {
		return line + extra
	}
	return line
}

// cut styles plain text cut to the view's width.
func (b *Backup) cut(text string, st lipgloss.Style) string {
	return b.cutRest(text, b.width, st)
}

// cutRest styles plain text cut to w cells.
func (b *Backup) cutRest(text string, w int, st lipgloss.Style) string {
	if w <= 0 {
		return ""
	}
	return st.Render(runewidth.Truncate(text, w, "…"))
}

// wrap styles plain text wrapped to the view's width (errors name paths
// and must be read whole).
func (b *Backup) wrap(text string, st lipgloss.Style) string {
	var out []string
	for _, l := range strings.Split(ansi.Wrap(text, max(b.width, 10), " /"), "\n") {
		out = append(out, st.Render(l))
	}
	return strings.Join(out, "\n")
}
