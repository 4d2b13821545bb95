package lsp

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"go.lsp.dev/jsonrpc2"
	"go.lsp.dev/protocol"

	"github.com/zato-go/zato/deployclient"
	"github.com/zato-go/zato/wire"
)

// The cluster view (issue 14, item 4): what the editors' tree view (VS Code) and tool window (PyCharm) show, built
// here from the deploy client so that they hold no deploy logic. Custom requests zato/clusterView and
// zato/moduleHistory read; zato.showClusterVersion (conflict.go) opens any version; zato.rollback and zato.undeploy
// write. While an editor watches (zato/watchCluster), zato/clusterChanged tells it to ask again: the language server
// follows the cluster's event stream (GET /api/v1/events, clusterwatch.go) and reads the view again at each event,
// polls GET /api/v1/status every clusterPoll while the stream is not available, and tells at once when a deployment
// it made itself moves.

// Methods of the cluster view.
const (
	methodClusterView    = "zato/clusterView"
	methodModuleHistory  = "zato/moduleHistory"
	methodWatchCluster   = "zato/watchCluster"
	methodClusterChanged = "zato/clusterChanged"
	cmdRollback          = "zato.rollback"
	cmdUndeploy          = "zato.undeploy"
)

// clusterWriteWait bounds how long zato.rollback and zato.undeploy wait for every server to confirm.
const clusterWriteWait = 2 * time.Minute

// clusterViewAnswer is zato/clusterView's answer. Error, when set, says in the user's words why there is nothing
// to show (no configuration, the cluster unreachable, a stock Zato target); the lists are then empty.
type clusterViewAnswer struct {
	Target  string       `json:"target"`
	URL     string       `json:"url"`
	Servers []viewServer `json:"servers"`
	Modules []viewModule `json:"modules"`
	Error   string       `json:"error,omitempty"`
	Summary string       `json:"summary"` // "2/2 servers live, 3 modules"
	At      time.Time    `json:"at"`
}

type viewServer struct {
	Name  string `json:"name"`
	URL   string `json:"url"`
	State string `json:"state"` // starting, live, stopping, offline
}

type viewModule struct {
	Name         string          `json:"name"`
	Version      int             `json:"version"`  // the current version; 0 once undeployed
	SHA256       string          `json:"sha256"`   // of the current version
	Deployed     bool            `json:"deployed"` // false once undeployed
	DeploymentID int64           `json:"deploymentId"`
	Who          string          `json:"who"`    // of the newest deployment (a save, a rollback, an undeploy...)
	Origin       string          `json:"origin"` // ide, cli, pickup, rollback...
	CreatedAt    time.Time       `json:"createdAt"`
	Status       string          `json:"status"`  // the newest deployment's overall status (wire.Summarize)
	Outcome      string          `json:"outcome"` // its words (wire.Outcome): "deployed on every server (2/2)"
	URI          string          `json:"uri"`     // the current version's read-only URI (zato.showClusterVersion)
	Servers      []viewModuleRow `json:"servers"`
}

type viewModuleRow struct {
	Name   string            `json:"name"`
	Status string            `json:"status"` // pending, deployed, undeployed, failed, offline
	State  string            `json:"state,omitempty"`
	Error  *wire.DeployError `json:"error,omitempty"`
}

// clusterParams are the custom requests' params.
type clusterParams struct {
	Target string `json:"target"`
	Module string `json:"module"`
	Watch  *bool  `json:"watch"`
	// Refresh: zato/clusterView asked for by the user (a Refresh button), not by a zato/clusterChanged; it is sent
	// even to a target whose credentials were refused (refused.go).
	Refresh bool `json:"refresh"`
}

func decodeClusterParams(params any) (clusterParams, error) {
	var p clusterParams
	b, err := json.Marshal(params)
	if err != nil || string(b) == "null" {
		return p, nil
	}
	if err := json.Unmarshal(b, &p); err != nil {
		return p, fmt.Errorf("%w: params must be an object: %v", jsonrpc2.ErrInvalidParams, err)
	}
	return p, nil
}

