package core

import (
	"crypto/sha256"
	"fmt"
	"regexp"
	"strconv"
	"strings"
)

// RepoSpec is a parsed repository string (protocol.md 9.1):
// [[authid@]host[:port]:]datastore, or a filesystem path for a local datastore.
type RepoSpec struct {
	Local  string // set for a path repository; the rest is empty then
	AuthID string // default root@pam
	Host   string // default localhost; IPv6 keeps its brackets
	Port   int    // default 8007
	Store  string
}

// DefaultPort is the server's HTTPS port.
const DefaultPort = 8007

const (
	reUser   = `[^\s:/@]+@[A-Za-z0-9_][A-Za-z0-9._\-]*`
	reToken  = reUser + `![A-Za-z0-9_][A-Za-z0-9._\-]*`
	reDNS    = `(?:[a-zA-Z0-9](?:[a-zA-Z0-9\-]*[a-zA-Z0-9])?)(?:\.[a-zA-Z0-9](?:[a-zA-Z0-9\-]*[a-zA-Z0-9])?)*`
	reIPv4   = `(?:[0-9]{1,3}\.){3}[0-9]{1,3}`
	reIPv6   = `\[[0-9a-fA-F:.]+(?:%[A-Za-z0-9]+)?\]`
	reSafeID = `[A-Za-z0-9_][A-Za-z0-9._\-]*`
)

var repoRe = regexp.MustCompile(`^(?:(?:(` + reToken + `|` + reUser + `)@)?(` + reDNS + `|` + reIPv4 + `|` + reIPv6 + `):)?(?:([0-9]{1,5}):)?(` + reSafeID + `)$`)

// IsLocalPath reports whether a repository value names a directory: it
// starts with "/", "./" or "../" (DESIGN.md).
func IsLocalPath(s string) bool {
	return strings.HasPrefix(s, "/") || strings.HasPrefix(s, "./") || strings.HasPrefix(s, "../") || s == "." || s == ".."
}

// ParseRepository parses a repository string.
func ParseRepository(s string) (RepoSpec, error) {
	if s == "" {
		return RepoSpec{}, fmt.Errorf("no repository given (use --repository or PBS_REPOSITORY)")
	}
	if IsLocalPath(s) {
		return RepoSpec{Local: s}, nil
	}
	if len(s) > 256 {
		return RepoSpec{}, fmt.Errorf("invalid repository %q: longer than 256 characters", s)
	}
	m := repoRe.FindStringSubmatch(s)
	if m == nil {
		return RepoSpec{}, fmt.Errorf("invalid repository %q (expected [[user@realm@]host[:port]:]datastore, or a path starting with / ./ ../)", s)
	}
	r := RepoSpec{AuthID: m[1], Host: m[2], Port: DefaultPort, Store: m[4]}
	if r.AuthID == "" {
		r.AuthID = "root@pam"
	}
	if r.Host == "" {
		r.Host = "localhost"
	}
	if m[3] != "" {
		p, err := strconv.Atoi(m[3])
		if err != nil || p < 1 || p > 65535 {
			return RepoSpec{}, fmt.Errorf("invalid repository %q: bad port %q", s, m[3])
		}
		r.Port = p
	}
	return r, nil
}

// String gives the canonical form: authid@host:port:store, or the path.
func (r RepoSpec) String() string {
	if r.Local != "" {
		return r.Local
	}
	return fmt.Sprintf("%s@%s:%d:%s", r.AuthID, r.Host, r.Port, r.Store)
}

// CertFingerprint is how a server's certificate is named for trust: the
// SHA-256 of its DER bytes as aa:bb:… (protocol.md 2).
func CertFingerprint(der []byte) string {
	sum := sha256.Sum256(der)
	parts := make([]string, len(sum))
	for i, b := range sum {
		parts[i] = fmt.Sprintf("%02x", b)
	}
	return strings.Join(parts, ":")
}
