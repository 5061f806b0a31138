package views

import (
	"errors"
	"strings"

	"cairn/core"
	"cairn/keys"
	"cairn/ui"
)

// Encrypted snapshots need the key they were made with. A key that could
// not be loaded (a wrong PBS_ENCRYPTION_PASSWORD) costs only them: the
// lists say per group and per snapshot why they cannot be read, and K
// loads a key from inside the UI.

// lockReason says in a few words why a snapshot encrypted with key
// fingerprint fp cannot be read, "" when it can.
func lockReason(c *ui.Common, fp string) string {
	switch {
	case c.KeyLoaded() && sameKey(fp, c.KeyFingerprint):
		return ""
	case c.KeyLoaded():
		return "other key"
	case errors.Is(c.KeyErr, keys.ErrWrongPassword):
		return "bad password"
	case c.KeyErr != nil:
		return "key error"
	}
	return "no key"
}

// sameKey compares two fingerprints; an unknown one ("") matches.
func sameKey(a, b string) bool {
	if a == "" || b == "" {
		return true
	}
	fa, errA := keys.ParseFingerprint(a)
	fb, errB := keys.ParseFingerprint(b)
	if errA != nil || errB != nil {
		return strings.EqualFold(a, b)
	}
	return fa == fb
}

// encrypted tells whether any file of a snapshot is encrypted.
func encrypted(s core.SnapshotInfo) bool { return cryptOf(s) == "encrypt" }

// keyBanner is the line above the group list when encrypted groups cannot
// be read: what is wrong and what to press, cut in the middle when long
// so both stay in sight.
func keyBanner(c *ui.Common, locked, width int) string {
	if locked == 0 {
		return ""
	}
	why := "no encryption key is loaded"
	switch {
	case errors.Is(c.KeyErr, keys.ErrWrongPassword) && c.KeyPath != "":
		why = "the password of " + c.KeyPath + " is wrong"
	case errors.Is(c.KeyErr, keys.ErrWrongPassword):
		why = "the key's password is wrong"
	case c.KeyErr != nil:
		why = "the key did not load (" + c.KeyErr.Error() + ")"
	case c.KeyLoaded():
		why = "they were made with another key"
	}
	text := plural(locked, "encrypted group", "encrypted groups") + " cannot be read: " + why + " — " + c.Keys.LoadKey.Help().Key + " loads a key"
	return ui.CutMiddle(text, width)
}
