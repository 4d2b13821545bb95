package api

// Deployments: upload, read, wait for and stream them.

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/zato-go/zato/server/cluster"
	"github.com/zato-go/zato/server/odb"
	"github.com/zato-go/zato/wire"
)

var origins = map[string]bool{"api": true, "cli": true, "ide": true, "pickup": true, "admin": true, "lsp": true}

func (a *API) deploy(w http.ResponseWriter, r *http.Request) {
	body, ok := readBody(w, r, a.bodyLimit(), a.moduleTooLarge())
	if !ok {
		return
	}
	var req struct {
		Name   string `json:"name"`
		Source string `json:"source"`
		Origin string `json:"origin"`
		// Base: the sha256 of the version the client last deployed or fetched; a 409 conflict when someone else
		// has deployed another version since.
		Base string `json:"base_sha256"`
	}
	if err := checkJSONText(body); err != nil {
		writeError(w, http.StatusBadRequest, "bad_payload", err.Error())
		return
	}
	if err := json.Unmarshal(body, &req); err != nil {
		writeError(w, http.StatusBadRequest, "bad_json", "malformed JSON: "+err.Error())
		return
	}
	origin, ok := a.origin(w, req.Origin)
	if !ok {
		return
	}
	a.submitBase(w, r, req.Name, []byte(req.Source), origin, req.Base)
}

// origin is the way in that a client names for its write ("" is api), or false once a 400 has answered one that is
// not among origins.
func (a *API) origin(w http.ResponseWriter, named string) (string, bool) {
	if named == "" {
		return "api", true
	}
	if !origins[named] {
		writeError(w, http.StatusBadRequest, "bad_origin", fmt.Sprintf("unknown origin %q: one of %s", named, strings.Join(slices.Sorted(maps.Keys(origins)), ", ")))
		return "", false
	}
	return named, true
}

func (a *API) submit(w http.ResponseWriter, r *http.Request, name string, src []byte, origin string) {
	a.submitBase(w, r, name, src, origin, "")
}

func (a *API) submitBase(w http.ResponseWriter, r *http.Request, name string, src []byte, origin, base string) {
	sub := deploySubmission(r, name, src, origin)
	sub.Base = base
	d, err := a.cl.Submit(r.Context(), sub)
	var ce *odb.ConflictError
	if errors.As(err, &ce) {
		writeJSON(w, http.StatusConflict, map[string]any{"error": map[string]any{"code": "conflict", "message": ce.Error(),
			"current": wire.Conflict{Version: ce.Current.Number, SHA256: ce.Current.SHA256, Source: ce.Current.Source,
				Who: ce.Who, Origin: ce.Origin, CreatedAt: ce.At}}})
		return
	}
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
	before, _ := strconv.ParseInt(r.URL.Query().Get("before"), 10, 64)
	out, err := a.Deployments(r.Context(), odb.DeploymentFilter{Module: r.URL.Query().Get("module"), Limit: limit, Before: before})
	if err != nil {
		a.internal(w, err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"deployments": out})
}

// Deployments lists deployments newest first as clients see them (the API's list and the web admin's pages).
func (a *API) Deployments(ctx context.Context, f odb.DeploymentFilter) ([]DeploymentJSON, error) {
	vs, err := a.cl.Deployments(ctx, f)
	if err != nil {
		return nil, err
	}
	out := make([]DeploymentJSON, 0, len(vs))
	for _, v := range vs {
		out = append(out, DeploymentView(v))
	}
	return out, nil
}
