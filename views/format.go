package views

import (
	"fmt"
	"time"

	"cairn/core"
)

// when renders an epoch time for lists, in local time.
func when(t int64) string {
	if t == 0 {
		return "-"
	}
	return time.Unix(t, 0).Local().Format("2006-01-02 15:04:05")
}

// size is a byte count for list columns: one decimal keeps it within ten cells.
func size(n uint64) string { return core.HumanBytePrec(n, 1) }

func plural(n int, one, many string) string {
	if n == 1 {
		return fmt.Sprintf("%d %s", n, one)
	}
	return fmt.Sprintf("%d %s", n, many)
}
