// Package api is a server's HTTP interface: the native JSON API, the endpoints Zato's own IDE plug-ins and clients
// call, and the internal nudge between servers.
package api

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strconv"
	"strings"
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
	throttle *authThrottle
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
		throttle: newAuthThrottle(), creds: newAuthCache()}
	m := a.mux
	m.HandleFunc("GET /healthz", a.health)
	m.HandleFunc("POST "+cluster.NudgePath, a.nudge)
	m.Handle("POST /api/v1/deploy", a.authed(a.deploy))
	m.Handle("GET /api/v1/deployments", a.authed(a.listDeployments))
	m.Handle("GET /api/v1/deployments/{id}", a.authed(a.getDeployment))
	m.Handle("GET /api/v1/deployments/{id}/events", a.authed(a.events))
	m.Handle("GET /api/v1/modules", a.authed(a.listModules))
	m.Handle("GET /api/v1/modules/{name}/versions", a.authed(a.versions))
	m.Handle("POST /api/v1/modules/{name}/rollback", a.authed(a.rollback))
	m.Handle("DELETE /api/v1/modules/{name}", a.authed(a.undeploy))
	m.Handle("GET /api/v1/services", a.authed(a.services))
	m.Handle("GET /api/v1/served", a.authed(a.served))
	m.Handle("GET /api/v1/servers", a.authed(a.servers))
	m.Handle("GET /api/v1/status", a.authed(a.status))
	m.Handle("POST /api/v1/invoke/{service}", a.authed(a.invoke))
	m.Handle("/ide-deploy", a.authed(a.ideDeploy))
	m.Handle("POST /zato/api/invoke/zato.hot-deploy.create", a.authed(a.zatoUpload("zato_hot_deploy_create_response")))
	m.Handle("POST /zato/api/invoke/zato.service.upload-package", a.authed(a.zatoUpload("zato_service_upload_package_response")))
	m.Handle("/zato/api/invoke/{service}", a.authed(a.invoke))
	return a
}

// Handle mounts another handler (the web admin) on the same mux.
func (a *API) Handle(pattern string, h http.Handler) { a.mux.Handle(pattern, h) }

// ServeHTTP implements http.Handler.
func (a *API) ServeHTTP(w http.ResponseWriter, r *http.Request) { a.mux.ServeHTTP(w, r) }

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

// readBody reads at most limit bytes; more is a 413.
func readBody(w http.ResponseWriter, r *http.Request, limit int64) ([]byte, bool) {
	b, err := io.ReadAll(http.MaxBytesReader(w, r.Body, limit))
	if err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			writeError(w, http.StatusRequestEntityTooLarge, "too_large", fmt.Sprintf("request body over %d bytes", limit))
		} else {
			writeError(w, http.StatusBadRequest, "bad_request", "could not read the request body")
		}
		return nil, false
	}
	return b, true
}

// bodyLimit leaves room for JSON framing and base64's 4/3.
func (a *API) bodyLimit() int64 { return a.cfg.MaxPayload*4/3 + 64<<10 }

var origins = map[string]bool{"api": true, "cli": true, "ide": true, "pickup": true, "admin": true, "lsp": true}

func (a *API) deploy(w http.ResponseWriter, r *http.Request) {
	body, ok := readBody(w, r, a.bodyLimit())
	if !ok {
		return
	}
	var req struct {
		Name   string `json:"name"`
		Source string `json:"source"`
		Origin string `json:"origin"`
	}
	if err := checkJSONText(body); err != nil {
		writeError(w, http.StatusBadRequest, "bad_payload", err.Error())
		return
	}
	if err := json.Unmarshal(body, &req); err != nil {
		writeError(w, http.StatusBadRequest, "bad_json", "malformed JSON: "+err.Error())
		return
	}
	origin := req.Origin
	if origin == "" {
		origin = "api"
	}
	if !origins[origin] {
		writeError(w, http.StatusBadRequest, "bad_origin", fmt.Sprintf("unknown origin %q", origin))
		return
	}
	a.submit(w, r, req.Name, []byte(req.Source), origin)
}

