package server

import (
	"crypto/ed25519"
	"crypto/hmac"
	"crypto/sha256"
	"crypto/sha3"
	"encoding/base64"
	"errors"
	"fmt"
	"hash"
	"net"
	"net/http"
	"net/url"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"
	"unicode"
	"unicode/utf8"

	"cairn/net/server/config"
)

// TicketLifetime is how long a ticket and a CSRF token are valid (protocol.md 1.3).
const TicketLifetime = 7200

const ticketPrefix = "PBS"

// identity is who made a request.
type identity struct {
	authID string // user or token id
	user   string // the user part
	token  bool
}

// newTicket makes "PBS:<userid>:<HEXTIME>::<signature>" signed with the
// Ed25519 auth key.
func (s *Server) newTicket(userID string, now time.Time) string {
	data := fmt.Sprintf("%s:%s:%08X", ticketPrefix, ticketEscape(userID), now.Unix())
	sig := ed25519.Sign(s.authKey, []byte(data))
	return data + "::" + base64.RawStdEncoding.EncodeToString(sig)
}

// ticketEscape percent-encodes control characters and ':'.
func ticketEscape(s string) string {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c < 0x20 || c == 0x7f || c == ':' || c == '%' {
			fmt.Fprintf(&b, "%%%02X", c)
		} else {
			b.WriteByte(c)
		}
	}
	return b.String()
}

// verifyTicket checks a ticket and returns its user id.
func (s *Server) verifyTicket(ticket string, now time.Time) (string, error) {
	parts := strings.SplitN(ticket, ":", 4)
	if len(parts) != 4 || parts[0] != ticketPrefix || !strings.HasPrefix(parts[3], ":") {
		return "", fmt.Errorf("invalid ticket format")
	}
	sig, err := base64.RawStdEncoding.DecodeString(parts[3][1:])
	if err != nil {
		return "", fmt.Errorf("invalid ticket signature encoding")
	}
	data := parts[0] + ":" + parts[1] + ":" + parts[2]
	if !ed25519.Verify(s.authKey.Public().(ed25519.PublicKey), []byte(data), sig) {
		return "", fmt.Errorf("invalid ticket signature")
	}
	ts, err := strconv.ParseInt(parts[2], 16, 64)
	if err != nil || len(parts[2]) < 8 {
		return "", fmt.Errorf("invalid ticket time")
	}
	age := now.Unix() - ts
	if age < -300 {
		return "", fmt.Errorf("ticket with invalid timestamp (in the future)")
	}
	if age > TicketLifetime {
		return "", fmt.Errorf("ticket expired")
	}
	user, err := url.PathUnescape(parts[1])
	if err != nil || strings.HasPrefix(user, "!tfa!") {
		return "", fmt.Errorf("invalid ticket data")
	}
	return user, nil
}

func (s *Server) csrfMAC(ts, userID string) []byte {
	m := hmac.New(func() hash.Hash { return sha3.New256() }, s.csrfKey)
	m.Write([]byte(ts + ":" + userID + ":"))
	return m.Sum(nil)
}

// newCSRF makes "<HEXTIME>:<base64 HMAC-SHA3-256>" (protocol.md 1.4).
func (s *Server) newCSRF(userID string, now time.Time) string {
	ts := fmt.Sprintf("%08X", now.Unix())
	return ts + ":" + base64.RawStdEncoding.EncodeToString(s.csrfMAC(ts, userID))
}

func (s *Server) verifyCSRF(token, userID string, now time.Time) bool {
	ts, sig, ok := strings.Cut(token, ":")
	if !ok {
		return false
	}
	t, err := strconv.ParseInt(ts, 16, 64)
	if err != nil {
		return false
	}
	age := now.Unix() - t
	if age < -300 || age > TicketLifetime {
		return false
	}
	got, err := base64.RawStdEncoding.DecodeString(strings.TrimRight(sig, "="))
	if err != nil {
		return false
	}
	if hmac.Equal(got, s.csrfMAC(ts, userID)) {
		return true
	}
	// Legacy: SHA-256 of "<TIME>:<userid>:" || secret.
	h := sha256.New()
	h.Write([]byte(ts + ":" + userID + ":"))
	h.Write(s.csrfKey)
	return hmac.Equal(got, h.Sum(nil))
}

// userUsable reports whether a user exists, is enabled and not expired.
func userUsable(cfg *config.Config, userID string, now time.Time) bool {
	if userID == "root@pam" {
		return true
	}
	u, ok := cfg.Users[userID]
	if !ok || !u.Enable {
		return false
	}
	return u.Expire == 0 || u.Expire > now.Unix()
}

