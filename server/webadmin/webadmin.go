// Package webadmin is the browser interface every server serves at /admin/: log in with the environment's
// credentials, upload modules and watch every server confirm them live (Server-Sent Events), list deployments with
// each server's state and errors, browse module history and roll back, and invoke this server's services.
//
// Pages are html/template (everything escaped) with embedded CSS and a small vanilla script; nothing is fetched from
// anywhere else at run time (the Content-Security-Policy says so too).
package webadmin

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/subtle"
	"embed"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"html/template"
	"io/fs"
	"log/slog"
	"net/http"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/zato-go/zato/server/api"
	"github.com/zato-go/zato/server/cluster"
)

// Config of the web admin.
type Config struct {
	Server string
	Logger *slog.Logger
	// CheckCredentials returns true for the environment's user and password (constant time).
	CheckCredentials func(user, password string) bool
	// Secure marks cookies Secure (the server speaks TLS).
	Secure bool
}

// Prefix is where the handler is mounted.
const Prefix = "/admin/"

const (
	sessionTTL    = 12 * time.Hour // idle lifetime of a session
	maxSessions   = 10000          // sessions are created only by good logins; this only bounds memory
	loginTTL      = time.Hour
	maxUploadBody = 64 << 20 // several modules at once; each is still bounded by the cluster's MaxPayload
	maxFormBody   = 1 << 20
	maxInvokeBody = 8 << 20
	sseMax        = 10 * time.Minute
)

//go:embed templates/*.html
var templateFS embed.FS

//go:embed static
var staticFS embed.FS

type handler struct {
	cfg        Config
	api        *api.API
	cl         *cluster.Cluster
	rt         api.Runtime // the same calls as the API: invoke and list services
	log        *slog.Logger
	mux        *http.ServeMux
	pages      map[string]*template.Template
	sessions   *sessions
	cookieName string
	loginName  string
	throttle   *api.Throttle
}

// New returns the handler of /admin/ and below.
func New(cfg Config, a *api.API, cl *cluster.Cluster, rt api.Runtime) http.Handler {
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if cfg.CheckCredentials == nil && a != nil {
		cfg.CheckCredentials = a.CheckCredentials
	}
	// Browsers do not scope cookies by port, and the servers of a quickstart share a host: one name per server keeps
	// a login on server2 from logging the same browser out of server1.
	suffix := cookieSafe.ReplaceAllString(cfg.Server, "_")
	h := &handler{
		cfg: cfg, api: a, cl: cl, rt: rt, log: cfg.Logger, mux: http.NewServeMux(),
		pages: parsePages(), sessions: &sessions{m: map[string]*session{}},
		cookieName: "zato_admin_" + suffix, loginName: "zato_admin_login_" + suffix,
		throttle: api.NewThrottle(),
	}
	static, _ := fs.Sub(staticFS, "static")
	m := h.mux
	m.Handle("GET /admin/static/", http.StripPrefix("/admin/static/", http.FileServerFS(static)))
	m.HandleFunc("GET /admin/login", h.loginPage)
	m.HandleFunc("POST /admin/login", h.login)
	m.Handle("POST /admin/logout", h.action(maxFormBody, h.logout))
	m.Handle("GET /admin/{$}", h.authed(h.home))
	m.Handle("GET /admin/deployments", h.authed(h.deployments))
	m.Handle("GET /admin/deployments/{id}", h.authed(h.deployment))
	m.Handle("GET /admin/deployments/{id}/events", h.authed(h.events))
	m.Handle("GET /admin/modules", h.authed(h.modules))
	m.Handle("GET /admin/modules/{name}", h.authed(h.module))
	m.Handle("GET /admin/modules/{name}/diff", h.authed(h.diff))
	m.Handle("POST /admin/modules/{name}/rollback", h.action(maxFormBody, h.rollback))
	m.Handle("POST /admin/modules/{name}/undeploy", h.action(maxFormBody, h.undeploy))
	m.Handle("GET /admin/services", h.authed(h.services))
	m.Handle("POST /admin/services/invoke", h.action(maxInvokeBody, h.invoke))
	m.Handle("POST /admin/upload", h.action(maxUploadBody, h.upload))
	m.Handle("/admin/", h.authed(h.notFound))
	return h
}

