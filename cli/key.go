package cli

import (
	"crypto/rsa"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"cairn/cli/format"
	"cairn/core/blob"
	"cairn/internal/atomicfile"
	"cairn/keys"
)

func newKeyCmd() *cobra.Command {
	cmd := &cobra.Command{Use: "key", Short: "Manage encryption keys and the master key"}
	cmd.AddCommand(newKeyCreateCmd(), newKeyShowCmd(), newKeyChangePassCmd(), newKeyCreateMasterCmd(),
		newKeyImportMasterPubCmd(), newKeyShowMasterPubCmd(), newKeyImportWithMasterCmd(), newKeyPaperkeyCmd())
	return cmd
}

func optionalPath(args []string) string {
	if len(args) == 1 {
		return args[0]
	}
	return defaultKeyPath()
}

func newKeyCreateCmd() *cobra.Command {
	var kdfName, hint string
	cmd := &cobra.Command{
		Use:   "create [PATH]",
		Short: "Create a new encryption key (default: ~/.config/proxmox-backup/encryption-key.json)",
		Args:  rangeArgs(0, 1, "[PATH]"),
		RunE: func(cmd *cobra.Command, args []string) error {
			path := optionalPath(args)
			if len(args) == 0 {
				fmt.Fprintf(cmd.ErrOrStderr(), "creating default key at: %s\n", rustDebugQuote(path))
			}
			if _, err := os.Lstat(path); err == nil {
				// Upstream's words for an existing file (it never replaces one).
				//lint:ignore ST1005 upstream's exact words
				return fmt.Errorf("Unable to store key file %s - File exists (os error 17)", rustDebugQuote(path))
			}
			kdf, err := keys.NewKDF(kdfName)
			if err != nil {
				return usageError{err}
			}
			if kdf == nil && hint != "" {
				return usageError{errors.New("a password hint makes no sense with --kdf none")}
			}
			raw, err := keys.NewKey()
			if err != nil {
				return err
			}
			return saveNewKey(path, raw, kdf, hint, time.Time{}, true)
		},
	}
	cmd.Flags().StringVar(&kdfName, "kdf", "scrypt", "key derivation function: scrypt, pbkdf2 or none")
	cmd.Flags().StringVar(&hint, "hint", "", "password hint")
	return cmd
}

// saveNewKey writes the key raw to path, protected by a new password
// (asked for unless kdf is nil) with hint. created is the key's creation
// time, zero for now; create refuses to replace a file.
func saveNewKey(path string, raw [32]byte, kdf *keys.KDF, hint string, created time.Time, create bool) error {
	var pw []byte
	if kdf != nil {
		var err error
		if pw, err = newEncryptionPassword(); err != nil {
			return err
		}
	}
	if created.IsZero() {
		created = time.Now()
	}
	kc, err := keys.Wrap(raw, kdf, pw, created)
	if err != nil {
		return err
	}
	kc.Hint = hint
	return kc.Save(path, create)
}

// keyCreated is the creation time a key file records; zero (for now) when
// it does not parse.
func keyCreated(kc *keys.KeyConfig) time.Time {
	t, err := time.Parse(time.RFC3339, kc.Created)
	if err != nil {
		return time.Time{}
	}
	return t
}

func newKeyShowCmd() *cobra.Command {
	var out outputFlag
	cmd := &cobra.Command{
		Use:   "show [PATH]",
		Short: "Show key file information: path, kdf, times and fingerprint",
		Args:  rangeArgs(0, 1, "[PATH]"),
		RunE: func(cmd *cobra.Command, args []string) error {
			opts, err := out.options()
			if err != nil {
				return err
			}
			path, err := existingKeyPath(args)
			if err != nil {
				return err
			}
			kc, err := keys.Load(path)
			if err != nil {
				return err
			}
			info, err := keyInfo(kc, path)
			if err != nil {
				return err
			}
			// Upstream's KeyInfo: the path as given, in Rust's debug quoting;
			// times as epochs, shown as local %c in text.
			return renderKeyValue(opts, info, []string{"path", "kdf", "created", "modified", "fingerprint", "hint"},
				map[string]format.Column{"created": {Render: epochColumn}, "modified": {Render: epochColumn}})
		},
	}
	out.add(cmd)
	return cmd
}

