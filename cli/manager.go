package cli

import (
	"bytes"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"cairn/cli/format"

	"cairn/core/datastore"
	"cairn/net/server/config"
)

// configDir resolves --config-dir, then CAIRN_CONFIG_DIR, then the default.
func serverConfigDir(flag string) string {
	if flag != "" {
		return flag
	}
	if v := os.Getenv("CAIRN_CONFIG_DIR"); v != "" {
		return v
	}
	return config.DefaultDir
}

func newManagerCmd() *cobra.Command {
	var dirFlag string
	cmd := &cobra.Command{
		Use:   "manager",
		Short: "Set up the server: datastores, users, API tokens, ACLs, certificate",
	}
	cmd.PersistentFlags().StringVar(&dirFlag, "config-dir", "", "server configuration directory (env CAIRN_CONFIG_DIR, default "+config.DefaultDir+")")
	dir := func() string { return serverConfigDir(dirFlag) }
	cmd.AddCommand(newManagerDatastoreCmd(dir), newManagerUserCmd(dir), newManagerACLCmd(dir), newManagerCertCmd(dir), newManagerS3Cmd(dir))
	return cmd
}

// managerList is a "list" subcommand: rows turns the configuration into
// what JSON output shows and the text lines.
func managerList(short string, dir func() string, rows func(cfg *config.Config) (any, []string)) *cobra.Command {
	out := &outputFlag{}
	list := &cobra.Command{
		Use:   "list",
		Short: short,
		Args:  exactArgs(0, "no arguments"),
		RunE: func(c *cobra.Command, args []string) error {
			cfg, err := config.Load(dir())
			if err != nil {
				return err
			}
			items, lines := rows(cfg)
			return printJSONOrLines(out, items, lines)
		},
	}
	out.add(list)
	return list
}

func printJSONOrLines(out *outputFlag, v any, lines []string) error {
	o, err := out.options()
	if err != nil {
		return usageError{err}
	}
	switch o.Format {
	case format.JSON:
		b, _ := json.Marshal(v)
		fmt.Println(string(b))
	case format.JSONPretty:
		b, _ := json.MarshalIndent(v, "", "  ")
		fmt.Println(string(b))
	default:
		for _, l := range lines {
			fmt.Println(l)
		}
	}
	return nil
}