var cookieSafe = regexp.MustCompile(`[^A-Za-z0-9_]`)

func (h *handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	hd := w.Header()
	hd.Set("Content-Security-Policy", "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "+
		"connect-src 'self'; form-action 'self'; base-uri 'none'; frame-ancestors 'none'")
	hd.Set("X-Content-Type-Options", "nosniff")
	hd.Set("X-Frame-Options", "DENY")
	hd.Set("Referrer-Policy", "same-origin")
	if !strings.HasPrefix(r.URL.Path, "/admin/static/") {
		hd.Set("Cache-Control", "no-store")
	}
	h.mux.ServeHTTP(w, r)
}

// ---- sessions and CSRF ----

type session struct {
	id, user, csrf string
	expires        time.Time
}

type sessions struct {
	mu sync.Mutex
	m  map[string]*session
}

func randomToken() string {
	b := make([]byte, 32)
	_, _ = rand.Read(b) // never fails (crypto/rand panics rather than return an error)
	return base64.RawURLEncoding.EncodeToString(b)
}

func (s *sessions) create(user string) *session {
	s.mu.Lock()
	defer s.mu.Unlock()
	now := time.Now()
	if len(s.m) >= maxSessions {
		s.sweep(now)
		for len(s.m) >= maxSessions { // still full: drop the one closest to expiring
			var oldest *session
			for _, v := range s.m {
				if oldest == nil || v.expires.Before(oldest.expires) {
					oldest = v
				}
			}
			delete(s.m, oldest.id)
		}
	}
	ss := &session{id: randomToken(), user: user, csrf: randomToken(), expires: now.Add(sessionTTL)}
	s.m[ss.id] = ss
	return ss
}

func (s *sessions) get(id string) *session {
	s.mu.Lock()
	defer s.mu.Unlock()
	ss := s.m[id]
	now := time.Now()
	if ss == nil {
		return nil
	}
	if now.After(ss.expires) {
		delete(s.m, id)
		return nil
	}
	ss.expires = now.Add(sessionTTL)
	cp := *ss
	return &cp
}

func (s *sessions) remove(id string) {
	s.mu.Lock()
	delete(s.m, id)
	s.mu.Unlock()
}

func (s *sessions) sweep(now time.Time) {
	for id, v := range s.m {
		if now.After(v.expires) {
			delete(s.m, id)
		}
	}
}

func (h *handler) session(r *http.Request) *session {
	c, err := r.Cookie(h.cookieName)
	if err != nil || c.Value == "" {
		return nil
	}
	return h.sessions.get(c.Value)
}

type ctxSession struct{}

func sessionOf(r *http.Request) *session {
	s, _ := r.Context().Value(ctxSession{}).(*session)
	return s
}

// authed sends a request without a session to the login page.
func (h *handler) authed(fn http.HandlerFunc) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s := h.session(r)
		if s == nil {
			next := Prefix
			if r.Method == http.MethodGet && !strings.HasSuffix(r.URL.Path, "/events") {
				next = r.URL.RequestURI()
			}
			http.Redirect(w, r, "/admin/login?next="+url.QueryEscape(next), http.StatusSeeOther)
			return
		}
		fn(w, r.WithContext(context.WithValue(r.Context(), ctxSession{}, s)))
	})
}

