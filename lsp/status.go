package lsp

import (
	"context"
	"encoding/json"
	"fmt"
	"sort"
	"strings"
	"time"

	"go.lsp.dev/protocol"

	"github.com/zato-go/zato/deployclient"
)

// statusMethod is the custom notification status bars listen to (docs/architecture.md).
const statusMethod = "zato/deployStatus"

// States of zato/deployStatus.
const (
	stateQueued       = "queued"
	stateUploading    = "uploading"
	statePropagating  = "propagating"
	stateDeployed     = "deployed"
	statePartial      = "partial"
	stateFailed       = "failed"
	stateUnreachable  = "unreachable"
	stateUnauthorized = "unauthorized"
	stateAccepted     = "accepted"
	// stateConflict: refused, someone or something else deployed another version since this editor's last.
	stateConflict = "conflict"
)

// deployStatus is the zato/deployStatus payload.
type deployStatus struct {
	URI          string        `json:"uri"`
	Module       string        `json:"module"`
	DeploymentID int64         `json:"deploymentId"`
	Target       string        `json:"target"`
	State        string        `json:"state"`
	Confirmed    int           `json:"confirmed"`
	Expected     int           `json:"expected"`
	Servers      []serverState `json:"servers"`
	ElapsedMs    float64       `json:"elapsedMs"`
	Message      string        `json:"message"`
	// SHA256 is the cluster's sha256 of the content this status is about (sourceSHA), so that an editor can tell it
	// from a status about an earlier save.
	SHA256 string `json:"sha256,omitempty"`
	// Settled is true on the status that ends a deployment (finish) when no other deployment of the module waits:
	// the last word on the saves so far. A status of a try that will be made again is never settled.
	Settled bool `json:"settled"`
}

// serverState is one server in zato/deployStatus.
type serverState struct {
	Name     string                    `json:"name"`
	Status   string                    `json:"status"`
	Services []string                  `json:"services"`
	Error    *deployclient.DeployError `json:"error"`
}

// final reports whether a state ends a deployment.
func (st *deployStatus) final() bool {
	switch st.State {
	case stateQueued, stateUploading, statePropagating:
		return false
	}
	return true
}

// fromDeployment fills a status from a deployment view.
func fromDeployment(base deployStatus, d deployclient.Deployment) deployStatus {
	st := base
	st.DeploymentID, st.Confirmed, st.Expected = d.ID, d.Confirmed, d.Expected
	st.Servers = make([]serverState, 0, len(d.Servers))
	for _, s := range d.Servers {
		svc := s.Services
		if svc == nil {
			svc = []string{}
		}
		st.Servers = append(st.Servers, serverState{Name: s.Name, Status: s.Status, Services: svc, Error: s.Error})
	}
	return st
}

// emit records a status as the module's latest and sends it. Every change goes out: the editor's status bar shows
// the newest one.
func (s *server) emit(m *moduleState, st *deployStatus) {
	if st.Servers == nil {
		st.Servers = []serverState{}
	}
	s.mu.Lock()
	m.last = st
	if st.final() {
		m.lastFinal, m.finalAt = st, time.Now()
	}
	s.mu.Unlock()
	s.notify(statusMethod, st)
	if st.final() {
		s.clusterChanged(st.Target, st.Module) // an open cluster view shows it at once
	}
}

// refreshCodeLens asks the editor to ask again for code lenses, which show the last result.
func (s *server) refreshCodeLens() {
	s.mu.Lock()
	ok := s.caps.codeLensRefresh
	s.mu.Unlock()
	if !ok {
		return
	}
	// A request: off the caller's path so a slow editor does not hold the next deployment back.
	s.goFn(func() {
		ctx, cancel := context.WithTimeout(s.ctx, 10*time.Second)
		defer cancel()
		if err := s.editor.CodeLensRefresh(ctx); err != nil && s.ctx.Err() == nil {
			s.log.Debug("codeLens/refresh", "err", err)
		}
	})
}

