package server

import (
	"context"
	"net/http"
	"net/url"
	"strings"
	"time"

	"cairn/net/server/config"
)

// The API's routes: every endpoint is registered with its method(s) on an
// http.ServeMux (Go 1.22 method patterns). A request for a known path with
// another method is answered 405 with an Allow header, never served: no
// state changes over GET or HEAD, which skip the CSRF check (auth.go). HEAD
// reaches only GET handlers, which change nothing (the session upgrades take
// GET alone).
//
// Before the mux sees a request, route normalises its path as upstream's
// router does: empty components are dropped ("//api2/json/ping/" is
// "/api2/json/ping"), a component starting with '.' is refused (400
// "Path contains illegal components."), and anything outside /api2/json is
// 404 (400 for the unsupported extjs formatter). As upstream does, a request
// that matches no route is authenticated first: 401 without credentials,
// then 405 or 404.

const apiPrefix = "/api2/json"

func (s *Server) routes() *http.ServeMux {
	mux := http.NewServeMux()
	api := func(pattern string, h http.Handler) {
		method, path, _ := strings.Cut(pattern, " ")
		mux.Handle(method+" "+apiPrefix+path, h)
	}
	api("GET /ping", s.world(func(w http.ResponseWriter, r *http.Request, _ time.Time) {
		writeData(w, map[string]any{"pong": true}, nil)
	}))
	api("POST /access/ticket", s.world(s.handleTicket))
	api("DELETE /access/ticket", s.world(s.handleLogout))
	api("GET /version", s.authed(func(c *reqCtx) {
		writeData(c.w, map[string]any{"version": serverVersion, "release": serverRelease, "repoid": "cairn"}, nil)
	}))
	api("GET /backup", s.authed(getOnly(s.handleBackupUpgrade)))
	api("GET /reader", s.authed(getOnly(s.handleReaderUpgrade)))
	api("GET /admin/datastore", s.authed(func(c *reqCtx) { c.reply(s.listDatastores(c)) }))
	for _, rt := range datastoreRoutes {
		api(rt.method+" /admin/datastore/{store}/"+rt.sub, s.datastoreHandler(rt))
	}
	api("GET /nodes/{node}/tasks", s.authed(s.listTasksRoute))
	api("GET /nodes/{node}/tasks/{upid}", s.authed(s.taskRoute(func(c *reqCtx, _ params, t *task) {
		if !c.mayAccessTask(t, false) {
			c.reply(nil, permDenied("/system/tasks", config.PrivSysAudit))
			return
		}
		c.reply([]map[string]any{{"subdir": "log"}, {"subdir": "status"}}, nil)
	})))
	api("DELETE /nodes/{node}/tasks/{upid}", s.authed(s.taskRoute(func(c *reqCtx, _ params, t *task) {
		if !c.mayAccessTask(t, true) {
			c.reply(nil, permDenied("/system/tasks", config.PrivSysModify))
			return
		}
		t.requestAbort()
		c.reply(nil, nil)
	})))
	api("GET /nodes/{node}/tasks/{upid}/status", s.authed(s.taskRoute(func(c *reqCtx, _ params, t *task) {
		if !c.mayAccessTask(t, false) {
			c.reply(nil, permDenied("/system/tasks", config.PrivSysAudit))
			return
		}
		c.reply(t.status(), nil)
	})))
	api("GET /nodes/{node}/tasks/{upid}/log", s.authed(s.taskRoute(func(c *reqCtx, p params, t *task) {
		if !c.mayAccessTask(t, false) {
			c.reply(nil, permDenied("/system/tasks", config.PrivSysAudit))
			return
		}
		s.taskLog(c, p, t)
	})))
	return mux
}

type startKey struct{}

// requestStart is when the server began to read the request (the base of
// the failed-authentication and permission delays).
func requestStart(r *http.Request) time.Time {
	if t, ok := r.Context().Value(startKey{}).(time.Time); ok {
		return t
	}
	return time.Now()
}

