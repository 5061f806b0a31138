package cli

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/signal"
	"regexp"

	"github.com/spf13/cobra"

	"cairn/cli/format"
	"cairn/net/client"
)

// newTaskCmd: task list | log | stop — the server's worker tasks
// (protocol.md 6 and 9.4).
func newTaskCmd() *cobra.Command {
	cmd := &cobra.Command{Use: "task", Short: "List, follow and stop the server's tasks"}
	cmd.AddCommand(newTaskListCmd(), newTaskLogCmd(), newTaskStopCmd())
	return cmd
}

// errLocalTasks answers task commands on a local datastore.
func errLocalTasks(name string) error {
	return fmt.Errorf("%s is a local datastore: tasks live on a server (use a server repository, [[user@realm@]host[:port]:]datastore)", name)
}

// taskClient opens the repository's server; a local datastore has no tasks.
func taskClient(rf *repoFlags) (*client.Repository, error) {
	if t, err := rf.target(); err == nil && t.local != "" {
		return nil, errLocalTasks(t.local)
	}
	repo, err := rf.open(false)
	if err != nil {
		return nil, err
	}
	r, ok := repo.(*client.Repository)
	if !ok {
		name := repo.Name()
		repo.Close()
		return nil, errLocalTasks(name)
	}
	return r, nil
}

// upidArgs opens the server for a command on one task: the UPID argument
// is checked first.
func upidArgs(rf *repoFlags, arg string) (*client.Repository, string, error) {
	upid, err := parseUPIDArg(arg)
	if err != nil {
		return nil, "", err
	}
	r, err := taskClient(rf)
	return r, upid, err
}

func newTaskListCmd() *cobra.Command {
	var rf repoFlags
	var of outputFlag
	var all bool
	var limit int
	cmd := &cobra.Command{
		Use:   "list",
		Short: "List the running tasks of the repository's user on its datastore (--all: also finished ones)",
		Args:  exactArgs(0, "no arguments"),
		RunE: func(cmd *cobra.Command, args []string) error {
			opts, err := of.options()
			if err != nil {
				return err
			}
			switch {
			case limit < 1:
				return usageError{fmt.Errorf("parameter verification failed - 'limit': value must have a minimum value of 1 (got %d)", limit)}
			case limit > 1000:
				return usageError{fmt.Errorf("parameter verification failed - 'limit': value must have a maximum value of 1000 (got %d)", limit)}
			}
			r, err := taskClient(&rf)
			if err != nil {
				return err
			}
			defer r.Close()
			c := r.Client()
			data, err := c.TasksData(cmd.Context(), client.TaskListQuery{
				Running: !all, Start: 0, Limit: limit,
				UserFilter: c.AuthID(), Store: c.Spec().Store,
			})
			if err != nil {
				return err
			}
			// Text sorted by start time (upstream sorts by the first column).
			return format.RenderSorted(stdout, opts, data, []format.Column{
				{Key: "starttime", Render: epochColumn},
				{Key: "endtime", Render: epochColumn},
				{Key: "upid"},
				{Key: "status", Render: taskStatusColumn},
			})
		},
	}
	rf.add(cmd, false)
	of.add(cmd)
	cmd.Flags().BoolVar(&all, "all", false, "also list stopped tasks")
	cmd.Flags().IntVar(&limit, "limit", 50, "the maximal number of tasks to list (1 - 1000)")
	return cmd
}

// taskStatusColumn is upstream's render_task_status: "running" for a task
// without end time, else its exit status ("unknown" if none).
func taskStatusColumn(v any, rec map[string]any) string {
	if s, ok := v.(string); ok {
		return s
	}
	if rec["endtime"] == nil {
		return "running"
	}
	return "unknown"
}

func newTaskLogCmd() *cobra.Command {
	var rf repoFlags
	cmd := &cobra.Command{
		Use:   "log UPID",
		Short: "Print a task's log, following it until the task ends",
		Long: `Print a task's log, following it until the task ends; fails if the task
failed. Ctrl-C once asks the server to stop the task (and keeps following);
twice stops following, leaving the task running.`,
		Args: exactArgs(1, "UPID"),
		RunE: func(cmd *cobra.Command, args []string) error {
			r, upid, err := upidArgs(&rf, args[0])
			if err != nil {
				return err
			}
			defer r.Close()
			return followTaskLog(cmd.Context(), r.Client(), upid)
		},
	}
	rf.add(cmd, false)
	return cmd
}

// followTaskLog prints a task's log lines to stdout as they come
// (protocol.md 6.3). The first SIGINT asks the server to abort the task
// and keeps following; a second one stops following at once.
func followTaskLog(ctx context.Context, c *client.Client, upid string) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	sig := make(chan os.Signal, 2)
	signal.Notify(sig, os.Interrupt)
	defer signal.Stop(sig)
	forced := make(chan struct{})
	go func() {
		n := 0
		for {
			select {
			case <-ctx.Done():
				return
			case <-sig:
			}
			fmt.Fprintln(os.Stderr, "got shutdown request (SIGINT)")
			if n++; n > 1 {
				fmt.Fprintln(os.Stderr, "forced exit (task still running)")
				close(forced)
				cancel()
				return
			}
			if err := c.StopTask(ctx, upid); err != nil && ctx.Err() == nil {
				fmt.Fprintf(os.Stderr, "could not stop task: %v\n", err)
			}
		}
	}()
	err := c.FollowTask(ctx, upid, func(line string) { fmt.Fprintln(stdout, line) })
	select {
	case <-forced:
		return nil // as upstream: a forced exit is not a failure
	default:
	}
	return err
}

// upidPattern is upstream's UPID schema (protocol.md 6.1).
var upidPattern = regexp.MustCompile(`^UPID:[a-zA-Z0-9]([a-zA-Z0-9\-]*[a-zA-Z0-9])?:[0-9A-Fa-f]{8}:[0-9A-Fa-f]{8,9}:[0-9A-Fa-f]{8,16}:[0-9A-Fa-f]{8}:[^:\s]+:[^:\s]*:[^:\s]+:$`)

// parseUPIDArg checks a UPID argument as upstream's schema does, with its
// messages.
func parseUPIDArg(s string) (string, error) {
	switch {
	case len(s) < 36:
		return "", usageError{errors.New("parameter verification failed - 'upid': value must be at least 36 characters long")}
	case !upidPattern.MatchString(s):
		return "", usageError{errors.New("parameter verification failed - 'upid': value does not match the regex pattern")}
	}
	return s, nil
}

func newTaskStopCmd() *cobra.Command {
	var rf repoFlags
	cmd := &cobra.Command{
		Use:   "stop UPID",
		Short: "Ask the server to stop a task",
		Args:  exactArgs(1, "UPID"),
		RunE: func(cmd *cobra.Command, args []string) error {
			r, upid, err := upidArgs(&rf, args[0])
			if err != nil {
				return err
			}
			defer r.Close()
			return r.Client().StopTask(cmd.Context(), upid)
		},
	}
	rf.add(cmd, false)
	return cmd
}
