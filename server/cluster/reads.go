package cluster

import (
	"context"
	"errors"
	"sort"
	"strconv"
	"time"

	"github.com/zato-go/zato/server/odb"
	"github.com/zato-go/zato/wire"
)

// What the adapters (API, web admin, pickup) read. They get these narrow reads rather than the ODB, so that every
// decision about deployments, servers and modules stays in this package.

// Modules lists every module ever deployed, by name, with its current version.
func (c *Cluster) Modules(ctx context.Context) ([]odb.Module, error) { return c.store.Modules(ctx) }

// Module returns one module (odb.ErrNotFound, wrapped, when it was never deployed).
func (c *Cluster) Module(ctx context.Context, name string) (odb.Module, error) {
	return c.store.Module(ctx, name)
}

// Versions lists a module's versions, newest first. A module never deployed is ErrNoVersion (wrapped) in the words
// every way in shows. Only the name's syntax is checked: a module stored before today's naming rules keeps its
// history.
func (c *Cluster) Versions(ctx context.Context, module string) ([]odb.Version, error) {
	if err := nameSyntax(module); err != nil {
		return nil, err
	}
	vs, err := c.store.Versions(ctx, module)
	if errors.Is(err, odb.ErrNotFound) || err == nil && len(vs) == 0 {
		return nil, refuse(ErrNoVersion, "%s has never been deployed", module)
	}
	return vs, err
}

// Version returns one version of a module, source included. A module never deployed, or a number it has no version
// of, is ErrNoVersion (wrapped) in words that name the versions that exist; a number below 1 is ErrBadVersion.
func (c *Cluster) Version(ctx context.Context, module string, number int) (odb.Version, error) {
	if number < 1 {
		return odb.Version{}, NotAVersion(strconv.Itoa(number))
	}
	vs, err := c.Versions(ctx, module)
	if err != nil {
		return odb.Version{}, err
	}
	for _, v := range vs {
		if v.Number == number {
			return v, nil
		}
	}
	return odb.Version{}, refuse(ErrNoVersion, "%s has %s; there is no version %d", module, versionList(vs), number)
}

// Members lists the cluster's servers; MemberState says what each is doing.
func (c *Cluster) Members(ctx context.Context) ([]odb.Server, error) { return c.store.Servers(ctx) }

// SourceResults lists what each server made of its service-sources.txt.
func (c *Cluster) SourceResults(ctx context.Context) ([]odb.SourceResult, error) {
	return c.store.SourceResults(ctx)
}

// Current is a module's current state as one who decides whether a file is news (the pickup dir) needs it.
type Current struct {
	SHA256     string    // of the current version; "" once undeployed
	Since      time.Time // when the current state was set: its newest deployment, or the version's creation
	Deployment int64     // the newest deployment
}

// CurrentOf returns a module's current state (odb.ErrNotFound, wrapped, for a module never deployed).
func (c *Cluster) CurrentOf(ctx context.Context, name string) (Current, error) {
	m, err := c.store.Module(ctx, name)
	if err != nil {
		return Current{}, err
	}
	cur := Current{Deployment: m.LastDeployment}
	if m.Current != nil {
		cur.SHA256, cur.Since = m.Current.SHA256, m.Current.CreatedAt
	}
	if m.LastDeployment > 0 {
		// A rollback to an older version, or an undeploy, sets the state later than the version's creation.
		if d, err := c.store.Deployment(ctx, m.LastDeployment); err == nil && d.CreatedAt.After(cur.Since) {
			cur.Since = d.CreatedAt
		}
	}
	return cur, nil
}

// LeftoverOf says whether a file found in a pickup dir at start, with content sum and modified at modTime, is what
// an earlier pick-up left there: its content is a version the module has had, and the file is not newer than the
// module's current state (a later deployment, a rollback, an undeploy). Such a file is not deployed again, which
// would undo that state. Content the module never had is news whatever the file's time says: cp -p, rsync -a and
// tar keep a copied file's old time. A file whose content is the current version is a leftover too.
func (c *Cluster) LeftoverOf(ctx context.Context, name, sum string, modTime time.Time) (bool, Current, error) {
	cur, err := c.CurrentOf(ctx, name)
	if errors.Is(err, odb.ErrNotFound) {
		return false, cur, nil // a new module
	}
	if err != nil || cur.SHA256 == sum {
		return err == nil, cur, err
	}
	if modTime.After(cur.Since) {
		return false, cur, nil
	}
	vs, err := c.store.Versions(ctx, name)
	if err != nil {
		return false, cur, err
	}
	for _, v := range vs {
		if v.SHA256 == sum {
			return true, cur, nil
		}
	}
	return false, cur, nil
}

// Served returns the sha256 of the version of each hot-deployed module this server's runtime has loaded.
func (c *Cluster) Served() map[string]string {
	c.mu.Lock()
	defer c.mu.Unlock()
	out := make(map[string]string, len(c.loaded))
	for k, v := range c.loaded {
		out[k] = v
	}
	return out
}

// Serving is where a module's versions serve.
type Serving struct {
	Servers   int              // the servers of the newest deployment
	ByVersion map[int][]string // each version that serves somewhere: its servers, sorted
	Offline   []string         // servers of the newest deployment that are offline now: they serve nothing, sorted
}

// Serving says which version of a module each server serves, as the module's deployments tell, newest first: the
// newest one a server applied decides, its version, or nothing for an undeploy. A row that failed, is pending or
// offline leaves the version before it serving there, as the runtime keeps it, except a quarantine, after which
// nothing of the module serves on that server. The servers are those of the newest deployment; one that is offline
// now serves nothing and is in Offline (a starting one counts as serving what it applied: it loads it again).
func (c *Cluster) Serving(ctx context.Context, module string) (Serving, error) {
	out := Serving{ByVersion: map[int][]string{}, Offline: []string{}}
	ds, err := c.store.Deployments(ctx, odb.DeploymentFilter{Module: module, Limit: 1000})
	if err != nil || len(ds) == 0 {
		return out, err
	}
	members, err := c.Members(ctx)
	if err != nil {
		return out, err
	}
	clock := c.Clock(members)
	offline := map[string]bool{}
	for _, m := range members {
		offline[m.Name] = MemberState(m, clock) == wire.StateOffline
	}
	decided := map[string]bool{}
	for _, s := range ds[0].Servers {
		decided[s.Server] = false
		if offline[s.Server] {
			decided[s.Server] = true
			out.Offline = append(out.Offline, s.Server)
		}
	}
	out.Servers = len(decided)
	sort.Strings(out.Offline)
	for _, d := range ds {
		for _, s := range d.Servers {
			if done, ours := decided[s.Server]; !ours || done {
				continue
			}
			switch {
			case s.Status == odb.StatusDeployed:
				if d.Action == odb.ActionDeploy {
					out.ByVersion[d.Version.Number] = append(out.ByVersion[d.Version.Number], s.Server)
				}
				decided[s.Server] = true
			case s.Status == odb.StatusFailed && s.Error != nil && s.Error.Type == quarantinedType:
				decided[s.Server] = true
			}
		}
	}
	for _, servers := range out.ByVersion {
		sort.Strings(servers)
	}
	return out, nil
}