// Request answers the custom requests (and notifications) of the cluster view.
func (s *server) Request(ctx context.Context, method string, params any) (any, error) {
	switch method {
	case methodClusterView, methodModuleHistory, methodWatchCluster:
	case methodTargets:
		return s.targets(ctx), nil
	default:
		return nil, fmt.Errorf("%w: %s", jsonrpc2.ErrMethodNotFound, method)
	}
	p, err := decodeClusterParams(params)
	if err != nil {
		return nil, err
	}
	switch method {
	case methodClusterView:
		if p.Refresh {
			ctx = asked(ctx)
		}
		return s.clusterView(ctx, p.Target), nil
	case methodModuleHistory:
		return s.moduleHistory(asked(ctx), p.Target, p.Module) // the user opened a module's versions
	}
	s.watchCluster(p.Target, p.Watch == nil || *p.Watch)
	return nil, nil
}

// clusterClient is the deploy client of a target for the cluster view: stock Zato has no such view.
func (s *server) clusterClient(ctx context.Context, target string) (string, *deployclient.Client, deployclient.Config, error) {
	target, cl, cc, err := s.client(ctx, target)
	if err == nil && cc.Kind == deployclient.KindZato {
		err = fmt.Errorf("target %s is a stock Zato server (%s), which tells nothing of its servers and versions", target, cc.URL)
	}
	return target, cl, cc, err
}

// clusterWords says why a call to a target's cluster failed, in the user's words.
func clusterWords(target string, cc deployclient.Config, err error) string {
	url := cc.URL
	var ae *deployclient.APIError
	var refused *refusedError
	switch {
	case errors.As(err, &refused):
		return refused.Error()
	case errors.Is(err, deployclient.ErrUnauthorized):
		return fmt.Sprintf("wrong username or password for target %s (user %q at %s)", target, cc.Username, strings.TrimRight(url, "/"))
	case errors.Is(err, deployclient.ErrUnreachable):
		return fmt.Sprintf("Cannot reach Zato at %s: %s", url, rootCause(err))
	case errors.As(err, &ae):
		return ae.Message
	}
	return err.Error()
}

// clusterView reads the cluster's servers and modules (GET /api/v1/status, what `zato status` reads).
func (s *server) clusterView(ctx context.Context, target string) clusterViewAnswer {
	v, _ := s.clusterViewErr(ctx, target)
	return v
}

// clusterViewErr is clusterView with the error that left its lists empty, if any.
func (s *server) clusterViewErr(ctx context.Context, target string) (clusterViewAnswer, error) {
	target, cl, cc, err := s.clusterClient(ctx, target)
	out := clusterViewAnswer{Target: target, URL: cc.URL, Servers: []viewServer{}, Modules: []viewModule{}, At: time.Now().UTC()}
	if err != nil {
		out.Error = err.Error()
		return out, err
	}
	ctx, cancel := context.WithTimeout(ctx, 15*time.Second)
	defer cancel()
	st, err := cl.Status(ctx)
	s.noteAuth("", target, cc, err)
	if err != nil {
		out.Error = clusterWords(target, cc, err)
		return out, err
	}
	live := 0
	for _, m := range st.Servers {
		out.Servers = append(out.Servers, viewServer{Name: m.Name, URL: m.URL, State: m.State})
		if m.State == wire.StateLive {
			live++
		}
	}
	for _, m := range st.Modules {
		action := wire.ActionDeploy
		if !m.Deployed {
			action = wire.ActionUndeploy
		}
		vm := viewModule{Name: m.Name, Version: m.Version, SHA256: m.SHA256, Deployed: m.Deployed, DeploymentID: m.DeploymentID,
			Who: m.Who, Origin: m.Origin, CreatedAt: m.UpdatedAt, Status: m.Status, Servers: []viewModuleRow{}}
		if m.DeploymentID != 0 {
			vm.Outcome = wire.Outcome(wire.Deployment{Action: action, Servers: m.Servers})
		}
		if m.Deployed && m.Version > 0 {
			vm.URI = clusterURI(target, m.Name, m.Version)
		}
		for _, r := range m.Servers {
			vm.Servers = append(vm.Servers, viewModuleRow{Name: r.Name, Status: r.Status, State: r.State, Error: r.Error})
		}
		out.Modules = append(out.Modules, vm)
	}
	out.Summary = fmt.Sprintf("%d/%d servers live, %d modules", live, len(st.Servers), len(st.Modules))
	return out, nil
}

