// Package testserver starts a real `cairn serve` (HTTPS on loopback) inside
// a test, with one datastore and two users:
//
//	alice@pbs / alice-pw-1: DatastoreAdmin on /datastore/store1
//	bob@pbs   / bob-pw-1:   DatastoreBackup on /datastore/store1
//
// It is its own package (not internal/testutil) because it imports the
// server, which imports the datastore, whose tests use testutil.
package testserver

import (
	"context"
	"io"
	"net"
	"strconv"
	"testing"
	"time"

	"cairn/core/datastore"
	"cairn/internal/testutil"
	"cairn/net/server"
	"cairn/net/server/config"
)

// Server is a running test server.
type Server struct {
	*server.Server
	ConfigDir string
	StorePath string // the directory of datastore store1
	Host      string
	Port      int
	FP        string // the certificate fingerprint clients must accept
}

// Users and their passwords.
var Users = map[string]string{"alice@pbs": "alice-pw-1", "bob@pbs": "bob-pw-1"}

// Start starts a server that stops when the test ends. The log goes to log
// (nil: discarded).
func Start(t testing.TB, log io.Writer) *Server {
	t.Helper()
	if log == nil {
		log = io.Discard
	}
	cfgDir := t.TempDir()
	store := testutil.TempDir(t)
	if err := datastore.Create(store); err != nil {
		t.Fatal(err)
	}
	err := config.Update(cfgDir, func(c *config.Config) error {
		c.Datastores["store1"] = config.Datastore{Path: store}
		for u, pw := range Users {
			h, err := config.HashSecret(pw)
			if err != nil {
				return err
			}
			c.Users[u] = config.User{Hash: h, Enable: true}
		}
		c.ACLs = append(c.ACLs,
			config.ACL{Path: "/datastore/store1", Role: "DatastoreAdmin", AuthID: "alice@pbs", Propagate: true},
			config.ACL{Path: "/datastore/store1", Role: "DatastoreBackup", AuthID: "bob@pbs", Propagate: true})
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	srv, err := server.New(server.Options{ConfigDir: cfgDir, Log: log, AuthFailDelay: -1, PermFailDelay: -1})
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go srv.Serve(ln)
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		srv.Shutdown(ctx)
	})
	_, p, _ := net.SplitHostPort(ln.Addr().String())
	port, _ := strconv.Atoi(p)
	return &Server{Server: srv, ConfigDir: cfgDir, StorePath: store, Host: "127.0.0.1", Port: port, FP: srv.Fingerprint()}
}

// Repository is the repository string for user on store1.
func (s *Server) Repository(user string) string {
	return user + "@" + s.Host + ":" + strconv.Itoa(s.Port) + ":store1"
}
