// Package odbtest is the conformance suite every odb.Store implementation must pass.
package odbtest

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"reflect"
	"sync"
	"testing"
	"time"

	"github.com/zato-go/zato/server/odb"
)

// Run runs the suite. open returns two independent stores on one fresh, empty database, as two server processes
// would have; Run closes them when each subtest ends (Close must be idempotent), open may close them too.
func Run(t *testing.T, open func(t *testing.T) (a, b odb.Store)) {
	tests := []struct {
		name string
		fn   func(t *testing.T, a, b odb.Store)
	}{
		{"Servers", testServers},
		{"DeployAndRead", testDeployAndRead},
		{"InvalidDeployments", testInvalidDeployments},
		{"VersionReuse", testVersionReuse},
		{"Rollback", testRollback},
		{"Undeploy", testUndeploy},
		{"Deployments", testDeployments},
		{"PendingFor", testPendingFor},
		{"BehindAndLastRows", testBehindAndLastRows},
		{"Conflict", testConflict},
		{"SetServerStatus", testSetServerStatus},
		{"MarkOffline", testMarkOffline},
		{"Sources", testSources},
		{"Times", testTimes},
		{"ConcurrentCreate", testConcurrentCreate},
		{"Changes", testChanges},
		{"Close", testClose},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			a, b := open(t)
			t.Cleanup(func() {
				a.Close()
				b.Close()
			})
			tc.fn(t, a, b)
		})
	}
}

// must(f())(t) fails t when f returned an error.
func must[T any](v T, err error) func(t *testing.T) T {
	return func(t *testing.T) T {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
		return v
	}
}

func ok(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

func equal(t *testing.T, what string, got, want any) {
	t.Helper()
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("%s:\n got %+v\nwant %+v", what, got, want)
	}
}

func notFound(t *testing.T, what string, err error) {
	t.Helper()
	if !errors.Is(err, odb.ErrNotFound) {
		t.Fatalf("%s: got error %v, want one wrapping odb.ErrNotFound", what, err)
	}
}

func failed(t *testing.T, what string, err error) {
	t.Helper()
	if err == nil {
		t.Fatalf("%s: no error", what)
	}
}

// recent checks that tm is UTC and within the window [from-1s, now+1s] (the database may sit on another host).
func recent(t *testing.T, what string, tm, from time.Time) {
	t.Helper()
	if tm.Location() != time.UTC {
		t.Fatalf("%s: location %v, want UTC", what, tm.Location())
	}
	if tm.Before(from.Add(-time.Second)) || tm.After(time.Now().Add(time.Second)) {
		t.Fatalf("%s: %v is not between %v and now", what, tm, from)
	}
}

func hexSum(s string) string {
	sum := sha256.Sum256([]byte(s))
	return hex.EncodeToString(sum[:])
}

func rows(statuses ...string) []odb.ServerStatus {
	var out []odb.ServerStatus
	for i := 0; i < len(statuses); i += 2 {
		out = append(out, odb.ServerStatus{Server: statuses[i], Status: odb.Status(statuses[i+1])})
	}
	return out
}

// asRead is a deployment CreateDeployment returned as reads return it: without the backlog, which only
// creation knows.
func asRead(d odb.Deployment) odb.Deployment {
	d.Backlog = nil
	return d
}

// statuses is the status of each server's row in deployment id, as s reads it.
func statuses(t *testing.T, s odb.Store, id int64) []odb.Status {
	t.Helper()
	var out []odb.Status
	for _, r := range must(s.Deployment(t.Context(), id))(t).Servers {
		out = append(out, r.Status)
	}
	return out
}

func deploy(t *testing.T, s odb.Store, module, src string, servers ...string) odb.Deployment {
	t.Helper()
	if len(servers) == 0 {
		servers = []string{"server1", "pending"}
	}
	return must(s.CreateDeployment(t.Context(), odb.NewDeployment{Module: module, Action: odb.ActionDeploy,
		Source: src, Who: "admin", Origin: "cli", ReceivedBy: "server1", Servers: rows(servers...)}))(t)
}

