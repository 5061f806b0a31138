// Package cli is cairn's command tree: the proxmox-backup-client commands,
// the pxar tool, each verb in its own file. Commands parse flags into an
// options struct and make one call into core; they print events and results
// as text or JSON and turn errors into one line and an exit code.
package cli