var errAuth = errorf(http.StatusUnauthorized, "authentication failed")

// authenticate finds the identity of a request: an API token header or a
// ticket cookie (plus the CSRF token for non-GET requests).
func (s *Server) authenticate(r *http.Request, cfg *config.Config) (*identity, error) {
	now := time.Now()
	if h := r.Header.Get("Authorization"); strings.HasPrefix(h, "PBSAPIToken") {
		rest := h[len("PBSAPIToken"):]
		if !strings.HasPrefix(rest, " ") && !strings.HasPrefix(rest, "=") {
			return nil, errAuth
		}
		id, secret, ok := strings.Cut(strings.TrimSpace(rest[1:]), ":")
		if !ok {
			return nil, errAuth
		}
		if dec, err := url.PathUnescape(secret); err == nil {
			secret = dec
		}
		user, tok, err := config.ParseAuthID(id)
		if err != nil || tok == "" {
			return nil, errAuth
		}
		t, ok := cfg.Tokens[id]
		if !ok || !t.Enable || (t.Expire != 0 && t.Expire <= now.Unix()) || !userUsable(cfg, user, now) {
			config.CheckSecret("", secret)
			return nil, errAuth
		}
		if !s.tokenCache.check(id, t.Hash, secret) {
			return nil, errAuth
		}
		return &identity{authID: id, user: user, token: true}, nil
	}
	ticket := ""
	for _, name := range []string{"__Host-PBSAuthCookie", "PBSAuthCookie"} {
		if c, err := r.Cookie(name); err == nil && c.Value != "" {
			ticket = c.Value
			break
		}
	}
	if ticket == "" {
		return nil, errAuth
	}
	if dec, err := url.PathUnescape(ticket); err == nil {
		ticket = dec
	}
	user, err := s.verifyTicket(ticket, now)
	if err != nil || !userUsable(cfg, user, now) {
		return nil, errAuth
	}
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		if !s.verifyCSRF(r.Header.Get("CSRFPreventionToken"), user, now) {
			return nil, errorf(http.StatusUnauthorized, "authentication failed - invalid csrf token")
		}
	}
	return &identity{authID: user, user: user}, nil
}

// tokenCache remembers verified token secrets (by SHA-256), so bcrypt runs
// once per token and secret, not on every request.
type tokenCache struct {
	mu sync.Mutex
	m  map[string][32]byte // tokenid + "\x00" + hash → sha256(secret)
}

func (c *tokenCache) check(id, hash, secret string) bool {
	key := id + "\x00" + hash
	sum := sha256.Sum256([]byte(secret))
	c.mu.Lock()
	if c.m == nil {
		c.m = map[string][32]byte{}
	}
	if v, ok := c.m[key]; ok && hmac.Equal(v[:], sum[:]) {
		c.mu.Unlock()
		return true
	}
	c.mu.Unlock()
	if !config.CheckSecret(hash, secret) {
		return false
	}
	c.mu.Lock()
	c.m[key] = sum
	c.mu.Unlock()
	return true
}

// loginLimiter slows down password guessing: after a few failures for one
// user from one address, further attempts are refused for a growing time.
//
// Its memory is bounded: only well-formed user ids (at most 64 characters,
// checkLoginUserID) reach it, and it holds at most maxLimiterEntries pairs.
// When it is full, pairs that block nothing are dropped first (they hold
// fewer than freeFailures failures, or their wait has passed), then, if
// pairs that still block fill it, those whose wait ends first.
type loginLimiter struct {
	mu sync.Mutex
	m  map[string]*failures
	// attempts serialises the check, password test and record of one
	// user+address pair (sharded, so memory stays bounded): concurrent
	// guesses cannot all pass the check before any failure is recorded,
	// and correct logins are never counted against the limit.
	attempts [256]sync.Mutex
}

// maxLimiterEntries bounds the limiter: about 200 bytes per pair (a key of
// at most 64+1+45 bytes and the record), so at most about 3 MiB.
const maxLimiterEntries = 16384

// serialize locks the pair's shard; call the returned function to unlock.
func (l *loginLimiter) serialize(user, addr string) func() {
	k := l.key(user, addr)
	var h uint8
	for i := 0; i < len(k); i++ {
		h = h*31 + k[i]
	}
	m := &l.attempts[h]
	m.Lock()
	return m.Unlock
}