func testServers(t *testing.T, a, b odb.Store) {
	ctx := t.Context()
	equal(t, "servers of an empty ODB", len(must(b.Servers(ctx))(t)), 0)
	start := time.Now()
	ok(t, a.RegisterServer(ctx, odb.Server{Name: "server2", URL: "http://127.0.0.1:2", PID: 22, Host: "h2",
		State: odb.ServerStarting}))
	ok(t, b.RegisterServer(ctx, odb.Server{Name: "server1", URL: "http://127.0.0.1:1", PID: 11, Host: "h1",
		State: odb.ServerLive}))

	ss := must(b.Servers(ctx))(t)
	equal(t, "server count", len(ss), 2)
	equal(t, "order", []string{ss[0].Name, ss[1].Name}, []string{"server1", "server2"})
	s2 := ss[1]
	equal(t, "server2", odb.Server{Name: s2.Name, URL: s2.URL, PID: s2.PID, Host: s2.Host, State: s2.State},
		odb.Server{Name: "server2", URL: "http://127.0.0.1:2", PID: 22, Host: "h2", State: odb.ServerStarting})
	recent(t, "StartedAt", s2.StartedAt, start)
	equal(t, "HeartbeatAt = StartedAt at registration", s2.HeartbeatAt, s2.StartedAt)
	if !ss[0].Live(time.Now(), time.Minute) || s2.Live(time.Now(), time.Minute) {
		t.Fatalf("Live: server1 %v (want true), server2 %v (want false)", ss[0].Live(time.Now(), time.Minute),
			s2.Live(time.Now(), time.Minute))
	}

	time.Sleep(2 * time.Millisecond) // so that a refreshed heartbeat differs
	ok(t, a.SetServerState(ctx, "server2", odb.ServerLive))
	got := must(b.Servers(ctx))(t)[1]
	equal(t, "state after SetServerState", got.State, odb.ServerLive)
	equal(t, "StartedAt after SetServerState", got.StartedAt, s2.StartedAt)
	if !got.HeartbeatAt.After(s2.HeartbeatAt) {
		t.Fatalf("SetServerState did not refresh the heartbeat: %v -> %v", s2.HeartbeatAt, got.HeartbeatAt)
	}

	time.Sleep(2 * time.Millisecond)
	ok(t, b.Heartbeat(ctx, "server2"))
	hb := must(a.Servers(ctx))(t)[1]
	equal(t, "state after Heartbeat", hb.State, odb.ServerLive)
	if !hb.HeartbeatAt.After(got.HeartbeatAt) {
		t.Fatalf("Heartbeat did not refresh: %v -> %v", got.HeartbeatAt, hb.HeartbeatAt)
	}

	time.Sleep(2 * time.Millisecond)
	ok(t, b.RegisterServer(ctx, odb.Server{Name: "server2", URL: "http://127.0.0.1:3", PID: 33, Host: "h3",
		State: odb.ServerStarting}))
	re := must(a.Servers(ctx))(t)
	equal(t, "count after re-registering", len(re), 2)
	equal(t, "re-registered", []any{re[1].URL, re[1].PID, re[1].Host, re[1].State},
		[]any{"http://127.0.0.1:3", 33, "h3", odb.ServerStarting})
	if !re[1].StartedAt.After(s2.StartedAt) || re[1].HeartbeatAt != re[1].StartedAt {
		t.Fatalf("re-registering must reset StartedAt and HeartbeatAt: %+v", re[1])
	}

	ok(t, a.SetServerState(ctx, "server1", odb.ServerStopped))
	equal(t, "stopped", must(b.Servers(ctx))(t)[0].State, odb.ServerStopped)

	notFound(t, "SetServerState of an unknown server", a.SetServerState(ctx, "nope", odb.ServerLive))
	notFound(t, "Heartbeat of an unknown server", a.Heartbeat(ctx, "nope"))
	failed(t, "RegisterServer without a name", a.RegisterServer(ctx, odb.Server{State: odb.ServerLive}))
}

func testDeployAndRead(t *testing.T, a, b odb.Store) {
	ctx := t.Context()
	start := time.Now()
	in := odb.NewDeployment{Module: "crm.py", Action: odb.ActionDeploy, Source: "v1", Who: "admin", Origin: "cli",
		ReceivedBy: "server1", Servers: rows("server2", "pending", "server1", "pending", "server3", "offline")}
	d := must(a.CreateDeployment(ctx, in))(t)
	if d.ID <= 0 || d.Version.ID <= 0 {
		t.Fatalf("ids not set: %+v", d)
	}
	recent(t, "CreatedAt", d.CreatedAt, start)
	equal(t, "version", d.Version, odb.Version{ID: d.Version.ID, Module: "crm.py", Number: 1, SHA256: hexSum("v1"),
		Source: "v1", Who: "admin", Origin: "cli", CreatedAt: d.CreatedAt})
	equal(t, "deployment", odb.Deployment{ID: d.ID, Module: d.Module, Action: d.Action, Version: d.Version, Who: d.Who,
		Origin: d.Origin, ReceivedBy: d.ReceivedBy, CreatedAt: d.CreatedAt, Servers: d.Servers},
		odb.Deployment{ID: d.ID, Module: "crm.py", Action: odb.ActionDeploy, Version: d.Version, Who: "admin",
			Origin: "cli", ReceivedBy: "server1", CreatedAt: d.CreatedAt, Servers: []odb.ServerStatus{
				{Server: "server1", Status: odb.StatusPending, Services: []string{}, UpdatedAt: d.CreatedAt},
				{Server: "server2", Status: odb.StatusPending, Services: []string{}, UpdatedAt: d.CreatedAt},
				{Server: "server3", Status: odb.StatusOffline, Services: []string{}, UpdatedAt: d.CreatedAt},
			}})

	equal(t, "Deployment() from the other store", must(b.Deployment(ctx, d.ID))(t), asRead(d))
	m := must(b.Module(ctx, "crm.py"))(t)
	equal(t, "module", m, odb.Module{Name: "crm.py", Current: &d.Version, LastDeployment: d.ID})
	equal(t, "modules", must(b.Modules(ctx))(t), []odb.Module{m})
	equal(t, "versions", must(b.Versions(ctx, "crm.py"))(t), []odb.Version{d.Version})

	// A second module sorts by name.
	d2 := deploy(t, b, "billing.py", "b1")
	ms := must(a.Modules(ctx))(t)
	equal(t, "module order", []string{ms[0].Name, ms[1].Name}, []string{"billing.py", "crm.py"})
	equal(t, "billing current", *ms[0].Current, d2.Version)

	_, err := b.Deployment(ctx, d2.ID+1000)
	notFound(t, "Deployment of an unknown id", err)
	_, err = b.Module(ctx, "nope.py")
	notFound(t, "Module of an unknown name", err)
	_, err = b.Versions(ctx, "nope.py")
	notFound(t, "Versions of an unknown module", err)
}