// lastStatus is the latest status of a file's module on the target it was last deployed to (the default target
// before any deployment), if any.
func (s *server) lastStatus(path string) (last, final *deployStatus, finalAt time.Time) {
	module := moduleName(path)
	scope, _, _ := s.scopeOf(path)
	target := s.targetNameIn(scope, "")
	s.mu.Lock()
	defer s.mu.Unlock()
	if t, ok := s.targetOf[inScope(scope, module)]; ok {
		target = t
	}
	m := s.modules[moduleKey(inScope(scope, target), module)]
	if m == nil {
		return nil, nil, time.Time{}
	}
	return m.last, m.lastFinal, m.finalAt
}

// statusReport is zato.showStatus's answer.
type statusReport struct {
	Target        string                `json:"target"`
	URL           string                `json:"url"`
	Kind          string                `json:"kind,omitempty"`
	DeployOnSave  bool                  `json:"deployOnSave"`
	RequireMarker bool                  `json:"requireMarker"`
	Servers       []deployclient.Member `json:"servers"`
	ServersError  string                `json:"serversError,omitempty"`
	Modules       []*deployStatus       `json:"modules"`
	Uploads       int64                 `json:"uploads"`
}

// showStatus gathers the target's servers and every module's last status, and logs a summary. For a file (path not
// ""), it is the file's target, in its folder's configuration (folders.go), and that module's status.
func (s *server) showStatus(ctx context.Context, path string) (statusReport, error) {
	var at place
	if path != "" {
		at = s.placeOf(path)
	}
	target, cl, cc, err := s.clientIn(ctx, at.scope, at.target)
	s.mu.Lock()
	cfg, cfgErr := s.configOfLocked(at.scope)
	rep := statusReport{Target: target, URL: cc.URL, Kind: cc.Kind, RequireMarker: cfg.requireMarker, Servers: []deployclient.Member{},
		Modules: []*deployStatus{}, Uploads: s.uploads.Load(), DeployOnSave: s.deployOnSaveLocked(cfg, cfgErr)}
	for _, m := range s.modules {
		if m.last != nil && (path == "" || m.key == moduleKey(inScope(at.scope, target), moduleName(path))) {
			rep.Modules = append(rep.Modules, m.last)
		}
	}
	s.mu.Unlock()
	sort.Slice(rep.Modules, func(i, j int) bool { return rep.Modules[i].Module < rep.Modules[j].Module })
	if err != nil {
		rep.ServersError = err.Error()
	} else if cc.Kind != deployclient.KindZato {
		ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		var ms []deployclient.Member
		err := s.read(ctx, at.scope, target, cl, func(cl *deployclient.Client) (err error) {
			ms, err = cl.Servers(ctx)
			return err
		})
		cancel()
		if err != nil {
			rep.ServersError = err.Error()
		} else {
			rep.Servers = ms
		}
	}
	var b strings.Builder
	fmt.Fprintf(&b, "Zato: target %s at %s, deploy on save %s", rep.Target, rep.URL, onOff(rep.DeployOnSave))
	for _, m := range rep.Servers {
		fmt.Fprintf(&b, "\n  server %s: %s", m.Name, m.State)
	}
	if rep.ServersError != "" {
		fmt.Fprintf(&b, "\n  servers: %s", rep.ServersError)
	}
	for _, m := range rep.Modules {
		fmt.Fprintf(&b, "\n  %s: %s", m.Module, m.Message)
	}
	s.logf(protocol.MessageTypeInfo, "%s", b.String())
	return rep, nil
}

// lspAny encodes a command's answer.
func lspAny(v any) (protocol.LSPAny, error) {
	b, err := json.Marshal(v)
	if err != nil {
		return nil, fmt.Errorf("encode answer: %w", err)
	}
	return protocol.LSPAny(b), nil
}
