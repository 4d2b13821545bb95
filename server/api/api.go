// Package api is a server's HTTP interface: the native JSON API, the endpoints Zato's own IDE plug-ins and clients
// call, and the internal nudge between servers.
package api

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"sync/atomic"
	"time"

	"github.com/zato-go/zato/server/cluster"
	"github.com/zato-go/zato/server/odb"
	"github.com/zato-go/zato/server/runtime"
	"github.com/zato-go/zato/wire"
)

// Runtime is what the API needs of the Python runtime.
type Runtime interface {
	Invoke(ctx context.Context, service string, payload []byte, opts runtime.InvokeOptions) (json.RawMessage, error)
	Services() []runtime.ServiceInfo
}

// Auth checks credentials.
type Auth struct {
	Username string
	// Check returns true when password is right; it must compare in constant time.
	Check func(password string) bool
	// IDEUsername and IDECheck, when set, are Zato's IDE user (ide_publisher): accepted on the Zato-compatible
	// upload endpoints only, as Zato's plug-ins use it for nothing else.
	IDEUsername string
	IDECheck    func(password string) bool
}

// Config of the API.
type Config struct {
	Server     string
	MaxPayload int64
	Secret     string // cluster secret for nudges
	Auth       Auth
	Logger     *slog.Logger
	// IDEWait bounds how long Zato-compatible endpoints wait for confirmations before answering.
	IDEWait time.Duration
}

// API serves HTTP.
type API struct {
	cfg      Config
	cl       *cluster.Cluster
	rt       Runtime
	log      *slog.Logger
	mux      *http.ServeMux
	nudges   *cluster.NudgeVerifier
	warned   atomic.Bool // a refused nudge was logged: once per process, a stray sender must not flood the log
	throttle *Throttle
	creds    *authCache
}

// New builds the handler. extra handlers (web admin) may be mounted with Handle.
func New(cfg Config, cl *cluster.Cluster, rt Runtime) *API {
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if cfg.MaxPayload <= 0 {
		cfg.MaxPayload = 1 << 20
	}
	if cfg.IDEWait <= 0 {
		cfg.IDEWait = 10 * time.Second
	}
	a := &API{cfg: cfg, cl: cl, rt: rt, log: cfg.Logger, mux: http.NewServeMux(), nudges: cluster.NewNudgeVerifier(cfg.Secret),
		throttle: NewThrottle(), creds: newAuthCache()}
	m := a.mux
	m.HandleFunc("GET /healthz", a.health)
	m.HandleFunc("POST "+cluster.NudgePath, a.nudge)
	m.Handle("POST /api/v1/deploy", a.authed(a.deploy))
	m.Handle("GET /api/v1/deployments", a.authed(a.listDeployments))
	m.Handle("GET /api/v1/deployments/{id}", a.authed(a.getDeployment))
	m.Handle("GET /api/v1/deployments/{id}/events", a.authed(a.events))
	m.Handle("GET "+wire.ClusterEventsPath, a.authed(a.clusterEvents))
	m.Handle("GET /api/v1/modules", a.authed(a.listModules))
	m.Handle("GET /api/v1/modules/{name}/versions", a.authed(a.versions))
	m.Handle("GET /api/v1/modules/{name}/versions/{n}", a.authed(a.version))
	m.Handle("POST /api/v1/modules/{name}/rollback", a.authed(a.rollback))
	m.Handle("DELETE /api/v1/modules/{name}", a.authed(a.undeploy))
	m.Handle("GET /api/v1/services", a.authed(a.services))
	m.Handle("GET /api/v1/served", a.authed(a.served))
	m.Handle("GET /api/v1/servers", a.authed(a.servers))
	m.Handle("GET /api/v1/status", a.authed(a.status))
	m.Handle("POST /api/v1/invoke/{service}", a.authed(a.invoke))
	m.Handle("/ide-deploy", a.authedIDE(a.ideDeploy))
	m.Handle("POST /zato/api/invoke/zato.hot-deploy.create", a.authedIDE(a.zatoUpload("zato_hot_deploy_create_response")))
	m.Handle("POST /zato/api/invoke/zato.service.upload-package", a.authedIDE(a.zatoUpload("zato_service_upload_package_response")))
	m.Handle("/zato/api/invoke/{service}", a.authed(a.invoke))
	return a
}

// Handle mounts another handler (the web admin) on the same mux.
func (a *API) Handle(pattern string, h http.Handler) { a.mux.Handle(pattern, h) }

// ServeHTTP implements http.Handler.
// Every answer names the server that gave it (ServerHeader): behind a load balancer a client still knows which
// server answered an invocation.
func (a *API) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	w.Header().Set(wire.ServerHeader, a.cfg.Server)
	a.mux.ServeHTTP(w, r)
}

type ctxUser struct{}

func userOf(r *http.Request) string {
	u, _ := r.Context().Value(ctxUser{}).(string)
	return u
}

func (a *API) health(w http.ResponseWriter, _ *http.Request) {
	writeJSON(w, http.StatusOK, map[string]string{"status": "ok", "server": a.cfg.Server})
}