// clusterURI is the read-only URI a version is shown under.
func clusterURI(target, module string, version int) string {
	return fmt.Sprintf("zato-cluster:/%s/%s?version=%d", target, module, version)
}

// historyAnswer is zato/moduleHistory's answer: the module's versions, newest first.
type historyAnswer struct {
	Module   string         `json:"module"`
	Target   string         `json:"target"`
	Current  int            `json:"current"` // the version serving now; 0 once undeployed
	Versions []historyEntry `json:"versions"`
}

type historyEntry struct {
	Version   int       `json:"version"`
	SHA256    string    `json:"sha256"`
	Who       string    `json:"who"`
	Origin    string    `json:"origin"`
	CreatedAt time.Time `json:"createdAt"`
	Size      int       `json:"size"`
	Current   bool      `json:"current"`
	URI       string    `json:"uri"`
	Label     string    `json:"label"` // "version 3 by alice (ide) at 2026-11-30 08:31:02 UTC"
	// Where it serves now (the versions' served_by), and where its newest deployment on each server loaded or
	// failed (the module's deployments): a version that failed wherever it was tried is no version to go back to.
	ServedBy []string `json:"servedBy"`
	LoadedOn []string `json:"loadedOn"`
	FailedOn []string `json:"failedOn"`
	// State: serving (some server serves it now), loaded (some server loaded it), failed (it failed on every server
	// that tried it), untried (no deployment of it that the cluster keeps reached a server).
	State string `json:"state"`
	Note  string `json:"note"` // "serving on server1, server2", "failed on server1, server2: SyntaxError: ... (line 3)"
}

// historyDeployments is how many of a module's newest deployments zato/moduleHistory reads for where its versions
// loaded or failed.
const historyDeployments = 500

// versionOutcome is where a version loaded and failed, from a module's deployments (newest first): each server's
// newest row of the version counts.
type versionOutcome struct {
	loaded, failed []string
	errs           map[string]string // server -> its error in words
}

func versionOutcomes(ds []deployclient.Deployment) map[int]*versionOutcome {
	out := map[int]*versionOutcome{}
	seen := map[string]bool{} // version/server pairs already decided by a newer row
	for _, d := range ds {
		if d.Action != wire.ActionDeploy {
			continue
		}
		o := out[d.Version]
		if o == nil {
			o = &versionOutcome{errs: map[string]string{}}
			out[d.Version] = o
		}
		for _, r := range d.Servers {
			k := fmt.Sprintf("%d/%s", d.Version, r.Name)
			if seen[k] || (r.Status != deployclient.StatusDeployed && r.Status != deployclient.StatusFailed) {
				continue
			}
			seen[k] = true
			if r.Status == deployclient.StatusDeployed {
				o.loaded = append(o.loaded, r.Name)
				continue
			}
			o.failed = append(o.failed, r.Name)
			if e := r.Error; e != nil {
				w := strings.TrimSpace(e.Type + ": " + e.Message)
				if e.Line > 0 {
					w += fmt.Sprintf(" (line %d)", e.Line)
				}
				o.errs[r.Name] = w
			}
		}
	}
	for _, o := range out {
		slices.Sort(o.loaded)
		slices.Sort(o.failed)
	}
	return out
}

