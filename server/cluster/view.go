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

// Away is a time during which a server could not write its heartbeat to the ODB (PostgreSQL restarting, a stalled
// ODB or machine): from its last heartbeat before to its first after (To is now while it lasts). Nobody could prove
// being alive then, so that time is not counted against any member.
type Away struct{ From, To time.Time }

// Clock judges members' heartbeats at one moment, as one server sees it: a member is offline once it has been silent
// for MaxAge of time in which heartbeats could be written. The time the judging server was away (its own heartbeats
// witness it) does not count: a server that was live before an ODB outage reads live (or starting) until it has had
// its beat after it, and offline only when it stays silent for MaxAge once the ODB is back. Also, when no member has
// heartbeated for a while (nobody could write one), the moment judged is the freshest heartbeat plus one beat. A
// server is offline when it falls behind the others, not when the ODB did.
type Clock struct {
	at   time.Time
	away []Away
}

// NewClock is the clock at now of a server that was away at the times given (oldest first, not overlapping).
func NewClock(members []odb.Server, now time.Time, away []Away) Clock {
	var freshest time.Time
	for _, m := range members {
		if (m.State == odb.ServerLive || m.State == odb.ServerStarting) && m.HeartbeatAt.After(freshest) {
			freshest = m.HeartbeatAt
		}
	}
	if ref := freshest.Add(HeartbeatEvery); !freshest.IsZero() && ref.Before(now) {
		now = ref
	}
	return Clock{at: now, away: away}
}

// Silence is how long m has written no heartbeat, counting only time in which heartbeats could be written.
func (k Clock) Silence(m odb.Server) time.Duration {
	d := k.at.Sub(m.HeartbeatAt)
	for _, a := range k.away {
		from, to := a.From, a.To
		if m.HeartbeatAt.After(from) {
			from = m.HeartbeatAt
		}
		if k.at.Before(to) {
			to = k.at
		}
		if to.After(from) {
			d -= to.Sub(from)
		}
	}
	return d
}

// MemberState is a member's lifecycle state by clock: the one rule every way out reports.
func MemberState(m odb.Server, clock Clock) string {
	if m.State == odb.ServerStopped || clock.Silence(m) > MaxAge {
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

// MakeView derives a deployment's overall status at now from its rows and the members' states (judged by Clock, with
// the times the viewing server was away).
func MakeView(d odb.Deployment, members []odb.Server, now time.Time, away []Away) View {
	states := make(map[string]string, len(members))
	clock := NewClock(members, now, away)
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
