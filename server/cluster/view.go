package cluster

import (
	"time"

	"github.com/zato-go/zato/server/odb"
)

// Deployment-level statuses.
const (
	OverallPending  = "pending"
	OverallDeployed = "deployed"
	OverallPartial  = "partial"
	OverallFailed   = "failed"
)

// View is a deployment as clients see it: pending rows of servers that are no longer live read as offline.
type View struct {
	odb.Deployment
	Status    string
	Done      bool
	Expected  int
	Confirmed int
}

// MakeView derives a deployment's overall status at now from the members' liveness.
func MakeView(d odb.Deployment, members []odb.Server, now time.Time, maxAge time.Duration) View {
	live := make(map[string]bool, len(members))
	for _, m := range members {
		live[m.Name] = m.Live(now, maxAge)
	}
	v := View{Deployment: d, Expected: len(d.Servers), Done: true}
	v.Servers = make([]odb.ServerStatus, len(d.Servers))
	failed := 0
	for i, s := range d.Servers {
		if s.Status == odb.StatusPending && !live[s.Server] {
			s.Status = odb.StatusOffline
		}
		switch s.Status {
		case odb.StatusPending:
			v.Done = false
		case odb.StatusDeployed:
			v.Confirmed++
		case odb.StatusFailed:
			failed++
		}
		v.Servers[i] = s
	}
	switch {
	case !v.Done:
		v.Status = OverallPending
	case v.Confirmed == v.Expected:
		v.Status = OverallDeployed
	case v.Confirmed == 0 && failed > 0:
		v.Status = OverallFailed
	case v.Confirmed == 0:
		v.Status = OverallFailed // every server offline: nothing is live anywhere
	default:
		v.Status = OverallPartial
	}
	return v
}
