// Package cluster is one server's part in the cluster: membership and heartbeats, the deployer that applies
// deployments from the ODB to the Python runtime in order, and nudges that tell the other servers to look at the ODB
// now rather than at their next safety-net check.
package cluster

import (
	"cmp"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"sync"
	"time"

	"github.com/zato-go/zato/server/odb"
	"github.com/zato-go/zato/server/runtime"
)

// Liveness: a server heartbeats every HeartbeatEvery and counts as offline once its heartbeat is older than MaxAge.
const (
	HeartbeatEvery = time.Second
	MaxAge         = 3 * time.Second
)

// NudgePath is the internal endpoint a peer posts to; SecretHeader carries the cluster secret.
const (
	NudgePath    = "/zato/internal/nudge"
	SecretHeader = "X-Zato-Cluster-Secret"
)

// Runtime is what the deployer needs of the Python runtime.
type Runtime interface {
	Load(ctx context.Context, module, filename string, source []byte) (runtime.LoadResult, error)
	Unload(ctx context.Context, module string) ([]string, error)
}

// Config of a Cluster member.
type Config struct {
	Name       string
	URL        string // how peers reach this server
	Secret     string // shared by the servers of a cluster, authenticates nudges
	CurrentDir string // work/hot-deploy/current
	Logger     *slog.Logger
	// BeforeApply, if set, runs before each change to CurrentDir (backups).
	BeforeApply func(ctx context.Context, module string)
	HTTPClient  *http.Client
	// Nudges, if set, is the UDP socket this server receives nudges on and sends them from (see nudge.go); the
	// node closes it when the server stops. Without it nudges go over HTTP.
	Nudges net.PacketConn
	// MaxPayload bounds a module's size (default 1 MB).
	MaxPayload int64
}

// Cluster is this server's membership and deployer.
type Cluster struct {
	cfg   Config
	store odb.Store
	rt    Runtime
	log   *slog.Logger
	hub   *Hub
	wake  chan struct{}
	http  *http.Client
	addrs peerAddrs

	mu      sync.Mutex
	loaded  map[string]string // module -> sha256 of the version now serving
	peers   []odb.Server      // last known members, for nudges and views
	peersAt time.Time         // when peers was read from the ODB

	// work is what wakes the deployer: pushed deployments, and whether to read its pending list.
	workMu sync.Mutex
	pushes []push
	check  bool
}

// New returns a Cluster member; call Start.
func New(cfg Config, store odb.Store, rt Runtime) *Cluster {
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if cfg.MaxPayload <= 0 {
		cfg.MaxPayload = 1 << 20
	}
	if cfg.HTTPClient == nil {
		cfg.HTTPClient = &http.Client{Timeout: 2 * time.Second}
	}
	return &Cluster{
		cfg: cfg, store: store, rt: rt, log: cfg.Logger, hub: NewHub(),
		wake: make(chan struct{}, 1), http: cfg.HTTPClient, loaded: map[string]string{},
	}
}

// Hub is woken at every change this server learns of.
func (c *Cluster) Hub() *Hub { return c.hub }

// Store is the ODB.
func (c *Cluster) Store() odb.Store { return c.store }

// Name of this server.
func (c *Cluster) Name() string { return c.cfg.Name }

// Start registers the server, reconciles the work dir and the runtime with the ODB, counts the server live and runs
// the deployer and heartbeats until ctx ends. It returns once the server is live.
func (c *Cluster) Start(ctx context.Context, pid int, host string) error {
	if err := c.store.RegisterServer(ctx, odb.Server{
		Name: c.cfg.Name, URL: c.cfg.URL, PID: pid, Host: host, State: odb.ServerStarting,
	}); err != nil {
		return fmt.Errorf("register %s: %w", c.cfg.Name, err)
	}
	// What was pending for us while we were away is superseded by the modules' current versions, applied below.
	if err := c.store.MarkOffline(ctx, c.cfg.Name); err != nil {
		return fmt.Errorf("mark missed deployments offline: %w", err)
	}
	if err := c.reconcile(ctx, true); err != nil {
		return err
	}
	if err := c.store.SetServerState(ctx, c.cfg.Name, odb.ServerLive); err != nil {
		return fmt.Errorf("set %s live: %w", c.cfg.Name, err)
	}
	// A deployment created while we were starting gave us an offline row: catch up on it now that we are live.
	if err := c.reconcile(ctx, false); err != nil {
		return err
	}
	c.refreshPeers(ctx)
	c.nudgePeers()
	if c.cfg.Nudges != nil {
		go c.serveNudges(ctx)
	}
	go c.deployLoop(ctx)
	go c.heartbeatLoop(ctx)
	go c.watchLoop(ctx)
	return nil
}

