package datastore

import (
	"fmt"

	"cairn/core"
)

// The backup times upstream accepts: its API schema wants at least 1
// (pbs-api-types BACKUP_TIME_SCHEMA), and a snapshot directory is named by
// the time in RFC 3339 with a 4-digit year, which proxmox-time refuses to
// format past the year 9999 (epoch_to_rfc3339_utc). A time outside makes a
// directory that no listing parses, so a finished snapshot nobody sees.
const (
	MinBackupTime int64 = 1
	MaxBackupTime int64 = 253402300799 // 9999-12-31T23:59:59Z
)

// CheckBackupTime refuses a backup time upstream refuses.
func CheckBackupTime(t int64) error {
	if t < MinBackupTime || t > MaxBackupTime {
		return fmt.Errorf("backup time %d is out of range: it must be a Unix epoch from %d to %d (%s)",
			t, MinBackupTime, MaxBackupTime, core.FormatSnapshotTime(MaxBackupTime))
	}
	return nil
}
