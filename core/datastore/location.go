package datastore

import (
	"fmt"

	"cairn/core"
)

// A location names an embedded datastore, one opened in-process: a
// directory path, or an S3 bucket as s3://HOST[:PORT]/bucket[/prefix]
// (s3+http://… for plain HTTP; see ParseS3Repository). Open and OpenOrCreate
// choose the backend from it, so a new backend is wired here and nowhere
// else.

// IsLocation reports whether a repository value names an embedded
// datastore (a path starting with /, ./ or ../, or an s3:// URL) rather
// than a server ([[user@realm@]host[:port]:]datastore).
func IsLocation(s string) bool { return core.IsLocalPath(s) || IsS3Repository(s) }

// Open opens the datastore at location: a directory, or a bucket named by
// an s3:// URL (credentials from AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY).
// owner is the auth id recorded for groups this process creates.
func Open(location, owner string) (*Datastore, error) {
	if IsS3Repository(location) {
		cfg, err := ParseS3Repository(location)
		if err != nil {
			return nil, err
		}
		return OpenS3(cfg, owner)
	}
	return openDir(location, owner)
}

// OpenOrCreate is Open that first makes a missing datastore (Create or
// CreateS3). An interrupted creation is finished; a directory that holds
// something else than a datastore is refused, never taken over.
func OpenOrCreate(location, owner string) (*Datastore, error) {
	if IsS3Repository(location) {
		cfg, err := ParseS3Repository(location)
		if err != nil {
			return nil, err
		}
		if err := CreateS3(cfg); err != nil {
			return nil, err
		}
		return OpenS3(cfg, owner)
	}
	if !Exists(location) {
		if Foreign(location) {
			return nil, fmt.Errorf("%q is not a datastore (no .chunks directory) and not empty", location)
		}
		if err := Create(location); err != nil {
			return nil, err
		}
	}
	return openDir(location, owner)
}
