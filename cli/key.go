package cli

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/spf13/cobra"

	"cairn/core/blob"
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
				fmt.Fprintf(cmd.ErrOrStderr(), "creating default key at: %q\n", path)
			}
			if _, err := os.Lstat(path); err == nil {
				return fmt.Errorf("key file %q already exists - refusing to overwrite it", path)
			}
			kdf, err := keys.NewKDF(kdfName)
			if err != nil {
				return usageError{err}
			}
			if kdf == nil && hint != "" {
				return usageError{errors.New("a password hint makes no sense with --kdf none")}
			}
			var pw []byte
			if kdf != nil {
				if pw, err = newEncryptionPassword(); err != nil {
					return err
				}
			}
			raw, err := keys.NewKey()
			if err != nil {
				return err
			}
			kc, err := keys.Wrap(raw, kdf, pw, time.Now())
			if err != nil {
				return err
			}
			kc.Hint = hint
			return kc.Save(path, true)
		},
	}
	cmd.Flags().StringVar(&kdfName, "kdf", "scrypt", "key derivation function: scrypt, pbkdf2 or none")
	cmd.Flags().StringVar(&hint, "hint", "", "password hint")
	return cmd
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
			path := optionalPath(args)
			kc, err := keys.Load(path)
			if err != nil {
				return err
			}
			abs, _ := filepath.Abs(path)
			info := map[string]any{"path": abs, "kdf": kc.KDF.Name(), "created": kc.Created, "modified": kc.Modified, "fingerprint": kc.Fingerprint}
			if kc.Hint != "" {
				info["hint"] = kc.Hint
			}
			return renderKeyValue(opts, info, []string{"path", "kdf", "created", "modified", "fingerprint", "hint"})
		},
	}
	out.add(cmd)
	return cmd
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
			var pw []byte
			if kdf != nil {
				if pw, err = newEncryptionPassword(); err != nil {
					return err
				}
			}
			created, err := time.Parse(time.RFC3339, k.config.Created)
			if err != nil {
				created = time.Now()
			}
			kc, err := keys.Wrap(k.raw, kdf, pw, created)
			if err != nil {
				return err
			}
			kc.Hint = hint
			return kc.Save(path, false)
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
			fmt.Fprintln(cmd.ErrOrStderr(), "Generating", keys.MasterKeyBits, "bit RSA key pair...")
			pub, priv, err := keys.NewMasterKey(pw)
			if err != nil {
				return err
			}
			if err := writeFileAtomic("master-public.pem", pub, 0o644); err != nil {
				return err
			}
			if err := writeFileAtomic("master-private.pem", priv, 0o600); err != nil {
				os.Remove("master-public.pem")
				return err
			}
			fmt.Fprintln(cmd.ErrOrStderr(), "Wrote master-public.pem and master-private.pem")
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
			if _, err := keys.ParsePublicKey(data); err != nil {
				return fmt.Errorf("%s: %w", args[0], err)
			}
			dst := defaultMasterPubPath()
			if err := os.MkdirAll(filepath.Dir(dst), 0o700); err != nil {
				return err
			}
			if err := writeFileAtomic(dst, data, 0o644); err != nil {
				return err
			}
			fmt.Fprintf(cmd.ErrOrStderr(), "Imported public master key to %q\n", dst)
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
			}
			data, err := os.ReadFile(path)
			if err != nil {
				return fmt.Errorf("no master public key: %w", err)
			}
			pub, err := keys.ParsePublicKey(data)
			if err != nil {
				return fmt.Errorf("%s: %w", path, err)
			}
			abs, _ := filepath.Abs(path)
			return renderKeyValue(opts, map[string]any{"path": abs, "bits": pub.N.BitLen(), "exponent": pub.E}, []string{"path", "bits", "exponent"})
		},
	}
	out.add(cmd)
	return cmd
}

func newKeyImportWithMasterCmd() *cobra.Command {
	var masterFile, encFile, kdfName string
	cmd := &cobra.Command{
		Use:   "import-with-master-key TARGET",
		Short: "Recover an encryption key from rsa-encrypted.key with the master private key",
		Args:  exactArgs(1, "TARGET"),
		RunE: func(cmd *cobra.Command, args []string) error {
			if masterFile == "" || encFile == "" {
				return usageError{errors.New("--master-keyfile and --encrypted-keyfile are required")}
			}
			if _, err := os.Lstat(args[0]); err == nil {
				return fmt.Errorf("key file %q already exists - refusing to overwrite it", args[0])
			}
			kdf, err := keys.NewKDF(kdfName)
			if err != nil {
				return usageError{err}
			}
			pemData, err := os.ReadFile(masterFile)
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
				return fmt.Errorf("master key %s: %w", masterFile, err)
			}
			enc, err := os.ReadFile(encFile)
			if err != nil {
				return err
			}
			// The file may be the restored payload or the raw blob.
			if b, err := blob.Decode(enc, nil); err == nil {
				enc = b
			}
			old, raw, err := keys.RSADecryptKey(priv, enc)
			if err != nil {
				return fmt.Errorf("%s: %w", encFile, err)
			}
			var newPW []byte
			if kdf != nil {
				if newPW, err = newEncryptionPassword(); err != nil {
					return err
				}
			}
			created, err := time.Parse(time.RFC3339, old.Created)
			if err != nil {
				created = time.Now()
			}
			kc, err := keys.Wrap(raw, kdf, newPW, created)
			if err != nil {
				return err
			}
			return kc.Save(args[0], true)
		},
	}
	cmd.Flags().StringVar(&masterFile, "master-keyfile", "", "RSA master private key (PEM)")
	cmd.Flags().StringVar(&encFile, "encrypted-keyfile", "", "rsa-encrypted.key restored from a snapshot")
	cmd.Flags().StringVar(&kdfName, "kdf", "scrypt", "key derivation function for the new key file: scrypt, pbkdf2 or none")
	return cmd
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

// writeFileAtomic writes via a temp name, fsync and rename.
func writeFileAtomic(path string, data []byte, mode os.FileMode) error {
	dir := filepath.Dir(path)
	tmp, err := os.CreateTemp(dir, "."+filepath.Base(path)+".tmp-*")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name())
	if err := tmp.Chmod(mode); err == nil {
		_, err = tmp.Write(data)
	}
	if err == nil {
		err = tmp.Sync()
	}
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return err
	}
	return os.Rename(tmp.Name(), path)
}
