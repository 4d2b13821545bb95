package api

// Modules, servers, services and invocations.

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"

	"github.com/zato-go/zato/server/cluster"
	"github.com/zato-go/zato/server/runtime"
	"github.com/zato-go/zato/wire"
)

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
			mj.Status, mj.Servers, mj.UpdatedAt, mj.Who, mj.Origin = dj.Status, dj.Servers, dj.CreatedAt, dj.Who, dj.Origin
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
	vs, err := a.cl.Versions(r.Context(), name)
	if err != nil {
		a.fail(w, err)
		return
	}
	serving, err := a.cl.Serving(r.Context(), name)
	if err != nil {
		a.internal(w, err)
		return
	}
	out := make([]VersionJSON, 0, len(vs))
	for _, v := range vs {
		vj := VersionView(v)
		vj.ServedBy = serving.ByVersion[v.Number]
		out = append(out, vj)
	}
	writeJSON(w, http.StatusOK, map[string]any{"module": name, "versions": out, "offline": serving.Offline})
}

// version answers one version of a module with its source.
func (a *API) version(w http.ResponseWriter, r *http.Request) {
	name := r.PathValue("name")
	n, err := strconv.Atoi(r.PathValue("n"))
	if err != nil {
		a.fail(w, cluster.NotAVersion(r.PathValue("n")))
		return
	}
	v, err := a.cl.Version(r.Context(), name, n)
	if err != nil {
		a.fail(w, err)
		return
	}
	writeJSON(w, http.StatusOK, VersionSourceView(v))
}

func (a *API) rollback(w http.ResponseWriter, r *http.Request) {
	name := r.PathValue("name")
	var req struct {
		Version int `json:"version"`
	}
	body, ok := readBody(w, r, 64<<10, "")
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

// undeploy takes the way in from ?origin= (a DELETE has no body), as deploy takes it from its body.
func (a *API) undeploy(w http.ResponseWriter, r *http.Request) {
	origin, ok := a.origin(w, r.URL.Query().Get("origin"))
	if !ok {
		return
	}
	d, err := a.cl.Undeploy(r.Context(), r.PathValue("name"), userOf(r), origin, r.Header.Get(wire.IdempotencyHeader))
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
	clock := a.cl.Clock(ms)
	out := make([]MemberJSON, 0, len(ms))
	for _, m := range ms {
		out = append(out, memberJSON(m, clock))
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
		if body, ok = readBody(w, r, a.cfg.MaxPayload, fmt.Sprintf("the payload is over the %d-byte limit ([api] max_payload in server.conf)", a.cfg.MaxPayload)); !ok {
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