func testInvalidDeployments(t *testing.T, a, b odb.Store) {
	ctx := t.Context()
	good := deploy(t, a, "x.py", "x1")
	bad := map[string]odb.NewDeployment{
		"empty module":  {Action: odb.ActionDeploy, Source: "s"},
		"bad action":    {Module: "x.py", Action: "explode", Source: "s"},
		"bad status":    {Module: "x.py", Action: odb.ActionDeploy, Source: "s", Servers: rows("server1", "weird")},
		"empty server":  {Module: "x.py", Action: odb.ActionDeploy, Source: "s", Servers: rows("", "pending")},
		"server twice":  {Module: "x.py", Action: odb.ActionDeploy, Source: "s2", Servers: rows("s", "pending", "s", "offline")},
		"rollback twin": {Module: "y.py", Action: odb.ActionDeploy, VersionID: good.Version.ID},
	}
	for name, in := range bad {
		_, err := a.CreateDeployment(ctx, in)
		failed(t, name, err)
	}
	// Nothing of the failed ones was kept.
	equal(t, "deployments", len(must(b.Deployments(ctx, odb.DeploymentFilter{}))(t)), 1)
	equal(t, "modules", len(must(b.Modules(ctx))(t)), 1)
	equal(t, "versions", len(must(b.Versions(ctx, "x.py"))(t)), 1)
}

func testVersionReuse(t *testing.T, a, b odb.Store) {
	ctx := t.Context()
	d1 := deploy(t, a, "m.py", "A")
	d2 := deploy(t, b, "m.py", "A")
	if d2.ID == d1.ID || d2.Version != d1.Version {
		t.Fatalf("same source must reuse the version in a new deployment: %+v then %+v", d1, d2)
	}
	d3 := deploy(t, a, "m.py", "B")
	equal(t, "new source", []any{d3.Version.Number, d3.Version.SHA256}, []any{2, hexSum("B")})
	d4 := deploy(t, b, "m.py", "A") // equals v1 but not the newest: a new version
	equal(t, "old source again", []any{d4.Version.Number, d4.Version.SHA256}, []any{3, hexSum("A")})
	vs := must(a.Versions(ctx, "m.py"))(t)
	equal(t, "versions newest first", []odb.Version{vs[0], vs[1], vs[2]}, []odb.Version{d4.Version, d3.Version, d1.Version})
	equal(t, "current", must(a.Module(ctx, "m.py"))(t).Current, &d4.Version)
	// Versions are per module.
	equal(t, "other module numbering", deploy(t, a, "n.py", "A").Version.Number, 1)
}

