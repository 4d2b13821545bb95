package api

// Zato-compatible endpoints: what Zato's IDE plug-ins and API clients post.

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"unicode/utf8"

	"github.com/zato-go/zato/wire"
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

// zatoDeploy answers as Zato does: 200 with success and msg for every outcome but a refused login (401, answered
// before this), because Zato's IDE plug-ins drop the body of any other status and show "a network error". success
// is false only when a server failed the module (or it was refused); a server still starting is not a failure.
func (a *API) zatoDeploy(w http.ResponseWriter, r *http.Request, elem, origin string) {
	reply := func(success bool, msg string, extra map[string]any) {
		inner := map[string]any{"success": success, "msg": msg}
		for k, v := range extra {
			inner[k] = v
		}
		writeJSON(w, http.StatusOK, map[string]any{elem: inner})
	}
	internal := func(err error) {
		id := ErrorID()
		a.log.Error("request failed", "error_id", id, "err", err)
		reply(false, "internal error "+id+"; see the server log", nil)
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, a.bodyLimit()))
	switch {
	case overLimit(err): // refused as Zato refuses, in a body its plug-ins read
		reply(false, a.moduleTooLarge(), nil)
		return
	case err != nil:
		reply(false, "could not read the request body", nil)
		return
	}
	if len(strings.TrimSpace(string(body))) == 0 {
		reply(true, "Ping succeeded.", nil)
		return
	}
	if !utf8.Valid(body) {
		// Zato's PyCharm plug-in sends payload_name in Latin-1; the payload itself is base64, so plain ASCII.
		body = latin1ToUTF8(body)
	}
	if err := checkJSONText(body); err != nil {
		reply(false, err.Error(), nil)
		return
	}
	var req zatoRequest
	if err := json.Unmarshal(body, &req); err != nil {
		reply(false, "malformed JSON: "+err.Error(), nil)
		return
	}
	if req.PayloadName == "" && req.Payload == "" {
		reply(true, "Ping succeeded.", nil)
		return
	}
	src, err := base64.StdEncoding.DecodeString(req.Payload)
	if err != nil {
		reply(false, "payload is not valid base64: "+err.Error(), nil)
		return
	}
	d, err := a.cl.Submit(r.Context(), deploySubmission(r, req.PayloadName, src, origin))
	if _, _, ok := Refusal(err); ok {
		reply(false, err.Error(), nil)
		return
	} else if err != nil {
		internal(err)
		return
	}
	// Unlike Zato, answer with every server's confirmation (bounded by IDEWait).
	ctx, cancel := context.WithTimeout(r.Context(), a.cfg.IDEWait)
	defer cancel()
	v, err := a.cl.WaitDone(ctx, d.ID, nil)
	if err != nil && !errors.Is(err, context.DeadlineExceeded) {
		internal(err)
		return
	}
	dj := DeploymentView(v)
	failed := false
	for _, s := range dj.Servers {
		failed = failed || s.Status == wire.StatusFailed
	}
	reply(!failed, Summary(dj), map[string]any{"deployment_id": dj.ID, "status": dj.Status, "servers": dj.Servers})
}

// latin1ToUTF8 reads bytes as Latin-1, where each byte is the code point of the same number.
func latin1ToUTF8(b []byte) []byte {
	out := make([]rune, len(b))
	for i, c := range b {
		out[i] = rune(c)
	}
	return []byte(string(out))
}

// Summary says in one line what happened to a deployment, with each server's state and error.
func Summary(d DeploymentJSON) string {
	parts := make([]string, 0, len(d.Servers))
	for _, s := range d.Servers {
		p := s.Name + " " + s.Status
		if s.Status == wire.StatusPending && s.State != "" && s.State != wire.StateLive {
			p = s.Name + " " + s.State
		}
		if s.Error != nil {
			p += fmt.Sprintf(" (%s: %s, line %d)", s.Error.Type, s.Error.Message, s.Error.Line)
		}
		parts = append(parts, p)
	}
	return d.Module + " " + wire.Outcome(d) + ": " + strings.Join(parts, ", ")
}