// mark fills in a history entry's servedBy, loadedOn, failedOn, state and note.
func (h *historyEntry) mark(servedBy []string, o *versionOutcome) {
	h.ServedBy, h.LoadedOn, h.FailedOn = append([]string{}, servedBy...), []string{}, []string{}
	if o != nil {
		h.LoadedOn, h.FailedOn = append(h.LoadedOn, o.loaded...), append(h.FailedOn, o.failed...)
	}
	failures := ""
	if len(h.FailedOn) > 0 {
		failures = "failed on " + strings.Join(h.FailedOn, ", ")
		// The first failing server's error (they mostly say the same).
		if e := o.errs[h.FailedOn[0]]; e != "" {
			failures += ": " + e
		}
	}
	var parts []string
	switch {
	case len(h.ServedBy) > 0:
		h.State = "serving"
		parts = append(parts, "serving on "+strings.Join(h.ServedBy, ", "))
	case len(h.LoadedOn) > 0:
		h.State = "loaded"
		parts = append(parts, "loaded on "+strings.Join(h.LoadedOn, ", "))
	case len(h.FailedOn) > 0:
		h.State = "failed"
	default:
		h.State = "untried"
		parts = append(parts, "no server has loaded it")
	}
	if failures != "" {
		parts = append(parts, failures)
	}
	h.Note = strings.Join(parts, "; ")
}

func (s *server) moduleHistory(ctx context.Context, target, module string) (historyAnswer, error) {
	if module == "" {
		return historyAnswer{}, fmt.Errorf("%w: %s needs a module", jsonrpc2.ErrInvalidParams, methodModuleHistory)
	}
	target, cl, cc, err := s.clusterClient(ctx, target)
	if err != nil {
		return historyAnswer{}, err
	}
	ctx, cancel := context.WithTimeout(ctx, 15*time.Second)
	defer cancel()
	sv, err := cl.VersionsServed(ctx, module)
	s.noteAuth("", target, cc, err)
	if err != nil {
		return historyAnswer{}, errors.New(clusterWords(target, cc, err))
	}
	vs := sv.Versions
	ds, err := cl.Deployments(ctx, module, historyDeployments)
	if err != nil {
		s.log.Debug("deployments", "module", module, "err", err) // the versions are listed without where they failed
	}
	outcomes := versionOutcomes(ds)
	out := historyAnswer{Module: module, Target: target, Versions: []historyEntry{}}
	if mods, err := cl.Modules(ctx); err == nil {
		for _, m := range mods {
			if m.Name == module && m.Deployed {
				out.Current = m.Version
			}
		}
	}
	for _, v := range vs {
		e := historyEntry{Version: v.Version, SHA256: v.SHA256, Who: v.Who, Origin: v.Origin,
			CreatedAt: v.CreatedAt, Size: v.Size, Current: v.Version == out.Current, URI: clusterURI(target, module, v.Version),
			Label: fmt.Sprintf("version %d by %s %s", v.Version, byWhom(v.Who, v.Origin), when(v.CreatedAt))}
		e.mark(v.ServedBy, outcomes[v.Version])
		out.Versions = append(out.Versions, e)
	}
	return out, nil
}

// moduleVersion is zato.showClusterVersion for a module and version (0: the current one) rather than a conflict.
func (s *server) moduleVersion(ctx context.Context, a commandArg) (protocol.LSPAny, error) {
	target, cl, cc, err := s.clusterClient(ctx, a.Target)
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithTimeout(ctx, 15*time.Second)
	defer cancel()
	n := a.Version
	if n <= 0 {
		mods, err := cl.Modules(ctx)
		s.noteAuth("", target, cc, err)
		if err != nil {
			return nil, errors.New(clusterWords(target, cc, err))
		}
		for _, m := range mods {
			if m.Name == a.Module && m.Deployed {
				n = m.Version
			}
		}
		if n <= 0 {
			return nil, fmt.Errorf("%s is not deployed on %s: pick a version from its history", a.Module, target)
		}
	}
	v, err := cl.ModuleVersion(ctx, a.Module, n)
	s.noteAuth("", target, cc, err)
	if err != nil {
		return nil, errors.New(clusterWords(target, cc, err))
	}
	return lspAny(clusterVersion{Module: a.Module, Target: target, Version: v.Version, SHA256: v.SHA256, Who: v.Who, Origin: v.Origin,
		CreatedAt: v.CreatedAt, Source: v.Source, URI: clusterURI(target, a.Module, v.Version),
		Title: fmt.Sprintf("%s version %d (%s, %s) on %s", a.Module, v.Version, byWhom(v.Who, v.Origin), when(v.CreatedAt), target)})
}

