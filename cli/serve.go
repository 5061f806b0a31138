package cli

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/spf13/cobra"

	"cairn/net/server"
)

func newServeCmd() *cobra.Command {
	var dirFlag, listen string
	var limits server.Limits
	cmd := &cobra.Command{
		Use:   "serve",
		Short: "Serve the configured datastores over HTTPS (Proxmox Backup Server protocol)",
		Args:  exactArgs(0, "no arguments"),
		RunE: func(c *cobra.Command, args []string) error {
			srv, err := server.New(server.Options{ConfigDir: serverConfigDir(dirFlag), Log: os.Stderr, Limits: limits})
			if err != nil {
				return err
			}
			ln, err := net.Listen("tcp", listen)
			if err != nil {
				return err
			}
			fmt.Fprintf(os.Stderr, "cairn serve: listening on https://%s (fingerprint %s)\n", ln.Addr(), srv.Fingerprint())
			sigs := make(chan os.Signal, 1)
			signal.Notify(sigs, syscall.SIGTERM, syscall.SIGINT)
			defer signal.Stop(sigs)
			errc := make(chan error, 1)
			go func() { errc <- srv.Serve(ln) }()
			select {
			case err := <-errc:
				if errors.Is(err, http.ErrServerClosed) {
					return nil
				}
				return err
			case sig := <-sigs:
				fmt.Fprintf(os.Stderr, "cairn serve: %v received, shutting down\n", sig)
				ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
				defer cancel()
				if err := srv.Shutdown(ctx); err != nil {
					fmt.Fprintf(os.Stderr, "cairn serve: shutdown: %v\n", err)
				}
				<-errc
				return nil
			}
		},
	}
	cmd.Flags().StringVar(&dirFlag, "config-dir", "", "server configuration directory (env CAIRN_CONFIG_DIR)")
	cmd.Flags().StringVar(&listen, "listen", "0.0.0.0:8007", "address to listen on")
	cmd.Flags().IntVar(&limits.MaxSessions, "max-sessions", 0, "backup and reader sessions open at once, all users (default: an eighth of the file-descriptor limit, 16..4096)")
	cmd.Flags().IntVar(&limits.MaxSessionsPerUser, "max-sessions-per-user", 0, "sessions open at once per user; a token counts as its user (default 64)")
	cmd.Flags().DurationVar(&limits.SessionIdleTimeout, "session-idle-timeout", 0, "close a session with no request for this long (default 15m)")
	return cmd
}
