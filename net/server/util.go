package server

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"net/url"
	"strconv"
	"strings"

	"cairn/core"
	"cairn/core/datastore"
)

// trimPath drops empty path components, as upstream's router does: the
// upstream client asks for "//api2/json/access/ticket", and
// "/api2//json/ping/" is the same as "/api2/json/ping" there. The result has
// no leading or trailing slash.
func trimPath(p string) string {
	if !strings.Contains(p, "//") && !strings.HasPrefix(p, "/") && !strings.HasSuffix(p, "/") {
		return p
	}
	parts := strings.Split(p, "/")
	kept := parts[:0]
	for _, c := range parts {
		if c != "" {
			kept = append(kept, c)
		}
	}
	return strings.Join(kept, "/")
}

// apiError is an error with the HTTP status it is answered with. The body
// is the plain message text (protocol.md, general conventions).
type apiError struct {
	code int
	msg  string
}

func (e *apiError) Error() string { return e.msg }

func errorf(code int, format string, args ...any) error {
	return &apiError{code: code, msg: fmt.Sprintf(format, args...)}
}

func badRequest(format string, args ...any) error {
	return errorf(http.StatusBadRequest, format, args...)
}

// statusOf maps an error to its HTTP status.
func statusOf(err error) int {
	var ae *apiError
	if errors.As(err, &ae) {
		return ae.code
	}
	var re *datastore.RequestError
	if errors.As(err, &re) {
		return http.StatusBadRequest
	}
	switch {
	case errors.Is(err, core.ErrNotFound):
		return http.StatusNotFound
	case errors.Is(err, core.ErrLocked):
		return http.StatusConflict
	}
	if strings.Contains(err.Error(), "owner check failed") {
		return http.StatusForbidden
	}
	return http.StatusBadRequest
}

const jsonContentType = "application/json;charset=UTF-8"

func writeError(w http.ResponseWriter, err error) {
	w.Header().Set("Content-Type", jsonContentType)
	w.WriteHeader(statusOf(err))
	io.WriteString(w, strings.ReplaceAll(err.Error(), "\n", " "))
}

func writeData(w http.ResponseWriter, data any, extra map[string]any) {
	out := map[string]any{"data": data}
	for k, v := range extra {
		out[k] = v
	}
	b, err := json.Marshal(out)
	if err != nil {
		writeError(w, err)
		return
	}
	w.Header().Set("Content-Type", jsonContentType)
	w.WriteHeader(http.StatusOK)
	w.Write(b)
}

func writeRaw(w http.ResponseWriter, data []byte) {
	w.Header().Set("Content-Type", "application/octet-stream")
	w.Header().Set("Content-Length", strconv.Itoa(len(data)))
	w.WriteHeader(http.StatusOK)
	w.Write(data)
}

// maxParamBody is the body size limit of ordinary API calls.
const maxParamBody = 512 << 10

// params are request parameters: the query string, or for a request with a
// JSON or form body, the body (protocol.md general conventions).
type params struct{ v url.Values }

// maxLoginBody is the body size limit of the unauthenticated login
// (upstream limits every body to 64 KiB): a client without credentials
// never makes the server buffer more.
const maxLoginBody = 128 << 10

func parseParams(r *http.Request) (params, error) { return parseParamsLimit(r, maxParamBody) }

// parseParamsLimit is parseParams with a body size limit.
func parseParamsLimit(r *http.Request, limit int64) (params, error) {
	p := params{v: url.Values{}}
	ct, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type"))
	hasBody := r.Body != nil && r.Method != http.MethodGet && (r.ContentLength > 0 || r.ContentLength == -1)
	if hasBody && (ct == "application/json" || ct == "application/x-www-form-urlencoded") {
		if r.ContentLength > limit {
			return p, errorf(http.StatusRequestEntityTooLarge, "request body too large")
		}
		var buf bytes.Buffer
		if r.ContentLength > 0 {
			buf.Grow(int(r.ContentLength) + 1)
		}
		if _, err := buf.ReadFrom(io.LimitReader(r.Body, limit+1)); err != nil {
			return p, badRequest("reading request body failed - %v", err)
		}
		body := buf.Bytes()
		if int64(len(body)) > limit {
			return p, errorf(http.StatusRequestEntityTooLarge, "request body too large")
		}
		if ct == "application/json" {
			if len(strings.TrimSpace(string(body))) == 0 {
				return p, nil
			}
			var m map[string]any
			if err := json.Unmarshal(body, &m); err != nil {
				return p, badRequest("invalid JSON body - %v", err)
			}
			for k, val := range m {
				if err := addJSONParam(p.v, k, val); err != nil {
					return p, err
				}
			}
			return p, nil
		}
		vals, err := url.ParseQuery(string(body))
		if err != nil {
			return p, badRequest("invalid form body - %v", err)
		}
		p.v = vals
		return p, nil
	}
	vals, err := url.ParseQuery(r.URL.RawQuery)
	if err != nil {
		return p, badRequest("invalid query string - %v", err)
	}
	p.v = vals
	return p, nil
}

