package config

import (
	"fmt"
	"net"
	"net/url"
	"strconv"
	"strings"

	"cairn/core/datastore"
)

// S3 endpoints: the connection settings live in S3File, the credentials only
// in S3SecretFile (mode 0600, like every config file written by Update, but
// kept apart so the endpoint list can be shown or shared without them).
const (
	S3File       = "s3.json"
	S3SecretFile = "s3.shadow.json"
)

// Backend types of a datastore.
const (
	BackendFilesystem = "filesystem"
	BackendS3         = "s3"
)

// S3Endpoint is one configured S3-compatible service, without credentials.
type S3Endpoint struct {
	// Endpoint is host[:port], without a scheme.
	Endpoint  string `json:"endpoint"`
	Region    string `json:"region,omitempty"`
	PathStyle bool   `json:"path-style,omitempty"`
	// Insecure talks plain HTTP (only for loopback or trusted networks).
	Insecure bool   `json:"insecure-http,omitempty"`
	Comment  string `json:"comment,omitempty"`
}

// URL is the endpoint with its scheme, as list shows it.
func (e S3Endpoint) URL() string {
	if e.Insecure {
		return "http://" + e.Endpoint
	}
	return "https://" + e.Endpoint
}

// S3Secret holds an endpoint's credentials. Its String form is redacted, so
// a stray %v never prints them.
type S3Secret struct {
	AccessKey string `json:"access-key"`
	SecretKey string `json:"secret-key"`
}

func (S3Secret) String() string   { return "S3Secret{<redacted>}" }
func (S3Secret) GoString() string { return "S3Secret{<redacted>}" }

// ParseS3EndpointURL accepts https://HOST[:PORT], http://HOST[:PORT] (only
// with insecure) or a bare HOST[:PORT], and returns host[:port]. URLs with
// credentials, a path, a query or a fragment are refused; the input is not
// echoed back when it holds user info.
func ParseS3EndpointURL(s string, insecure bool) (string, error) {
	s = strings.TrimSpace(s)
	if s == "" {
		return "", fmt.Errorf("no S3 endpoint given")
	}
	if !strings.Contains(s, "://") {
		if insecure {
			s = "http://" + s
		} else {
			s = "https://" + s
		}
	}
	u, err := url.Parse(s)
	if err != nil || u.Host == "" {
		return "", fmt.Errorf("invalid S3 endpoint (expected https://HOST[:PORT])")
	}
	if u.User != nil {
		return "", fmt.Errorf("invalid S3 endpoint: credentials do not belong in the URL; use --access-key and --secret-key")
	}
	switch u.Scheme {
	case "https":
		if insecure {
			return "", fmt.Errorf("S3 endpoint %s is https, but --insecure-http was given", u.Host)
		}
	case "http":
		if !insecure {
			return "", fmt.Errorf("S3 endpoint %s is plain http: pass --insecure-http to allow unencrypted connections", u.Host)
		}
	default:
		return "", fmt.Errorf("invalid S3 endpoint scheme %q (https or http)", u.Scheme)
	}
	if (u.Path != "" && u.Path != "/") || u.RawQuery != "" || u.Fragment != "" {
		return "", fmt.Errorf("invalid S3 endpoint %s: no path, query or fragment allowed (the bucket is a datastore option)", u.Host)
	}
	if h, p, err := net.SplitHostPort(u.Host); err == nil {
		if n, err := strconv.Atoi(p); err != nil || n < 1 || n > 65535 || h == "" {
			return "", fmt.Errorf("invalid S3 endpoint %s: bad port", u.Host)
		}
	}
	return u.Host, nil
}

// ValidBucketName checks an S3 bucket name (3-63 characters of lower-case
// letters, digits, '.' and '-', starting and ending alphanumeric).
func ValidBucketName(b string) bool {
	if len(b) < 3 || len(b) > 63 {
		return false
	}
	for i, r := range b {
		alnum := r >= 'a' && r <= 'z' || r >= '0' && r <= '9'
		if !alnum && r != '.' && r != '-' {
			return false
		}
		if (i == 0 || i == len(b)-1) && !alnum {
			return false
		}
	}
	return !strings.Contains(b, "..")
}

// IsS3 reports whether the datastore lives in an S3 bucket.
func (d Datastore) IsS3() bool { return d.Backend == BackendS3 }

// BackendType is "filesystem" or "s3".
func (d Datastore) BackendType() string {
	if d.IsS3() {
		return BackendS3
	}
	return BackendFilesystem
}

// S3Config builds the datastore configuration of an S3 datastore from its
// entry and its endpoint's settings and credentials. Errors name the
// endpoint, never the credentials.
func (c *Config) S3Config(d Datastore) (datastore.S3Config, error) {
	if !d.IsS3() {
		return datastore.S3Config{}, fmt.Errorf("datastore is not an S3 datastore")
	}
	ep, ok := c.S3Endpoints[d.S3Endpoint]
	if !ok {
		return datastore.S3Config{}, fmt.Errorf("S3 endpoint '%s' does not exist", d.S3Endpoint)
	}
	sec, ok := c.S3Secrets[d.S3Endpoint]
	if !ok {
		return datastore.S3Config{}, fmt.Errorf("S3 endpoint '%s' has no credentials (%s is missing them)", d.S3Endpoint, S3SecretFile)
	}
	return datastore.S3Config{
		Endpoint:  ep.Endpoint,
		Bucket:    d.Bucket,
		Prefix:    d.Prefix,
		AccessKey: sec.AccessKey,
		SecretKey: sec.SecretKey,
		Region:    ep.Region,
		PathStyle: ep.PathStyle,
		Insecure:  ep.Insecure,
		CacheDir:  d.Path,
	}, nil
}
