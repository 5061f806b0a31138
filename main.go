// Command cairn is a backup client, server and terminal UI compatible with
// Proxmox Backup Server. main only hands over to the command tree.
package main

import (
	"os"

	"cairn/cli"
	// Before Bubble Tea's init: no terminal queries from CLI commands.
	_ "cairn/internal/termquiet"
)

func main() {
	os.Exit(cli.Execute())
}
