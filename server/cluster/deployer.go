package cluster

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/zato-go/zato/server/odb"
	"github.com/zato-go/zato/server/runtime"
)

// deployLoop applies deployments one at a time, in the order they were created: pushed ones at once, the others as
// its pending list in the ODB says, and those this server missed (offline rows of modules' newest deployments) as
// its catch-up look finds them.
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
	c.workMu.Lock()
	c.check, c.behind = true, true
	c.workMu.Unlock()
	c.wakeDeployer()
	for {
		select {
		case <-ctx.Done():
			return
		case <-c.wake:
		}
		pushes, check, behind := c.takeWork()
		for _, p := range pushes {
			if !trusted {
				check = true
				continue
			}
			if p.ID <= passed {
				continue
			}
			if err := c.applyPushed(ctx, p); err != nil {
				if ctx.Err() == nil {
					c.log.Error("pushed deployment", "err", err)
				}
				// The row stays pending: the pending list has it, and every later deployment, in order.
				check = true
				break
			}
			passed = p.ID
		}
		if check {
			last, err := c.applyPending(ctx)
			if err != nil && ctx.Err() == nil {
				c.log.Error("apply pending deployments", "err", err)
			}
			passed = max(passed, last)
		}
		if behind {
			if err := c.catchUp(ctx); err != nil && ctx.Err() == nil {
				c.log.Error("catch up with missed deployments", "err", err)
			}
		}
	}
}

