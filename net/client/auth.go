package client

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"
)

// TicketLifetime is how long a ticket is valid (protocol.md 1.3).
const TicketLifetime = 7200 * time.Second

// renewInterval is how often a long-running client renews its ticket.
const renewInterval = 15 * time.Minute

type ticketResponse struct {
	Username string `json:"username"`
	Ticket   string `json:"ticket"`
	CSRF     string `json:"CSRFPreventionToken"`
}

// ensureAuth logs in lazily (protocol.md 1.6).
func (c *Client) ensureAuth(ctx context.Context) error {
	if c.IsToken() {
		if c.opts.Password == nil {
			return errors.New("API token secret must be provided! (set PBS_PASSWORD)")
		}
		return nil
	}
	c.mu.Lock()
	ok := c.auth != nil
	c.mu.Unlock()
	if ok {
		return nil
	}
	return c.login(ctx, false)
}

// Login forces a login with the password (or cached ticket, unless force is
// set) and stores the ticket in the cache. For API tokens it only checks that
// the server accepts the token.
func (c *Client) Login(ctx context.Context) error {
	if c.IsToken() {
		if err := c.ensureAuth(ctx); err != nil {
			return err
		}
		return c.Get(ctx, "version", nil, nil)
	}
	return c.login(ctx, true)
}

// login authenticates: explicit password → cached ticket → terminal prompt.
func (c *Client) login(ctx context.Context, force bool) error {
	c.loginMu.Lock()
	defer c.loginMu.Unlock()
	c.mu.Lock()
	done := c.auth != nil && !force
	c.mu.Unlock()
	if done {
		return nil
	}
	user := c.opts.Spec.AuthID
	if c.opts.Password != nil {
		return c.postTicket(ctx, user, string(c.opts.Password))
	}
	if !c.opts.NoTicketCache {
		if e, ok := LoadTicket(c.hostKey, user); ok {
			err := c.postTicket(ctx, user, e.Ticket)
			if err == nil {
				return nil
			}
			if !IsAuthError(err) {
				return err
			}
			// A stale ticket: fall through to asking.
		}
	}
	if c.opts.Prompt == nil {
		return ErrNoPassword
	}
	pw, err := c.opts.Prompt(fmt.Sprintf("Password for \"%s\": ", user))
	if err != nil {
		return fmt.Errorf("%w (%v)", ErrNoPassword, err)
	}
	return c.postTicket(ctx, user, string(pw))
}

// postTicket calls POST /access/ticket and keeps the result.
func (c *Client) postTicket(ctx context.Context, user, password string) error {
	body, _ := json.Marshal(map[string]string{"username": user, "password": password})
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, c.apiURL("access/ticket", nil), bytes.NewReader(body))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", UserAgent)
	resp, err := c.http.Do(req)
	if err != nil {
		return unwrapURLError(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode == http.StatusUnauthorized {
		err := errorFromResponse(resp).(*HTTPError)
		return &HTTPError{Status: 401, Message: fmt.Sprintf("login as %s failed: wrong user name or password (%s)", user, strings.TrimSpace(err.Message))}
	}
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		return errorFromResponse(resp)
	}
	var env struct {
		Data ticketResponse `json:"data"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&env); err != nil {
		return fmt.Errorf("bad login answer from server: %v", err)
	}
	a := &authState{ticket: env.Data.Ticket, csrf: env.Data.CSRF, userid: env.Data.Username, cookie: "PBSAuthCookie", obtained: time.Now()}
	for _, ck := range resp.Cookies() {
		if ck.Name == "__Host-PBSAuthCookie" && ck.Value != "" {
			a.ticket, a.cookie = ck.Value, ck.Name
		}
	}
	if a.userid == "" {
		a.userid = user
	}
	if a.ticket == "" {
		return fmt.Errorf("bad login answer from server: no ticket")
	}
	if a.csrf == "invalid" {
		return fmt.Errorf("login as %s needs a second factor (TFA), which this client does not support", user)
	}
	c.mu.Lock()
	c.auth = a
	if c.stopRenew == nil {
		c.stopRenew = make(chan struct{})
		go c.renewLoop(c.stopRenew)
	}
	c.mu.Unlock()
	if !c.opts.NoTicketCache {
		if err := StoreTicket(c.hostKey, a.userid, a.ticket, a.csrf, a.obtained.Unix()); err != nil {
			fmt.Fprintf(c.log, "WARNING: could not store ticket: %v\n", err)
		}
	}
	return nil
}

// renewLoop re-logs in with the current ticket every 15 minutes.
func (c *Client) renewLoop(stop chan struct{}) {
	t := time.NewTicker(renewInterval)
	defer t.Stop()
	for {
		select {
		case <-stop:
			return
		case <-t.C:
			c.mu.Lock()
			a := c.auth
			c.mu.Unlock()
			if a == nil {
				continue
			}
			ctx, cancel := context.WithTimeout(context.Background(), requestTimeout)
			if err := c.postTicket(ctx, a.userid, a.ticket); err != nil {
				fmt.Fprintf(c.log, "re-authentication failed: %v\n", err)
			}
			cancel()
		}
	}
}
