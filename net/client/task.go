package client

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"
)

// escapeUPID percent-encodes every non-alphanumeric byte (protocol.md 5.8).
func escapeUPID(upid string) string {
	var b strings.Builder
	for i := 0; i < len(upid); i++ {
		ch := upid[i]
		if (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') {
			b.WriteByte(ch)
		} else {
			fmt.Fprintf(&b, "%%%02X", ch)
		}
	}
	return b.String()
}

// TaskStatus is GET .../tasks/{upid}/status.
type TaskStatus struct {
	UPID       string `json:"upid"`
	Status     string `json:"status"`
	ExitStatus string `json:"exitstatus"`
	Type       string `json:"type"`
	ID         string `json:"id"`
	User       string `json:"user"`
}

func taskPath(upid, sub string) string {
	p := "nodes/localhost/tasks/" + escapeUPID(upid)
	if sub != "" {
		p += "/" + sub
	}
	return p
}

// TaskStatus reads a task's status.
func (c *Client) TaskStatus(ctx context.Context, upid string) (*TaskStatus, error) {
	var st TaskStatus
	if err := c.Get(ctx, taskPath(upid, "status"), nil, &st); err != nil {
		return nil, err
	}
	return &st, nil
}

// StopTask asks the server to abort a task.
func (c *Client) StopTask(ctx context.Context, upid string) error {
	return c.Delete(ctx, taskPath(upid, ""), nil, nil)
}

// stripTimestamp removes a leading "<RFC 3339 time>: " from a log line.
func stripTimestamp(t string) string {
	if len(t) > 27 && t[25:27] == ": " {
		if _, err := time.Parse(time.RFC3339, t[:25]); err == nil {
			return t[27:]
		}
	}
	if i := strings.Index(t, ": "); i >= 19 && i <= 35 {
		if _, err := time.Parse(time.RFC3339, t[:i]); err == nil {
			return t[i+2:]
		}
	}
	return t
}

// FollowTask prints a task's log lines (timestamps stripped) as they come
// and fails when the task ends with an error (protocol.md 6.3).
func (c *Client) FollowTask(ctx context.Context, upid string, line func(string)) error {
	start := 1
	for {
		q := url.Values{}
		q.Set("start", strconv.Itoa(start))
		q.Set("limit", "500")
		q.Set("test-status", "true")
		data, err := c.raw(ctx, http.MethodGet, taskPath(upid, "log"), q, nil)
		if err != nil {
			return err
		}
		var page struct {
			Data []struct {
				N int    `json:"n"`
				T string `json:"t"`
			} `json:"data"`
			Total  int   `json:"total"`
			Active *bool `json:"active"`
		}
		if err := json.Unmarshal(data, &page); err != nil {
			return fmt.Errorf("bad task log answer: %v", err)
		}
		before := start
		for _, l := range page.Data {
			if l.N < start {
				continue
			}
			start = l.N + 1
			if line != nil {
				line(stripTimestamp(l.T))
			}
		}
		if start > page.Total {
			if page.Active != nil && *page.Active {
				if err := sleep(ctx, time.Second); err != nil {
					return err
				}
				continue
			}
			break
		}
		if start == before {
			if err := sleep(ctx, time.Second); err != nil {
				return err
			}
		}
	}
	st, err := c.TaskStatus(ctx, upid)
	if err != nil {
		return err
	}
	if st.Status == "stopped" && st.ExitStatus != "OK" && !strings.HasPrefix(st.ExitStatus, "WARNINGS") {
		return fmt.Errorf("task failed (status %s)", st.ExitStatus)
	}
	return nil
}
