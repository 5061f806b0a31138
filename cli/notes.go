package cli

import (
	"errors"
	"fmt"
	"io"
	"os"

	"github.com/spf13/cobra"

	"cairn/core"
	"cairn/core/blob"
)

// newNotesCmd is `snapshot notes show|update`: the free-text notes kept in
// a snapshot's manifest (unprotected.notes).
func newNotesCmd() *cobra.Command {
	return snapshotField[string]{
		name: "notes", short: "Show or change a snapshot's notes",
		showShort: "Print a snapshot's notes",
		updateArg: "NOTES", updateShort: "Replace a snapshot's notes",
		key:   "notes",
		get:   core.Repository.Notes,
		parse: func(s string) (string, error) { return s, nil },
		set:   core.Repository.SetNotes,
	}.command()
}

// newUploadLogCmd is `snapshot upload-log SNAPSHOT LOGFILE` (alias
// `upload-log`): the file is stored as the snapshot's client.log.blob,
// compressed, and encrypted when a key is used in encrypt mode.
func newUploadLogCmd() *cobra.Command {
	var rf repoFlags
	var cf cryptFlags
	cmd := &cobra.Command{
		Use:   "upload-log SNAPSHOT LOGFILE",
		Short: "Store a log file with a finished snapshot (as client.log.blob)",
		Args:  exactArgs(2, "SNAPSHOT LOGFILE"),
		RunE: func(cmd *cobra.Command, args []string) error {
			data, err := readLogFile(args[1])
			if err != nil {
				return err
			}
			bc, err := cf.forBackup(cmd.ErrOrStderr())
			if err != nil {
				return err
			}
			var c blob.Cipher
			if bc.mode == "encrypt" {
				c = bc.key.crypt
			}
			enc, err := blob.Encode(data, true, c)
			if err != nil {
				return err
			}
			repo, ns, snap, err := snapshotArgs(&rf, args[0])
			if err != nil {
				return err
			}
			defer repo.Close()
			return repo.UploadLog(ns, snap, enc)
		},
	}
	rf.add(cmd, true)
	cf.add(cmd, true)
	return cmd
}

// readLogFile reads a log to upload, refusing what no blob can hold.
func readLogFile(path string) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, blob.MaxSize+1))
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", path, err)
	}
	if len(data) > blob.MaxSize {
		return nil, errors.New("log file " + path + " is larger than a blob may be (128 MiB)")
	}
	return data, nil
}
