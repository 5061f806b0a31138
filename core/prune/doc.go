// Package prune decides which snapshots of a group a retention policy keeps:
// a pure function of the snapshot list, the keep options and the time zone,
// exactly as upstream's prune (protocol.md 7).
package prune
