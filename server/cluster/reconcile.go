package cluster

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"sort"

	"github.com/zato-go/zato/server/loadorder"
	"github.com/zato-go/zato/server/odb"
)

// reconcile makes the work dir and the runtime match the modules' current versions in the ODB when the server
// starts, once, and records the result in each module's newest deployment where it changed. Each module is imported
// at most once, and a module whose current version already failed on this server is not imported again until a new
// version is deployed: a module that hangs or kills the interpreter at import costs its time limit once, when it
// is deployed, not at every start, and a restarted server serves what its peers serve. Where the current version
// does not serve, the last good version (the work dir's, else the ODB's) does, as on the servers that kept running.
func (c *Cluster) reconcile(ctx context.Context) error {
	modules, err := c.store.Modules(ctx)
	if err != nil {
		return fmt.Errorf("list modules: %w", err)
	}
	rows, err := c.store.LastRows(ctx, c.cfg.Name)
	if err != nil {
		return err
	}
	work, err := c.readWorkDir(modules)
	if err != nil {
		return err
	}
	loaded := map[string]loadedAtStart{}
	for _, m := range inLoadOrder(modules) {
		if err := ctx.Err(); err != nil {
			return err // the server is stopping: a start cut short records nothing it did not do
		}
		row, hasRow := rows[m.Name]
		onDisk, isOnDisk := work[m.Name]
		var st odb.ServerStatus
		switch {
		case m.Current == nil: // undeployed
			if isOnDisk {
				st = c.apply(ctx, m.Name, odb.ActionUndeploy, "", true)
			} else {
				st = odb.ServerStatus{Server: c.cfg.Name, Status: odb.StatusDeployed, Services: []string{}}
			}
		case hasRow && row.Status == odb.StatusFailed && !retriedAtStart(row.Error) && (!isOnDisk || sha(onDisk) != m.Current.SHA256):
			// This version failed here already: keep its row, serve the last good version.
			c.deps.failed(m.Name, m.Current.Source, row.Error)
			c.log.Warn(fmt.Sprintf("Version %d of %s failed on this server (%s): not imported again until a new version is deployed",
				m.Current.Number, m.Name, row.Error.Type))
			if row.Error == nil || row.Error.Type != quarantinedType {
				c.serveLastGood(ctx, m, onDisk, isOnDisk)
			} // a quarantined module serves nothing, as on the servers that quarantined it while running
			loaded[m.Name] = loadedAtStart{m.LastDeployment, row}
			continue
		case isOnDisk && sha(onDisk) == m.Current.SHA256:
			st = c.loadKept(ctx, m.Name, onDisk)
		default:
			st = c.apply(ctx, m.Name, odb.ActionDeploy, m.Current.Source, true)
			if st.Status == odb.StatusFailed {
				c.serveLastGood(ctx, m, onDisk, isOnDisk)
			}
		}
		if err := ctx.Err(); err != nil {
			return err // stopping cut the import short: not a failure to record
		}
		loaded[m.Name] = loadedAtStart{m.LastDeployment, st}
		if m.LastDeployment == 0 || (hasRow && sameRow(row, st)) {
			continue // nothing new to record: a start writes only what changed
		}
		if err := c.store.SetServerStatus(ctx, m.LastDeployment, st); err != nil {
			return fmt.Errorf("record %s: %w", m.Name, err)
		}
	}
	if err := c.supersede(ctx, loaded); err != nil {
		return err
	}
	if len(modules) > 0 {
		c.log.Info(fmt.Sprintf("Reconciled %d modules with the ODB", len(modules)))
	}
	return nil
}

// loadedAtStart is the deployment of a module a start loaded (its newest when the start read the ODB) and the result.
type loadedAtStart struct {
	deployment int64
	st         odb.ServerStatus
}

// supersede records this server's pending rows in deployments older than the one its start loaded for their
// module. They were made while the server was starting, and what the start loaded supersedes them: applied after
// it, they would take the module back to an older version. The row takes the start's result, as a server that was
// live applied the older deployment and then the newer one: deployed (a client waiting on the older deployment
// is told so, as its change reached the server and was then replaced), or failed with the newer one's reason. It
// is never offline: the server was starting, not offline. Pending rows newer than what the start loaded stay
// pending, and the deployer applies them in order.
func (c *Cluster) supersede(ctx context.Context, loaded map[string]loadedAtStart) error {
	pending, err := c.store.PendingFor(ctx, c.cfg.Name)
	if err != nil {
		return fmt.Errorf("list pending deployments: %w", err)
	}
	for _, d := range pending {
		at, ok := loaded[d.Module]
		if !ok || d.ID >= at.deployment {
			continue
		}
		st := odb.ServerStatus{Server: c.cfg.Name, Status: at.st.Status, Services: at.st.Services}
		if st.Services == nil {
			st.Services = []string{}
		}
		if at.st.Status != odb.StatusDeployed {
			st.Status = odb.StatusFailed
			why := "it failed"
			if e := at.st.Error; e != nil {
				why = fmt.Sprintf("it failed: %s: %s", e.Type, e.Message)
			}
			st.Error = &odb.ErrorDetail{Type: "Superseded", Message: fmt.Sprintf("deployment %d of %s, made after "+
				"this one, was loaded instead when this server started, and %s", at.deployment, d.Module, why)}
		}
		if err := c.store.SetServerStatus(ctx, d.ID, st); err != nil {
			return fmt.Errorf("record superseded deployment %d: %w", d.ID, err)
		}
	}
	return nil
}

