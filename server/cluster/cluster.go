// Package cluster is one server's part in the cluster: membership and heartbeats, the deployer that applies
// deployments from the ODB to the Python runtime in order, and nudges that tell the other servers to look at the ODB
// now rather than at their next safety-net check.
package cluster

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"slices"
	"sync"
	"time"

	"github.com/zato-go/zato/server/odb"
	"github.com/zato-go/zato/server/runtime"
	"github.com/zato-go/zato/wire"
)

// Liveness: a server heartbeats every HeartbeatEvery and counts as offline once its heartbeat is older than MaxAge.
const (
	HeartbeatEvery = time.Second
	MaxAge         = 3 * time.Second
)

// NudgePath is the internal endpoint a peer posts a signed nudge to (see nudge.go).
const NudgePath = "/zato/internal/nudge"

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
	// SourceModules are the module files this server imported from service-sources.txt, with their entries: a
	// hot-deployed module of the same name would replace them, so it fails on this server instead.
	SourceModules map[string]string
}

// Cluster is this server's membership and deployer.
type Cluster struct {
	cfg   Config
	store odb.Store
	rt    Runtime
	log   *slog.Logger
	hub   *Hub
	wake  chan struct{}
	// stopping is closed by Stop: streams that follow the cluster (ViewChanges) end.
	stopping     chan struct{}
	stoppingOnce sync.Once
	http         *http.Client
	addrs        peerAddrs

	mu         sync.Mutex
	loaded     map[string]string // module -> sha256 of the version now serving
	peers      []odb.Server      // last known members, for nudges and views
	peersAt    time.Time         // when peers was read from the ODB
	registered bool              // Register ran
	live       bool              // Start finished
	lastBeat   time.Time         // when this server last wrote its heartbeat (or registered)
	away       []Away            // recent times this server could not write its heartbeat, oldest first (see Clock)

	// deps is what the deployer knows of imports between hot-deployed modules; the deployer's own.
	deps deps
	// unrecorded holds deployments applied here whose row could not be written (the ODB went away between the
	// import and the write), with their result: the next try writes the row without importing again. The
	// deployer's own.
	unrecorded map[int64]odb.ServerStatus

	// work is what wakes the deployer: pushed deployments, whether to read its pending list, and whether to look
	// for deployments this server missed.
	workMu sync.Mutex
	pushes []push
	check  bool
	behind bool
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
		cfg: cfg, store: store, rt: rt, log: cfg.Logger, hub: NewHub(), stopping: make(chan struct{}),
		wake: make(chan struct{}, 1), http: cfg.HTTPClient, loaded: map[string]string{}, deps: newDeps(),
	}
}

// UseRuntime sets the runtime when New was given none (a server registers before its runtime starts). Call it
// before Start.
func (c *Cluster) UseRuntime(rt Runtime) { c.rt = rt }

// Hub is woken at every change this server learns of.
func (c *Cluster) Hub() *Hub { return c.hub }

// Name of this server.
func (c *Cluster) Name() string { return c.cfg.Name }

// Nudge is what a peer's nudge says changed in the ODB.
type Nudge struct {
	// Members: a server started or stopped (or a deployment was submitted), so views read the membership again.
	Members bool
	// Status: only the rows of a deployment this server received changed. Its waiters must look; there is nothing
	// to apply, so the deployer is not woken (a receiving server gets one such nudge per peer and deployment).
	Status bool
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

// takeWork returns the queued pushes, oldest first, whether the pending list must be read, and whether to look for
// missed deployments.
func (c *Cluster) takeWork() ([]push, bool, bool) {
	c.workMu.Lock()
	defer c.workMu.Unlock()
	pushes, check, behind := c.pushes, c.check, c.behind
	c.pushes, c.check, c.behind = nil, false, false
	slices.SortFunc(pushes, func(a, b push) int { return cmp.Compare(a.ID, b.ID) })
	return pushes, check, behind
}

// Submission is a request to deploy or undeploy a module cluster-wide.
type Submission struct {
	Module    string
	Action    odb.Action
	Source    string
	VersionID int64 // rollback to this version
	Who       string
	Origin    string
	Key       string // idempotency key: a repeat returns the first request's deployment
	// Base is the sha256 of the version the requester last saw: when someone else deployed another version since,
	// Submit returns a *odb.ConflictError and stores nothing ("" = deploy anyway). BaseMine stands for the
	// newest version Who deployed (the command line, which keeps no record of what it saw).
	Base string
}

// BaseMine as a Submission's Base is the newest version of the module that the submitter deployed.
const BaseMine = "mine"

// Submit stores a deployment with a pending row for every server that is live or starting (a starting one applies
// it once it has caught up) and an offline row for the others, then wakes every server. It returns at once; servers
// confirm through the ODB.
func (c *Cluster) Submit(ctx context.Context, s Submission) (odb.Deployment, error) {
	// Every way in passes here, so this is where bad input is refused.
	if s.Action == odb.ActionDeploy && s.VersionID == 0 {
		s.Source = NormalizeSource(s.Source) // a BOM goes, as python3 skips it: every way in stores the same text
		if err := ValidateModule(s.Module, []byte(s.Source), c.cfg.MaxPayload); err != nil {
			return odb.Deployment{}, err
		}
	} else if !ValidName(s.Module) {
		return odb.Deployment{}, fmt.Errorf("%w: %q", ErrBadName, s.Module)
	}
	if s.Base == BaseMine {
		base, err := c.lastDeployedBy(ctx, s.Module, s.Who)
		if err != nil {
			return odb.Deployment{}, err
		}
		s.Base = base
	}
	members, err := c.store.Servers(ctx)
	if err != nil {
		return odb.Deployment{}, fmt.Errorf("list servers: %w", err)
	}
	rows := make([]odb.ServerStatus, 0, len(members))
	for _, m := range members {
		// Pending for every member that has not said it stops, whatever its heartbeat's age: a live server whose
		// heartbeats could not be written for a while (the ODB restarting, a stalled machine) applies it once it
		// looks, and views read a silent server's row as offline meanwhile. A member that died without saying so
		// turns its pending rows offline when it starts again, and catches up with each module's newest version.
		st := odb.StatusPending
		if m.Name != c.cfg.Name && (m.State == odb.ServerStopped || m.State == odb.ServerStopping) {
			st = odb.StatusOffline
		}
		rows = append(rows, odb.ServerStatus{Server: m.Name, Status: st})
	}
	d, err := c.store.CreateDeployment(ctx, odb.NewDeployment{
		Module: s.Module, Action: s.Action, Source: s.Source, VersionID: s.VersionID,
		Who: s.Who, Origin: s.Origin, ReceivedBy: c.cfg.Name, Servers: rows, Key: s.Key, Base: s.Base,
	})
	switch {
	case err != nil && s.Action == odb.ActionUndeploy && errors.Is(err, odb.ErrNotFound):
		return odb.Deployment{}, refuse(ErrNotDeployed, "%s is not deployed", s.Module)
	case errors.As(err, new(*odb.ConflictError)):
		return odb.Deployment{}, err // says it all in the user's words
	case err != nil:
		return odb.Deployment{}, fmt.Errorf("store deployment of %s: %w", s.Module, err)
	case d.Repeated:
		return d, nil // the first request handed it over already
	}
	c.log.Info(fmt.Sprintf("Uploaded package id:[%d], payload_name:[%s]", d.ID, s.Module),
		"origin", s.Origin, "who", s.Who, "version", d.Version.Number, "action", string(s.Action))
	c.setPeers(members)
	c.handOver(d)
	c.hub.Notify()
	return d, nil
}

// lastDeployedBy is the sha256 of the newest version of module that who deployed (a rollback included), or "" when
// who never deployed it.
func (c *Cluster) lastDeployedBy(ctx context.Context, module, who string) (string, error) {
	ds, err := c.store.Deployments(ctx, odb.DeploymentFilter{Module: module, Limit: 1000})
	if err != nil {
		return "", err
	}
	for _, d := range ds { // newest first
		if d.Who == who && d.Action == odb.ActionDeploy {
			return d.Version.SHA256, nil
		}
	}
	return "", nil
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
	now := time.Now()
	return MakeView(d, members, now, c.awayAt(now)), nil
}

// Deployments lists deployments, newest first, as clients see them.
func (c *Cluster) Deployments(ctx context.Context, f odb.DeploymentFilter) ([]View, error) {
	ds, err := c.store.Deployments(ctx, f)
	if err != nil {
		return nil, err
	}
	members, err := c.members(ctx)
	if err != nil {
		return nil, fmt.Errorf("list servers: %w", err)
	}
	now := time.Now()
	away := c.awayAt(now)
	out := make([]View, 0, len(ds))
	for _, d := range ds {
		out = append(out, MakeView(d, members, now, away))
	}
	return out, nil
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
		now := time.Now()
		v := MakeView(d, members, now, c.awayAt(now))
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
	// The cache is refreshed at each heartbeat; a peer that joined or went live since (servers start together) must
	// not wait for that, so look again when the cache shows anyone not live or lacks the peer asked for. Live is
	// MemberState's: a peer whose first heartbeat after an ODB outage is not written yet is live, and gets pushes.
	live := func(p odb.Server, clock Clock) bool {
		return p.State == odb.ServerLive && MemberState(p, clock) == wire.StateLive
	}
	clock := c.Clock(peers)
	stale, found := false, only == ""
	for _, p := range peers {
		stale = stale || !live(p, clock)
		found = found || p.Name == only
	}
	if stale || !found {
		c.refreshPeers(context.Background())
		c.mu.Lock()
		peers = c.peers
		c.mu.Unlock()
		clock = c.Clock(peers)
	}
	var out []odb.Server
	for _, p := range peers {
		if p.Name == c.cfg.Name || p.URL == "" || !live(p, clock) || (only != "" && p.Name != only) {
			continue
		}
		out = append(out, p)
	}
	return out
}
