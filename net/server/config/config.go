// Package config holds the server's configuration: datastores, users, API
// tokens, ACLs, the ticket signing key, the CSRF secret and the TLS
// certificate. Every file lives in one directory (--config-dir, env
// CAIRN_CONFIG_DIR) and is written atomically (temp file, fsync, rename).
package config

import (
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"sync"

	"golang.org/x/crypto/bcrypt"

	"cairn/internal/atomicfile"
)

// DefaultDir is used when neither --config-dir nor CAIRN_CONFIG_DIR is set.
const DefaultDir = "/etc/cairn"

// File names inside the config directory.
const (
	DatastoreFile = "datastore.json"
	UserFile      = "user.json"
	TokenFile     = "token.shadow.json"
	ACLFile       = "acl.json"
	AuthKeyFile   = "authkey.key"
	CSRFKeyFile   = "csrf.key"
	CertFile      = "proxy.pem"
	CertKeyFile   = "proxy.key"
)

var (
	safeIDRe   = regexp.MustCompile(`^[A-Za-z0-9_][A-Za-z0-9._\-]*$`)
	userNameRe = regexp.MustCompile(`^[^\s:/\x00-\x1f\x7f]+$`)
)

// ValidSafeID reports whether s matches upstream's SAFE-ID.
func ValidSafeID(s string) bool { return safeIDRe.MatchString(s) }

// Datastore is one configured datastore.
type Datastore struct {
	// Path is the datastore directory; for an S3 datastore, its local cache
	// directory.
	Path    string `json:"path"`
	Comment string `json:"comment,omitempty"`
	// Backend is "" or "filesystem" (a directory), or "s3": then S3Endpoint
	// names an entry of S3Endpoints and Bucket/Prefix locate the datastore.
	Backend    string `json:"backend,omitempty"`
	S3Endpoint string `json:"s3-endpoint,omitempty"`
	Bucket     string `json:"bucket,omitempty"`
	Prefix     string `json:"prefix,omitempty"`
}

// User is a user of the pbs realm (or a user known to hold ACLs).
type User struct {
	Hash    string `json:"hash,omitempty"` // bcrypt hash, never the password
	Enable  bool   `json:"enable"`
	Expire  int64  `json:"expire,omitempty"`
	Comment string `json:"comment,omitempty"`
}

// Token is an API token; only the bcrypt hash of its secret is stored.
type Token struct {
	Hash    string `json:"hash"`
	Enable  bool   `json:"enable"`
	Expire  int64  `json:"expire,omitempty"`
	Comment string `json:"comment,omitempty"`
}

// ACL is one access control entry.
type ACL struct {
	Path      string `json:"path"`
	Role      string `json:"roleid"`
	AuthID    string `json:"ugid"`
	Propagate bool   `json:"propagate"`
}

// Config is a snapshot of the configuration directory.
type Config struct {
	Dir        string
	Datastores map[string]Datastore
	Users      map[string]User
	Tokens     map[string]Token
	ACLs       []ACL
	// S3Endpoints are the configured S3 services (S3File); S3Secrets their
	// credentials by endpoint name (S3SecretFile).
	S3Endpoints map[string]S3Endpoint
	S3Secrets   map[string]S3Secret
}

var writeMu sync.Mutex

// Load reads every config file of dir; missing files are empty.
func Load(dir string) (*Config, error) {
	c := &Config{Dir: dir, Datastores: map[string]Datastore{}, Users: map[string]User{}, Tokens: map[string]Token{},
		S3Endpoints: map[string]S3Endpoint{}, S3Secrets: map[string]S3Secret{}}
	if err := readJSON(filepath.Join(dir, DatastoreFile), &c.Datastores); err != nil {
		return nil, err
	}
	if err := readJSON(filepath.Join(dir, UserFile), &c.Users); err != nil {
		return nil, err
	}
	if err := readJSON(filepath.Join(dir, TokenFile), &c.Tokens); err != nil {
		return nil, err
	}
	if err := readJSON(filepath.Join(dir, ACLFile), &c.ACLs); err != nil {
		return nil, err
	}
	if err := readJSON(filepath.Join(dir, S3File), &c.S3Endpoints); err != nil {
		return nil, err
	}
	if err := readJSON(filepath.Join(dir, S3SecretFile), &c.S3Secrets); err != nil {
		// json errors quote no input values, but stay generic anyway.
		return nil, fmt.Errorf("config file %s is unreadable or corrupt", filepath.Join(dir, S3SecretFile))
	}
	if c.Datastores == nil {
		c.Datastores = map[string]Datastore{}
	}
	if c.Users == nil {
		c.Users = map[string]User{}
	}
	if c.Tokens == nil {
		c.Tokens = map[string]Token{}
	}
	if c.S3Endpoints == nil {
		c.S3Endpoints = map[string]S3Endpoint{}
	}
	if c.S3Secrets == nil {
		c.S3Secrets = map[string]S3Secret{}
	}
	return c, nil
}

