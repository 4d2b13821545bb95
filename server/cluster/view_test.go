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
		v := MakeView(c.d, members, now, nil)
		if v.Status != c.status || v.Done != c.done || v.Confirmed != c.confirmed || v.Expected != c.total {
			t.Errorf("case %d: %+v", i, v)
		}
	}
	if v := MakeView(rows(odb.StatusDeployed, odb.StatusPending), members, now, nil); v.Servers[1].Status != odb.StatusOffline {
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
	if v := MakeView(d, outage, now, nil); v.Done || v.Servers[1].Status != odb.StatusPending || v.States["s2"] != "live" {
		t.Fatalf("after an ODB outage a live server reads %s (%s)", v.Servers[1].Status, v.States["s2"])
	}
	// s2 killed: s1 heartbeats on, s2 falls behind.
	killed := []odb.Server{
		{Name: "s1", State: odb.ServerLive, HeartbeatAt: now},
		{Name: "s2", State: odb.ServerLive, HeartbeatAt: now.Add(-6 * time.Second)},
	}
	if v := MakeView(d, killed, now, nil); !v.Done || v.Servers[1].Status != odb.StatusOffline {
		t.Fatalf("a server that fell behind reads %s", v.Servers[1].Status)
	}
}

// Right after an ODB outage, the first server to write a heartbeat again does not make the others offline: they have
// not had their beat yet. Their silence counts only over time in which heartbeats could be written (the viewing
// server's own heartbeats witness the rest), so a live server reads live until it stays silent for MaxAge once the
// ODB is back.
func TestClockDoesNotCountAnOutageAgainstServers(t *testing.T) {
	now := time.Now()
	back := now.Add(-500 * time.Millisecond) // the viewing server wrote its first heartbeat after 5 s away
	away := []Away{{From: back.Add(-5 * time.Second), To: back}}
	members := []odb.Server{
		{Name: "s1", State: odb.ServerLive, HeartbeatAt: back},
		{Name: "s2", State: odb.ServerLive, HeartbeatAt: away[0].From.Add(-900 * time.Millisecond)},
		{Name: "s3", State: odb.ServerLive, HeartbeatAt: away[0].From.Add(-10 * time.Second)}, // silent long before
	}
	d := odb.Deployment{Servers: []odb.ServerStatus{
		{Server: "s1", Status: odb.StatusDeployed}, {Server: "s2", Status: odb.StatusPending}, {Server: "s3", Status: odb.StatusPending},
	}}
	v := MakeView(d, members, now, away)
	if v.States["s2"] != "live" || v.Servers[1].Status != odb.StatusPending || v.Done {
		t.Errorf("a server live before the outage reads %s (%s) before its first beat after it", v.States["s2"], v.Servers[1].Status)
	}
	if v.States["s3"] != "offline" || v.Servers[2].Status != odb.StatusOffline {
		t.Errorf("a server silent long before the outage reads %s (%s)", v.States["s3"], v.Servers[2].Status)
	}
	if v := MakeView(d, members, now, nil); v.States["s2"] != "offline" {
		t.Fatalf("the test does not test: without the outage s2 reads %s", v.States["s2"])
	}
	// Two outages with less than a beat between them: the second viewing server's heartbeat came between them, s2's
	// did not; s2 has been silent for 1.4 s of time the ODB took heartbeats, not 10 s.
	second := []Away{away[0], {From: back.Add(500 * time.Millisecond), To: back.Add(5500 * time.Millisecond)}}
	at := second[1].To.Add(500 * time.Millisecond)
	members[0].HeartbeatAt = second[1].To
	if k := NewClock(members, at, second); k.Silence(members[1]) > 2*time.Second || MemberState(members[1], k) != "live" {
		t.Errorf("after two outages s2 is silent for %v and reads %s", k.Silence(members[1]), MemberState(members[1], k))
	}
	// Silent for MaxAge once the ODB is back: offline.
	later := back.Add(MaxAge + 100*time.Millisecond)
	members[0].HeartbeatAt = later
	if v := MakeView(d, members, later, away); v.States["s2"] != "offline" || !v.Done {
		t.Errorf("a server silent for MaxAge after the outage reads %s", v.States["s2"])
	}
}

// beat and awayAt: this server's own heartbeats witness the time it was away, while it lasts and after.
func TestAwayIsWitnessedByOwnHeartbeats(t *testing.T) {
	c := New(Config{Name: "s1"}, nil, nil)
	t0 := time.Now()
	for i := range 3 { // regular beats, a few ms late: never away
		c.beat(t0.Add(time.Duration(i)*HeartbeatEvery + time.Duration(i)*5*time.Millisecond))
	}
	last := t0.Add(2*HeartbeatEvery + 10*time.Millisecond)
	if a := c.awayAt(last.Add(HeartbeatEvery + 100*time.Millisecond)); len(a) != 0 {
		t.Fatalf("regular beats read as away: %+v", a)
	}
	// The ODB goes away: while the next beat is overdue, the time since the last one is away.
	if a := c.awayAt(last.Add(4 * time.Second)); len(a) != 1 || a[0] != (Away{From: last, To: last.Add(4 * time.Second)}) {
		t.Fatalf("4 s after the last beat: %+v", a)
	}
	back := last.Add(5 * time.Second)
	c.beat(back)
	c.beat(back.Add(HeartbeatEvery + 20*time.Millisecond)) // regular beats after it keep it
	if a := c.awayAt(back.Add(HeartbeatEvery + 30*time.Millisecond)); len(a) != 1 || a[0] != (Away{From: last, To: back}) {
		t.Fatalf("after the outage: %+v", a)
	}
	for i := range 2 * keepAway {
		c.beat(back.Add(time.Duration(3*i+4) * time.Second))
	}
	if len(c.away) != keepAway {
		t.Fatalf("%d times away kept", len(c.away))
	}
}