// action is an authenticated POST: its body is bounded, and it needs the session's CSRF token in the X-CSRF-Token
// header (XHRs) or the csrf form field (forms), else 403.
func (h *handler) action(limit int64, fn http.HandlerFunc) http.Handler {
	return h.authed(func(w http.ResponseWriter, r *http.Request) {
		refuse := func() {
			h.log.Warn("admin request refused: bad CSRF token", "path", r.URL.Path, "remote", r.RemoteAddr)
			h.fail(w, r, http.StatusForbidden, "Invalid or missing CSRF token: reload the page and try again.")
		}
		// The page's scripts send the token in a header: a wrong one is refused before a large body is read.
		header := r.Header.Get("X-CSRF-Token")
		if header != "" && !tokenEqual(header, sessionOf(r).csrf) {
			refuse()
			return
		}
		r.Body = http.MaxBytesReader(w, r.Body, limit)
		// ParseForm first: for a url-encoded body ParseMultipartForm says only ErrNotMultipart, whatever went wrong
		// reading it (a body over the limit then read as an empty form).
		err := r.ParseForm()
		if err == nil {
			if err = r.ParseMultipartForm(8 << 20); errors.Is(err, http.ErrNotMultipart) {
				err = nil
			}
		}
		if err != nil {
			var mbe *http.MaxBytesError
			if errors.As(err, &mbe) {
				h.fail(w, r, http.StatusRequestEntityTooLarge, fmt.Sprintf("The request is over %d bytes.", limit))
			} else {
				h.fail(w, r, http.StatusBadRequest, "Could not read the form: "+err.Error())
			}
			return
		}
		if r.MultipartForm != nil {
			defer r.MultipartForm.RemoveAll()
		}
		if header == "" && !tokenEqual(r.PostFormValue("csrf"), sessionOf(r).csrf) {
			refuse()
			return
		}
		fn(w, r)
	})
}

func tokenEqual(got, want string) bool {
	return got != "" && want != "" && subtle.ConstantTimeCompare([]byte(got), []byte(want)) == 1
}

// safeNext keeps redirects after login inside the web admin.
func safeNext(next string) string {
	if !strings.HasPrefix(next, Prefix) || strings.HasPrefix(next, "//") || strings.ContainsAny(next, "\\\r\n") {
		return Prefix
	}
	return next
}

func (h *handler) setCookie(w http.ResponseWriter, name, value, path string, maxAge int) {
	http.SetCookie(w, &http.Cookie{
		Name: name, Value: value, Path: path, MaxAge: maxAge,
		HttpOnly: true, Secure: h.cfg.Secure, SameSite: http.SameSiteStrictMode,
	})
}

// ---- login ----

type loginData struct {
	Next, Error, User string
}

// loginToken returns the login form's CSRF token, a double-submit cookie: there is no session yet to keep it in.
func (h *handler) loginToken(w http.ResponseWriter, r *http.Request) string {
	if c, err := r.Cookie(h.loginName); err == nil && len(c.Value) == 43 {
		return c.Value
	}
	t := randomToken()
	h.setCookie(w, h.loginName, t, "/admin/login", int(loginTTL/time.Second))
	return t
}

func (h *handler) loginPage(w http.ResponseWriter, r *http.Request) {
	next := safeNext(r.URL.Query().Get("next"))
	if h.session(r) != nil {
		http.Redirect(w, r, next, http.StatusSeeOther)
		return
	}
	h.renderLogin(w, r, http.StatusOK, loginData{Next: next})
}

func (h *handler) renderLogin(w http.ResponseWriter, r *http.Request, status int, d loginData) {
	h.render(w, status, "login", page{Title: "Log in", Server: h.cfg.Server, CSRF: h.loginToken(w, r), Data: d})
}

func (h *handler) login(w http.ResponseWriter, r *http.Request) {
	r.Body = http.MaxBytesReader(w, r.Body, maxFormBody)
	next := safeNext(r.PostFormValue("next"))
	c, err := r.Cookie(h.loginName)
	if err != nil || !tokenEqual(r.PostFormValue("csrf"), c.Value) {
		h.log.Warn("admin login refused: bad CSRF token", "remote", r.RemoteAddr)
		h.fail(w, r, http.StatusForbidden, "Invalid or missing CSRF token: reload the login page and try again.")
		return
	}
	user := r.PostFormValue("username")
	host := api.HostOf(r)
	if d := h.throttle.Wait(host, time.Now()); d > 0 {
		secs := int(d.Round(time.Second) / time.Second)
		h.log.Warn("admin login refused: too many failed logins", "user", user, "remote", r.RemoteAddr)
		w.Header().Set("Retry-After", strconv.Itoa(max(secs, 1)))
		h.renderLogin(w, r, http.StatusTooManyRequests, loginData{Next: next, User: user,
			Error: fmt.Sprintf("Too many failed logins from your address: try again in %d s.", max(secs, 1))})
		return
	}
	if h.cfg.CheckCredentials == nil || !h.cfg.CheckCredentials(user, r.PostFormValue("password")) {
		h.throttle.Failed(host, time.Now())
		h.log.Warn("admin login failed", "user", user, "remote", r.RemoteAddr)
		h.renderLogin(w, r, http.StatusUnauthorized, loginData{Next: next, User: user, Error: "Invalid username or password."})
		return
	}
	s := h.sessions.create(user)
	h.setCookie(w, h.cookieName, s.id, Prefix, 0)
	h.setCookie(w, h.loginName, "", "/admin/login", -1)
	h.log.Info("admin login", "user", user, "remote", r.RemoteAddr)
	http.Redirect(w, r, next, http.StatusSeeOther)
}