func readJSON(p string, v any) error {
	b, err := os.ReadFile(p)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return err
	}
	if len(strings.TrimSpace(string(b))) == 0 {
		return nil
	}
	if err := json.Unmarshal(b, v); err != nil {
		return fmt.Errorf("config file %s: %w", p, err)
	}
	return nil
}

// Update loads the config under a process lock and a file lock, lets change
// modify it, and saves every part atomically.
func Update(dir string, change func(c *Config) error) error {
	writeMu.Lock()
	defer writeMu.Unlock()
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return err
	}
	unlock, err := lockFile(filepath.Join(dir, ".config.lock"))
	if err != nil {
		return err
	}
	defer unlock()
	c, err := Load(dir)
	if err != nil {
		return err
	}
	if err := change(c); err != nil {
		return err
	}
	sort.SliceStable(c.ACLs, func(i, j int) bool {
		if c.ACLs[i].Path != c.ACLs[j].Path {
			return c.ACLs[i].Path < c.ACLs[j].Path
		}
		return c.ACLs[i].AuthID < c.ACLs[j].AuthID
	})
	files := map[string]any{DatastoreFile: c.Datastores, UserFile: c.Users, TokenFile: c.Tokens, ACLFile: c.ACLs}
	// The S3 files only exist once an endpoint was configured, so a
	// directory-only setup keeps its old set of files.
	if len(c.S3Endpoints) > 0 || fileExists(filepath.Join(dir, S3File)) {
		files[S3File] = c.S3Endpoints
	}
	if len(c.S3Secrets) > 0 || fileExists(filepath.Join(dir, S3SecretFile)) {
		files[S3SecretFile] = c.S3Secrets
	}
	for name, v := range files {
		b, err := json.MarshalIndent(v, "", "  ")
		if err != nil {
			return err
		}
		if err := atomicfile.WriteFile(filepath.Join(dir, name), append(b, '\n'), 0o600); err != nil {
			return err
		}
	}
	return nil
}

func fileExists(p string) bool {
	_, err := os.Stat(p)
	return err == nil
}

// ParseUserID splits name@realm at the last '@'.
func ParseUserID(s string) (name, realm string, err error) {
	i := strings.LastIndexByte(s, '@')
	if i <= 0 || i == len(s)-1 {
		return "", "", fmt.Errorf("invalid user id %q (expected NAME@REALM, e.g. alice@pbs)", s)
	}
	name, realm = s[:i], s[i+1:]
	if len(s) > 64 || !userNameRe.MatchString(name) {
		return "", "", fmt.Errorf("invalid user id %q: bad user name", s)
	}
	if len(realm) < 2 || len(realm) > 32 || !safeIDRe.MatchString(realm) {
		return "", "", fmt.Errorf("invalid user id %q: bad realm %q", s, realm)
	}
	return name, realm, nil
}

// ParseAuthID checks a user id or token id (user@realm!token) and returns
// the user part and the token name ("" for users).
func ParseAuthID(s string) (user, token string, err error) {
	user, token, isTok := strings.Cut(s, "!")
	if _, _, err := ParseUserID(user); err != nil {
		return "", "", fmt.Errorf("invalid auth id %q: %w", s, err)
	}
	if isTok && !safeIDRe.MatchString(token) {
		return "", "", fmt.Errorf("invalid auth id %q: bad token name %q", s, token)
	}
	return user, token, nil
}

// HashSecret makes a salted hash of a password or token secret.
func HashSecret(secret string) (string, error) {
	if len(secret) > 72 {
		// bcrypt's limit; pre-hash longer secrets is not needed for tokens (36
		// chars), refuse it for passwords.
		return "", fmt.Errorf("password too long (at most 72 bytes)")
	}
	h, err := bcrypt.GenerateFromPassword([]byte(secret), bcrypt.DefaultCost)
	return string(h), err
}

// CheckSecret compares secret with a stored hash.
func CheckSecret(hash, secret string) bool {
	if hash == "" || len(secret) > 72 {
		// Run bcrypt anyway so timing does not reveal unknown users.
		bcrypt.CompareHashAndPassword([]byte("$2a$10$abcdefghijklmnopqrstuu1234567890123456789012345678901"), []byte(secret))
		return false
	}
	return bcrypt.CompareHashAndPassword([]byte(hash), []byte(secret)) == nil
}

// NewTokenSecret returns a random UUID (lower-case, hyphenated).
func NewTokenSecret() string {
	var b [16]byte
	rand.Read(b[:])
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	h := hex.EncodeToString(b[:])
	return h[0:8] + "-" + h[8:12] + "-" + h[12:16] + "-" + h[16:20] + "-" + h[20:32]
}