func testRollback(t *testing.T, a, b odb.Store) {
	ctx := t.Context()
	v1 := deploy(t, a, "m.py", "A").Version
	v2 := deploy(t, a, "m.py", "B").Version
	other := deploy(t, a, "other.py", "O").Version

	rb := must(b.CreateDeployment(ctx, odb.NewDeployment{Module: "m.py", Action: odb.ActionDeploy,
		VersionID: v1.ID, Source: "ignored", Who: "ops", Origin: "rollback", Servers: rows("server1", "pending")}))(t)
	equal(t, "rolled-back version", rb.Version, v1)
	equal(t, "rollback deployment read back", must(a.Deployment(ctx, rb.ID))(t), asRead(rb))
	m := must(a.Module(ctx, "m.py"))(t)
	equal(t, "module after rollback", m, odb.Module{Name: "m.py", Current: &v1, LastDeployment: rb.ID})
	equal(t, "no new version", len(must(a.Versions(ctx, "m.py"))(t)), 2)

	// The newest version is still v2, so deploying its source reuses it.
	equal(t, "redeploy newest source", deploy(t, b, "m.py", "B").Version, v2)

	_, err := a.CreateDeployment(ctx, odb.NewDeployment{Module: "m.py", Action: odb.ActionDeploy, VersionID: other.ID})
	if !errors.Is(err, odb.ErrWrongModule) || errors.Is(err, odb.ErrNotFound) {
		t.Fatalf("rollback to another module's version: got %v, want odb.ErrWrongModule", err)
	}
	_, err = a.CreateDeployment(ctx, odb.NewDeployment{Module: "m.py", Action: odb.ActionDeploy, VersionID: other.ID + 1000})
	notFound(t, "rollback to an unknown version", err)
	equal(t, "current unchanged by failed rollbacks", must(b.Module(ctx, "m.py"))(t).Current, &v2)
}

func testUndeploy(t *testing.T, a, b odb.Store) {
	ctx := t.Context()
	undeploy := func(s odb.Store, module string) (odb.Deployment, error) {
		return s.CreateDeployment(ctx, odb.NewDeployment{Module: module, Action: odb.ActionUndeploy, Who: "admin",
			Origin: "api", ReceivedBy: "server2", Servers: rows("server1", "pending", "server2", "pending")})
	}
	_, err := undeploy(a, "ghost.py")
	notFound(t, "undeploy of an unknown module", err)
	equal(t, "no module created by a failed undeploy", len(must(b.Modules(ctx))(t)), 0)

	d := deploy(t, a, "x.py", "X")
	u := must(undeploy(b, "x.py"))(t)
	equal(t, "undeploy", []any{u.Action, u.Version, len(u.Servers)}, []any{odb.ActionUndeploy, odb.Version{}, 2})
	equal(t, "undeploy read back", must(a.Deployment(ctx, u.ID))(t), asRead(u))
	equal(t, "module after undeploy", must(a.Module(ctx, "x.py"))(t), odb.Module{Name: "x.py", LastDeployment: u.ID})
	equal(t, "Modules keeps an undeployed module", must(a.Modules(ctx))(t), []odb.Module{{Name: "x.py", LastDeployment: u.ID}})

	_, err = undeploy(a, "x.py")
	notFound(t, "undeploy of an undeployed module", err)

	r := deploy(t, b, "x.py", "X")
	equal(t, "redeploy after undeploy reuses the newest version", r.Version, d.Version)
	equal(t, "current after redeploy", must(a.Module(ctx, "x.py"))(t).Current, &d.Version)
}

func testDeployments(t *testing.T, a, b odb.Store) {
	ctx := t.Context()
	equal(t, "empty", len(must(a.Deployments(ctx, odb.DeploymentFilter{}))(t)), 0)
	var ids []int64
	for i, m := range []string{"a.py", "b.py", "a.py", "b.py", "a.py"} {
		s := a
		if i%2 == 1 {
			s = b
		}
		ids = append(ids, deploy(t, s, m, fmt.Sprintf("src %d", i), "s2", "pending", "s1", "deployed").ID)
	}
	all := must(b.Deployments(ctx, odb.DeploymentFilter{}))(t)
	var got []int64
	for _, d := range all {
		got = append(got, d.ID)
		if d.Version.Source != "" || d.Version.SHA256 == "" || d.Version.Number == 0 {
			t.Fatalf("listed version must have no source but the rest: %+v", d.Version)
		}
		full := must(b.Deployment(ctx, d.ID))(t)
		full.Version.Source = ""
		equal(t, "listed deployment", d, full)
	}
	equal(t, "newest first", got, []int64{ids[4], ids[3], ids[2], ids[1], ids[0]})

	onlyA := must(a.Deployments(ctx, odb.DeploymentFilter{Module: "a.py"}))(t)
	equal(t, "module filter", []int64{onlyA[0].ID, onlyA[1].ID, onlyA[2].ID}, []int64{ids[4], ids[2], ids[0]})
	equal(t, "module filter count", len(onlyA), 3)
	lim := must(a.Deployments(ctx, odb.DeploymentFilter{Limit: 2}))(t)
	equal(t, "limit", []int64{lim[0].ID, lim[1].ID}, []int64{ids[4], ids[3]})
	equal(t, "limit count", len(lim), 2)
	equal(t, "unknown module", len(must(a.Deployments(ctx, odb.DeploymentFilter{Module: "nope.py"}))(t)), 0)
	next := must(a.Deployments(ctx, odb.DeploymentFilter{Limit: 2, Before: lim[1].ID}))(t)
	equal(t, "the next page", []int64{next[0].ID, next[1].ID}, []int64{ids[2], ids[1]})
	nextA := must(a.Deployments(ctx, odb.DeploymentFilter{Module: "a.py", Before: ids[2]}))(t)
	equal(t, "the next page of a module", len(nextA), 1)
	equal(t, "the next page of a module", nextA[0].ID, ids[0])

	for i := range 50 {
		deploy(t, a, "c.py", fmt.Sprintf("c %d", i))
	}
	equal(t, "default limit", len(must(b.Deployments(ctx, odb.DeploymentFilter{}))(t)), 50)
	equal(t, "explicit limit above 50", len(must(b.Deployments(ctx, odb.DeploymentFilter{Limit: 100}))(t)), 55)
}