// nudge is a peer's nudge over HTTP, signed with the cluster secret (cluster.SignHTTPNudge); what it says is in
// the signed header only.
func (a *API) nudge(w http.ResponseWriter, r *http.Request) {
	n, _, err := a.nudges.Verify(r.Header.Get(cluster.NudgeHeader), time.Now())
	if err != nil {
		if !a.warned.Swap(true) { // a peer with another secret, or of a version that sent the secret itself
			a.log.Warn("refused a nudge over HTTP that is not signed by this cluster", "from", r.RemoteAddr, "err", err)
		}
		writeError(w, http.StatusUnauthorized, "unauthorized", "not a nudge from this cluster: "+err.Error())
		return
	}
	a.cl.Nudged(n)
	w.WriteHeader(http.StatusNoContent)
}

// readBody reads at most limit bytes; more is a 413 that says tooLarge ("request body over N bytes" when "").
func readBody(w http.ResponseWriter, r *http.Request, limit int64, tooLarge string) ([]byte, bool) {
	b, err := io.ReadAll(http.MaxBytesReader(w, r.Body, limit))
	if err != nil {
		if overLimit(err) {
			if tooLarge == "" {
				tooLarge = fmt.Sprintf("request body over %d bytes", limit)
			}
			writeError(w, http.StatusRequestEntityTooLarge, "too_large", tooLarge)
		} else {
			writeError(w, http.StatusBadRequest, "bad_request", "could not read the request body")
		}
		return nil, false
	}
	return b, true
}

// overLimit says a body read with http.MaxBytesReader went over its limit.
func overLimit(err error) bool {
	var mbe *http.MaxBytesError
	return errors.As(err, &mbe)
}

// bodyLimit leaves room for JSON framing and base64's 4/3.
func (a *API) bodyLimit() int64 { return a.cfg.MaxPayload*4/3 + 64<<10 }

// moduleTooLarge is the refusal of an upload whose body is over bodyLimit: its module is surely over max_payload,
// and is refused in the words of one just over it (cluster.ValidateModule), the size it has left unknown.
func (a *API) moduleTooLarge() string {
	return fmt.Sprintf("payload too large: the module is over the %d-byte limit ([api] max_payload in server.conf)", a.cfg.MaxPayload)
}

// Refusal is the status and code of an input that the cluster refused (its text is for the user as it is); ok is
// false for any other error. The web admin answers with the same statuses.
func Refusal(err error) (status int, code string, ok bool) {
	switch {
	case errors.Is(err, cluster.ErrTooLarge):
		return http.StatusRequestEntityTooLarge, "too_large", true
	case errors.Is(err, cluster.ErrBadName):
		return http.StatusBadRequest, "bad_name", true
	case errors.Is(err, cluster.ErrBadPayload):
		return http.StatusBadRequest, "bad_payload", true
	case errors.Is(err, cluster.ErrBadVersion):
		return http.StatusBadRequest, "bad_request", true
	case errors.Is(err, cluster.ErrNoVersion), errors.Is(err, cluster.ErrNotDeployed):
		return http.StatusNotFound, "not_found", true
	case errors.Is(err, odb.ErrKeyReused):
		return http.StatusConflict, "key_reused", true
	}
	return 0, "", false
}

// fail answers a refused input with its 4xx and anything else as an internal error.
func (a *API) fail(w http.ResponseWriter, err error) {
	if status, code, ok := Refusal(err); ok {
		writeError(w, status, code, err.Error())
		return
	}
	a.internal(w, err)
}

func (a *API) internal(w http.ResponseWriter, err error) {
	if errors.Is(err, odb.ErrNotFound) {
		writeError(w, http.StatusNotFound, "not_found", err.Error())
		return
	}
	if errors.Is(err, odb.ErrUnavailable) {
		// PostgreSQL restarting, a network cut: nothing is lost, the client may try again shortly (writes carry
		// idempotency keys, so a repeat after a commit whose answer was lost makes no second deployment).
		a.log.Warn("the ODB is unavailable", "err", err)
		w.Header().Set("Retry-After", "1")
		writeError(w, http.StatusServiceUnavailable, "unavailable", "the ODB is unavailable right now; try again shortly")
		return
	}
	// What failed inside (SQL, paths, a driver's words) is for the operator: the client gets an id to quote.
	id := ErrorID()
	a.log.Error("request failed", "error_id", id, "err", err)
	writeError(w, http.StatusInternalServerError, "internal", "internal error "+id+"; see the server log")
}

// ErrorID names one internal error in the log, for the user to quote (the web admin uses it too).
func ErrorID() string {
	var b [8]byte
	_, _ = rand.Read(b[:]) // crypto/rand does not fail on the systems Go supports
	return hex.EncodeToString(b[:])
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	enc := json.NewEncoder(w)
	_ = enc.Encode(v)
}

func writeError(w http.ResponseWriter, status int, code, msg string) {
	writeJSON(w, status, map[string]any{"error": map[string]string{"code": code, "message": msg}})
}
