package client

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"time"

	"cairn/internal/atomicfile"
)

// TicketEntry is one cached ticket (protocol.md 1.7).
type TicketEntry struct {
	Timestamp int64  `json:"timestamp"`
	Ticket    string `json:"ticket"`
	Token     string `json:"token"`
}

// ticketMaxAge is how old a cached ticket may be to be used: 7200 − 60 s.
const ticketMaxAge = 7200 - 60

// now is replaceable in tests.
var now = time.Now

// TicketCachePath is $XDG_RUNTIME_DIR/proxmox-backup/tickets.
func TicketCachePath() string {
	dir := os.Getenv("XDG_RUNTIME_DIR")
	if dir == "" {
		run := fmt.Sprintf("/run/user/%d", os.Getuid())
		if st, err := os.Stat(run); err == nil && st.IsDir() {
			dir = run
		} else {
			dir = filepath.Join(os.TempDir(), fmt.Sprintf("proxmox-backup-%d", os.Getuid()))
		}
	}
	return filepath.Join(dir, "proxmox-backup", "tickets")
}

// configDir is $XDG_CONFIG_HOME/proxmox-backup (default ~/.config/proxmox-backup).
func configDir() string {
	dir := os.Getenv("XDG_CONFIG_HOME")
	if dir == "" {
		home, err := os.UserHomeDir()
		if err != nil {
			home = "/"
		}
		dir = filepath.Join(home, ".config")
	}
	return filepath.Join(dir, "proxmox-backup")
}

// FingerprintCachePath is $XDG_CONFIG_HOME/proxmox-backup/fingerprints.
func FingerprintCachePath() string { return filepath.Join(configDir(), "fingerprints") }

type ticketFile map[string]map[string]TicketEntry

func loadTicketFile() ticketFile {
	data, err := os.ReadFile(TicketCachePath())
	tf := ticketFile{}
	if err != nil {
		return tf
	}
	if json.Unmarshal(data, &tf) != nil {
		return ticketFile{}
	}
	return tf
}

func fresh(e TicketEntry) bool { return now().Unix()-e.Timestamp < ticketMaxAge }

// LoadTicket returns a still-usable cached ticket for server/user.
func LoadTicket(server, user string) (TicketEntry, bool) {
	e, ok := loadTicketFile()[server][user]
	if !ok || !fresh(e) || e.Ticket == "" {
		return TicketEntry{}, false
	}
	return e, true
}

// StoreTicket records a ticket, dropping expired entries.
func StoreTicket(server, user, ticket, token string, timestamp int64) error {
	tf := loadTicketFile()
	if tf[server] == nil {
		tf[server] = map[string]TicketEntry{}
	}
	tf[server][user] = TicketEntry{Timestamp: timestamp, Ticket: ticket, Token: token}
	return writeTicketFile(tf)
}

// RemoveTicket deletes server/user from the cache (logout).
func RemoveTicket(server, user string) error {
	tf := loadTicketFile()
	if m := tf[server]; m != nil {
		delete(m, user)
	}
	return writeTicketFile(tf)
}

func writeTicketFile(tf ticketFile) error {
	for srv, users := range tf {
		for u, e := range users {
			if !fresh(e) {
				delete(users, u)
			}
		}
		if len(users) == 0 {
			delete(tf, srv)
		}
	}
	data, err := json.Marshal(tf)
	if err != nil {
		return err
	}
	return writeAtomic(TicketCachePath(), data, 0o600)
}

// writeAtomic replaces path (making its directory): on any error the old
// file is intact.
func writeAtomic(path string, data []byte, mode fs.FileMode) error {
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return err
	}
	return atomicfile.WriteFile(path, data, mode)
}

// LoadFingerprint returns the stored fingerprint of a server.
func LoadFingerprint(server string) (string, bool) {
	f, err := os.Open(FingerprintCachePath())
	if err != nil {
		return "", false
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		fields := strings.Fields(sc.Text())
		if len(fields) == 2 && fields[0] == server {
			return strings.ToLower(fields[1]), true
		}
	}
	return "", false
}

// StoreFingerprint replaces (or appends) the line of a server.
func StoreFingerprint(server, fp string) error {
	var lines []string
	data, err := os.ReadFile(FingerprintCachePath())
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return err
	}
	for _, l := range strings.Split(string(data), "\n") {
		fields := strings.Fields(l)
		if len(fields) != 2 || fields[0] == server {
			continue
		}
		lines = append(lines, fields[0]+" "+fields[1])
	}
	lines = append(lines, server+" "+fp)
	return writeAtomic(FingerprintCachePath(), []byte(strings.Join(lines, "\n")+"\n"), 0o644)
}