func testPendingFor(t *testing.T, a, b odb.Store) {
	ctx := t.Context()
	d1 := deploy(t, a, "one.py", "1", "s1", "pending", "s2", "pending")
	d2 := deploy(t, b, "two.py", "2", "s1", "deployed", "s2", "pending")
	d3 := deploy(t, a, "one.py", "3", "s1", "pending", "s2", "offline")

	// A new deployment names the servers it gave a pending row that have older ones pending.
	equal(t, "backlog of d1", d1.Backlog, []string{})
	equal(t, "backlog of d2", d2.Backlog, []string{"s2"})
	equal(t, "backlog of d3", d3.Backlog, []string{"s1"})

	// Each deployment comes with the asking server's row only.
	only := func(d odb.Deployment, i int) odb.Deployment {
		d.Servers = d.Servers[i : i+1]
		return asRead(d)
	}
	equal(t, "PendingFor(s1)", must(b.PendingFor(ctx, "s1"))(t), []odb.Deployment{only(d1, 0), only(d3, 0)})
	equal(t, "PendingFor(s2)", must(b.PendingFor(ctx, "s2"))(t), []odb.Deployment{only(d1, 1), only(d2, 1)})
	if src := must(a.PendingFor(ctx, "s2"))(t)[1].Version.Source; src != "2" {
		t.Fatalf("PendingFor must include sources, got %q", src)
	}
	equal(t, "PendingFor(unknown)", len(must(b.PendingFor(ctx, "nope"))(t)), 0)

	ok(t, a.SetServerStatus(ctx, d1.ID, odb.ServerStatus{Server: "s1", Status: odb.StatusDeployed}))
	p := must(b.PendingFor(ctx, "s1"))(t)
	equal(t, "PendingFor(s1) after s1 deployed d1", []int64{p[0].ID}, []int64{d3.ID})
	equal(t, "count", len(p), 1)

	ok(t, a.SetServerStatus(ctx, d1.ID, odb.ServerStatus{Server: "s2", Status: odb.StatusDeployed}))
	ok(t, a.SetServerStatus(ctx, d2.ID, odb.ServerStatus{Server: "s2", Status: odb.StatusFailed}))
	d4 := deploy(t, b, "two.py", "4", "s1", "pending", "s2", "pending", "s3", "offline")
	equal(t, "backlog of d4 (s1 still has d3)", d4.Backlog, []string{"s1"})
}

func testBehindAndLastRows(t *testing.T, a, b odb.Store) {
	ctx := t.Context()
	// s2 missed every deployment of one.py (offline rows); only the newest one is behind.
	deploy(t, a, "one.py", "1", "s1", "deployed", "s2", "offline")
	d2 := deploy(t, b, "one.py", "2", "s1", "deployed", "s2", "offline")
	d3 := deploy(t, a, "two.py", "3", "s1", "pending", "s2", "deployed")
	d4 := deploy(t, a, "three.py", "4", "s1", "failed", "s2", "offline")
	only := func(d odb.Deployment, i int) odb.Deployment {
		d.Servers = d.Servers[i : i+1]
		return asRead(d)
	}
	got := must(b.Behind(ctx, "s2"))(t)
	equal(t, "Behind(s2)", got, []odb.Deployment{only(d2, 1), only(d4, 1)})
	if got[0].Version.Source != "2" {
		t.Fatalf("Behind must include sources, got %q", got[0].Version.Source)
	}
	equal(t, "Behind(s1)", len(must(a.Behind(ctx, "s1"))(t)), 0)

	// Catching up makes the row deployed: nothing is behind any more.
	ok(t, a.SetServerStatus(ctx, d2.ID, odb.ServerStatus{Server: "s2", Status: odb.StatusDeployed}))
	equal(t, "Behind(s2) after catching up", []int64{must(b.Behind(ctx, "s2"))(t)[0].ID}, []int64{d4.ID})

	rows := must(b.LastRows(ctx, "s1"))(t)
	equal(t, "LastRows(s1) modules", len(rows), 3)
	equal(t, "LastRows(s1) one.py", rows["one.py"].Status, odb.StatusDeployed)
	equal(t, "LastRows(s1) two.py", rows["two.py"].Status, odb.Status(d3.Servers[0].Status))
	equal(t, "LastRows(s1) three.py", rows["three.py"].Status, odb.StatusFailed)
	equal(t, "LastRows(unknown)", len(must(a.LastRows(ctx, "nope"))(t)), 0)
}