// inLoadOrder sorts modules in the one order a start loads them (loadorder.Sort, on their current sources), which is
// also the order a restarted Python worker gets them in.
func inLoadOrder(modules []odb.Module) []odb.Module {
	byName := make(map[string]odb.Module, len(modules))
	names := make([]string, 0, len(modules))
	for _, m := range modules {
		byName[m.Name] = m
		names = append(names, m.Name)
	}
	out := make([]odb.Module, 0, len(modules))
	for _, name := range loadorder.Sort(names, func(name string) string {
		if cur := byName[name].Current; cur != nil {
			return cur.Source
		}
		return ""
	}) {
		out = append(out, byName[name])
	}
	return out
}

// quarantinedType is the error type of a module the runtime quarantined (runtime.Config.OnQuarantine).
const quarantinedType = "Quarantined"

// retriedAtStart reports whether a version that failed on this server is imported again when the server starts. Not
// when that would cost every start again (a hang, an interpreter exit, the memory limit, a quarantine), nor when it
// can only fail again (a syntax error is in the source itself). Every other failure is tried again: the runtime or
// the disk failed, or the import raised what the server's environment may have caused (a package missing from
// zato_extra_paths, a name taken by service-sources.txt, a variable unset), and a restart is how one changes that.
func retriedAtStart(e *odb.ErrorDetail) bool {
	if e == nil {
		return true
	}
	switch e.Type {
	case "ImportTimeout", "WorkerExited", "MemoryLimit", quarantinedType, "SyntaxError", "IndentationError", "TabError":
		return false
	}
	return true
}

func sameRow(a, b odb.ServerStatus) bool {
	if a.Status != b.Status || len(a.Services) != len(b.Services) || (a.Error == nil) != (b.Error == nil) {
		return false
	}
	for i := range a.Services {
		if a.Services[i] != b.Services[i] {
			return false
		}
	}
	return a.Error == nil || *a.Error == *b.Error
}

// readWorkDir reads the last good versions kept in current/ and removes what the ODB no longer knows.
func (c *Cluster) readWorkDir(modules []odb.Module) (map[string]string, error) {
	known := map[string]bool{}
	for _, m := range modules {
		known[m.Name] = true
	}
	entries, err := os.ReadDir(c.cfg.CurrentDir)
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", c.cfg.CurrentDir, err)
	}
	names := make([]string, 0, len(entries))
	for _, e := range entries {
		names = append(names, e.Name())
	}
	sort.Strings(names)
	out := map[string]string{}
	for _, name := range names {
		path := filepath.Join(c.cfg.CurrentDir, name)
		if !known[name] { // half-written temp files, twins, modules the ODB never had
			if err := os.RemoveAll(path); err != nil {
				return nil, fmt.Errorf("remove %s: %w", path, err)
			}
			continue
		}
		src, err := os.ReadFile(path)
		if err != nil {
			return nil, fmt.Errorf("read %s: %w", path, err)
		}
		out[name] = string(src)
	}
	return out, nil
}

// loadKept loads a version already in the work dir into the runtime, without writing anything.
func (c *Cluster) loadKept(ctx context.Context, module, src string) odb.ServerStatus {
	st := odb.ServerStatus{Server: c.cfg.Name, Status: odb.StatusDeployed, Services: []string{}}
	res, failed := c.importModule(ctx, module, filepath.Join(c.cfg.CurrentDir, module), src, "load")
	if failed != nil {
		st.Status, st.Error = odb.StatusFailed, failed
		return st
	}
	if res.Services != nil {
		st.Services = res.Services
	}
	c.serves(module, src)
	return st
}

// serveLastGood loads the version that served before m's current one, when current does not serve here: the work
// dir's copy, or, on a server that starts with an empty work dir, the ODB's last good version. It then serves what
// its peers serve. The current deployment stays failed for this server.
func (c *Cluster) serveLastGood(ctx context.Context, m odb.Module, onDisk string, isOnDisk bool) {
	if isOnDisk {
		c.loadKept(ctx, m.Name, onDisk)
		return
	}
	v, err := c.LastGood(ctx, m.Name, m.Current)
	if err != nil || v == nil {
		return
	}
	if st := c.apply(ctx, m.Name, odb.ActionDeploy, v.Source, true); st.Status == odb.StatusDeployed {
		c.log.Warn(fmt.Sprintf("Version %d of %s fails here: serving version %d, the last that deployed", m.Current.Number, m.Name, v.Number))
	}
}