func newManagerDatastoreCmd(dir func() string) *cobra.Command {
	cmd := &cobra.Command{Use: "datastore", Short: "Manage datastores"}
	var comment, backend, s3Endpoint, bucket, prefix, cacheDir string
	create := &cobra.Command{
		Use:   "create NAME [PATH] [--backend s3 --s3-endpoint ID --bucket B [--prefix P] --cache-dir DIR]",
		Short: "Create a datastore: a directory (made if needed), or in an S3 bucket (made if missing)",
		Args:  rangeArgs(1, 2, "NAME [PATH]"),
		RunE: func(c *cobra.Command, args []string) error {
			name := args[0]
			if !config.ValidSafeID(name) {
				return usageError{fmt.Errorf("invalid datastore name %q (letters, digits, '_', '.', '-')", name)}
			}
			isS3 := false
			switch backend {
			case "", config.BackendFilesystem:
				if len(args) != 2 {
					return usageError{fmt.Errorf("%s expects NAME PATH", c.CommandPath())}
				}
				for _, f := range []string{"s3-endpoint", "bucket", "prefix", "cache-dir"} {
					if c.Flags().Changed(f) {
						return usageError{fmt.Errorf("--%s needs --backend s3", f)}
					}
				}
			case config.BackendS3:
				isS3 = true
				if len(args) != 1 {
					return usageError{fmt.Errorf("an S3 datastore takes no PATH; its local cache is --cache-dir")}
				}
				if s3Endpoint == "" || bucket == "" || cacheDir == "" {
					return usageError{fmt.Errorf("--backend s3 needs --s3-endpoint, --bucket and --cache-dir")}
				}
				if !config.ValidBucketName(bucket) {
					return usageError{fmt.Errorf("invalid bucket name %q", bucket)}
				}
				prefix = strings.Trim(prefix, "/")
				for _, p := range strings.Split(prefix, "/") {
					if prefix != "" && (p == "" || p == "." || p == "..") {
						return usageError{fmt.Errorf("invalid prefix %q", prefix)}
					}
				}
			default:
				return usageError{fmt.Errorf("unknown backend %q (filesystem or s3)", backend)}
			}
			p := cacheDir
			if !isS3 {
				p = args[1]
			}
			abs, err := filepath.Abs(p)
			if err != nil {
				return err
			}
			dsc := config.Datastore{Path: abs, Comment: comment}
			if isS3 {
				dsc.Backend, dsc.S3Endpoint, dsc.Bucket, dsc.Prefix = config.BackendS3, s3Endpoint, bucket, prefix
			}
			return config.Update(dir(), func(cfg *config.Config) error {
				if err := cfg.CheckNewDatastore(name, dsc); err != nil {
					return err
				}
				if !isS3 {
					// Upstream's full layout (all 65536 prefix directories),
					// as upstream PBS expects of a datastore it serves; an
					// existing path repository is adopted and completed.
					adopted := datastore.Exists(abs)
					if err := datastore.CreateFull(abs); err != nil {
						return err
					}
					cfg.Datastores[name] = dsc
					if adopted {
						fmt.Fprintf(os.Stderr, "adopted the existing datastore at %s as '%s'\n", abs, name)
						return nil
					}
					fmt.Fprintf(os.Stderr, "created datastore '%s' at %s\n", name, abs)
					return nil
				}
				s3cfg, err := cfg.S3Config(dsc)
				if err != nil {
					return err
				}
				if err := datastore.CreateS3(s3cfg); err != nil {
					return err
				}
				cfg.Datastores[name] = dsc
				fmt.Fprintf(os.Stderr, "created datastore '%s' in %s (cache %s)\n", name, s3cfg, abs)
				return nil
			})
		},
	}
	create.Flags().StringVar(&comment, "comment", "", "comment")
	create.Flags().StringVar(&backend, "backend", "", "storage backend: filesystem (default) or s3")
	create.Flags().StringVar(&s3Endpoint, "s3-endpoint", "", "S3 endpoint (see 'manager s3 endpoint create')")
	create.Flags().StringVar(&bucket, "bucket", "", "S3 bucket (created if missing)")
	create.Flags().StringVar(&prefix, "prefix", "", "key prefix inside the bucket (several datastores can share one)")
	create.Flags().StringVar(&cacheDir, "cache-dir", "", "local cache directory of an S3 datastore")
	list := managerList("List datastores", dir, func(cfg *config.Config) (any, []string) {
		var items []map[string]any
		var lines []string
		for _, n := range sortedKeys(cfg.Datastores) {
			d := cfg.Datastores[n]
			item := map[string]any{"name": n, "path": d.Path, "comment": d.Comment, "backend": d.BackendType()}
			where := d.Path
			if d.IsS3() {
				item["s3-endpoint"], item["bucket"], item["prefix"] = d.S3Endpoint, d.Bucket, d.Prefix
				where = fmt.Sprintf("s3:%s/%s", d.S3Endpoint, d.Bucket)
				if d.Prefix != "" {
					where += "/" + d.Prefix
				}
				where += " (cache " + d.Path + ")"
			}
			items = append(items, item)
			lines = append(lines, fmt.Sprintf("%s\t%s\t%s", n, where, d.Comment))
		}
		return items, lines
	})
	remove := &cobra.Command{
		Use:   "remove NAME",
		Short: "Remove a datastore from the configuration (the data stays on disk)",
		Args:  exactArgs(1, "NAME"),
		RunE: func(c *cobra.Command, args []string) error {
			return config.Update(dir(), func(cfg *config.Config) error {
				if _, ok := cfg.Datastores[args[0]]; !ok {
					return fmt.Errorf("datastore '%s' does not exist", args[0])
				}
				delete(cfg.Datastores, args[0])
				return nil
			})
		},
	}
	cmd.AddCommand(create, list, remove)
	return cmd
}