// Stop marks the server stopped so that clients see it offline at once.
func (c *Cluster) Stop(ctx context.Context) {
	if err := c.store.SetServerState(ctx, c.cfg.Name, odb.ServerStopped); err != nil {
		c.log.Warn("could not mark server stopped", "err", err)
	}
	c.nudgePeers()
}

// Nudge is what a peer's nudge says changed in the ODB.
type Nudge struct {
	// Members: a server started or stopped (or a deployment was submitted), so views read the membership again.
	Members bool
	// Status: only the rows of a deployment this server received changed. Its waiters must look; there is nothing
	// to apply, so the deployer is not woken (a receiving server gets one such nudge per peer and deployment).
	Status bool
}

// Query parameters of a nudge.
const (
	MembersParam = "members"
	StatusParam  = "status"
)

// NudgeFromQuery reads a nudge's query parameters.
func NudgeFromQuery(q url.Values) Nudge {
	return Nudge{Members: q.Get(MembersParam) == "1", Status: q.Get(StatusParam) == "1"}
}

// Nudged is called by the API when a peer says the ODB changed.
func (c *Cluster) Nudged(n Nudge) {
	if n.Members {
		c.mu.Lock()
		c.peersAt = time.Time{}
		c.mu.Unlock()
	}
	if !n.Status {
		c.kick()
	}
	c.hub.Notify()
}

// kick wakes the deployer to read its pending deployments from the ODB.
func (c *Cluster) kick() {
	c.workMu.Lock()
	c.check = true
	c.workMu.Unlock()
	c.wakeDeployer()
}

// pushed queues a deployment handed over by its receiving server. A push also says what a submission's nudge says:
// membership may have changed, and waiters may look.
func (c *Cluster) pushed(p push) {
	c.mu.Lock()
	c.peersAt = time.Time{}
	c.mu.Unlock()
	c.queue(p)
	c.hub.Notify()
}

// queue hands a deployment to this server's deployer.
func (c *Cluster) queue(p push) {
	c.workMu.Lock()
	c.pushes = append(c.pushes, p)
	c.workMu.Unlock()
	c.wakeDeployer()
}

func (c *Cluster) wakeDeployer() {
	select {
	case c.wake <- struct{}{}:
	default:
	}
}

// takeWork returns the queued pushes, oldest first, and whether the pending list must be read.
func (c *Cluster) takeWork() ([]push, bool) {
	c.workMu.Lock()
	defer c.workMu.Unlock()
	pushes, check := c.pushes, c.check
	c.pushes, c.check = nil, false
	slices.SortFunc(pushes, func(a, b push) int { return cmp.Compare(a.ID, b.ID) })
	return pushes, check
}

// Submission is a request to deploy or undeploy a module cluster-wide.
type Submission struct {
	Module    string
	Action    odb.Action
	Source    string
	VersionID int64 // rollback to this version
	Who       string
	Origin    string
}

