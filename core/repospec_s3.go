package core

import "strings"

// IsS3Repository reports whether a repository string names an S3 datastore
// in embedded mode: s3://HOST[:PORT]/bucket[/prefix] (HTTPS) or
// s3+http://… (plain HTTP). Such strings are not ParseRepository's: parse
// them with datastore.ParseS3Repository and open with datastore.OpenS3.
func IsS3Repository(s string) bool {
	return strings.HasPrefix(s, "s3://") || strings.HasPrefix(s, "s3+http://")
}