type failures struct {
	count int
	last  time.Time
}

const freeFailures = 5

func (l *loginLimiter) key(user, addr string) string {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		host = addr
	}
	return user + "|" + host
}

// wait is how long a pair with these failures must still wait.
func (f *failures) wait(now time.Time) time.Duration {
	if f == nil || f.count < freeFailures {
		return 0
	}
	shift := min(f.count-freeFailures, 10)
	wait := time.Duration(1<<shift) * 5 * time.Second
	if wait > time.Hour {
		wait = time.Hour
	}
	if d := f.last.Add(wait).Sub(now); d > 0 {
		return d
	}
	return 0
}

// blocked reports how long the pair must still wait.
func (l *loginLimiter) blocked(user, addr string, now time.Time) time.Duration {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.m[l.key(user, addr)].wait(now)
}

func (l *loginLimiter) fail(user, addr string, now time.Time) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.m == nil {
		l.m = map[string]*failures{}
	}
	k := l.key(user, addr)
	f := l.m[k]
	if f == nil || now.Sub(f.last) > 24*time.Hour {
		if f == nil && len(l.m) >= maxLimiterEntries {
			l.evict(now)
		}
		f = &failures{}
		l.m[k] = f
	}
	f.count++
	f.last = now
}

// evict makes room in a full limiter (l.mu held): it drops the pairs that
// block nothing; if blocking pairs still fill more than 7/8 of it, those
// whose wait ends first go too.
func (l *loginLimiter) evict(now time.Time) {
	for k, f := range l.m {
		if f.wait(now) == 0 {
			delete(l.m, k)
		}
	}
	keep := maxLimiterEntries * 7 / 8
	if len(l.m) <= keep {
		return
	}
	type entry struct {
		k   string
		end time.Time
	}
	all := make([]entry, 0, len(l.m))
	for k, f := range l.m {
		all = append(all, entry{k, now.Add(f.wait(now))})
	}
	sort.Slice(all, func(i, j int) bool { return all[i].end.Before(all[j].end) })
	for _, e := range all[:len(all)-keep] {
		delete(l.m, e.k)
	}
}

func (l *loginLimiter) success(user, addr string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	delete(l.m, l.key(user, addr))
}

// Upstream's limits of the ticket parameters (proxmox-auth-api Userid:
// 3..64 characters, PASSWORD_SCHEMA: at most 1024 characters).
const (
	maxUserIDChars   = 64
	minUserIDChars   = 3
	maxPasswordChars = 1024
)

// checkLoginUserID checks a login user name as upstream's Userid schema
// does: 3 to 64 characters, NAME@REALM split at the last '@', a name of no
// whitespace, ':', '/' or control characters, a SAFE-ID realm. Its errors
// are upstream's parameter verification messages.
func checkLoginUserID(s string) error {
	if !utf8.ValidString(s) {
		return errors.New("value does not match the regex pattern")
	}
	n := utf8.RuneCountInString(s)
	if n < minUserIDChars {
		return fmt.Errorf("value must be at least %d characters long", minUserIDChars)
	}
	if n > maxUserIDChars {
		return fmt.Errorf("value may only be %d characters long", maxUserIDChars)
	}
	i := strings.LastIndexByte(s, '@')
	if i <= 0 {
		return errors.New("value does not match the regex pattern")
	}
	for _, r := range s[:i] {
		if unicode.IsSpace(r) || unicode.IsControl(r) || r == ':' || r == '/' || r == 0x2028 || r == 0x2029 {
			return errors.New("value does not match the regex pattern")
		}
	}
	if !config.ValidSafeID(s[i+1:]) {
		return errors.New("value does not match the regex pattern")
	}
	return nil
}

// checkLoginPassword: upstream's PASSWORD_SCHEMA (no control characters,
// at most 1024 characters; a ticket renewal sends the ticket here).
func checkLoginPassword(s string) error {
	if utf8.RuneCountInString(s) > maxPasswordChars {
		return fmt.Errorf("value may only be %d characters long", maxPasswordChars)
	}
	for _, r := range s {
		if unicode.IsControl(r) && r < 0x80 {
			return errors.New("value does not match the regex pattern")
		}
	}
	return nil
}