// A deploy that names the version its author last saw (Base) is refused when someone else has deployed another
// version since, and goes through otherwise.
func testConflict(t *testing.T, a, b odb.Store) {
	ctx := t.Context()
	row := []odb.ServerStatus{{Server: "s1", Status: odb.StatusPending}}
	v1 := must(a.CreateDeployment(ctx, odb.NewDeployment{Module: "c.py", Action: odb.ActionDeploy, Source: "1", Who: "ann", Origin: "ide", Servers: row}))(t)
	// Ann again, from v1: no conflict.
	v2 := must(b.CreateDeployment(ctx, odb.NewDeployment{Module: "c.py", Action: odb.ActionDeploy, Source: "2", Who: "ann", Origin: "ide", Base: v1.Version.SHA256, Servers: row}))(t)
	// Bob deploys v3 over it from the pickup dir.
	must(a.CreateDeployment(ctx, odb.NewDeployment{Module: "c.py", Action: odb.ActionDeploy, Source: "3", Who: "bob", Origin: "pickup", Servers: row}))(t)
	// Ann, still at v2: refused, naming bob's version; nothing stored.
	_, err := b.CreateDeployment(ctx, odb.NewDeployment{Module: "c.py", Action: odb.ActionDeploy, Source: "4", Who: "ann", Origin: "ide", Base: v2.Version.SHA256, Servers: row})
	var ce *odb.ConflictError
	if !errors.As(err, &ce) || ce.Current.Number != 3 || ce.Who != "bob" || ce.Origin != "pickup" || ce.Current.Source != "3" {
		t.Fatalf("conflict: %v %+v", err, ce)
	}
	equal(t, "versions after a conflict", len(must(a.Versions(ctx, "c.py"))(t)), 3)
	// Without a base (deploy anyway), or with bob's version as the base: it goes through.
	must(a.CreateDeployment(ctx, odb.NewDeployment{Module: "c.py", Action: odb.ActionDeploy, Source: "4", Who: "ann", Origin: "ide", Base: ce.Current.SHA256, Servers: row}))(t)
	must(b.CreateDeployment(ctx, odb.NewDeployment{Module: "c.py", Action: odb.ActionDeploy, Source: "5", Who: "ann", Origin: "ide", Servers: row}))(t)
}

func testSetServerStatus(t *testing.T, a, b odb.Store) {
	ctx := t.Context()
	d := deploy(t, a, "x.py", "X", "s1", "pending", "s2", "pending")
	time.Sleep(2 * time.Millisecond)
	e := &odb.ErrorDetail{Type: "SyntaxError", Message: "invalid syntax", Line: 3, Column: 5, Traceback: "Traceback..."}
	ok(t, b.SetServerStatus(ctx, d.ID, odb.ServerStatus{Server: "s2", Status: odb.StatusFailed, Error: e,
		DurationMs: 1.25, Services: nil}))
	got := must(a.Deployment(ctx, d.ID))(t)
	s2 := got.Servers[1]
	if !s2.UpdatedAt.After(d.CreatedAt) {
		t.Fatalf("UpdatedAt not refreshed: %v (created %v)", s2.UpdatedAt, d.CreatedAt)
	}
	equal(t, "failed row", s2, odb.ServerStatus{Server: "s2", Status: odb.StatusFailed, Services: []string{}, Error: e,
		DurationMs: 1.25, UpdatedAt: s2.UpdatedAt})
	equal(t, "other row untouched", got.Servers[0], d.Servers[0])

	ok(t, a.SetServerStatus(ctx, d.ID, odb.ServerStatus{Server: "s2", Status: odb.StatusDeployed,
		Services: []string{"x.a", "x.b"}, DurationMs: 0.5}))
	s2 = must(b.Deployment(ctx, d.ID))(t).Servers[1]
	equal(t, "replaced row", s2, odb.ServerStatus{Server: "s2", Status: odb.StatusDeployed,
		Services: []string{"x.a", "x.b"}, DurationMs: 0.5, UpdatedAt: s2.UpdatedAt})
	// ServerStatuses reads the same rows as Deployment, and nothing for an unknown deployment.
	equal(t, "ServerStatuses", must(a.ServerStatuses(ctx, d.ID))(t), must(b.Deployment(ctx, d.ID))(t).Servers)
	equal(t, "ServerStatuses of an unknown deployment", must(b.ServerStatuses(ctx, d.ID+1000))(t), []odb.ServerStatus{})

	ok(t, b.SetServerStatus(ctx, d.ID, odb.ServerStatus{Server: "s0", Status: odb.StatusOffline}))
	got = must(a.Deployment(ctx, d.ID))(t)
	equal(t, "inserted row sorts by name", []string{got.Servers[0].Server, got.Servers[1].Server, got.Servers[2].Server},
		[]string{"s0", "s1", "s2"})
	equal(t, "listed rows", must(a.Deployments(ctx, odb.DeploymentFilter{}))(t)[0].Servers, got.Servers)

	notFound(t, "unknown deployment", a.SetServerStatus(ctx, d.ID+1000, odb.ServerStatus{Server: "s1",
		Status: odb.StatusDeployed}))
	failed(t, "bad status", a.SetServerStatus(ctx, d.ID, odb.ServerStatus{Server: "s1", Status: "weird"}))
	failed(t, "empty server", a.SetServerStatus(ctx, d.ID, odb.ServerStatus{Status: odb.StatusDeployed}))
}

