package lsp

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/zato-go/zato/deployclient"
)

// zato/serverStatus (notification, after rust-analyzer's experimental/serverStatus): the state of the workspace's
// target from the start, not only after a save, for an editor that declares experimental.zato.serverStatus (VS
// Code's status bar shows it while it has no deployment to show, and whenever it is newer than the last one):
//
//	{"health": "ok|warning|error", "state": "ok|unconfigured|config|noPassword|unauthorized|unreachable",
//	 "target": "default", "url": "http://...", "message": "..."}
//
// unconfigured: nothing names a server; config: the configuration has an error (a broken .zato.yaml, with its file
// and line; a passwordEnv naming an unset variable); noPassword: the target has a user and no password from
// anywhere (the editor's may be on its way); unauthorized: the server refused the credentials
// (refused.go); unreachable: no server answers (checked again every healthRecheck until one does). It is worked
// out at start and whenever the configuration changes (one authenticated request, GET /api/v1/servers, unless the
// credentials stand refused), and follows what deployments and other requests meet.

const methodServerStatus = "zato/serverStatus"

// healthRecheck is how often a target no server answers for is tried again for the status.
const healthRecheck = 15 * time.Second

// Health states.
const (
	healthOK           = "ok"
	healthUnconfigured = "unconfigured"
	healthConfig       = "config"
	healthNoPassword   = "noPassword"
)

// serverHealth is zato/serverStatus's params.
type serverHealth struct {
	Health  string `json:"health"` // ok, warning, error
	State   string `json:"state"`
	Target  string `json:"target,omitempty"`
	URL     string `json:"url,omitempty"`
	Message string `json:"message"`
}

// setHealth sends the state when it differs from the last one sent.
func (s *server) setHealth(h serverHealth) {
	s.mu.Lock()
	if !s.caps.serverStatus || s.health == h {
		s.mu.Unlock()
		return
	}
	s.health = h
	s.mu.Unlock()
	s.notify(methodServerStatus, h)
}

// scheduleHealth works the state out again shortly (a few calls in a row make one check).
func (s *server) scheduleHealth() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if !s.caps.serverStatus || s.ctx.Err() != nil {
		return
	}
	if s.healthTimer != nil {
		s.healthTimer.Stop()
	}
	s.healthGen++
	gen := s.healthGen
	s.healthTimer = time.AfterFunc(50*time.Millisecond, func() { s.goFn(func() { s.checkHealth(gen) }) })
}

// checkHealth works out the state of the workspace's (primary) default target: its configuration, then one request.
func (s *server) checkHealth(gen int) {
	s.mu.Lock()
	cfg, cfgErr, allErr := s.cfg, s.cfgErr, s.configErrLocked()
	noConfig := s.noConfigErrLocked()
	current := func() bool { return gen == s.healthGen }
	s.mu.Unlock()
	switch {
	case allErr != nil:
		s.setHealth(serverHealth{Health: "error", State: healthConfig, Message: "The Zato configuration has an error: " + allErr.Error()})
		return
	case cfgErr == nil && cfg.file.URL == "" && len(cfg.file.Targets) == 0:
		s.setHealth(serverHealth{Health: "warning", State: healthUnconfigured, Message: noConfig.Error()})
		return
	}
	name, cc, _, err := s.resolveTarget(cfg, "")
	if err != nil {
		h := serverHealth{Health: "error", State: healthConfig, Target: name, URL: trimURL(cc.URL), Message: fmt.Sprintf("target %s: %v", name, err)}
		if np := (*noPasswordError)(nil); errors.As(err, &np) {
			h.Health, h.State, h.Message = "warning", healthNoPassword, err.Error()
		}
		s.setHealth(h)
		return
	}
	ctx, cancel := context.WithTimeout(s.ctx, 15*time.Second)
	defer cancel()
	name, cl, ccAt, err := s.client(ctx, "")
	if err == nil {
		err = cl.Ping(ctx)
		s.noteAuth("", name, ccAt, err)
	}
	if s.ctx.Err() != nil {
		return
	}
	s.mu.Lock()
	ok := current()
	s.mu.Unlock()
	if ok { // else a newer check is on its way
		s.healthFrom(name, cc, err)
	}
}

// healthAfterCall follows what a request to a target met, when it is the primary default target (nil: it answered;
// an answer of the API, such as a module not found or a conflict, says the connection works).
func (s *server) healthAfterCall(scope, target string, cc deployclient.Config, err error) {
	if scope != "" || target != s.targetName("") {
		return
	}
	var ae *deployclient.APIError
	switch {
	case errors.Is(err, deployclient.ErrUnauthorized), unreachable(err):
		s.healthFrom(target, cc, err)
	case err == nil, errors.As(err, &ae):
		s.healthFrom(target, cc, nil)
	}
}

// healthFrom sets the state a request to the primary default target met (nil: it answered). With no server
// answering, it is checked again every healthRecheck until one does.
func (s *server) healthFrom(target string, cc deployclient.Config, err error) {
	h := serverHealth{Target: target, URL: trimURL(cc.URL)}
	switch {
	case err == nil:
		h.Health, h.State = "ok", healthOK
		h.Message = fmt.Sprintf("target %s at %s answers (user %q)", target, h.URL, cc.Username)
	case errors.Is(err, deployclient.ErrUnauthorized):
		h.Health, h.State = "error", stateUnauthorized
		h.Message = fmt.Sprintf("wrong username or password for target %s (user %q at %s)", target, cc.Username, h.URL)
	case unreachable(err):
		h.Health, h.State = "error", stateUnreachable
		h.Message = fmt.Sprintf("Cannot reach Zato at %s: %s", h.URL, rootCause(err))
	default:
		return // an answer about something else (a module, a version): the connection is what it was
	}
	s.setHealth(h)
	if h.State == stateUnreachable {
		s.mu.Lock()
		if !s.recheckArmed && s.ctx.Err() == nil {
			s.recheckArmed = true
			time.AfterFunc(healthRecheck, func() {
				s.mu.Lock()
				s.recheckArmed = false
				s.mu.Unlock()
				s.scheduleHealth()
			})
		}
		s.mu.Unlock()
	}
}

func trimURL(u string) string { return strings.TrimRight(u, "/") }