// route normalises the path and dispatches the request (see the top of
// this file).
func (s *Server) route(w *statusRecorder, r *http.Request, start time.Time) {
	path := r.URL.Path
	clean := trimPath(r.URL.EscapedPath())
	if clean != "" {
		for _, c := range strings.Split(clean, "/") {
			u, err := url.PathUnescape(c)
			if err != nil || strings.HasPrefix(c, ".") || strings.HasPrefix(u, ".") {
				writeError(w, badRequest("Path contains illegal components."))
				return
			}
		}
	}
	clean = "/" + clean
	if !strings.HasPrefix(clean+"/", apiPrefix+"/") {
		if strings.HasPrefix(clean+"/", "/api2/extjs/") {
			writeError(w, badRequest("the extjs formatter is not supported"))
			return
		}
		writeError(w, errorf(http.StatusNotFound, "Path '%s' not found.", path))
		return
	}
	u := *r.URL
	u.RawPath = clean
	if u.Path, _ = url.PathUnescape(clean); u.Path == clean {
		u.RawPath = ""
	}
	r = r.WithContext(context.WithValue(r.Context(), startKey{}, start))
	r.URL = &u
	if _, pattern := s.mux.Handler(r); pattern == "" {
		s.noRoute(w, r, path, start)
		return
	}
	s.mux.ServeHTTP(w, r)
}

// noRoute answers a request no route takes: after authentication (as
// upstream does), 405 when the path has routes for other methods, else 404.
func (s *Server) noRoute(w http.ResponseWriter, r *http.Request, path string, start time.Time) {
	cfg, err := s.config()
	if err != nil {
		s.logf("config: %v", err)
		writeError(w, errorf(http.StatusInternalServerError, "unable to load configuration - %v", err))
		return
	}
	if _, err := s.authenticate(r, cfg); err != nil {
		s.sleepUntil(start, s.opts.AuthFailDelay)
		writeError(w, err)
		return
	}
	if allowed := s.allowedMethods(r); len(allowed) > 0 {
		writeMethodNotAllowed(w, r.Method, path, allowed)
		return
	}
	writeError(w, errorf(http.StatusNotFound, "Path '%s' not found.", path))
}

// allowedMethods lists the methods the request's path has routes for.
func (s *Server) allowedMethods(r *http.Request) []string {
	var out []string
	for _, m := range []string{http.MethodGet, http.MethodHead, http.MethodPost, http.MethodPut, http.MethodDelete} {
		probe := *r
		probe.Method = m
		if _, pattern := s.mux.Handler(&probe); pattern != "" {
			out = append(out, m)
		}
	}
	return out
}

func writeMethodNotAllowed(w http.ResponseWriter, method, path string, allowed []string) {
	w.Header().Set("Allow", strings.Join(allowed, ", "))
	writeError(w, errorf(http.StatusMethodNotAllowed, "Method '%s' not allowed on path '%s' (allowed: %s).", method, path, strings.Join(allowed, ", ")))
}

// world serves an endpoint that needs no authentication.
func (s *Server) world(h func(w http.ResponseWriter, r *http.Request, start time.Time)) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { h(w, r, requestStart(r)) })
}

// authed authenticates the request (a token, or a ticket plus the CSRF
// token for methods other than GET and HEAD) before h runs.
func (s *Server) authed(h func(c *reqCtx)) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := requestStart(r)
		cfg, err := s.config()
		if err != nil {
			s.logf("config: %v", err)
			writeError(w, errorf(http.StatusInternalServerError, "unable to load configuration - %v", err))
			return
		}
		id, err := s.authenticate(r, cfg)
		if err != nil {
			s.sleepUntil(start, s.opts.AuthFailDelay)
			writeError(w, err)
			return
		}
		h(&reqCtx{s: s, cfg: cfg, id: id, r: r, w: w, start: start})
	})
}

// getOnly refuses HEAD on a GET route: the session upgrades switch
// protocols and start a backup or reader task, which HEAD must not.
func getOnly(h func(c *reqCtx)) func(c *reqCtx) {
	return func(c *reqCtx) {
		if c.r.Method != http.MethodGet {
			writeMethodNotAllowed(c.w, c.r.Method, c.r.URL.Path, []string{http.MethodGet})
			return
		}
		h(c)
	}
}

// taskRoute reads the parameters and the {upid} of a task endpoint and
// finds the task (404 if unknown).
func (s *Server) taskRoute(f func(c *reqCtx, p params, t *task)) func(c *reqCtx) {
	return func(c *reqCtx) {
		p, err := parseParams(c.r)
		if err != nil {
			c.reply(nil, err)
			return
		}
		upid := c.r.PathValue("upid")
		if !strings.HasPrefix(upid, "UPID:") {
			c.reply(nil, badRequest("parameter verification failed - 'upid': unable to parse UPID"))
			return
		}
		t := s.tasks.get(upid)
		if t == nil {
			c.reply(nil, errorf(http.StatusNotFound, "task '%s' not found", upid))
			return
		}
		f(c, p, t)
	}
}

func (s *Server) listTasksRoute(c *reqCtx) {
	p, err := parseParams(c.r)
	if err != nil {
		c.reply(nil, err)
		return
	}
	s.listTasks(c, p)
}