// existingKeyPath is the key file a command without PATH uses: the default
// key, which must exist (upstream's find_default_encryption_key).
func existingKeyPath(args []string) (string, error) {
	if len(args) == 1 {
		return args[0], nil
	}
	path := defaultKeyPath()
	if _, err := os.Stat(path); err != nil {
		return "", errors.New("no encryption file provided and no default file found")
	}
	return path, nil
}

// keyInfo is upstream's KeyInfo of a key file (key show).
func keyInfo(kc *keys.KeyConfig, path string) (map[string]any, error) {
	info := map[string]any{"path": rustDebugQuote(path), "kdf": kc.KDF.Name()}
	for _, t := range []struct{ name, value string }{{"created", kc.Created}, {"modified", kc.Modified}} {
		tm, err := time.Parse(time.RFC3339, t.value)
		if err != nil {
			return nil, fmt.Errorf("%s: bad %s time %q", path, t.name, t.value)
		}
		info[t.name] = tm.Unix()
	}
	if kc.Fingerprint != "" {
		info["fingerprint"] = kc.Fingerprint
	}
	if kc.Hint != "" {
		info["hint"] = kc.Hint
	}
	return info, nil
}

func newKeyChangePassCmd() *cobra.Command {
	var kdfName, hint string
	cmd := &cobra.Command{
		Use:   "change-passphrase [PATH]",
		Short: "Change the passphrase (and KDF) protecting a key file",
		Args:  rangeArgs(0, 1, "[PATH]"),
		RunE: func(cmd *cobra.Command, args []string) error {
			path := optionalPath(args)
			kdf, err := keys.NewKDF(kdfName)
			if err != nil {
				return usageError{err}
			}
			k, err := loadKeyFile(path)
			if err != nil {
				return err
			}
			return saveNewKey(path, k.raw, kdf, hint, keyCreated(k.config), false)
		},
	}
	cmd.Flags().StringVar(&kdfName, "kdf", "scrypt", "key derivation function: scrypt, pbkdf2 or none")
	cmd.Flags().StringVar(&hint, "hint", "", "password hint")
	return cmd
}

func newKeyCreateMasterCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "create-master-key",
		Short: "Create an RSA master key pair in the current directory (master-public.pem, master-private.pem)",
		Args:  exactArgs(0, ""),
		RunE: func(cmd *cobra.Command, args []string) error {
			for _, f := range []string{"master-public.pem", "master-private.pem"} {
				if _, err := os.Lstat(f); err == nil {
					return fmt.Errorf("%s already exists - refusing to overwrite it", f)
				}
			}
			pw, err := masterPassword(true)
			if err != nil {
				return err
			}
			// Upstream's messages, on stderr as upstream logs them.
			errw := cmd.ErrOrStderr()
			fmt.Fprintf(errw, "Generating %d-bit RSA key..\n", keys.MasterKeyBits)
			pub, priv, err := keys.NewMasterKey(pw)
			if err != nil {
				return err
			}
			if pk, err := keys.ParsePublicKey(pub); err == nil {
				fmt.Fprintf(errw, "Modulus: %s\nExponent: %d\n    \n", rsaModulusHex(pk), pk.E)
			}
			fmt.Fprintln(errw, "Writing public master key to master-public.pem")
			if err := createMasterFile("master-public.pem", pub, 0o644); err != nil {
				return err
			}
			fmt.Fprintln(errw, "Writing private master key to master-private.pem")
			if err := createMasterFile("master-private.pem", priv, 0o600); err != nil {
				os.Remove("master-public.pem")
				return err
			}
			return nil
		},
	}
}

// masterPassword reads the master key password: the encryption password
// variables first (so scripts need no terminal), then a prompt.
func masterPassword(confirm bool) ([]byte, error) {
	if pw, ok, err := secretFromEnv("PBS_ENCRYPTION_PASSWORD"); ok {
		return pw, err
	}
	pw, err := promptSecret("Master Key Password: ")
	if errors.Is(err, errNoTerminal) {
		return nil, errors.New("no master key password: set PBS_ENCRYPTION_PASSWORD (or _FD, _FILE, _CMD) or run on a terminal")
	}
	if err != nil || !confirm {
		return pw, err
	}
	again, err := promptSecret("Verify Password: ")
	if err != nil {
		return nil, err
	}
	if string(again) != string(pw) {
		return nil, errors.New("passwords do not match")
	}
	return pw, nil
}

func newKeyImportMasterPubCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "import-master-pubkey PATH",
		Short: "Import an RSA public master key to use for backups",
		Args:  exactArgs(1, "PATH"),
		RunE: func(cmd *cobra.Command, args []string) error {
			data, err := os.ReadFile(args[0])
			if err != nil {
				return err
			}
			pub, err := keys.ParsePublicKey(data)
			if err != nil {
				return fmt.Errorf("%s: %w", args[0], err)
			}
			fmt.Fprintf(cmd.ErrOrStderr(), "Found following key at %s\nModulus: %s\nExponent: %d\nLength: %d\n",
				rustDebugQuote(args[0]), rsaModulusHex(pub), pub.E, pub.N.BitLen())
			dst := defaultMasterPubPath()
			if err := os.MkdirAll(filepath.Dir(dst), 0o700); err != nil {
				return err
			}
			if err := atomicfile.WriteFile(dst, data, 0o644); err != nil {
				return err
			}
			fmt.Fprintf(cmd.ErrOrStderr(), "Imported public master key to %s\n", rustDebugQuote(dst))
			return nil
		},
	}
}

func newKeyShowMasterPubCmd() *cobra.Command {
	var out outputFlag
	cmd := &cobra.Command{
		Use:   "show-master-pubkey [PATH]",
		Short: "Show information about the RSA public master key",
		Args:  rangeArgs(0, 1, "[PATH]"),
		RunE: func(cmd *cobra.Command, args []string) error {
			opts, err := out.options()
			if err != nil {
				return err
			}
			path := defaultMasterPubPath()
			if len(args) == 1 {
				path = args[0]
			} else if _, err := os.Stat(path); err != nil {
				//lint:ignore ST1005 upstream's exact words
				return errors.New("No path specified and no default master key available.")
			}
			// Upstream shows the canonical path.
			if abs, err := filepath.Abs(path); err == nil {
				path = abs
				if real, err := filepath.EvalSymlinks(abs); err == nil {
					path = real
				}
			}
			data, err := os.ReadFile(path)
			if err != nil {
				return err
			}
			pub, err := keys.ParsePublicKey(data)
			if err != nil {
				return fmt.Errorf("%s: %w", path, err)
			}
			// Upstream's RsaPubKeyInfo: modulus in hex, exponent in
			// decimal, both as strings; length in bits.
			info := map[string]any{"path": path, "modulus": rsaModulusHex(pub),
				"exponent": strconv.Itoa(pub.E), "length": pub.N.BitLen()}
			return renderKeyValue(opts, info, []string{"path", "modulus", "exponent", "length"}, nil)
		},
	}
	out.add(cmd)
	return cmd
}

// rsaModulusHex is the modulus as OpenSSL's BN_bn2hex prints it: upper-case
// hex, two digits per byte.
func rsaModulusHex(pub *rsa.PublicKey) string {
	return strings.ToUpper(hex.EncodeToString(pub.N.Bytes()))
}