func testMarkOffline(t *testing.T, a, b odb.Store) {
	ctx := t.Context()
	d1 := deploy(t, a, "x.py", "1", "s1", "pending", "s2", "pending")
	d2 := deploy(t, a, "y.py", "2", "s1", "deployed", "s2", "pending")
	d3 := deploy(t, a, "z.py", "3", "s1", "pending", "s2", "failed")
	ok(t, b.MarkOffline(ctx, "s2"))
	ok(t, b.MarkOffline(ctx, "unknown"))
	equal(t, "d1", statuses(t, a, d1.ID), []odb.Status{odb.StatusPending, odb.StatusOffline})
	equal(t, "d2", statuses(t, a, d2.ID), []odb.Status{odb.StatusDeployed, odb.StatusOffline})
	equal(t, "d3", statuses(t, a, d3.ID), []odb.Status{odb.StatusPending, odb.StatusFailed})
	equal(t, "PendingFor(s2)", len(must(a.PendingFor(ctx, "s2"))(t)), 0)
	equal(t, "PendingFor(s1)", len(must(a.PendingFor(ctx, "s1"))(t)), 2)
}

func testSources(t *testing.T, a, b odb.Store) {
	ctx := t.Context()
	equal(t, "empty", len(must(a.SourceResults(ctx))(t)), 0)
	start := time.Now()
	ok(t, a.SetSourceResults(ctx, "server2", []odb.SourceResult{
		{Server: "ignored", Entry: "/opt/b", Status: "ok", Services: []string{"b.x", "b.y"}, Modules: []string{"b.py", "b2.py"}},
		{Entry: "/opt/a", Status: "failed", Message: "no such directory"},
	}))
	ok(t, b.SetSourceResults(ctx, "server1", []odb.SourceResult{{Entry: "/x", Status: "ok"}}))
	got := must(a.SourceResults(ctx))(t)
	equal(t, "count", len(got), 3)
	for _, r := range got {
		recent(t, "UpdatedAt", r.UpdatedAt, start)
	}
	equal(t, "results", got, []odb.SourceResult{
		{Server: "server1", Entry: "/x", Status: "ok", Services: []string{}, Modules: []string{}, UpdatedAt: got[0].UpdatedAt},
		{Server: "server2", Entry: "/opt/b", Status: "ok", Services: []string{"b.x", "b.y"}, Modules: []string{"b.py", "b2.py"},
			UpdatedAt: got[1].UpdatedAt},
		{Server: "server2", Entry: "/opt/a", Status: "failed", Message: "no such directory", Services: []string{},
			Modules: []string{}, UpdatedAt: got[2].UpdatedAt},
	})

	ok(t, b.SetSourceResults(ctx, "server2", []odb.SourceResult{{Entry: "/opt/c", Status: "ok"}}))
	got = must(a.SourceResults(ctx))(t)
	equal(t, "after replacing server2's", []string{got[0].Entry, got[1].Entry}, []string{"/x", "/opt/c"})
	equal(t, "count after replacing", len(got), 2)
	ok(t, a.SetSourceResults(ctx, "server2", nil))
	got = must(b.SourceResults(ctx))(t)
	equal(t, "after clearing server2's", len(got), 1)
	equal(t, "server1's kept", got[0].Server, "server1")

	failed(t, "bad status", a.SetSourceResults(ctx, "server1", []odb.SourceResult{{Entry: "/y", Status: "meh"}}))
	equal(t, "bad status changed nothing", len(must(b.SourceResults(ctx))(t)), 1)
}

func testTimes(t *testing.T, a, b odb.Store) {
	ctx := t.Context()
	fine := false
	for i := range 5 {
		d := deploy(t, a, "t.py", fmt.Sprint(i))
		got := must(b.Deployment(ctx, d.ID))(t)
		for what, tm := range map[string]time.Time{"CreatedAt": got.CreatedAt, "Version.CreatedAt": got.Version.CreatedAt,
			"UpdatedAt": got.Servers[0].UpdatedAt} {
			if tm.Location() != time.UTC {
				t.Fatalf("%s: location %v, want UTC", what, tm.Location())
			}
		}
		if !got.CreatedAt.Equal(d.CreatedAt) {
			t.Fatalf("CreatedAt read back %v, created %v", got.CreatedAt, d.CreatedAt)
		}
		if got.CreatedAt.Nanosecond()%int(time.Millisecond) != 0 {
			fine = true
		}
	}
	if !fine {
		t.Fatal("five timestamps all whole milliseconds: sub-millisecond precision is lost")
	}
}