func sortedKeys[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// passwordSources says where manager commands read a password from, for
// their --help.
const passwordSources = `The password is read, in this order, from:
  --password PW       visible to every local user (ps, /proc/PID/cmdline)
                      while the command runs, and kept in shell history:
                      avoid it
  PBS_PASSWORD        the environment variable, or PBS_PASSWORD_FD (a file
                      descriptor), PBS_PASSWORD_FILE (a file) or
                      PBS_PASSWORD_CMD (a command's output); the first line
                      counts
  a prompt            on the terminal, twice, when none of the above is set`

// managerPassword: --password, else PBS_PASSWORD (and its _FD, _FILE and
// _CMD twins), else a terminal prompt with confirmation.
func managerPassword(flag string, flagSet bool, userID string) (string, error) {
	if flagSet {
		return flag, nil
	}
	if pw, ok, err := secretFromEnv("PBS_PASSWORD"); err != nil {
		return "", err
	} else if ok {
		return string(pw), nil
	}
	pw, err := promptSecret(fmt.Sprintf("Password for %q: ", userID))
	if err != nil {
		return "", fmt.Errorf("no password given for %s (set PBS_PASSWORD, or its _FD, _FILE or _CMD form, or run on a terminal): %w", userID, err)
	}
	again, err := promptSecret("Retype password: ")
	if err != nil {
		return "", err
	}
	if !bytes.Equal(pw, again) {
		return "", fmt.Errorf("the passwords for %s do not match", userID)
	}
	return string(pw), nil
}

func newManagerUserCmd(dir func() string) *cobra.Command {
	cmd := &cobra.Command{Use: "user", Short: "Manage users and API tokens"}
	var password, comment string
	var expire int64
	create := &cobra.Command{
		Use:   "create USERID",
		Short: "Create a user (realm pbs: password stored as a salted hash)",
		Long:  "Create a user. A user of the pbs realm needs a password (5 characters at least), stored as a salted hash.\n\n" + passwordSources,
		Args:  exactArgs(1, "USERID"),
		RunE: func(c *cobra.Command, args []string) error {
			id := args[0]
			realm, err := config.CheckNewUserID(id)
			if err != nil {
				return usageError{err}
			}
			u := config.User{Enable: true, Comment: comment, Expire: expire}
			if realm == "pbs" {
				pw, err := managerPassword(password, c.Flags().Changed("password"), id)
				if err != nil {
					return err
				}
				if err := config.CheckPassword(id, pw); err != nil {
					return err
				}
				if u.Hash, err = config.HashSecret(pw); err != nil {
					return err
				}
			} else if c.Flags().Changed("password") {
				return fmt.Errorf("only users of the pbs realm have a password here")
			}
			return config.Update(dir(), func(cfg *config.Config) error { return cfg.AddUser(id, u) })
		},
	}
	create.Flags().StringVar(&password, "password", "", "password: visible to other local users while the command runs; prefer PBS_PASSWORD (or _FD, _FILE, _CMD) or the prompt")
	create.Flags().StringVar(&comment, "comment", "", "comment")
	create.Flags().Int64Var(&expire, "expire", 0, "account expiry (epoch, 0 = never)")

	var upPassword string
	var enable string
	var setPassword bool
	update := &cobra.Command{
		Use:   "update USERID",
		Short: "Change a user's password, enable flag or comment",
		Long: "Change a user's password (--set-password or --password), enable flag or comment.\n\n" +
			"With --set-password, the new password is read from PBS_PASSWORD (or PBS_PASSWORD_FD, _FILE, _CMD) or asked on the terminal, twice. " +
			"--password PW also works, but shows the password to every local user (ps, /proc/PID/cmdline) while the command runs.",
		Args: exactArgs(1, "USERID"),
		RunE: func(c *cobra.Command, args []string) error {
			id := args[0]
			var hash string
			if c.Flags().Changed("password") && setPassword {
				return usageError{fmt.Errorf("--password and --set-password exclude each other")}
			}
			if c.Flags().Changed("password") || setPassword {
				pw, err := managerPassword(upPassword, c.Flags().Changed("password"), id)
				if err != nil {
					return err
				}
				if err := config.CheckPassword(id, pw); err != nil {
					return err
				}
				h, err := config.HashSecret(pw)
				if err != nil {
					return err
				}
				hash = h
			}
			return config.Update(dir(), func(cfg *config.Config) error {
				return cfg.UpdateUser(id, func(u *config.User) {
					if hash != "" {
						u.Hash = hash
					}
					if c.Flags().Changed("enable") {
						u.Enable = enable == "true" || enable == "1" || enable == "yes"
					}
					if c.Flags().Changed("comment") {
						u.Comment = comment
					}
				})
			})
		},
	}
	update.Flags().StringVar(&upPassword, "password", "", "new password: visible to other local users while the command runs; prefer --set-password")
	update.Flags().BoolVar(&setPassword, "set-password", false, "set a new password, read from PBS_PASSWORD (or _FD, _FILE, _CMD) or asked on the terminal")
	update.Flags().StringVar(&enable, "enable", "", "true or false")
	update.Flags().StringVar(&comment, "comment", "", "comment")

	remove := &cobra.Command{
		Use:   "remove USERID",
		Short: "Remove a user, its tokens and ACL entries",
		Args:  exactArgs(1, "USERID"),
		RunE: func(c *cobra.Command, args []string) error {
			id := args[0]
			return config.Update(dir(), func(cfg *config.Config) error { return cfg.RemoveUser(id) })
		},
	}
	list := managerList("List users", dir, func(cfg *config.Config) (any, []string) {
		var items []map[string]any
		var lines []string
		for _, id := range sortedKeys(cfg.Users) {
			u := cfg.Users[id]
			items = append(items, map[string]any{"userid": id, "enable": u.Enable, "expire": u.Expire, "comment": u.Comment})
			lines = append(lines, fmt.Sprintf("%s\tenable=%v\t%s", id, u.Enable, u.Comment))
		}
		return items, lines
	})
	out := &outputFlag{}

	genToken := &cobra.Command{
		Use:   "generate-token USERID TOKENNAME",
		Short: "Create an API token; its secret is printed once",
		Args:  exactArgs(2, "USERID TOKENNAME"),
		RunE: func(c *cobra.Command, args []string) error {
			id, name := args[0], args[1]
			if err := config.CheckTokenName(name); err != nil {
				return usageError{err}
			}
			tokID := config.TokenID(id, name)
			secret := config.NewTokenSecret()
			hash, err := config.HashSecret(secret)
			if err != nil {
				return err
			}
			if err := config.Update(dir(), func(cfg *config.Config) error {
				_, err := cfg.AddToken(id, name, config.Token{Hash: hash, Enable: true, Comment: comment})
				return err
			}); err != nil {
				return err
			}
			return printJSONOrLines(out, map[string]any{"tokenid": tokID, "value": secret},
				[]string{fmt.Sprintf("tokenid: %s", tokID), fmt.Sprintf("value: %s", secret)})
		},
	}
	genToken.Flags().StringVar(&comment, "comment", "", "comment")
	out.add(genToken)
	delToken := &cobra.Command{
		Use:   "delete-token USERID TOKENNAME",
		Short: "Delete an API token",
		Args:  exactArgs(2, "USERID TOKENNAME"),
		RunE: func(c *cobra.Command, args []string) error {
			tokID := config.TokenID(args[0], args[1])
			return config.Update(dir(), func(cfg *config.Config) error { return cfg.RemoveToken(tokID) })
		},
	}
	cmd.AddCommand(create, update, remove, list, genToken, delToken)
	return cmd
}

func newManagerACLCmd(dir func() string) *cobra.Command {
	cmd := &cobra.Command{Use: "acl", Short: "Manage access control lists"}
	var authID string
	var propagate bool
	var del bool
	update := &cobra.Command{
		Use:   "update PATH ROLE --auth-id AUTHID",
		Short: "Grant (or with --delete revoke) ROLE on PATH, e.g. /datastore/store1 DatastoreBackup",
		Args:  exactArgs(2, "PATH ROLE"),
		RunE: func(c *cobra.Command, args []string) error {
			p, err := config.CheckACLPath(args[0])
			if err != nil {
				return usageError{err}
			}
			role := args[1]
			if err := config.CheckRole(role); err != nil {
				return usageError{err}
			}
			if authID == "" {
				return usageError{fmt.Errorf("--auth-id is required")}
			}
			if _, _, err := config.ParseAuthID(authID); err != nil {
				return usageError{err}
			}
			return config.Update(dir(), func(cfg *config.Config) error {
				return cfg.SetACL(config.ACL{Path: p, Role: role, AuthID: authID, Propagate: propagate}, del)
			})
		},
	}
	update.Flags().StringVar(&authID, "auth-id", "", "user or token (user@realm!token)")
	update.Flags().BoolVar(&propagate, "propagate", true, "also apply to paths below")
	update.Flags().BoolVar(&del, "delete", false, "remove the entry instead")
	list := managerList("List ACL entries", dir, func(cfg *config.Config) (any, []string) {
		var lines []string
		for _, a := range cfg.ACLs {
			lines = append(lines, fmt.Sprintf("%s\t%s\t%s\tpropagate=%v", a.Path, a.AuthID, a.Role, a.Propagate))
		}
		acls := cfg.ACLs
		if acls == nil {
			acls = []config.ACL{}
		}
		return acls, lines
	})
	cmd.AddCommand(update, list)
	return cmd
}

func newManagerCertCmd(dir func() string) *cobra.Command {
	cmd := &cobra.Command{Use: "cert", Short: "The server's TLS certificate"}
	out := &outputFlag{}
	info := &cobra.Command{
		Use:   "info",
		Short: "Show the certificate and its SHA-256 fingerprint (made if missing)",
		Args:  exactArgs(0, "no arguments"),
		RunE: func(c *cobra.Command, args []string) error {
			cert, err := config.Certificate(dir())
			if err != nil {
				return err
			}
			x, err := x509.ParseCertificate(cert.Certificate[0])
			if err != nil {
				return err
			}
			fp := config.Fingerprint(cert.Certificate[0])
			v := map[string]any{"fingerprint": fp, "subject": x.Subject.String(), "issuer": x.Issuer.String(),
				"notbefore": x.NotBefore.Unix(), "notafter": x.NotAfter.Unix(), "san": x.DNSNames,
				"pem": string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: cert.Certificate[0]}))}
			return printJSONOrLines(out, v, []string{
				"Subject: " + x.Subject.String(),
				"Issuer: " + x.Issuer.String(),
				"Validity: " + x.NotBefore.UTC().Format(time.RFC3339) + " - " + x.NotAfter.UTC().Format(time.RFC3339),
				"Fingerprint (sha256): " + fp,
			})
		},
	}
	out.add(info)
	cmd.AddCommand(info)
	return cmd
}