func newKeyImportWithMasterCmd() *cobra.Command {
	var masterFile, encFile, kdfName, hint string
	cmd := &cobra.Command{
		Use:   "import-with-master-key [PATH] --master-keyfile M --encrypted-keyfile E | MASTER-KEYFILE ENCRYPTED-KEYFILE [PATH]",
		Short: "Recover an encryption key from rsa-encrypted.key with the master private key",
		Long: `Recover an encryption key from rsa-encrypted.key with the master private key
and store it at PATH (default: the default encryption key). Both forms work:
the files as options (--master-keyfile, --encrypted-keyfile) or, as older
upstream clients take them, as the first two arguments.`,
		Args: rangeArgs(0, 3, "[PATH] with --master-keyfile and --encrypted-keyfile, or MASTER-KEYFILE ENCRYPTED-KEYFILE [PATH]"),
		RunE: func(cmd *cobra.Command, args []string) error {
			master, enc, target, err := importWithMasterArgs(masterFile, encFile, args)
			if err != nil {
				return err
			}
			kdf, err := keys.NewKDF(kdfName)
			if err != nil {
				return usageError{err}
			}
			if kdf == nil && hint != "" {
				return usageError{errors.New("password hint not allowed for Kdf::None")}
			}
			if _, err := os.Lstat(target); err == nil {
				return fmt.Errorf("key file %q already exists - refusing to overwrite it", target)
			}
			pemData, err := os.ReadFile(master)
			if err != nil {
				return err
			}
			enc0, err := os.ReadFile(enc)
			if err != nil {
				return err
			}
			var pw []byte
			if keys.IsEncryptedPrivateKey(pemData) {
				if pw, err = masterPassword(false); err != nil {
					return err
				}
			}
			priv, err := keys.ParsePrivateKey(pemData, pw)
			if err != nil {
				return fmt.Errorf("master key %s: %w", master, err)
			}
			// The file may be the restored payload or the raw blob.
			if b, err := blob.Decode(enc0, nil); err == nil {
				enc0 = b
			}
			old, raw, err := keys.RSADecryptKey(priv, enc0)
			if err != nil {
				return fmt.Errorf("%s: %w", enc, err)
			}
			return saveNewKey(target, raw, kdf, hint, keyCreated(old), true)
		},
	}
	cmd.Flags().StringVar(&masterFile, "master-keyfile", "", "(private) master key to use (PEM)")
	cmd.Flags().StringVar(&encFile, "encrypted-keyfile", "", "RSA-encrypted key file to import (rsa-encrypted.key restored from a snapshot)")
	cmd.Flags().StringVar(&kdfName, "kdf", "scrypt", "key derivation function for the new key file: scrypt, pbkdf2 or none")
	cmd.Flags().StringVar(&hint, "hint", "", "password hint")
	return cmd
}

// importWithMasterArgs sorts out the two forms of import-with-master-key
// (DESIGN.md): the seed's and upstream 3.x's [PATH] with --master-keyfile
// and --encrypted-keyfile, and the positional MASTER-KEYFILE
// ENCRYPTED-KEYFILE [PATH]. Without PATH the key becomes the default key.
func importWithMasterArgs(masterFlag, encFlag string, args []string) (master, enc, target string, err error) {
	switch {
	case masterFlag != "" && encFlag != "":
		if len(args) > 1 {
			return "", "", "", usageError{fmt.Errorf("import-with-master-key takes at most one PATH with --master-keyfile and --encrypted-keyfile, got %d arguments", len(args))}
		}
		master, enc = masterFlag, encFlag
	case masterFlag != "" || encFlag != "":
		return "", "", "", usageError{errors.New("--master-keyfile and --encrypted-keyfile go together (or give both files as arguments: MASTER-KEYFILE ENCRYPTED-KEYFILE [PATH])")}
	default:
		if len(args) < 2 {
			return "", "", "", usageError{errors.New("import-with-master-key needs --master-keyfile and --encrypted-keyfile, or MASTER-KEYFILE ENCRYPTED-KEYFILE [PATH]")}
		}
		master, enc, args = args[0], args[1], args[2:]
	}
	if len(args) == 1 {
		return master, enc, args[0], nil
	}
	target = defaultKeyPath()
	if err := os.MkdirAll(filepath.Dir(target), 0o700); err != nil {
		return "", "", "", err
	}
	return master, enc, target, nil
}

func newKeyPaperkeyCmd() *cobra.Command {
	var format, subject string
	cmd := &cobra.Command{
		Use:   "paperkey [PATH]",
		Short: "Print a key file or master private key as text and QR code for paper backup",
		Args:  rangeArgs(0, 1, "[PATH]"),
		RunE: func(cmd *cobra.Command, args []string) error {
			data, err := os.ReadFile(optionalPath(args))
			if err != nil {
				return err
			}
			out, err := keys.Paperkey(data, format, subject)
			if err != nil {
				return err
			}
			_, err = fmt.Fprint(stdout, out)
			return err
		},
	}
	cmd.Flags().StringVar(&format, "output-format", "html", "text or html")
	cmd.Flags().StringVar(&subject, "subject", "", "a subject line to print above the key")
	return cmd
}

// createMasterFile writes a new master key file atomically, never over an
// existing file (one that appeared since the check above included).
func createMasterFile(path string, data []byte, mode os.FileMode) error {
	err := atomicfile.WriteFileExclusive(path, data, mode)
	if errors.Is(err, fs.ErrExist) {
		return fmt.Errorf("%s already exists - refusing to overwrite it", path)
	}
	return err
}