// applyPushed applies a deployment handed over by its receiving server. Its creation found nothing older pending
// for this server, and this loop applies in order: it is next. Its row is read first: a datagram is not the ODB,
// and a deployment that is not there (a forged or stale push), or whose row for this server is not pending, is
// not applied.
func (c *Cluster) applyPushed(ctx context.Context, p push) error {
	rows, err := c.store.ServerStatuses(ctx, p.ID)
	if err != nil {
		return fmt.Errorf("read deployment %d: %w", p.ID, err)
	}
	for _, r := range rows {
		if r.Server == c.cfg.Name {
			if r.Status != odb.StatusPending {
				return nil // dealt with already (a restart's catch-up, or the pending list)
			}
			return c.applyOne(ctx, p.ID, p.Module, odb.ActionDeploy, p.Source, p.From)
		}
	}
	return fmt.Errorf("pushed deployment %d has no row for %s in the ODB", p.ID, c.cfg.Name)
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

// catchUp applies each module's newest deployment that this server missed: its row is offline because the server
// was stopped, starting or silent when the deployment was made. Older deployments of the same module stay offline:
// the newest one supersedes them.
func (c *Cluster) catchUp(ctx context.Context) error {
	missed, err := c.store.Behind(ctx, c.cfg.Name)
	if err != nil {
		return err
	}
	for _, d := range missed {
		c.log.Info(fmt.Sprintf("Catching up with deployment %d of %s, made while this server was not live", d.ID, d.Module))
		if err := c.applyOne(ctx, d.ID, d.Module, d.Action, d.Version.Source, d.ReceivedBy); err != nil {
			return err
		}
	}
	return nil
}

// applyOne applies deployment id, records this server's row and tells receivedBy, the only server with clients
// waiting on it (the others learn of it from the ODB). A module that deployed first brings its hot-deployed
// dependents up to date.
func (c *Cluster) applyOne(ctx context.Context, id int64, module string, action odb.Action, src, receivedBy string) error {
	st, applied := c.unrecorded[id]
	if !applied {
		st = c.apply(ctx, module, action, src, false)
		if ctx.Err() != nil {
			// The server is stopping and cut the apply short: nothing failed. The row stays pending; at the next
			// start it turns offline and the module's newest version is caught up.
			return ctx.Err()
		}
		if st.Status == odb.StatusDeployed {
			// Before the row: a deployment is confirmed once what it changes on this server is in place. An
			// undeploy changes its dependents too: they import what is gone.
			c.refreshDependents(ctx, module, action)
		}
	}
	if err := c.store.SetServerStatus(ctx, id, st); err != nil {
		if c.unrecorded == nil {
			c.unrecorded = map[int64]odb.ServerStatus{}
		}
		c.unrecorded[id] = st // in place here already: the next try only writes the row
		return fmt.Errorf("record status of deployment %d: %w", id, err)
	}
	delete(c.unrecorded, id)
	c.hub.Notify()
	c.nudge(receivedBy)
	return nil
}

// apply makes the runtime and the work dir hold src for module (or nothing, for undeploy). The file is written only
// after the runtime accepted the module, so current/ always holds the last good versions. BeforeApply (a backup)
// runs only when the work dir is about to change.
func (c *Cluster) apply(ctx context.Context, module string, action odb.Action, src string, quiet bool) (st odb.ServerStatus) {
	start := time.Now()
	st = odb.ServerStatus{Server: c.cfg.Name}
	defer func() { st.DurationMs = ms(time.Since(start)) }() // on the result: every return path has its time
	path := filepath.Join(c.cfg.CurrentDir, module)
	if action == odb.ActionUndeploy {
		clash := c.sourceClash(module)
		var removed []string
		var err error
		if clash == nil { // else the module loaded is service-sources' own: it stays
			removed, err = c.rt.Unload(ctx, module)
		}
		if err == nil {
			if _, statErr := os.Stat(path); statErr == nil {
				c.beforeApply(ctx, module) // the work dir changes: its state before goes to the backups
			}
			os.Remove(twinOf(path))
			err = os.Remove(path)
			if errors.Is(err, os.ErrNotExist) {
				err = nil
			}
		}
		if err != nil {
			st.Status, st.Error = odb.StatusFailed, &odb.ErrorDetail{Type: "UndeployError", Message: err.Error()}
			return st
		}
		st.Status = odb.StatusDeployed // an undeploy's applied row; views read it "undeployed"
		c.mu.Lock()
		delete(c.loaded, module)
		c.mu.Unlock()
		c.deps.forget(module)
		c.log.Info(fmt.Sprintf("Undeployed %s, removed services -> %v", module, removed))
		return st
	}
	res, failed := c.importModule(ctx, module, path, src, "deploy")
	if failed != nil {
		st.Status, st.Error = odb.StatusFailed, failed
		return st
	}
	// The same content again (a repeated save, a rollback to what serves) changes nothing in the work dir: no
	// backup, which would push a real earlier state out of the window, and no write.
	if old, err := os.ReadFile(path); err != nil || string(old) != src {
		c.beforeApply(ctx, module)
		if err := writeAtomic(path, []byte(src)); err != nil {
			st.Status, st.Error = odb.StatusFailed, &odb.ErrorDetail{Type: "WriteError", Message: err.Error()}
			return st
		}
	}
	st.Status, st.Services = odb.StatusDeployed, res.Services
	if st.Services == nil {
		st.Services = []string{}
	}
	c.serves(module, src)
	if !quiet {
		c.log.Info(fmt.Sprintf("Deployed %d services from %s -> %v", len(res.Services), module, res.Services),
			"removed", res.Removed)
	}
	return st
}

// importModule loads src into the runtime as module, its file at path: the one place where a load's outcome becomes
// this server's error for it, whether a deployment or a start loads it. verb names the step in the log. A module
// whose import failed is told to the dependency tracker, which retries it when a module it imports deploys.
func (c *Cluster) importModule(ctx context.Context, module, path, src, verb string) (runtime.LoadResult, *odb.ErrorDetail) {
	if clash := c.sourceClash(module); clash != nil {
		c.log.Error(fmt.Sprintf("Could not %s %s: %s", verb, module, clash.Message))
		return runtime.LoadResult{}, clash
	}
	res, err := c.rt.Load(ctx, module, path, []byte(src))
	switch {
	case err != nil:
		return res, &odb.ErrorDetail{Type: "RuntimeError", Message: err.Error()}
	case res.Error != nil:
		e := res.Error
		failed := &odb.ErrorDetail{Type: e.Type, Message: e.Message, Line: e.Line, Column: e.Column, Traceback: e.Traceback}
		c.deps.failed(module, src, failed)
		c.log.Error(fmt.Sprintf("Could not %s %s: %s: %s (line %d)", verb, module, e.Type, e.Message, e.Line))
		return res, failed
	}
	return res, nil
}

// serves records that module's src is what this server serves now.
func (c *Cluster) serves(module, src string) {
	c.mu.Lock()
	c.loaded[module] = sha(src)
	c.mu.Unlock()
	c.deps.loaded(module, src)
}

// sourceClash is why module may not be hot-deployed on this server: a module of the same file name was imported
// from service-sources.txt, and loading it would replace that module's services. Nil if it may.
func (c *Cluster) sourceClash(module string) *odb.ErrorDetail {
	entry, ok := c.cfg.SourceModules[module]
	if !ok {
		return nil
	}
	return &odb.ErrorDetail{Type: "ModuleNameConflict", Message: fmt.Sprintf(
		"%s would replace the module of the same name loaded from service-sources.txt entry %q on %s; rename the hot-deployed module",
		module, entry, c.cfg.Name)}
}

func (c *Cluster) beforeApply(ctx context.Context, module string) {
	if c.cfg.BeforeApply != nil {
		c.cfg.BeforeApply(ctx, module)
	}
}

// refreshDependents brings up to date, on this server, the hot-deployed modules that depend on module, which has
// just deployed: those that import it are imported again (they would keep the old version otherwise), and those
// that failed for want of it are tried again. Every server does the same on the same deployments, so servers agree
// whatever their restart history. Each result is recorded in the module's newest deployment.
func (c *Cluster) refreshDependents(ctx context.Context, module string, action odb.Action) {
	what := "has just deployed"
	if action == odb.ActionUndeploy {
		what = "has just been undeployed"
	}
	for _, dep := range c.deps.dependents(module) {
		m, err := c.store.Module(ctx, dep)
		if err != nil || m.Current == nil || m.LastDeployment == 0 {
			continue
		}
		c.log.Info(fmt.Sprintf("Importing %s again: it depends on %s, which %s", dep, module, what))
		st := c.apply(ctx, dep, odb.ActionDeploy, m.Current.Source, true)
		if ctx.Err() != nil {
			return // stopping: not a failure of the dependent
		}
		if st.Status == odb.StatusFailed {
			// The dependent cannot import with what module is now. Its old import would go on serving here, bound
			// to module's old code, which no server that starts again can do: it stops here too, so that every
			// server serves the same whatever its history. It comes back when module changes again and it imports.
			c.stopServing(ctx, dep)
			if st.Error != nil {
				st.Error.Message = fmt.Sprintf("%s (%s %s; it stopped serving until it imports again)", st.Error.Message, module, what)
			}
		}
		if err := c.store.SetServerStatus(ctx, m.LastDeployment, st); err != nil && ctx.Err() == nil {
			c.log.Error("record a dependent's status", "module", dep, "err", err)
		}
		c.hub.Notify()
	}
}

// stopServing unloads a hot-deployed module from the runtime, keeping its file: what serves here is what a start
// would serve.
func (c *Cluster) stopServing(ctx context.Context, module string) {
	removed, err := c.rt.Unload(ctx, module)
	if err != nil {
		c.log.Error("unload a module that can no longer import", "module", module, "err", err)
		return
	}
	c.mu.Lock()
	delete(c.loaded, module)
	c.mu.Unlock()
	c.log.Warn(fmt.Sprintf("%s stopped serving: it no longer imports; removed services -> %v", module, removed))
}

// Quarantined records that the runtime quarantined module on its own (it kept killing the worker after its import,
// or failed when replayed into a new worker): its services are gone from this server, so the module's newest
// deployment reads failed here with the reason, and `zato status` says so. The module is loaded again only when a new
// version is deployed. Called by the runtime (Config.OnQuarantine), never with a lock of it held.
func (c *Cluster) Quarantined(module string, e *runtime.ModuleError) {
	ctx := context.Background()
	c.mu.Lock()
	_, hot := c.loaded[module]
	delete(c.loaded, module)
	c.mu.Unlock()
	c.deps.forget(module)
	if hot {
		// current/ holds what serves: a restart must not import it again.
		c.beforeApply(ctx, module)
		path := filepath.Join(c.cfg.CurrentDir, module)
		os.Remove(twinOf(path))
		os.Remove(path)
	}
	m, err := c.store.Module(ctx, module)
	if err != nil || m.LastDeployment == 0 {
		c.log.Error(fmt.Sprintf("Quarantined %s: %s", module, e.Message)) // a service-sources module: the log says it
		return
	}
	st := odb.ServerStatus{Server: c.cfg.Name, Status: odb.StatusFailed, Services: []string{},
		Error: &odb.ErrorDetail{Type: e.Type, Message: e.Message, Line: e.Line, Column: e.Column, Traceback: e.Traceback}}
	c.log.Error(fmt.Sprintf("Quarantined %s: %s: %s; it stays out until a new version is deployed", module, e.Type, e.Message))
	if err := c.store.SetServerStatus(ctx, m.LastDeployment, st); err != nil {
		c.log.Error("record a quarantine", "module", module, "err", err)
	}
	c.hub.Notify()
}