// writeAnswer is zato.rollback's and zato.undeploy's answer, once every server has answered (or the wait ran out).
type writeAnswer struct {
	Module       string `json:"module"`
	Target       string `json:"target"`
	Action       string `json:"action"` // rollback, undeploy
	DeploymentID int64  `json:"deploymentId"`
	Version      int    `json:"version"` // the version rolled back to
	Status       string `json:"status"`
	Done         bool   `json:"done"`
	OK           bool   `json:"ok"`
	Message      string `json:"message"` // "x.py rolled back to version 1: deployed on every server (2/2)"
}

// clusterWrite runs zato.rollback or zato.undeploy and follows the deployment until every server has answered.
func (s *server) clusterWrite(ctx context.Context, command string, a commandArg) (writeAnswer, error) {
	if a.Module == "" {
		return writeAnswer{}, fmt.Errorf("%w: %s needs a module", jsonrpc2.ErrInvalidParams, command)
	}
	target, cl, cc, err := s.clusterClient(ctx, a.Target)
	if err != nil {
		return writeAnswer{}, err
	}
	ctx, cancel := context.WithTimeout(ctx, clusterWriteWait)
	defer cancel()
	var d deployclient.Deployment
	action := "rollback"
	if command == cmdUndeploy {
		action = "undeploy"
		d, err = cl.Undeploy(ctx, a.Module, "ide")
	} else {
		d, err = cl.Rollback(ctx, a.Module, a.Version)
	}
	s.noteAuth("", target, cc, err)
	if err != nil {
		return writeAnswer{}, errors.New(clusterWords(target, cc, err))
	}
	s.clusterChanged(target, a.Module)
	final, err := cl.Watch(ctx, d.ID, func(deployclient.Deployment) { s.clusterChanged(target, a.Module) })
	if err != nil && final.ID == 0 {
		final = d
	}
	out := writeAnswer{Module: a.Module, Target: target, Action: action, DeploymentID: final.ID, Version: final.Version,
		Status: final.Status, Done: final.Done, OK: final.Done && wire.Succeeded(final)}
	what := fmt.Sprintf("%s rolled back to version %d", a.Module, final.Version)
	if action == "undeploy" {
		what = a.Module
	}
	out.Message = what + ": " + wire.Outcome(final)
	if err != nil && !final.Done {
		out.Message += fmt.Sprintf(" (stopped waiting: %s)", clusterWords(target, cc, err))
	}
	s.clusterChanged(target, a.Module)
	level := protocol.MessageTypeInfo
	if !out.OK {
		level = protocol.MessageTypeWarning
	}
	s.logf(level, "Zato: %s", out.Message)
	return out, nil
}

// clusterChanged tells a watching editor that a deployment made through this language server moved.
func (s *server) clusterChanged(target, module string) {
	s.mu.Lock()
	watching := s.watch != nil
	s.mu.Unlock()
	if watching {
		s.notifyClusterChanged(target, module)
	}
}

func (s *server) notifyClusterChanged(target, module string) {
	s.notify(methodClusterChanged, clusterChanged{Target: target, Module: module})
}

// clusterChanged is zato/clusterChanged's params. Via, set when the way the view is followed starts or changes, is
// "stream" (live, over the cluster's event stream) or "poll" (read every clusterPoll): a view may show it.
type clusterChanged struct {
	Target string `json:"target"`
	Module string `json:"module"`
	Via    string `json:"via,omitempty"`
}