// Submit stores a deployment with a pending row for every live server and an offline row for the others, then
// wakes every server. It returns at once; servers confirm through the ODB.
func (c *Cluster) Submit(ctx context.Context, s Submission) (odb.Deployment, error) {
	// Every way in passes here, so this is where bad input is refused.
	if s.Action == odb.ActionDeploy && s.VersionID == 0 {
		if err := ValidateModule(s.Module, []byte(s.Source), c.cfg.MaxPayload); err != nil {
			return odb.Deployment{}, err
		}
	} else if !ValidName(s.Module) {
		return odb.Deployment{}, fmt.Errorf("%w: %q", ErrBadName, s.Module)
	}
	members, err := c.store.Servers(ctx)
	if err != nil {
		return odb.Deployment{}, fmt.Errorf("list servers: %w", err)
	}
	now := time.Now()
	rows := make([]odb.ServerStatus, 0, len(members))
	for _, m := range members {
		st := odb.StatusOffline
		if m.Name == c.cfg.Name || m.Live(now, MaxAge) {
			st = odb.StatusPending
		}
		rows = append(rows, odb.ServerStatus{Server: m.Name, Status: st})
	}
	d, err := c.store.CreateDeployment(ctx, odb.NewDeployment{
		Module: s.Module, Action: s.Action, Source: s.Source, VersionID: s.VersionID,
		Who: s.Who, Origin: s.Origin, ReceivedBy: c.cfg.Name, Servers: rows,
	})
	if err != nil {
		return odb.Deployment{}, fmt.Errorf("store deployment of %s: %w", s.Module, err)
	}
	c.log.Info(fmt.Sprintf("Uploaded package id:[%d], payload_name:[%s]", d.ID, s.Module),
		"origin", s.Origin, "who", s.Who, "version", d.Version.Number, "action", string(s.Action))
	c.setPeers(members)
	c.handOver(d)
	c.hub.Notify()
	return d, nil
}

// handOver tells every live server of a new deployment: one that had nothing older pending gets the deployment
// itself (a push), the others a nudge to read their pending lists.
func (c *Cluster) handOver(d odb.Deployment) {
	ready := map[string]bool{}
	if d.Action == odb.ActionDeploy {
		for _, st := range d.Servers {
			ready[st.Server] = st.Status == odb.StatusPending
		}
		for _, name := range d.Backlog {
			ready[name] = false
		}
	}
	p := push{ID: d.ID, Module: d.Module, Source: d.Version.Source, From: c.cfg.Name}
	if ready[c.cfg.Name] {
		c.queue(p) // the member list Submit just read stays fresh
	} else {
		c.kick()
	}
	datagram := sync.OnceValue(func() []byte { return encodePush([]byte(c.cfg.Secret), c.cfg.Name, p) }) // once for every peer
	for _, peer := range c.livePeers("") {
		if ready[peer.Name] {
			c.sendPush(peer.URL, datagram())
		} else {
			c.send(peer.URL, Nudge{Members: true})
		}
	}
}

// View reads a deployment as clients see it.
func (c *Cluster) View(ctx context.Context, id int64) (View, error) {
	d, err := c.store.Deployment(ctx, id)
	if err != nil {
		return View{}, err
	}
	members, err := c.members(ctx)
	if err != nil {
		return View{}, fmt.Errorf("list servers: %w", err)
	}
	return MakeView(d, members, time.Now(), MaxAge), nil
}

// WaitDone blocks until the deployment is done or ctx ends, calling onChange (if set) with every new view.
func (c *Cluster) WaitDone(ctx context.Context, id int64, onChange func(View)) (View, error) {
	var d odb.Deployment
	for read := false; ; read = true {
		ch := c.hub.Wait() // taken before reading, so no change slips between the read and the wait
		var err error
		if !read {
			d, err = c.store.Deployment(ctx, id)
		} else {
			// Only the rows change once a deployment exists: read them alone (a view per confirmation).
			d.Servers, err = c.store.ServerStatuses(ctx, id)
		}
		if err != nil {
			return View{}, err
		}
		members, err := c.members(ctx)
		if err != nil {
			return View{}, fmt.Errorf("list servers: %w", err)
		}
		v := MakeView(d, members, time.Now(), MaxAge)
		if onChange != nil {
			onChange(v)
		}
		if v.Done {
			return v, nil
		}
		select {
		case <-ch:
		case <-ctx.Done():
			return v, ctx.Err()
		}
	}
}