func newManagerS3Cmd(dir func() string) *cobra.Command {
	cmd := &cobra.Command{Use: "s3", Short: "Manage S3 endpoints for S3 datastores"}
	ep := &cobra.Command{Use: "endpoint", Short: "Manage S3 endpoints (credentials are kept in a root-only file)"}
	var endpoint, accessKey, secretKey, region, comment string
	var pathStyle, insecure bool
	create := &cobra.Command{
		Use:   "create NAME --endpoint URL --access-key KEY [--region R] [--path-style] [--insecure-http]",
		Short: "Add an S3 endpoint; its credentials go to " + config.S3SecretFile + " (mode 0600) only",
		Long: "Add an S3 endpoint; its credentials go to " + config.S3SecretFile + " (mode 0600) only.\n\n" +
			"The secret key is read from AWS_SECRET_ACCESS_KEY (or AWS_SECRET_ACCESS_KEY_FD, _FILE, _CMD), else asked on the terminal. " +
			"--secret-key SECRET also works, but shows the secret to every local user (ps, /proc/PID/cmdline) while the command runs.",
		Args: exactArgs(1, "NAME"),
		RunE: func(c *cobra.Command, args []string) error {
			name := args[0]
			if !config.ValidSafeID(name) {
				return usageError{fmt.Errorf("invalid S3 endpoint name %q (letters, digits, '_', '.', '-')", name)}
			}
			host, err := config.ParseS3EndpointURL(endpoint, insecure)
			if err != nil {
				return usageError{err}
			}
			// The environment or a prompt keeps the secret out of the
			// process list.
			if accessKey == "" {
				accessKey = os.Getenv("AWS_ACCESS_KEY_ID")
			}
			if accessKey == "" {
				return usageError{fmt.Errorf("--access-key is required (or AWS_ACCESS_KEY_ID)")}
			}
			if !c.Flags().Changed("secret-key") {
				if sk, ok, err := secretFromEnv("AWS_SECRET_ACCESS_KEY"); err != nil {
					return err
				} else if ok {
					secretKey = string(sk)
				} else if sk, err := promptSecret("Secret access key: "); err == nil {
					secretKey = string(sk)
				}
			}
			if secretKey == "" {
				return usageError{fmt.Errorf("no secret key: set AWS_SECRET_ACCESS_KEY (or its _FD, _FILE or _CMD form) or run on a terminal (--secret-key shows it to other local users)")}
			}
			return config.Update(dir(), func(cfg *config.Config) error {
				if _, ok := cfg.S3Endpoints[name]; ok {
					return fmt.Errorf("S3 endpoint '%s' already exists", name)
				}
				cfg.S3Endpoints[name] = config.S3Endpoint{Endpoint: host, Region: region, PathStyle: pathStyle, Insecure: insecure, Comment: comment}
				cfg.S3Secrets[name] = config.S3Secret{AccessKey: accessKey, SecretKey: secretKey}
				return nil
			})
		},
	}
	create.Flags().StringVar(&endpoint, "endpoint", "", "https://HOST[:PORT] (http:// only with --insecure-http)")
	create.Flags().StringVar(&accessKey, "access-key", "", "access key id (else AWS_ACCESS_KEY_ID)")
	create.Flags().StringVar(&secretKey, "secret-key", "", "secret access key: visible to other local users; prefer AWS_SECRET_ACCESS_KEY (or _FD, _FILE, _CMD) or the prompt")
	create.Flags().StringVar(&region, "region", "", "region (default: the service's)")
	create.Flags().BoolVar(&pathStyle, "path-style", false, "path-style bucket addressing (MinIO, most self-hosted stores)")
	create.Flags().BoolVar(&insecure, "insecure-http", false, "talk plain HTTP (trusted networks only)")
	create.Flags().StringVar(&comment, "comment", "", "comment")
	list := managerList("List S3 endpoints (without credentials)", dir, func(cfg *config.Config) (any, []string) {
		items := []map[string]any{}
		var lines []string
		for _, n := range sortedKeys(cfg.S3Endpoints) {
			e := cfg.S3Endpoints[n]
			items = append(items, map[string]any{"name": n, "endpoint": e.URL(), "region": e.Region,
				"path-style": e.PathStyle, "insecure-http": e.Insecure, "comment": e.Comment})
			lines = append(lines, fmt.Sprintf("%s\t%s\tregion=%s\tpath-style=%v\t%s", n, e.URL(), e.Region, e.PathStyle, e.Comment))
		}
		return items, lines
	})
	remove := &cobra.Command{
		Use:   "remove NAME",
		Short: "Remove an S3 endpoint and its credentials (refused while a datastore uses it)",
		Args:  exactArgs(1, "NAME"),
		RunE: func(c *cobra.Command, args []string) error {
			name := args[0]
			return config.Update(dir(), func(cfg *config.Config) error {
				if _, ok := cfg.S3Endpoints[name]; !ok {
					return fmt.Errorf("S3 endpoint '%s' does not exist", name)
				}
				for _, n := range sortedKeys(cfg.Datastores) {
					if d := cfg.Datastores[n]; d.IsS3() && d.S3Endpoint == name {
						return fmt.Errorf("S3 endpoint '%s' is used by datastore '%s'", name, n)
					}
				}
				delete(cfg.S3Endpoints, name)
				delete(cfg.S3Secrets, name)
				return nil
			})
		},
	}
	ep.AddCommand(create, list, remove)
	cmd.AddCommand(ep)
	return cmd
}