func testConcurrentCreate(t *testing.T, a, b odb.Store) {
	ctx := t.Context()
	const workers, each = 3, 4 // per store
	var mu sync.Mutex
	numbers := map[int]bool{}
	ids := map[int64]bool{}
	var maxID int64
	var wg sync.WaitGroup
	errs := make(chan error, 2*workers*each)
	for si, s := range []odb.Store{a, b} {
		for w := range workers {
			wg.Go(func() {
				for i := range each {
					d, err := s.CreateDeployment(ctx, odb.NewDeployment{Module: "race.py", Action: odb.ActionDeploy,
						Source: fmt.Sprintf("store %d worker %d deploy %d", si, w, i), Servers: rows("s1", "pending")})
					if err != nil {
						errs <- err
						return
					}
					// Distinct modules from both stores at once, each new.
					if _, err := s.CreateDeployment(ctx, odb.NewDeployment{Module: fmt.Sprintf("m%d_%d_%d.py", si, w, i),
						Action: odb.ActionDeploy, Source: "same"}); err != nil {
						errs <- err
						return
					}
					mu.Lock()
					if numbers[d.Version.Number] || ids[d.ID] {
						errs <- fmt.Errorf("duplicate version number %d or deployment id %d", d.Version.Number, d.ID)
					}
					numbers[d.Version.Number], ids[d.ID] = true, true
					maxID = max(maxID, d.ID)
					mu.Unlock()
				}
			})
		}
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	vs := must(a.Versions(ctx, "race.py"))(t)
	equal(t, "version count", len(vs), 2*workers*each)
	for i, v := range vs {
		if v.Number != len(vs)-i {
			t.Fatalf("version numbers are not %d..1 without gaps: position %d has %d", len(vs), i, v.Number)
		}
	}
	m := must(b.Module(ctx, "race.py"))(t)
	last := must(b.Deployment(ctx, maxID))(t)
	equal(t, "last deployment", m.LastDeployment, maxID)
	equal(t, "current = the last deployment's version", m.Current, &last.Version)
	equal(t, "module count", len(must(b.Modules(ctx))(t)), 1+2*workers*each)
}

// wait returns whether ch delivered (true) or was closed (false) before the deadline, failing t otherwise.
func wait(t *testing.T, what string, ch <-chan odb.Change) bool {
	t.Helper()
	select {
	case c, open := <-ch:
		if open && c.RowsOnly {
			t.Fatalf("%s: a change reported as rows only", what)
		}
		return open
	case <-time.After(10 * time.Second):
		t.Fatalf("%s: nothing on the channel after 10s", what)
		return false
	}
}

func testChanges(t *testing.T, a, b odb.Store) {
	ctx := t.Context()
	ok(t, a.RegisterServer(ctx, odb.Server{Name: "server1", State: odb.ServerLive}))
	ch := b.Changes(ctx)
	if cap(ch) != 1 {
		t.Fatalf("Changes channel capacity %d, want 1", cap(ch))
	}
	ok(t, a.SetServerState(ctx, "server1", odb.ServerStopped))
	if !wait(t, "after a state change by the other store", ch) {
		t.Fatal("channel closed")
	}
	// Not a one-shot: a later deployment signals again.
	deploy(t, a, "x.py", "X")
	if !wait(t, "after a deployment by the other store", ch) {
		t.Fatal("channel closed")
	}
	// Many writes while nobody reads coalesce into a pending signal; they do not block the writer.
	for range 5 {
		ok(t, a.SetServerState(ctx, "server1", odb.ServerLive))
	}
	if !wait(t, "after a burst", ch) {
		t.Fatal("channel closed")
	}

	sub, cancel := context.WithCancel(ctx)
	ch2 := b.Changes(sub)
	cancel()
	for wait(t, "closing after its context ended", ch2) {
	}

	b.Close()
	for wait(t, "closing after Close", ch) {
	}
	if _, open := <-b.Changes(ctx); open {
		t.Fatal("Changes of a closed store must return a closed channel")
	}
}

func testClose(t *testing.T, a, b odb.Store) {
	ch := a.Changes(t.Context())
	ok(t, a.Close())
	for wait(t, "closing after Close", ch) {
	}
	if err := a.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}
	// b is independent of a.
	ok(t, b.RegisterServer(t.Context(), odb.Server{Name: "s", State: odb.ServerLive}))
}