// deployLoop applies deployments one at a time, in the order they were created: pushed ones at once, the others as
// its pending list in the ODB says.
func (c *Cluster) deployLoop(ctx context.Context) {
	// passed is the newest deployment this server has dealt with. Deployments up to the newest at start are
	// handled by the first look at the pending list, so that a push replayed from before a restart, or one
	// overtaken by that look, is recognised and skipped.
	var passed int64
	trusted := true
	if ds, err := c.store.Deployments(ctx, odb.DeploymentFilter{Limit: 1}); err != nil {
		// No baseline, so pushes are not trusted: each makes the deployer read its pending list instead.
		trusted = false
		c.log.Warn("read the newest deployment: pushed deployments will be looked up in the ODB", "err", err)
	} else if len(ds) > 0 {
		passed = ds[0].ID
	}
	c.kick()
	for {
		select {
		case <-ctx.Done():
			return
		case <-c.wake:
		}
		pushes, check := c.takeWork()
		for _, p := range pushes {
			if !trusted {
				check = true
				continue
			}
			if p.ID <= passed {
				continue
			}
			// The deployment's creation found nothing older pending for this server, and this loop applies in
			// order: it is next.
			if err := c.applyOne(ctx, p.ID, p.Module, odb.ActionDeploy, p.Source, p.From); err != nil {
				if ctx.Err() == nil {
					c.log.Error("pushed deployment", "err", err)
				}
				// The row stays pending: the pending list has it, and every later deployment, in order.
				check = true
				break
			}
			passed = p.ID
		}
		if !check {
			continue
		}
		last, err := c.applyPending(ctx)
		if err != nil && ctx.Err() == nil {
			c.log.Error("apply pending deployments", "err", err)
		}
		passed = max(passed, last)
	}
}

func (c *Cluster) heartbeatLoop(ctx context.Context) {
	t := time.NewTicker(HeartbeatEvery)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		if err := c.store.Heartbeat(ctx, c.cfg.Name); err != nil && ctx.Err() == nil {
			c.log.Warn("heartbeat", "err", err)
		}
		c.reapDead(ctx)
		c.kick() // safety net: look for work we were not nudged about
	}
}

// reapDead turns the pending rows of servers that stopped heartbeating into offline ones and wakes waiters.
func (c *Cluster) reapDead(ctx context.Context) {
	members, err := c.store.Servers(ctx)
	if err != nil {
		return
	}
	c.setPeers(members)
	now := time.Now()
	changed := false
	for _, m := range members {
		if m.Name == c.cfg.Name || m.Live(now, MaxAge) {
			continue
		}
		if m.State == odb.ServerLive || m.State == odb.ServerStarting {
			// Dead without saying so (kill -9): its waiting clients must hear "offline" now.
			changed = true
		}
	}
	if changed {
		c.hub.Notify()
	}
}

func (c *Cluster) watchLoop(ctx context.Context) {
	for ch := range c.store.Changes(ctx) {
		if !ch.RowsOnly { // rows alone (other servers' confirmations) leave the deployer nothing to apply
			c.kick()
		}
		c.hub.Notify()
	}
}

func (c *Cluster) setPeers(members []odb.Server) {
	c.mu.Lock()
	c.peers, c.peersAt = members, time.Now()
	c.mu.Unlock()
}

// viewPeersMaxAge is how old the member list a view uses may be. Liveness is judged on heartbeats MaxAge apart, so
// a list this fresh says the same, and a deployment's stream of views (one per confirmation) needs no member read
// of its own: Submit has just read them.
const viewPeersMaxAge = 250 * time.Millisecond

// members returns the member list, from the cache when it is fresh enough for a view.
func (c *Cluster) members(ctx context.Context) ([]odb.Server, error) {
	c.mu.Lock()
	peers, at := c.peers, c.peersAt
	c.mu.Unlock()
	if peers != nil && time.Since(at) < viewPeersMaxAge {
		return peers, nil
	}
	members, err := c.store.Servers(ctx)
	if err != nil {
		return nil, err
	}
	c.setPeers(members)
	return members, nil
}

func (c *Cluster) refreshPeers(ctx context.Context) {
	if members, err := c.store.Servers(ctx); err == nil {
		c.setPeers(members)
	}
}

// nudgePeers tells every live peer to look at the ODB now. Fire and forget: the ODB stays the truth and the
// safety-net checks catch a lost nudge.
func (c *Cluster) nudgePeers() { c.nudge("") }

// nudge tells every live peer to look at the ODB now, or, with only set, tells that peer that a deployment it
// received has a new row.
func (c *Cluster) nudge(only string) {
	if only == c.cfg.Name {
		return
	}
	for _, p := range c.livePeers(only) {
		// Broadcasts come from starts, stops and submissions: membership may have changed.
		c.send(p.URL, Nudge{Members: only == "", Status: only != ""})
	}
}

