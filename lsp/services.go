package lsp

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sort"
	"sync"
	"time"

	"github.com/zato-go/zato/deployclient"
)

// The cluster's live services, per target: which service names each live server's runtime serves (GET
// /api/v1/services on each member), for completion, hover, the Invoke code lens and the unknown-service warning.
// Lookups answer from memory; a listing older than servicesTTL, or any finished deployment, starts a refresh in the
// background, and a refresh that changes something re-checks the open documents and refreshes code lenses.

const (
	servicesTTL = 10 * time.Second
	// servicesFirstWait bounds how long a request waits for a target's first listing.
	servicesFirstWait = 3 * time.Second
)

// liveService is one service name and the servers serving it.
type liveService struct {
	Name    string   `json:"name"`
	Module  string   `json:"module"`
	Class   string   `json:"class"`
	Servers []string `json:"servers"`
}

// servicesSnap is one listing; never modified once published.
type servicesSnap struct {
	at      time.Time
	err     error // the listing could not be made at all (target unreachable, stock Zato...)
	byName  map[string]*liveService
	list    []*liveService // sorted by name
	members []deployclient.Member
	asked   []string          // servers whose services were listed
	missed  map[string]string // live servers that could not be asked, with why
}

// liveMembers are the members counted live in the listing.
func (sn *servicesSnap) liveMembers() []deployclient.Member {
	var out []deployclient.Member
	for _, m := range sn.members {
		if m.State == "live" {
			out = append(out, m)
		}
	}
	return out
}

// servicesCache is a target's listing and its refresh state; guarded by server.mu.
type servicesCache struct {
	snap       *servicesSnap
	refreshing bool
	again      bool          // a refresh was asked for while one ran
	stale      bool          // a deployment finished since the snapshot was taken
	done       chan struct{} // closed when the running refresh ends
}

// place is a target of a scope (folders.go): the cluster a document's services, lenses and listings come from.
type place struct{ scope, target string }

// key names the place in the maps all scopes share.
func (p place) key() string { return inScope(p.scope, p.target) }

// placeOf is where a file's module deploys: its folder's scope and the module's target there.
func (s *server) placeOf(path string) place {
	scope, _, _ := s.scopeOf(path)
	return place{scope, s.moduleTargetIn(scope, moduleName(path), "")}
}

// services returns a place's listing, starting a refresh when it is missing or old. With wait, a place never
// listed yet is waited for (up to servicesFirstWait); otherwise the answer may be nil.
func (s *server) services(ctx context.Context, at place, wait bool) *servicesSnap {
	s.mu.Lock()
	c := s.svcCache[at.key()]
	if c == nil {
		c = &servicesCache{}
		s.svcCache[at.key()] = c
	}
	snap := c.snap
	if snap == nil || c.stale || time.Since(snap.at) > servicesTTL {
		s.refreshServicesLocked(at, c)
	}
	done := c.done
	s.mu.Unlock()
	if snap != nil || !wait || done == nil {
		return snap
	}
	t := time.NewTimer(servicesFirstWait)
	defer t.Stop()
	select {
	case <-done:
	case <-t.C:
	case <-ctx.Done():
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	return c.snap
}

// servicesChanged says a deployment to a place finished: the listing is refreshed now.
func (s *server) servicesChanged(at place) {
	s.mu.Lock()
	defer s.mu.Unlock()
	c := s.svcCache[at.key()]
	if c == nil {
		return // nobody asked for this place's services yet
	}
	c.stale = true
	s.refreshServicesLocked(at, c)
}

// refreshServicesLocked starts a refresh unless one runs, in which case another follows it. s.mu is held.
func (s *server) refreshServicesLocked(at place, c *servicesCache) {
	if c.refreshing {
		c.again = true
		return
	}
	c.refreshing, c.again, c.stale = true, false, false
	c.done = make(chan struct{})
	s.goFn(func() { s.runServicesRefresh(at, c) })
}

func (s *server) runServicesRefresh(at place, c *servicesCache) {
	for {
		snap := s.listServices(at)
		s.mu.Lock()
		prev := c.snap
		c.snap = snap
		again := c.again && s.ctx.Err() == nil
		c.again = false
		if !again {
			c.refreshing = false
			close(c.done)
		}
		s.mu.Unlock()
		if !sameServices(prev, snap) {
			s.relintAll()
			s.refreshCodeLens()
		}
		if !again {
			return
		}
	}
}

// listServices asks the target's own server, then every other live member, for its services.
func (s *server) listServices(at place) *servicesSnap {
	snap := &servicesSnap{at: time.Now(), byName: map[string]*liveService{}, missed: map[string]string{}}
	target, cl, _, err := s.clientIn(s.ctx, at.scope, at.target)
	if err != nil {
		snap.err = err
		return snap
	}
	ctx, cancel := context.WithTimeout(s.ctx, 10*time.Second)
	defer cancel()
	if cl.Kind() == deployclient.KindZato {
		snap.err = fmt.Errorf("a stock Zato target does not list its services: %w", deployclient.ErrUnsupported)
		return snap
	}
	var (
		mu      sync.Mutex
		reports []deployclient.ServicesReport
		wg      sync.WaitGroup
	)
	var own deployclient.ServicesReport
	var members []deployclient.Member
	var ownErr error
	if err := s.read(ctx, at.scope, target, cl, func(c *deployclient.Client) error {
		cl = c
		var merr error
		wg.Go(func() { own, ownErr = cl.ServicesAt(ctx, "") })
		members, merr = cl.Servers(ctx)
		wg.Wait()
		if ownErr != nil && merr != nil {
			return ownErr
		}
		return nil
	}); err != nil {
		snap.err = err
		return snap
	}
	snap.members = members
	if ownErr == nil {
		reports = append(reports, own)
	}
	for _, m := range members {
		if m.State != "live" || ownErr == nil && m.Name == own.Server {
			continue
		}
		wg.Go(func() {
			rep, err := cl.ServicesAt(ctx, m.URL)
			mu.Lock()
			defer mu.Unlock()
			if err != nil {
				snap.missed[m.Name] = rootCause(err)
				return
			}
			if rep.Server == "" {
				rep.Server = m.Name
			}
			reports = append(reports, rep)
		})
	}
	wg.Wait()
	for _, rep := range reports {
		snap.asked = append(snap.asked, rep.Server)
		for _, svc := range rep.Services {
			ls := snap.byName[svc.Name]
			if ls == nil {
				ls = &liveService{Name: svc.Name, Module: svc.Module, Class: svc.Class}
				snap.byName[svc.Name] = ls
			}
			ls.Servers = append(ls.Servers, rep.Server)
		}
	}
	sort.Strings(snap.asked)
	snap.list = make([]*liveService, 0, len(snap.byName))
	for _, ls := range snap.byName {
		sort.Strings(ls.Servers)
		snap.list = append(snap.list, ls)
	}
	sort.Slice(snap.list, func(i, j int) bool { return snap.list[i].Name < snap.list[j].Name })
	return snap
}

// sameServices reports whether two listings say the same (names, modules and servers; errors alike).
func sameServices(a, b *servicesSnap) bool {
	if a == nil || b == nil {
		return a == b
	}
	if (a.err == nil) != (b.err == nil) || len(a.list) != len(b.list) || !slices.Equal(a.asked, b.asked) {
		return false
	}
	for i, x := range a.list {
		y := b.list[i]
		if x.Name != y.Name || x.Module != y.Module || x.Class != y.Class || !slices.Equal(x.Servers, y.Servers) {
			return false
		}
	}
	return true
}

// errNoListing is why a listing is missing.
var errNoListing = errors.New("the cluster's services are not known yet")