func (a *API) submit(w http.ResponseWriter, r *http.Request, name string, src []byte, origin string) {
	d, err := a.cl.Submit(r.Context(), deploySubmission(r, name, src, origin))
	if err != nil {
		a.fail(w, err)
		return
	}
	a.accepted(w, r, d)
}

// deploySubmission is an upload as the cluster takes it. The cluster validates it (cluster.ValidateModule, once);
// the BOM goes first, as python3 would skip it.
func deploySubmission(r *http.Request, name string, src []byte, origin string) cluster.Submission {
	return cluster.Submission{
		Module: name, Action: odb.ActionDeploy, Source: cluster.NormalizeSource(string(src)), Who: userOf(r), Origin: origin,
		Key: r.Header.Get(wire.IdempotencyHeader),
	}
}

// refusal is the status and code of an error that cluster.Submit refused the input with; ok is false for any
// other error.
func refusal(err error) (status int, code string, ok bool) {
	switch {
	case errors.Is(err, cluster.ErrTooLarge):
		return http.StatusRequestEntityTooLarge, "too_large", true
	case errors.Is(err, cluster.ErrBadName):
		return http.StatusBadRequest, "bad_name", true
	case errors.Is(err, cluster.ErrBadPayload):
		return http.StatusBadRequest, "bad_payload", true
	case errors.Is(err, cluster.ErrNoVersion), errors.Is(err, cluster.ErrNotDeployed):
		return http.StatusNotFound, "not_found", true
	case errors.Is(err, odb.ErrKeyReused):
		return http.StatusConflict, "key_reused", true
	}
	return 0, "", false
}

// fail answers a refused input with its 4xx and anything else as an internal error.
func (a *API) fail(w http.ResponseWriter, err error) {
	if status, code, ok := refusal(err); ok {
		writeError(w, status, code, err.Error())
		return
	}
	a.internal(w, err)
}

func (a *API) accepted(w http.ResponseWriter, r *http.Request, d odb.Deployment) {
	v, err := a.cl.View(r.Context(), d.ID)
	if err != nil {
		a.internal(w, err)
		return
	}
	dj := DeploymentView(v)
	dj.Repeated = d.Repeated
	writeJSON(w, http.StatusAccepted, dj)
}