// livePeers lists the live peers reachable by URL (only the one named only, if set).
func (c *Cluster) livePeers(only string) []odb.Server {
	c.mu.Lock()
	peers := c.peers
	c.mu.Unlock()
	now := time.Now()
	// The cache is refreshed at each heartbeat; a peer that joined or went live since (servers start together) must
	// not wait for that, so look again when the cache shows anyone not live or lacks the peer asked for.
	stale, found := false, only == ""
	for _, p := range peers {
		stale = stale || !p.Live(now, MaxAge)
		found = found || p.Name == only
	}
	if stale || !found {
		c.refreshPeers(context.Background())
		c.mu.Lock()
		peers = c.peers
		c.mu.Unlock()
	}
	var out []odb.Server
	for _, p := range peers {
		if p.Name == c.cfg.Name || p.URL == "" || !p.Live(now, MaxAge) || (only != "" && p.Name != only) {
			continue
		}
		out = append(out, p)
	}
	return out
}

// applyPending applies, oldest first, every deployment where this server's row is pending.
// It returns the newest deployment it recorded (0 if none).
func (c *Cluster) applyPending(ctx context.Context) (int64, error) {
	pending, err := c.store.PendingFor(ctx, c.cfg.Name)
	if err != nil {
		return 0, fmt.Errorf("list pending deployments: %w", err)
	}
	var last int64
	for _, d := range pending {
		if err := c.applyOne(ctx, d.ID, d.Module, d.Action, d.Version.Source, d.ReceivedBy); err != nil {
			return last, err
		}
		last = d.ID
	}
	return last, nil
}

// applyOne applies deployment id, records this server's row and tells receivedBy, the only server with clients
// waiting on it (the others learn of it from the ODB).
func (c *Cluster) applyOne(ctx context.Context, id int64, module string, action odb.Action, src, receivedBy string) error {
	st := c.apply(ctx, module, action, src, false)
	if err := c.store.SetServerStatus(ctx, id, st); err != nil {
		return fmt.Errorf("record status of deployment %d: %w", id, err)
	}
	c.hub.Notify()
	c.nudge(receivedBy)
	return nil
}

// apply makes the runtime and the work dir hold src for module (or nothing, for undeploy). The file is written only
// after the runtime accepted the module, so current/ always holds the last good versions.
func (c *Cluster) apply(ctx context.Context, module string, action odb.Action, src string, quiet bool) odb.ServerStatus {
	start := time.Now()
	st := odb.ServerStatus{Server: c.cfg.Name}
	path := filepath.Join(c.cfg.CurrentDir, module)
	if c.cfg.BeforeApply != nil {
		c.cfg.BeforeApply(ctx, module)
	}
	if action == odb.ActionUndeploy {
		removed, err := c.rt.Unload(ctx, module)
		if err == nil {
			os.Remove(twinOf(path))
			err = os.Remove(path)
			if errors.Is(err, os.ErrNotExist) {
				err = nil
			}
		}
		if err != nil {
			st.Status, st.Error = odb.StatusFailed, &odb.ErrorDetail{Type: "UndeployError", Message: err.Error()}
		} else {
			st.Status = odb.StatusDeployed
			c.mu.Lock()
			delete(c.loaded, module)
			c.mu.Unlock()
			c.log.Info(fmt.Sprintf("Undeployed %s, removed services -> %v", module, removed))
		}
		st.DurationMs = ms(time.Since(start))
		return st
	}
	res, err := c.rt.Load(ctx, module, path, []byte(src))
	switch {
	case err != nil:
		st.Status, st.Error = odb.StatusFailed, &odb.ErrorDetail{Type: "RuntimeError", Message: err.Error()}
	case res.Error != nil:
		e := res.Error
		st.Status = odb.StatusFailed
		st.Error = &odb.ErrorDetail{Type: e.Type, Message: e.Message, Line: e.Line, Column: e.Column, Traceback: e.Traceback}
		c.log.Error(fmt.Sprintf("Could not deploy %s: %s: %s (line %d)", module, e.Type, e.Message, e.Line))
	default:
		if werr := writeAtomic(path, []byte(src)); werr != nil {
			st.Status, st.Error = odb.StatusFailed, &odb.ErrorDetail{Type: "WriteError", Message: werr.Error()}
			break
		}
		st.Status, st.Services = odb.StatusDeployed, res.Services
		if st.Services == nil {
			st.Services = []string{}
		}
		c.mu.Lock()
		c.loaded[module] = sha(src)
		c.mu.Unlock()
		if !quiet {
			c.log.Info(fmt.Sprintf("Deployed %d services from %s -> %v", len(res.Services), module, res.Services),
				"removed", res.Removed)
		}
	}
	st.DurationMs = ms(time.Since(start))
	return st
}

