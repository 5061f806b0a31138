package datastore

import (
	"fmt"
	"net"
	"net/url"
	"os"
	"path"
	"path/filepath"
	"strconv"
	"strings"

	"cairn/core"
)

// S3Config describes a datastore kept in an S3-compatible bucket.
type S3Config struct {
	// Endpoint is host[:port] of the S3 API, without a scheme.
	Endpoint string
	Bucket   string
	// Prefix is an optional key prefix inside the bucket (no leading or
	// trailing slash): the datastore root.
	Prefix string
	// AccessKey and SecretKey are the S3 credentials. They never appear in
	// errors or logs.
	AccessKey, SecretKey string
	Region               string
	// PathStyle addresses the bucket as http(s)://endpoint/bucket (MinIO and
	// most self-hosted stores); false lets the client pick (virtual-host
	// style on AWS).
	PathStyle bool
	// Insecure talks plain HTTP instead of HTTPS (loopback tests).
	Insecure bool
	// CacheDir is the local cache: recently used chunks, all small metadata
	// (manifests, indexes, owners), per-chunk "last used" markers and the
	// locks and writer registry. Empty: DefaultS3CacheDir.
	CacheDir string
	// CacheBytes bounds the cached chunks (LRU); 0 means 1 GiB, < 0 caches
	// no chunks.
	CacheBytes int64
	// Parallel bounds concurrent chunk uploads of one datastore; 0 means 16.
	Parallel int
	// MaxRetries bounds the retries of one request on 5xx and network
	// errors (exponential backoff with jitter); 0 means 5.
	MaxRetries int
}

// String is the repository string, without credentials.
func (c S3Config) String() string {
	scheme := "s3"
	if c.Insecure {
		scheme = "s3+http"
	}
	s := scheme + "://" + c.Endpoint + "/" + c.Bucket
	if c.Prefix != "" {
		s += "/" + c.Prefix
	}
	return s
}

// DefaultS3CacheDir is $XDG_CACHE_HOME/cairn/s3/<host>/<bucket>/<prefix>
// (~/.cache when XDG_CACHE_HOME is unset).
func DefaultS3CacheDir(c S3Config) string {
	base := os.Getenv("XDG_CACHE_HOME")
	if base == "" {
		if home, err := os.UserHomeDir(); err == nil {
			base = filepath.Join(home, ".cache")
		} else {
			base = os.TempDir()
		}
	}
	host := strings.NewReplacer(":", "_", "[", "", "]", "").Replace(c.Endpoint)
	dir := filepath.Join(base, "cairn", "s3", host, c.Bucket)
	if c.Prefix != "" {
		dir = filepath.Join(dir, filepath.FromSlash(c.Prefix))
	}
	return dir
}

func (c S3Config) normalized() (S3Config, error) {
	c.Prefix = strings.Trim(c.Prefix, "/")
	if c.Endpoint == "" {
		return c, fmt.Errorf("S3 datastore: no endpoint")
	}
	if c.Bucket == "" {
		return c, fmt.Errorf("S3 datastore: no bucket")
	}
	if c.Prefix != "" {
		for _, p := range strings.Split(c.Prefix, "/") {
			if p == "" || p == "." || p == ".." {
				return c, fmt.Errorf("S3 datastore: invalid prefix %q", c.Prefix)
			}
		}
	}
	if c.CacheDir == "" {
		c.CacheDir = DefaultS3CacheDir(c)
	}
	if c.CacheBytes == 0 {
		c.CacheBytes = 1 << 30
	}
	if c.Parallel <= 0 {
		c.Parallel = 16
	}
	if c.MaxRetries <= 0 {
		c.MaxRetries = 5
	}
	return c, nil
}

// IsS3Repository reports whether a repository string names an S3 datastore
// (s3://… or s3+http://…); it is core.IsS3Repository.
func IsS3Repository(s string) bool { return core.IsS3Repository(s) }

// ParseS3Repository parses s3://HOST[:PORT]/bucket[/prefix][?options], the
// embedded-mode repository string of an S3 datastore. HTTPS is the default;
// s3+http://… or ?insecure=1 talks plain HTTP (loopback tests). Options:
// region=R, path-style=0|1 (default 1), cache=DIR, cache-bytes=N.
// Credentials come from AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY (never from
// the string: user:password@ is refused), the region defaults to
// AWS_REGION / AWS_DEFAULT_REGION, the cache to DefaultS3CacheDir.
func ParseS3Repository(s string) (S3Config, error) {
	var c S3Config
	if !IsS3Repository(s) {
		return c, fmt.Errorf("not an S3 repository (expected s3://HOST[:PORT]/bucket[/prefix])")
	}
	u, err := url.Parse(s)
	if err != nil {
		// url errors quote the input, which holds no credentials (refused below).
		return c, fmt.Errorf("invalid S3 repository: %v", err)
	}
	if u.User != nil {
		return c, fmt.Errorf("invalid S3 repository: credentials do not belong in the repository string; set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY")
	}
	if u.Host == "" {
		return c, fmt.Errorf("invalid S3 repository %q: no host", s)
	}
	if h, p, err := net.SplitHostPort(u.Host); err == nil {
		if n, err := strconv.Atoi(p); err != nil || n < 1 || n > 65535 || h == "" {
			return c, fmt.Errorf("invalid S3 repository %q: bad port", s)
		}
	}
	c.Endpoint = u.Host
	c.Insecure = u.Scheme == "s3+http"
	p := strings.Trim(path.Clean("/"+u.Path), "/")
	if p == "" {
		return c, fmt.Errorf("invalid S3 repository %q: no bucket (s3://HOST[:PORT]/bucket[/prefix])", s)
	}
	c.Bucket, c.Prefix, _ = strings.Cut(p, "/")
	c.PathStyle = true
	q := u.Query()
	boolOpt := func(name string, dst *bool) error {
		if v := q.Get(name); v != "" {
			b, err := strconv.ParseBool(v)
			if err != nil {
				return fmt.Errorf("invalid S3 repository option %s=%q", name, v)
			}
			*dst = b
		}
		return nil
	}
	if err := boolOpt("insecure", &c.Insecure); err != nil {
		return c, err
	}
	if err := boolOpt("path-style", &c.PathStyle); err != nil {
		return c, err
	}
	c.Region = q.Get("region")
	c.CacheDir = q.Get("cache")
	if v := q.Get("cache-bytes"); v != "" {
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil {
			return c, fmt.Errorf("invalid S3 repository option cache-bytes=%q", v)
		}
		c.CacheBytes = n
	}
	for k := range q {
		switch k {
		case "insecure", "path-style", "region", "cache", "cache-bytes":
		default:
			return c, fmt.Errorf("unknown S3 repository option %q", k)
		}
	}
	if c.Region == "" {
		c.Region = os.Getenv("AWS_REGION")
	}
	if c.Region == "" {
		c.Region = os.Getenv("AWS_DEFAULT_REGION")
	}
	c.AccessKey = os.Getenv("AWS_ACCESS_KEY_ID")
	c.SecretKey = os.Getenv("AWS_SECRET_ACCESS_KEY")
	return c.normalized()
}