func (a *API) internal(w http.ResponseWriter, err error) {
	if errors.Is(err, odb.ErrNotFound) {
		writeError(w, http.StatusNotFound, "not_found", err.Error())
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

func pathID(w http.ResponseWriter, r *http.Request) (int64, bool) {
	id, err := strconv.ParseInt(r.PathValue("id"), 10, 64)
	if err != nil || id <= 0 {
		writeError(w, http.StatusBadRequest, "bad_id", "deployment id must be a positive integer")
		return 0, false
	}
	return id, true
}

func (a *API) getDeployment(w http.ResponseWriter, r *http.Request) {
	id, ok := pathID(w, r)
	if !ok {
		return
	}
	var v cluster.View
	var err error
	if ws := r.URL.Query().Get("wait"); ws != "" {
		wait, perr := parseWait(ws)
		if perr != nil {
			writeError(w, http.StatusBadRequest, "bad_wait", perr.Error())
			return
		}
		ctx, cancel := context.WithTimeout(r.Context(), wait)
		v, err = a.cl.WaitDone(ctx, id, nil)
		cancel()
		if errors.Is(err, context.DeadlineExceeded) && r.Context().Err() == nil {
			err = nil // the wait ran out: answer with what we have
		}
	} else {
		v, err = a.cl.View(r.Context(), id)
	}
	if err != nil {
		a.internal(w, err)
		return
	}
	writeJSON(w, http.StatusOK, DeploymentView(v))
}

func parseWait(s string) (time.Duration, error) {
	if n, err := strconv.ParseFloat(s, 64); err == nil {
		s = fmt.Sprintf("%gs", n)
	}
	d, err := time.ParseDuration(s)
	if err != nil || d < 0 {
		return 0, fmt.Errorf("wait must be a duration like 5s")
	}
	return min(d, 5*time.Minute), nil
}

// events streams a deployment as Server-Sent Events: a snapshot, one event per server change, then done.
func (a *API) events(w http.ResponseWriter, r *http.Request) {
	id, ok := pathID(w, r)
	if !ok {
		return
	}
	if _, err := a.cl.View(r.Context(), id); err != nil {
		a.internal(w, err)
		return
	}
	StreamEvents(r.Context(), w, a.cl, id)
}

// StreamEvents writes a deployment as Server-Sent Events until it is done or ctx ends: `deployment` (a snapshot),
// `server` at each server's change, then `done`. The API and the web admin serve the same stream.
func StreamEvents(ctx context.Context, w http.ResponseWriter, cl *cluster.Cluster, id int64) {
	rc := http.NewResponseController(w)
	w.Header().Set("Content-Type", "text/event-stream")
	w.Header().Set("Cache-Control", "no-cache")
	w.Header().Set("X-Accel-Buffering", "no")
	w.WriteHeader(http.StatusOK)
	send := func(event string, v any) {
		b, _ := json.Marshal(v)
		fmt.Fprintf(w, "event: %s\ndata: %s\n\n", event, b)
	}
	seen := map[string]string{}
	first := true
	v, err := cl.WaitDone(ctx, id, func(v cluster.View) {
		sent := first
		if first {
			send("deployment", DeploymentView(v))
			for _, s := range v.Servers {
				seen[s.Server] = string(s.Status)
			}
			first = false
		} else {
			for _, s := range v.Servers {
				if seen[s.Server] != string(s.Status) {
					seen[s.Server] = string(s.Status)
					send("server", ServerView(s))
					sent = true
				}
			}
		}
		if sent {
			_ = rc.Flush()
		}
	})
	if err != nil {
		return // the client went away, or ctx ran out: a client reconnects and gets a new snapshot
	}
	send("done", DeploymentView(v))
	_ = rc.Flush()
}

func (a *API) listDeployments(w http.ResponseWriter, r *http.Request) {
	limit, _ := strconv.Atoi(r.URL.Query().Get("limit"))
	vs, err := a.cl.Deployments(r.Context(), odb.DeploymentFilter{Module: r.URL.Query().Get("module"), Limit: limit})
	if err != nil {
		a.internal(w, err)
		return
	}
	out := make([]DeploymentJSON, 0, len(vs))
	for _, v := range vs {
		out = append(out, DeploymentView(v))
	}
	writeJSON(w, http.StatusOK, map[string]any{"deployments": out})
}

// Modules lists modules with each one's newest deployment as clients see it.
func (a *API) Modules(ctx context.Context) ([]ModuleJSON, error) {
	mods, err := a.cl.Modules(ctx)
	if err != nil {
		return nil, err
	}
	out := make([]ModuleJSON, 0, len(mods))
	for _, m := range mods {
		mj := ModuleJSON{Name: m.Name, Deployed: m.Current != nil, DeploymentID: m.LastDeployment, Servers: []ServerJSON{}}
		if m.Current != nil {
			mj.Version, mj.SHA256 = m.Current.Number, m.Current.SHA256
		}
		if m.LastDeployment != 0 {
			v, err := a.cl.View(ctx, m.LastDeployment)
			if err != nil {
				return nil, err
			}
			dj := DeploymentView(v)
			mj.Status, mj.Servers, mj.UpdatedAt = dj.Status, dj.Servers, dj.CreatedAt
		}
		out = append(out, mj)
	}
	return out, nil
}

func (a *API) listModules(w http.ResponseWriter, r *http.Request) {
	mods, err := a.Modules(r.Context())
	if err != nil {
		a.internal(w, err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"modules": mods})
}

func (a *API) versions(w http.ResponseWriter, r *http.Request) {
	name := r.PathValue("name")
	if !cluster.ValidName(name) {
		writeError(w, http.StatusBadRequest, "bad_name", "bad module name")
		return
	}
	vs, err := a.cl.Versions(r.Context(), name)
	if err != nil {
		a.internal(w, err)
		return
	}
	if len(vs) == 0 {
		writeError(w, http.StatusNotFound, "not_found", "no such module: "+name)
		return
	}
	out := make([]VersionJSON, 0, len(vs))
	for _, v := range vs {
		out = append(out, VersionJSON{Version: v.Number, SHA256: v.SHA256, Who: v.Who, Origin: v.Origin, CreatedAt: v.CreatedAt, Size: len(v.Source)})
	}
	writeJSON(w, http.StatusOK, map[string]any{"module": name, "versions": out})
}

func (a *API) rollback(w http.ResponseWriter, r *http.Request) {
	name := r.PathValue("name")
	var req struct {
		Version int `json:"version"`
	}
	body, ok := readBody(w, r, 64<<10)
	if !ok {
		return
	}
	if len(strings.TrimSpace(string(body))) > 0 {
		if err := json.Unmarshal(body, &req); err != nil {
			writeError(w, http.StatusBadRequest, "bad_json", "malformed JSON: "+err.Error())
			return
		}
	}
	d, err := a.cl.Rollback(r.Context(), cluster.RollbackRequest{
		Module: name, Version: req.Version, Who: userOf(r), Key: r.Header.Get(wire.IdempotencyHeader),
	})
	if err != nil {
		a.fail(w, err)
		return
	}
	a.accepted(w, r, d)
}

func (a *API) undeploy(w http.ResponseWriter, r *http.Request) {
	d, err := a.cl.Undeploy(r.Context(), r.PathValue("name"), userOf(r), "api", r.Header.Get(wire.IdempotencyHeader))
	if err != nil {
		a.fail(w, err)
		return
	}
	a.accepted(w, r, d)
}

func (a *API) services(w http.ResponseWriter, _ *http.Request) {
	svcs := a.rt.Services()
	out := make([]map[string]string, 0, len(svcs))
	for _, s := range svcs {
		out = append(out, map[string]string{"name": s.Name, "module": s.Module, "class": s.Class})
	}
	writeJSON(w, http.StatusOK, map[string]any{"server": a.cfg.Server, "services": out})
}

// Members lists the cluster's servers as clients see them.
func (a *API) Members(ctx context.Context) ([]MemberJSON, error) {
	ms, err := a.cl.Members(ctx)
	if err != nil {
		return nil, err
	}
	now := time.Now()
	out := make([]MemberJSON, 0, len(ms))
	for _, m := range ms {
		out = append(out, memberJSON(m, now))
	}
	return out, nil
}

func (a *API) servers(w http.ResponseWriter, r *http.Request) {
	ms, err := a.Members(r.Context())
	if err != nil {
		a.internal(w, err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"servers": ms})
}

func (a *API) status(w http.ResponseWriter, r *http.Request) {
	ms, err := a.Members(r.Context())
	if err != nil {
		a.internal(w, err)
		return
	}
	mods, err := a.Modules(r.Context())
	if err != nil {
		a.internal(w, err)
		return
	}
	sources, err := a.cl.SourceResults(r.Context())
	if err != nil {
		a.internal(w, err)
		return
	}
	src := make([]map[string]any, 0, len(sources))
	for _, s := range sources {
		src = append(src, map[string]any{"server": s.Server, "entry": s.Entry, "status": s.Status, "message": s.Message, "services": s.Services, "updated_at": s.UpdatedAt})
	}
	writeJSON(w, http.StatusOK, map[string]any{"server": a.cfg.Server, "servers": ms, "modules": mods, "sources": src})
}

func (a *API) invoke(w http.ResponseWriter, r *http.Request) {
	var body []byte
	if r.Body != nil {
		var ok bool
		if body, ok = readBody(w, r, a.cfg.MaxPayload); !ok {
			return
		}
	}
	if len(strings.TrimSpace(string(body))) == 0 {
		body = nil
	} else if !json.Valid(body) {
		writeError(w, http.StatusBadRequest, "bad_json", "the request body must be JSON")
		return
	}
	out, err := a.rt.Invoke(r.Context(), r.PathValue("service"), body, runtime.InvokeOptions{CID: r.Header.Get("X-Zato-CID")})
	if err != nil {
		var ie *runtime.InvokeError
		if errors.As(err, &ie) {
			writeJSON(w, ie.Status, map[string]any{"error": map[string]string{"type": ie.Type, "message": ie.Message, "traceback": ie.Traceback}})
			return
		}
		a.internal(w, err)
		return
	}
	if len(out) == 0 {
		out = json.RawMessage("null")
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(http.StatusOK)
	_, _ = w.Write(out)
}

// zatoRequest is what Zato's IDE plug-ins and clients send.
type zatoRequest struct {
	PayloadName string `json:"payload_name"`
	Payload     string `json:"payload"`
}

// ideDeploy is Zato's /ide-deploy: GET or POST with a JSON body; an empty body is a connection test.
func (a *API) ideDeploy(w http.ResponseWriter, r *http.Request) {
	const elem = "zato_ide_deploy_create_response"
	if r.Method != http.MethodGet && r.Method != http.MethodPost {
		w.Header().Set("Allow", "GET, POST")
		writeError(w, http.StatusMethodNotAllowed, "method_not_allowed", "use GET or POST")
		return
	}
	a.zatoDeploy(w, r, elem, "ide")
}

func (a *API) zatoUpload(elem string) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) { a.zatoDeploy(w, r, elem, "api") }
}

func (a *API) zatoDeploy(w http.ResponseWriter, r *http.Request, elem, origin string) {
	reply := func(status int, success bool, msg string, extra map[string]any) {
		inner := map[string]any{"success": success, "msg": msg}
		for k, v := range extra {
			inner[k] = v
		}
		writeJSON(w, status, map[string]any{elem: inner})
	}
	body, ok := readBody(w, r, a.bodyLimit())
	if !ok {
		return
	}
	if len(strings.TrimSpace(string(body))) == 0 {
		reply(http.StatusOK, true, "Ping succeeded.", nil)
		return
	}
	if err := checkJSONText(body); err != nil {
		reply(http.StatusBadRequest, false, err.Error(), nil)
		return
	}
	var req zatoRequest
	if err := json.Unmarshal(body, &req); err != nil {
		reply(http.StatusBadRequest, false, "malformed JSON: "+err.Error(), nil)
		return
	}
	if req.PayloadName == "" && req.Payload == "" {
		reply(http.StatusOK, true, "Ping succeeded.", nil)
		return
	}
	src, err := base64.StdEncoding.DecodeString(req.Payload)
	if err != nil {
		reply(http.StatusBadRequest, false, "payload is not valid base64: "+err.Error(), nil)
		return
	}
	d, err := a.cl.Submit(r.Context(), deploySubmission(r, req.PayloadName, src, origin))
	if status, _, ok := refusal(err); ok {
		reply(status, false, err.Error(), nil)
		return
	} else if err != nil {
		a.internal(w, err)
		return
	}
	// Unlike Zato, answer with every server's confirmation (bounded by IDEWait).
	ctx, cancel := context.WithTimeout(r.Context(), a.cfg.IDEWait)
	defer cancel()
	v, err := a.cl.WaitDone(ctx, d.ID, nil)
	if err != nil && !errors.Is(err, context.DeadlineExceeded) {
		a.internal(w, err)
		return
	}
	dj := DeploymentView(v)
	reply(http.StatusOK, dj.Status == cluster.OverallDeployed, Summary(dj), map[string]any{
		"deployment_id": dj.ID, "status": dj.Status, "servers": dj.Servers,
	})
}

// Summary says in one line what happened to a deployment on each server.
func Summary(d DeploymentJSON) string {
	parts := make([]string, 0, len(d.Servers))
	for _, s := range d.Servers {
		p := s.Name + " " + s.Status
		if s.Error != nil {
			p += fmt.Sprintf(" (%s: %s, line %d)", s.Error.Type, s.Error.Message, s.Error.Line)
		}
		parts = append(parts, p)
	}
	head := fmt.Sprintf("%s %s to %d/%d servers", d.Module, d.Status, d.Confirmed, d.Expected)
	if d.Status == cluster.OverallPending {
		head = fmt.Sprintf("%s still deploying, %d/%d servers confirmed", d.Module, d.Confirmed, d.Expected)
	}
	return head + ": " + strings.Join(parts, ", ")
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
