package datastore

// SetCreateHook installs a hook called after each step of Create and
// CreateFull (nil removes it); an error it returns stops the creation at
// that point, as a kill would.
func SetCreateHook(f func(step string) error) { createHook = f }
