package cluster

import (
	"testing"
	"time"

	"github.com/zato-go/zato/server/odb"
)

func TestMakeView(t *testing.T) {
	now := time.Now()
	members := []odb.Server{
		{Name: "s1", State: odb.ServerLive, HeartbeatAt: now},
		{Name: "s2", State: odb.ServerLive, HeartbeatAt: now.Add(-10 * time.Second)}, // killed
		{Name: "s3", State: odb.ServerStopped, HeartbeatAt: now},
	}
	rows := func(st ...odb.Status) odb.Deployment {
		var d odb.Deployment
		for i, s := range st {
			d.Servers = append(d.Servers, odb.ServerStatus{Server: []string{"s1", "s2", "s3"}[i], Status: s})
		}
		return d
	}
	cases := []struct {
		d                odb.Deployment
		status           string
		done             bool
		confirmed, total int
	}{
		{rows(odb.StatusPending, odb.StatusDeployed, odb.StatusDeployed), OverallPending, false, 2, 3},
		{rows(odb.StatusDeployed, odb.StatusDeployed, odb.StatusDeployed), OverallDeployed, true, 3, 3},
		{rows(odb.StatusDeployed, odb.StatusPending, odb.StatusOffline), OverallPartial, true, 1, 3}, // s2 died while pending
		{rows(odb.StatusFailed, odb.StatusFailed, odb.StatusFailed), OverallFailed, true, 0, 3},
		{rows(odb.StatusDeployed, odb.StatusFailed, odb.StatusDeployed), OverallPartial, true, 2, 3},
	}
	for i, c := range cases {
		v := MakeView(c.d, members, now)
		if v.Status != c.status || v.Done != c.done || v.Confirmed != c.confirmed || v.Expected != c.total {
			t.Errorf("case %d: %+v", i, v)
		}
	}
	if v := MakeView(rows(odb.StatusDeployed, odb.StatusPending), members, now); v.Servers[1].Status != odb.StatusOffline {
		t.Errorf("a dead server's pending row should read offline: %+v", v.Servers[1])
	}
}

// A live server is not shown offline because the ODB was away and nobody could heartbeat: liveness is judged
// against the freshest heartbeat, and a server is offline when it falls behind the others.
func TestClockJudgesAgainstTheFreshestHeartbeat(t *testing.T) {
	now := time.Now()
	outage := []odb.Server{
		{Name: "s1", State: odb.ServerLive, HeartbeatAt: now.Add(-5 * time.Second)},
		{Name: "s2", State: odb.ServerLive, HeartbeatAt: now.Add(-6 * time.Second)},
	}
	d := odb.Deployment{Servers: []odb.ServerStatus{{Server: "s1", Status: odb.StatusDeployed}, {Server: "s2", Status: odb.StatusPending}}}
	if v := MakeView(d, outage, now); v.Done || v.Servers[1].Status != odb.StatusPending || v.States["s2"] != "live" {
		t.Fatalf("after an ODB outage a live server reads %s (%s)", v.Servers[1].Status, v.States["s2"])
	}
	// s2 killed: s1 heartbeats on, s2 falls behind.
	killed := []odb.Server{
		{Name: "s1", State: odb.ServerLive, HeartbeatAt: now},
		{Name: "s2", State: odb.ServerLive, HeartbeatAt: now.Add(-6 * time.Second)},
	}
	if v := MakeView(d, killed, now); !v.Done || v.Servers[1].Status != odb.StatusOffline {
		t.Fatalf("a server that fell behind reads %s", v.Servers[1].Status)
	}
}
