package cli

// Blank imports keep the module's chosen dependencies in go.mod until the
// packages that use them land.
import (
	_ "github.com/dchest/siphash"
	_ "github.com/klauspost/compress/zstd"
	_ "github.com/spf13/cobra"
	_ "golang.org/x/sys/unix"
	_ "golang.org/x/term"
)

// Execute runs the command line and returns the process exit code.
func Execute() int { return 0 }
