package api

// Zato-compatible endpoints: what Zato's IDE plug-ins and API clients post.

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"

	"github.com/zato-go/zato/server/cluster"
)

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