// handleLogout is DELETE /access/ticket (protocol.md 1.2, 4.x).
func (s *Server) handleLogout(w http.ResponseWriter, r *http.Request, start time.Time) {
	w.Header().Set("Set-Cookie", "__Host-PBSAuthCookie=; Expires=Thu, 01 Jan 1970 00:00:00 GMT; Secure; SameSite=Lax; HttpOnly; Path=/;")
	writeJSON(w, map[string]any{"data": map[string]any{}, "status": 200, "success": true})
}

// handleTicket is POST /access/ticket: login and ticket renewal (protocol.md 1.2).
func (s *Server) handleTicket(w http.ResponseWriter, r *http.Request, start time.Time) {
	p, err := parseParamsLimit(r, maxLoginBody)
	if err != nil {
		writeError(w, err)
		return
	}
	// Malformed or over-long user ids are refused as upstream's schema
	// refuses them (400), before any bookkeeping: they never reach the
	// limiter or the log.
	userID, err := p.required("username")
	if err != nil {
		writeError(w, err)
		return
	}
	if err := checkLoginUserID(userID); err != nil {
		writeError(w, badRequest("parameter verification failed - 'username': %v", err))
		return
	}
	password := p.str("password")
	if err := checkLoginPassword(password); err != nil {
		writeError(w, badRequest("parameter verification failed - 'password': %v", err))
		return
	}
	if p.has("tfa-challenge") {
		s.loginFailed(w, start, userID, r, "second factor login is not supported")
		return
	}
	_, realm, perr := config.ParseUserID(userID)
	if perr != nil || strings.Contains(userID, "!") {
		s.loginFailed(w, start, userID, r, "invalid user id")
		return
	}
	unlock := s.limiter.serialize(userID, r.RemoteAddr)
	if wait := s.limiter.blocked(userID, r.RemoteAddr, time.Now()); wait > 0 {
		unlock()
		s.logf("login of %s from %s refused: too many failed attempts", userID, r.RemoteAddr)
		s.sleepUntil(start, s.opts.AuthFailDelay)
		writeError(w, errorf(http.StatusUnauthorized, "authentication failed - too many failed login attempts, try again in %d s", int(wait.Seconds())+1))
		return
	}
	cfg, err := s.config()
	if err != nil {
		unlock()
		writeError(w, errorf(http.StatusInternalServerError, "%v", err))
		return
	}
	now := time.Now()
	ok := false
	reason := ""
	switch {
	case !userUsable(cfg, userID, now):
		reason = "user unknown, disabled or expired"
	case strings.HasPrefix(password, ticketPrefix+":"):
		if u, err := s.verifyTicket(password, now); err != nil {
			reason = err.Error()
		} else if u != userID {
			reason = "ticket belongs to another user"
		} else {
			ok = true
		}
	case realm == "pam":
		reason = "pam realm not available"
	case realm == "pbs":
		if config.CheckSecret(cfg.Users[userID].Hash, password) {
			ok = true
		} else {
			reason = "invalid credentials"
		}
	default:
		reason = fmt.Sprintf("unknown realm '%s'", realm)
	}
	if !ok {
		s.limiter.fail(userID, r.RemoteAddr, time.Now())
		unlock()
		s.logf("authentication failure; rhost=%s user=%s msg=%s", r.RemoteAddr, userID, reason)
		s.sleepUntil(start, s.opts.AuthFailDelay)
		writeError(w, errorf(http.StatusUnauthorized, "permission check failed."))
		return
	}
	s.limiter.success(userID, r.RemoteAddr)
	unlock()
	s.logf("successful auth for user '%s' from %s", userID, r.RemoteAddr)
	writeJSON(w, map[string]any{"data": map[string]any{
		"username":            userID,
		"ticket":              s.newTicket(userID, now),
		"CSRFPreventionToken": s.newCSRF(userID, now),
	}, "status": 200, "success": true})
}

// loginFailed answers a refused login of a well-formed user id (the caller
// checked it with checkLoginUserID, so the limiter and the log hold at most
// 64 characters of it).
func (s *Server) loginFailed(w http.ResponseWriter, start time.Time, userID string, r *http.Request, reason string) {
	s.limiter.fail(userID, r.RemoteAddr, time.Now())
	s.logf("authentication failure; rhost=%s user=%s msg=%s", r.RemoteAddr, userID, reason)
	s.sleepUntil(start, s.opts.AuthFailDelay)
	writeError(w, errorf(http.StatusUnauthorized, "permission check failed."))
}

func (s *Server) sleepUntil(start time.Time, d time.Duration) {
	if rest := time.Until(start.Add(d)); rest > 0 {
		time.Sleep(rest)
	}
}

var timeNow = time.Now