// reconcile makes the work dir and the runtime match the modules' current versions in the ODB and records the
// result in each module's newest deployment. At start it first loads what the work dir holds, so that a module
// whose current version fails keeps serving its last good version, as it did before the restart.
func (c *Cluster) reconcile(ctx context.Context, starting bool) error {
	modules, err := c.store.Modules(ctx)
	if err != nil {
		return fmt.Errorf("list modules: %w", err)
	}
	if starting {
		if err := c.loadWorkDir(ctx, modules); err != nil {
			return err
		}
	}
	var served map[string][]string // module -> services, asked of the runtime once
	for _, m := range modules {
		c.mu.Lock()
		have, ok := c.loaded[m.Name]
		c.mu.Unlock()
		var st odb.ServerStatus
		switch {
		case m.Current == nil && !ok:
			if !starting {
				continue
			}
			st = odb.ServerStatus{Server: c.cfg.Name, Status: odb.StatusDeployed, Services: []string{}}
		case m.Current == nil:
			st = c.apply(ctx, m.Name, odb.ActionUndeploy, "", true)
		case ok && have == m.Current.SHA256:
			if !starting {
				continue
			}
			if served == nil {
				served = c.servicesByModule()
			}
			svcs := served[m.Name]
			if svcs == nil {
				svcs = []string{}
			}
			st = odb.ServerStatus{Server: c.cfg.Name, Status: odb.StatusDeployed, Services: svcs}
		default:
			st = c.apply(ctx, m.Name, odb.ActionDeploy, m.Current.Source, true)
			if st.Status == odb.StatusFailed && !ok {
				c.serveLastGood(ctx, m)
			}
		}
		if m.LastDeployment != 0 {
			if err := c.store.SetServerStatus(ctx, m.LastDeployment, st); err != nil {
				return fmt.Errorf("record %s: %w", m.Name, err)
			}
		}
	}
	if len(modules) > 0 {
		c.log.Info(fmt.Sprintf("Reconciled %d modules with the ODB", len(modules)))
	}
	return nil
}

// LastGood is the newest version of module, with other content than current, that some server deployed: what was
// serving before current. A rollback without a version goes back to it, and a server on which current fails and
// nothing else is loaded serves it. Without such a deployment it is the newest version older than current.
func (c *Cluster) LastGood(ctx context.Context, module string, current *odb.Version) (*odb.Version, error) {
	if current == nil {
		return nil, nil
	}
	vs, err := c.store.Versions(ctx, module)
	if err != nil {
		return nil, err
	}
	ds, err := c.store.Deployments(ctx, odb.DeploymentFilter{Module: module, Limit: 1000})
	if err != nil {
		return nil, err
	}
	for _, d := range ds { // newest first
		if d.Action != odb.ActionDeploy || d.Version.SHA256 == current.SHA256 {
			continue
		}
		for _, st := range d.Servers {
			if st.Status != odb.StatusDeployed {
				continue
			}
			for i := range vs {
				if vs[i].ID == d.Version.ID {
					return &vs[i], nil
				}
			}
		}
	}
	for i := range vs { // newest first
		if vs[i].Number < current.Number {
			return &vs[i], nil
		}
	}
	return nil, nil
}

// serveLastGood loads the version that served before m's current one, when current fails here and nothing else of
// m is loaded (a server that starts with an empty work dir): it then serves what its peers serve. The current
// deployment stays failed for this server.
func (c *Cluster) serveLastGood(ctx context.Context, m odb.Module) {
	v, err := c.LastGood(ctx, m.Name, m.Current)
	if err != nil || v == nil {
		return
	}
	if st := c.apply(ctx, m.Name, odb.ActionDeploy, v.Source, true); st.Status == odb.StatusDeployed {
		c.log.Warn(fmt.Sprintf("Version %d of %s fails here: serving version %d, the last that deployed", m.Current.Number, m.Name, v.Number))
	}
}

