package cluster

import (
	"time"

	"github.com/zato-go/zato/server/odb"
	"github.com/zato-go/zato/wire"
)

// Deployment-level statuses (wire is their home).
const (
	OverallPending    = wire.StatusPending
	OverallDeployed   = wire.StatusDeployed
	OverallUndeployed = wire.StatusUndeployed
	OverallPartial    = wire.StatusPartial
	OverallFailed     = wire.StatusFailed
)

// View is a deployment as clients see it: a pending row of a server that is neither live nor starting reads as
// offline, and an undeploy's applied rows read undeployed.
type View struct {
	odb.Deployment
	Status    string
	Done      bool
	Expected  int
	Confirmed int
	// States holds each member's lifecycle state (wire.State*) when the view was made, by name.
	States map[string]string
}

// Clock is the time members' heartbeats are judged against: now, or, when no member has heartbeated for a while
// (the ODB itself was away: PostgreSQL restarting, and nobody could write a heartbeat), the freshest heartbeat plus
// one beat. A server is offline when it falls behind the others, not when the ODB did: a live server is never shown
// offline because of an outage it had no part in.
func Clock(members []odb.Server, now time.Time) time.Time {
	var freshest time.Time
	for _, m := range members {
		if (m.State == odb.ServerLive || m.State == odb.ServerStarting) && m.HeartbeatAt.After(freshest) {
			freshest = m.HeartbeatAt
		}
	}
	if ref := freshest.Add(HeartbeatEvery); !freshest.IsZero() && ref.Before(now) {
		return ref
	}
	return now
}

// MemberState is a member's lifecycle state at now (Clock's): the one rule every way out reports.
func MemberState(m odb.Server, now time.Time) string {
	if m.State == odb.ServerStopped || now.Sub(m.HeartbeatAt) > MaxAge {
		return wire.StateOffline
	}
	switch m.State {
	case odb.ServerStarting:
		return wire.StateStarting
	case odb.ServerStopping:
		return wire.StateStopping
	}
	return wire.StateLive
}

// takesDeployments reports whether a member in this state gets a pending row in a new deployment and is waited
// for: live servers apply it at once, starting ones once they have caught up.
func takesDeployments(state string) bool {
	return state == wire.StateLive || state == wire.StateStarting
}

// MakeView derives a deployment's overall status at now from its rows and the members' states.
func MakeView(d odb.Deployment, members []odb.Server, now time.Time) View {
	states := make(map[string]string, len(members))
	clock := Clock(members, now)
	for _, m := range members {
		states[m.Name] = MemberState(m, clock)
	}
	v := View{Deployment: d, States: states}
	v.Servers = make([]odb.ServerStatus, len(d.Servers))
	rows := make([]wire.ServerStatus, len(d.Servers))
	for i, s := range d.Servers {
		if s.Status == odb.StatusPending && !takesDeployments(states[s.Server]) {
			s.Status = odb.StatusOffline
		}
		s.Status = odb.Status(wire.RowStatus(string(d.Action), string(s.Status)))
		v.Servers[i] = s
		rows[i] = wire.ServerStatus{Name: s.Server, Status: string(s.Status)}
	}
	sum := wire.Summarize(string(d.Action), rows)
	v.Status, v.Done, v.Expected, v.Confirmed = sum.Status, sum.Done, sum.Expected, sum.Confirmed
	return v
}
