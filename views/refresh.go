package views

import (
	"fmt"
	"sort"
	"strings"

	tea "github.com/charmbracelet/bubbletea"

	"cairn/core"
)

// Lists that show repository data reload (ui.Reloader) after every job,
// when they come back on top and on ctrl+r; the group list also polls
// (ui.Poller) while it is on top, so a backup made elsewhere shows up.

// Reload loads the groups again.
func (v *Groups) Reload() tea.Cmd { return v.load() }

// Reload loads the snapshots again.
func (v *Snapshots) Reload() tea.Cmd { return v.load() }

// Reload loads the group's snapshots again and recomputes the preview.
func (p *Prune) Reload() tea.Cmd { return p.loadCmd() }

// groupsPolledMsg carries the signature of what the group list shows.
type groupsPolledMsg struct {
	sig string
	err error
}

// Poll checks cheaply whether the groups changed: one group listing per
// namespace (counts, newest backup, its files), not every snapshot's
// manifest as a reload reads. The reload follows only on a difference.
func (v *Groups) Poll() tea.Cmd {
	repo := v.c.Repo
	return func() tea.Msg {
		sig, err := groupsSignature(repo)
		return groupsPolledMsg{sig: sig, err: err}
	}
}

// polled reloads when the signature differs from the last poll's (the
// first poll reloads too: the list may have changed since it was loaded).
func (v *Groups) polled(msg groupsPolledMsg) tea.Cmd {
	if msg.err != nil || msg.sig == v.pollSig {
		return nil
	}
	v.pollSig = msg.sig
	return v.load()
}

// groupsSignature sums up every group of every namespace: a change in any
// count, newest backup or its files (a snapshot finished) changes it.
func groupsSignature(repo core.Repository) (string, error) {
	nss, err := repo.ListNamespaces(core.Namespace(""), -1)
	if err != nil {
		return "", err
	}
	if len(nss) == 0 || !nss[0].IsRoot() {
		nss = append([]core.Namespace{""}, nss...)
	}
	sort.Slice(nss, func(i, j int) bool { return nss[i] < nss[j] })
	var b strings.Builder
	for _, ns := range nss {
		groups, err := repo.ListGroups(ns)
		if err != nil {
			return "", err
		}
		sort.Slice(groups, func(i, j int) bool { return groups[i].Group.String() < groups[j].Group.String() })
		fmt.Fprintf(&b, "ns %s\n", ns)
		for _, g := range groups {
			fmt.Fprintf(&b, "%s %d %d %s\n", g.Group, g.BackupCount, g.LastBackup, strings.Join(g.Files, ","))
		}
	}
	return b.String(), nil
}