// loadWorkDir loads the last good versions kept in current/ and removes what the ODB no longer knows.
func (c *Cluster) loadWorkDir(ctx context.Context, modules []odb.Module) error {
	known := map[string]bool{}
	for _, m := range modules {
		if m.Current != nil {
			known[m.Name] = true
		}
	}
	entries, err := os.ReadDir(c.cfg.CurrentDir)
	if err != nil {
		return fmt.Errorf("read %s: %w", c.cfg.CurrentDir, err)
	}
	names := make([]string, 0, len(entries))
	for _, e := range entries {
		names = append(names, e.Name())
	}
	sort.Strings(names)
	for _, name := range names {
		path := filepath.Join(c.cfg.CurrentDir, name)
		if !known[name] { // half-written temp files, undeployed modules
			if err := os.RemoveAll(path); err != nil {
				return fmt.Errorf("remove %s: %w", path, err)
			}
			continue
		}
		src, err := os.ReadFile(path)
		if err != nil {
			return fmt.Errorf("read %s: %w", path, err)
		}
		res, err := c.rt.Load(ctx, name, path, src)
		if err != nil {
			return fmt.Errorf("load %s: %w", name, err)
		}
		if res.Error == nil {
			c.mu.Lock()
			c.loaded[name] = sha(string(src))
			c.mu.Unlock()
		}
	}
	return nil
}

// servicesByModule asks the runtime which services each module serves, when it can tell.
func (c *Cluster) servicesByModule() map[string][]string {
	type lister interface{ Services() []runtime.ServiceInfo }
	out := map[string][]string{}
	if l, ok := c.rt.(lister); ok {
		for _, s := range l.Services() {
			out[s.Module] = append(out[s.Module], s.Name)
		}
	}
	return out
}

// writeAtomic replaces path by rename, so readers never see a half-written module. It does not fsync: the ODB is
// the truth and a server reconciles current/ with it at every start (a file lost to a power cut is rewritten from
// the ODB), so a sync here would only add milliseconds to every deployment.
//
// On Linux the new content goes into the module's twin (.NAME.swap, which holds the previous version) and the two
// names are exchanged: no file is created per deployment, where a fresh temporary file costs each server an inode
// allocation, the slowest part of a write on ext4 under churn.
func writeAtomic(path string, data []byte) error {
	twin := twinOf(path)
	if exchangeSupported {
		if _, err := os.Lstat(path); err == nil {
			if err := overwrite(twin, data); err != nil {
				return err
			}
			if err := exchange(twin, path); err == nil {
				return nil
			}
			// The file system cannot exchange: fall through to a plain rename (the twin is consumed).
		}
	}
	dir := filepath.Dir(path)
	f, err := os.CreateTemp(dir, "."+filepath.Base(path)+".tmp-*")
	if err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	tmp := f.Name()
	defer os.Remove(tmp) // no-op after the rename
	if _, err := f.Write(data); err != nil {
		f.Close()
		return fmt.Errorf("write %s: %w", tmp, err)
	}
	if err := f.Close(); err != nil {
		return err
	}
	if err := os.Rename(tmp, path); err != nil {
		return fmt.Errorf("rename %s: %w", path, err)
	}
	return nil
}

// overwrite writes data over path's old bytes and then cuts it to length. Not O_TRUNC: on ext4 a truncation to
// zero makes close() flush the file's blocks (auto_da_alloc), a synchronous write on every deploy.
func overwrite(path string, data []byte) error {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE, 0o644)
	if err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	_, err = f.WriteAt(data, 0)
	if err == nil {
		err = f.Truncate(int64(len(data)))
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	return nil
}

// twinOf is where writeAtomic prepares a module's next version; dot files are not modules, so loadWorkDir removes
// twins at start and backups skip them.
func twinOf(path string) string {
	return filepath.Join(filepath.Dir(path), "."+filepath.Base(path)+".swap")
}

func sha(s string) string {
	h := sha256.Sum256([]byte(s))
	return hex.EncodeToString(h[:])
}

func ms(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }
