package cluster

import (
	"context"
	"fmt"
	"slices"
	"time"

	"github.com/zato-go/zato/server/odb"
	"github.com/zato-go/zato/wire"
)

// A server's lifecycle: Register (starting: it heartbeats and takes deployments, which wait until it has caught up),
// Start (it reconciles once with the ODB, then is live and applies what is pending for it), Stop (stopping: it
// takes nothing new), Stopped (stopped). The one rule that reads a member's state is MemberState.

// catchUpEvery is how many heartbeats pass between two looks for deployments this server missed while it was
// silent, stopped or starting (rows offline in a module's newest deployment). A look costs one indexed query.
const catchUpEvery = 5

// Register makes this server a member in state starting and starts its heartbeats, which run until ctx ends. Call it
// as early in a server's start as possible: from then on deployments give it a pending row and clients wait for it.
// Start calls it when it was not called.
func (c *Cluster) Register(ctx context.Context, pid int, host string) error {
	c.mu.Lock()
	done := c.registered
	c.registered = true
	c.mu.Unlock()
	if done {
		return nil
	}
	// What was pending for us from our previous life is superseded by the modules' current versions, applied by
	// Start. Before registering: once we are starting, new deployments give us pending rows that must stay so.
	if err := c.store.MarkOffline(ctx, c.cfg.Name); err != nil {
		return fmt.Errorf("mark missed deployments offline: %w", err)
	}
	if err := c.store.RegisterServer(ctx, odb.Server{
		Name: c.cfg.Name, URL: c.cfg.URL, PID: pid, Host: host, State: odb.ServerStarting,
	}); err != nil {
		return fmt.Errorf("register %s: %w", c.cfg.Name, err)
	}
	c.beat(time.Now())
	// Heartbeats from now on, also while the modules load: a starting server that goes silent for MaxAge reads
	// offline, and deployments made meanwhile would give it an offline row.
	go c.heartbeatLoop(ctx)
	c.nudgePeers()
	return nil
}

// Start registers the server (unless Register did), reconciles the work dir and the runtime with the ODB once,
// counts the server live and runs the deployer until ctx ends. It returns once the server is live.
func (c *Cluster) Start(ctx context.Context, pid int, host string) error {
	if err := c.Register(ctx, pid, host); err != nil {
		return err
	}
	if err := c.reconcile(ctx); err != nil {
		return err
	}
	if err := c.store.SetServerState(ctx, c.cfg.Name, odb.ServerLive); err != nil {
		return fmt.Errorf("set %s live: %w", c.cfg.Name, err)
	}
	c.refreshPeers(ctx)
	c.nudgePeers()
	if c.cfg.Nudges != nil {
		go c.serveNudges(ctx)
	}
	// The deployer applies what came while we were starting (pending rows) and what we missed (offline rows).
	c.mu.Lock()
	c.live = true
	c.mu.Unlock()
	c.hub.Notify() // this server's own state changed: views must say live
	go c.deployLoop(ctx)
	go c.watchLoop(ctx)
	return nil
}

// Stop marks the server stopping, so that clients see at once that it takes no new deployment, and ends the streams
// that follow the cluster (ViewChanges).
func (c *Cluster) Stop(ctx context.Context) {
	if err := c.store.SetServerState(ctx, c.cfg.Name, odb.ServerStopping); err != nil {
		c.log.Warn("could not mark server stopping", "err", err)
	}
	c.nudgePeers()
	c.hub.Notify()
	c.stoppingOnce.Do(func() { close(c.stopping) })
}

// Stopped marks the server stopped, once it no longer serves.
func (c *Cluster) Stopped(ctx context.Context) {
	if err := c.store.SetServerState(ctx, c.cfg.Name, odb.ServerStopped); err != nil {
		c.log.Warn("could not mark server stopped", "err", err)
	}
	c.nudgePeers()
}

func (c *Cluster) heartbeatLoop(ctx context.Context) {
	t := time.NewTicker(HeartbeatEvery)
	defer t.Stop()
	last := time.Now()
	for n := 1; ; n++ {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		if err := c.store.Heartbeat(ctx, c.cfg.Name); err != nil {
			if ctx.Err() == nil {
				c.log.Warn("heartbeat", "err", err)
			}
		} else {
			c.beat(time.Now())
		}
		c.reapDead(ctx)
		// A heartbeat that came late (a stalled machine, a slow ODB) may have let peers count us offline and give
		// us offline rows: look for them now rather than at the next regular look.
		late := time.Since(last) > MaxAge/2
		last = time.Now()
		c.workMu.Lock()
		c.check = true // safety net: look for work we were not nudged about
		c.behind = c.behind || late || n%catchUpEvery == 0
		c.workMu.Unlock()
		c.wakeDeployer()
	}
}

// reapDead wakes waiters when a member died without saying so (kill -9): their views must read "offline" now.
func (c *Cluster) reapDead(ctx context.Context) {
	members, err := c.store.Servers(ctx)
	if err != nil {
		return
	}
	c.setPeers(members)
	clock := c.Clock(members)
	for _, m := range members {
		if m.Name != c.cfg.Name && (m.State == odb.ServerLive || m.State == odb.ServerStarting) && MemberState(m, clock) == wire.StateOffline {
			c.hub.Notify()
			return
		}
	}
}

// awayAfter is how long after this server's last heartbeat it counts as away (see Away) until it writes one again:
// a beat late by half a beat on a busy machine is not an outage.
const awayAfter = HeartbeatEvery + HeartbeatEvery/2

// keepAway is how many times away a server remembers: each is judged against while some member's last heartbeat
// is older than it, which matters only until that member has been silent for MaxAge after it.
const keepAway = 16

// beat records a heartbeat written at at: when it comes awayAfter or more after the previous one, the time between
// them is time away.
func (c *Cluster) beat(at time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if !c.lastBeat.IsZero() && at.Sub(c.lastBeat) > awayAfter {
		c.away = append(c.away, Away{From: c.lastBeat, To: at})
		if len(c.away) > keepAway {
			c.away = slices.Delete(c.away, 0, len(c.away)-keepAway)
		}
	}
	c.lastBeat = at
}

// awayAt is the times this server was away as of now, oldest first: those it recorded, and the time since its last
// heartbeat while the next one is overdue.
func (c *Cluster) awayAt(now time.Time) []Away {
	c.mu.Lock()
	defer c.mu.Unlock()
	away := slices.Clone(c.away)
	if !c.lastBeat.IsZero() && now.Sub(c.lastBeat) > awayAfter {
		away = append(away, Away{From: c.lastBeat, To: now})
	}
	return away
}

// Clock is the clock members are judged by now, as this server judges them (see Clock).
func (c *Cluster) Clock(members []odb.Server) Clock {
	now := time.Now()
	return NewClock(members, now, c.awayAt(now))
}

func (c *Cluster) watchLoop(ctx context.Context) {
	for ch := range c.store.Changes(ctx) {
		if !ch.RowsOnly { // rows alone (other servers' confirmations) leave the deployer nothing to apply
			c.kick()
		}
		c.hub.Notify()
	}
}
