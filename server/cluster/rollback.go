package cluster

import (
	"context"
	"errors"
	"fmt"
	"math"
	"strconv"
	"strings"

	"github.com/zato-go/zato/server/odb"
)

// ErrNoVersion is returned (wrapped, with the versions that exist) for a module never deployed, a version it does not
// have, or a rollback with nothing to go back to.
var ErrNoVersion = errors.New("no such version")

// ErrBadVersion is returned (wrapped) for a number that no version can have.
var ErrBadVersion = errors.New("bad version number")

// NotAVersion refuses s, as asked for a version, in the words every way in shows: versions are numbered from 1.
func NotAVersion(s string) error {
	return refuse(ErrBadVersion, "%q is not a version number: versions are numbered 1, 2, 3...", s)
}

// ErrNotDeployed is returned (wrapped) by Undeploy for a module that is not deployed.
var ErrNotDeployed = errors.New("not deployed")

// refused is an error whose text is for the user as it is ("x.py is not deployed"), and which is its kind.
type refused struct {
	kind error
	msg  string
}

func (e *refused) Error() string { return e.msg }
func (e *refused) Unwrap() error { return e.kind }

func refuse(kind error, format string, args ...any) error {
	return &refused{kind: kind, msg: fmt.Sprintf(format, args...)}
}

// LastGood is where a rollback without a version goes, and what a server on which the current version fails (with
// nothing else of the module loaded) serves: the newest version, with other content than current, whose deployment
// loaded on every server that took it (no row failed). Without one it is the newest version that loaded on some
// server, and then the newest version older than current that no server has failed to load (one that was never
// tried: every row offline, or older than the deployments read). A version that failed wherever it was tried is never
// chosen: nil then. current is nil for an undeployed module: nothing serves, so every version is other than
// current, and a rollback undoes the undeploy.
func (c *Cluster) LastGood(ctx context.Context, module string, current *odb.Version) (*odb.Version, error) {
	if current == nil {
		current = &odb.Version{Number: math.MaxInt} // no content and newer than every version: it excludes none
	}
	vs, err := c.store.Versions(ctx, module)
	if err != nil {
		return nil, err
	}
	ds, err := c.store.Deployments(ctx, odb.DeploymentFilter{Module: module, Limit: 1000})
	if err != nil {
		return nil, err
	}
	byID := map[int64]*odb.Version{}
	for i := range vs {
		byID[vs[i].ID] = &vs[i]
	}
	var somewhere *odb.Version
	// Versions some server failed to load.
	failedOn := map[int64]bool{}
	for _, d := range ds { // newest first
		if d.Action != odb.ActionDeploy || d.Version.SHA256 == current.SHA256 || byID[d.Version.ID] == nil {
			continue
		}
		deployed, failed := 0, 0
		for _, st := range d.Servers {
			switch st.Status {
			case odb.StatusDeployed:
				deployed++
			case odb.StatusFailed:
				failed++
			}
		}
		if failed > 0 {
			failedOn[d.Version.ID] = true
		}
		if deployed > 0 && failed == 0 {
			return byID[d.Version.ID], nil
		}
		if deployed > 0 && somewhere == nil {
			somewhere = byID[d.Version.ID]
		}
	}
	if somewhere != nil {
		return somewhere, nil
	}
	for i := range vs { // newest first
		if vs[i].Number < current.Number && !failedOn[vs[i].ID] {
			return &vs[i], nil
		}
	}
	return nil, nil
}

// RollbackRequest asks to deploy an earlier version of a module again.
type RollbackRequest struct {
	Module  string
	Version int // 0: LastGood
	Who     string
	Origin  string // default "rollback"
	Key     string // idempotency key
}

// Rollback deploys an earlier version of a module on every server: the one asked for, or LastGood. Every way in
// (API, web admin, CLI through the API) calls it, so they agree on the default.
func (c *Cluster) Rollback(ctx context.Context, r RollbackRequest) (odb.Deployment, error) {
	if err := ValidateName(r.Module); err != nil {
		return odb.Deployment{}, err
	}
	if r.Version < 0 {
		return odb.Deployment{}, NotAVersion(strconv.Itoa(r.Version))
	}
	vs, err := c.Versions(ctx, r.Module)
	if err != nil {
		return odb.Deployment{}, err
	}
	var target *odb.Version
	if r.Version > 0 {
		for i := range vs {
			if vs[i].Number == r.Version {
				target = &vs[i]
			}
		}
		if target == nil {
			return odb.Deployment{}, refuse(ErrNoVersion, "%s has %s; there is no version %d", r.Module, versionList(vs), r.Version)
		}
	} else {
		m, err := c.store.Module(ctx, r.Module)
		if err != nil {
			return odb.Deployment{}, err
		}
		if target, err = c.LastGood(ctx, r.Module, m.Current); err != nil {
			return odb.Deployment{}, err
		}
		if target == nil && len(vs) > 1 {
			return odb.Deployment{}, refuse(ErrNoVersion, "%s has %s and no other version that loaded on any server "+
				"to go back to; name a version to roll back to it anyway", r.Module, versionList(vs))
		}
		if target == nil {
			return odb.Deployment{}, refuse(ErrNoVersion, "%s has %s and no other version to go back to", r.Module, versionList(vs))
		}
	}
	if r.Origin == "" {
		r.Origin = "rollback"
	}
	return c.Submit(ctx, Submission{Module: r.Module, Action: odb.ActionDeploy, VersionID: target.ID, Who: r.Who, Origin: r.Origin, Key: r.Key})
}

// Undeploy removes a module's services from every server.
func (c *Cluster) Undeploy(ctx context.Context, module, who, origin, key string) (odb.Deployment, error) {
	if !ValidName(module) {
		return odb.Deployment{}, fmt.Errorf("%w: %q", ErrBadName, module)
	}
	return c.Submit(ctx, Submission{Module: module, Action: odb.ActionUndeploy, Who: who, Origin: origin, Key: key})
}

// versionList says which versions exist: "version 1", "versions 1-3" (newest-first input).
func versionList(vs []odb.Version) string {
	if len(vs) == 1 {
		return "only version " + strconv.Itoa(vs[0].Number)
	}
	nums := make([]string, 0, len(vs))
	contiguous := true
	for i := len(vs) - 1; i >= 0; i-- {
		nums = append(nums, strconv.Itoa(vs[i].Number))
		if i < len(vs)-1 && vs[i].Number != vs[i+1].Number+1 {
			contiguous = false
		}
	}
	if contiguous {
		return "versions " + nums[0] + "-" + nums[len(nums)-1]
	}
	return "versions " + strings.Join(nums, ", ")
}
