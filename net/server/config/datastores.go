package config

import "fmt"

// CheckNewDatastore checks that d can be added as datastore name: the name
// is new, no datastore uses its path (an S3 datastore's cache directory),
// and no S3 datastore uses its bucket and prefix.
func (c *Config) CheckNewDatastore(name string, d Datastore) error {
	if old, ok := c.Datastores[name]; ok {
		return fmt.Errorf("datastore '%s' already exists (at %s)", name, old.Path)
	}
	for n, o := range c.Datastores {
		if o.Path == d.Path {
			return fmt.Errorf("path %s is already used by datastore '%s'", d.Path, n)
		}
		if d.IsS3() && o.IsS3() && o.S3Endpoint == d.S3Endpoint && o.Bucket == d.Bucket && o.Prefix == d.Prefix {
			return fmt.Errorf("bucket %s (prefix %q) of S3 endpoint '%s' is already used by datastore '%s'", d.Bucket, d.Prefix, d.S3Endpoint, n)
		}
	}
	return nil
}