func addJSONParam(v url.Values, k string, val any) error {
	switch x := val.(type) {
	case nil:
	case string:
		v.Add(k, x)
	case bool:
		v.Add(k, strconv.FormatBool(x))
	case float64:
		v.Add(k, strconv.FormatFloat(x, 'f', -1, 64))
	case []any:
		for _, e := range x {
			if err := addJSONParam(v, k, e); err != nil {
				return err
			}
		}
	default:
		return badRequest("parameter verification failed - '%s': nested objects are not supported", k)
	}
	return nil
}

func (p params) has(k string) bool { return p.v.Get(k) != "" }

func (p params) str(k string) string { return p.v.Get(k) }

func (p params) required(k string) (string, error) {
	s := p.v.Get(k)
	if s == "" {
		return "", badRequest("parameter verification failed - '%s': parameter is missing and it is not optional.", k)
	}
	return s, nil
}

func (p params) integer(k string, def int64, min, max int64) (int64, error) {
	s := p.v.Get(k)
	if s == "" {
		return def, nil
	}
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil {
		return 0, badRequest("parameter verification failed - '%s': expected integer, got %q", k, s)
	}
	if n < min || n > max {
		return 0, badRequest("parameter verification failed - '%s': value %d out of range (%d - %d)", k, n, min, max)
	}
	return n, nil
}

func (p params) requiredInt(k string, min, max int64) (int64, error) {
	if _, err := p.required(k); err != nil {
		return 0, err
	}
	return p.integer(k, 0, min, max)
}

func (p params) boolean(k string, def bool) (bool, error) {
	s := strings.ToLower(p.v.Get(k))
	switch s {
	case "":
		return def, nil
	case "1", "true", "yes", "on":
		return true, nil
	case "0", "false", "no", "off":
		return false, nil
	}
	return false, badRequest("parameter verification failed - '%s': invalid boolean value %q", k, s)
}

func (p params) namespace() (core.Namespace, error) {
	ns, err := core.ParseNamespace(p.v.Get("ns"))
	if err != nil {
		return "", badRequest("parameter verification failed - 'ns': %v", err)
	}
	return ns, nil
}

func (p params) group() (core.Group, error) {
	t, err := p.required("backup-type")
	if err != nil {
		return core.Group{}, err
	}
	bt, err := core.ParseBackupType(t)
	if err != nil {
		return core.Group{}, badRequest("parameter verification failed - 'backup-type': %v", err)
	}
	id, err := p.required("backup-id")
	if err != nil {
		return core.Group{}, err
	}
	if !core.ValidBackupID(id) {
		return core.Group{}, badRequest("parameter verification failed - 'backup-id': value does not match the regex pattern")
	}
	return core.Group{Type: bt, ID: id}, nil
}

// optGroup returns the group when backup-type or backup-id is given.
func (p params) optGroup() (*core.Group, error) {
	if !p.has("backup-type") && !p.has("backup-id") {
		return nil, nil
	}
	g, err := p.group()
	if err != nil {
		return nil, err
	}
	return &g, nil
}

func (p params) snapshot() (core.Snapshot, error) {
	g, err := p.group()
	if err != nil {
		return core.Snapshot{}, err
	}
	t, err := p.requiredInt("backup-time", 1, 1<<53)
	if err != nil {
		return core.Snapshot{}, err
	}
	return core.Snapshot{Group: g, Time: t}, nil
}

func (p params) safeName(k, suffix string) (string, error) {
	s, err := p.required(k)
	if err != nil {
		return "", err
	}
	if !core.ValidBackupID(s) || len(s) > 128 {
		return "", badRequest("parameter verification failed - '%s': value does not match the regex pattern", k)
	}
	if suffix != "" && !strings.HasSuffix(s, suffix) {
		return "", badRequest("wrong %s extension: '%s'", k, s)
	}
	return s, nil
}

func (p params) store() (string, error) {
	s, err := p.required("store")
	if err != nil {
		return "", err
	}
	if !core.ValidBackupID(s) {
		return "", badRequest("parameter verification failed - 'store': value does not match the regex pattern")
	}
	return s, nil
}
