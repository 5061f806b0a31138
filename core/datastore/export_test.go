package datastore

// SetCreateHook installs a hook called after each step of Create and
// CreateFull (nil removes it); an error it returns stops the creation at
// that point, as a kill would.
func SetCreateHook(f func(step string) error) { createHook = f }

// ExistsS3 reports whether the bucket (and prefix) holds a datastore.
func ExistsS3(cfg S3Config) (bool, error) {
	b, err := newS3Backend(cfg)
	if err != nil {
		return false, err
	}
	return b.exists()
}