func (h *handler) logout(w http.ResponseWriter, r *http.Request) {
	h.sessions.remove(sessionOf(r).id)
	h.setCookie(w, h.cookieName, "", Prefix, -1)
	http.Redirect(w, r, "/admin/login", http.StatusSeeOther)
}

// ---- rendering ----

type page struct {
	Title, Nav, Server, User, CSRF string
	Data                           any
}

var funcs = template.FuncMap{
	// when is how every page shows a time: in UTC, which every server of a cluster agrees on, and saying so. The
	// <time> element around it carries the ISO form (iso) for scripts and tools.
	"when": func(t time.Time) string {
		if t.IsZero() {
			return ""
		}
		return t.UTC().Format("2006-01-02 15:04:05") + " UTC"
	},
	"iso": func(t time.Time) string {
		if t.IsZero() {
			return ""
		}
		return t.UTC().Format(time.RFC3339Nano)
	},
	"short": func(s string) string {
		if len(s) > 12 {
			return s[:12]
		}
		return s
	},
	"join": strings.Join,
	// breakable escapes a name and lets it wrap after each _ - / and before each . (module, service and path names
	// are long and have no spaces): <wbr> adds no text, so copying the name still gives the name.
	"breakable": func(s string) template.HTML {
		var b strings.Builder
		for i, r := range s {
			if r == '.' && i > 0 {
				b.WriteString("<wbr>")
			}
			b.WriteString(template.HTMLEscapeString(string(r)))
			if strings.ContainsRune("_-/", r) {
				b.WriteString("<wbr>")
			}
		}
		return template.HTML(b.String()) // every rune is escaped above
	},
	"json": func(v any) (string, error) {
		b, err := json.Marshal(v)
		return string(b), err
	},
}

func parsePages() map[string]*template.Template {
	names := []string{"login", "home", "deployments", "deployment", "modules", "module", "sourcemodule", "diff", "services", "error"}
	out := make(map[string]*template.Template, len(names))
	for _, n := range names {
		out[n] = template.Must(template.New("layout.html").Funcs(funcs).ParseFS(templateFS,
			"templates/layout.html", "templates/partials.html", "templates/"+n+".html"))
	}
	return out
}

func (h *handler) page(r *http.Request, nav, title string, data any) page {
	p := page{Title: title, Nav: nav, Server: h.cfg.Server, Data: data}
	if s := sessionOf(r); s != nil {
		p.User, p.CSRF = s.user, s.csrf
	}
	return p
}

func (h *handler) render(w http.ResponseWriter, status int, name string, p page) {
	var buf bytes.Buffer
	if err := h.pages[name].ExecuteTemplate(&buf, "layout.html", p); err != nil {
		h.log.Error("render admin page", "page", name, "err", err)
		http.Error(w, "could not render the page", http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.WriteHeader(status)
	_, _ = w.Write(buf.Bytes())
}

// wantsJSON is true for the page's XHRs, which ask for JSON.
func wantsJSON(r *http.Request) bool {
	return strings.Contains(r.Header.Get("Accept"), "application/json")
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

// fail answers an error as JSON to XHRs and as a page to browsers.
func (h *handler) fail(w http.ResponseWriter, r *http.Request, status int, msg string) {
	if wantsJSON(r) {
		writeJSON(w, status, map[string]any{"error": map[string]string{"message": msg}})
		return
	}
	h.render(w, status, "error", h.page(r, "", http.StatusText(status), map[string]any{"Status": status, "Message": msg}))
}

func (h *handler) notFound(w http.ResponseWriter, r *http.Request) {
	h.fail(w, r, http.StatusNotFound, "No such page: "+r.URL.Path)
}
