package api

import (
	"time"

	"github.com/zato-go/zato/server/cluster"
	"github.com/zato-go/zato/server/odb"
)

// DeploymentJSON is the deployment view of docs/architecture.md.
type DeploymentJSON struct {
	ID         int64        `json:"deployment_id"`
	Module     string       `json:"module"`
	Action     string       `json:"action"`
	Version    int          `json:"version"`
	SHA256     string       `json:"sha256"`
	Status     string       `json:"status"`
	Done       bool         `json:"done"`
	Expected   int          `json:"expected"`
	Confirmed  int          `json:"confirmed"`
	CreatedAt  time.Time    `json:"created_at"`
	Who        string       `json:"who"`
	Origin     string       `json:"origin"`
	ReceivedBy string       `json:"received_by"`
	Servers    []ServerJSON `json:"servers"`
	Repeated   bool         `json:"repeated,omitempty"` // an earlier request with the same idempotency key made it
}

// ServerJSON is one server's row.
type ServerJSON struct {
	Name       string           `json:"name"`
	Status     string           `json:"status"`
	State      string           `json:"server_state,omitempty"` // the server's lifecycle state (wire.State*)
	Services   []string         `json:"services"`
	Error      *odb.ErrorDetail `json:"error"`
	UpdatedAt  time.Time        `json:"updated_at"`
	DurationMs float64          `json:"duration_ms"`
}

// DeploymentView converts a deployment view to its JSON form (the API's, the web admin's and their SSE streams').
func DeploymentView(v cluster.View) DeploymentJSON {
	out := DeploymentJSON{
		ID: v.ID, Module: v.Module, Action: string(v.Action), Version: v.Version.Number, SHA256: v.Version.SHA256,
		Status: v.Status, Done: v.Done, Expected: v.Expected, Confirmed: v.Confirmed, CreatedAt: v.CreatedAt,
		Who: v.Who, Origin: v.Origin, ReceivedBy: v.ReceivedBy, Servers: make([]ServerJSON, 0, len(v.Servers)),
	}
	for _, s := range v.Servers {
		row := ServerView(s)
		row.State = v.States[s.Server]
		out.Servers = append(out.Servers, row)
	}
	return out
}

// ServerView converts one server's row to its JSON form.
func ServerView(s odb.ServerStatus) ServerJSON {
	svc := s.Services
	if svc == nil {
		svc = []string{}
	}
	return ServerJSON{Name: s.Server, Status: string(s.Status), Services: svc, Error: s.Error, UpdatedAt: s.UpdatedAt, DurationMs: s.DurationMs}
}

// MemberJSON is a cluster member.
type MemberJSON struct {
	Name        string    `json:"name"`
	URL         string    `json:"url"`
	State       string    `json:"state"`
	HeartbeatAt time.Time `json:"heartbeat_at"`
	StartedAt   time.Time `json:"started_at"`
	PID         int       `json:"pid"`
	Host        string    `json:"host"`
}

func memberJSON(m odb.Server, now time.Time) MemberJSON {
	return MemberJSON{Name: m.Name, URL: m.URL, State: cluster.MemberState(m, now), HeartbeatAt: m.HeartbeatAt, StartedAt: m.StartedAt, PID: m.PID, Host: m.Host}
}

// ModuleJSON is a module's current state.
type ModuleJSON struct {
	Name         string       `json:"name"`
	Version      int          `json:"version"`
	SHA256       string       `json:"sha256"`
	Deployed     bool         `json:"deployed"`
	DeploymentID int64        `json:"deployment_id"`
	Status       string       `json:"status"`
	UpdatedAt    time.Time    `json:"updated_at"`
	Servers      []ServerJSON `json:"servers"`
}

// VersionJSON is one version of a module.
type VersionJSON struct {
	Version   int       `json:"version"`
	SHA256    string    `json:"sha256"`
	Who       string    `json:"who"`
	Origin    string    `json:"origin"`
	CreatedAt time.Time `json:"created_at"`
	Size      int       `json:"size"`
}
