package deployclient

import (
	"encoding/json"
	"time"
)

// Deployment statuses (overall) and per-server statuses, as in docs/architecture.md.
const (
	StatusPending  = "pending"
	StatusDeployed = "deployed"
	StatusPartial  = "partial"
	StatusFailed   = "failed"
	StatusOffline  = "offline"
	// StatusAccepted is stock Zato's answer: it took the upload and says nothing about its servers.
	StatusAccepted = "accepted"
)

// Deployment is the deployment view.
type Deployment struct {
	ID         int64          `json:"deployment_id"`
	Module     string         `json:"module"`
	Action     string         `json:"action"`
	Version    int            `json:"version"`
	SHA256     string         `json:"sha256"`
	Status     string         `json:"status"`
	Done       bool           `json:"done"`
	Expected   int            `json:"expected"`
	Confirmed  int            `json:"confirmed"`
	CreatedAt  time.Time      `json:"created_at"`
	Who        string         `json:"who"`
	Origin     string         `json:"origin"`
	ReceivedBy string         `json:"received_by"`
	Servers    []ServerStatus `json:"servers"`
	// Message is stock Zato's answer text (Kind "zato" only).
	Message string `json:"message,omitempty"`
}

// ServerStatus is one server's row of a deployment.
type ServerStatus struct {
	Name       string       `json:"name"`
	Status     string       `json:"status"`
	Services   []string     `json:"services"`
	Error      *DeployError `json:"error"`
	UpdatedAt  time.Time    `json:"updated_at"`
	DurationMs float64      `json:"duration_ms"`
}

// DeployError is why a server failed a deployment; Line and Column are 1-based, 0 when unknown.
type DeployError struct {
	Type      string `json:"type"`
	Message   string `json:"message"`
	Line      int    `json:"line,omitempty"`
	Column    int    `json:"column,omitempty"`
	Traceback string `json:"traceback,omitempty"`
}

// Server returns the row of the named server.
func (d Deployment) Server(name string) (ServerStatus, bool) {
	for _, s := range d.Servers {
		if s.Name == name {
			return s, true
		}
	}
	return ServerStatus{}, false
}

// merge replaces one server's row and derives done, confirmed and status again, the way the server does.
func (d Deployment) merge(row ServerStatus) Deployment {
	servers := make([]ServerStatus, 0, len(d.Servers)+1)
	found := false
	for _, s := range d.Servers {
		if s.Name == row.Name {
			s, found = row, true
		}
		servers = append(servers, s)
	}
	if !found {
		servers = append(servers, row)
	}
	d.Servers = servers
	d.Expected, d.Confirmed, d.Done = len(servers), 0, true
	failed := 0
	for _, s := range servers {
		switch s.Status {
		case StatusPending:
			d.Done = false
		case StatusDeployed:
			d.Confirmed++
		case StatusFailed:
			failed++
		}
	}
	switch {
	case !d.Done:
		d.Status = StatusPending
	case d.Confirmed == d.Expected:
		d.Status = StatusDeployed
	case d.Confirmed == 0:
		d.Status = StatusFailed
	default:
		d.Status = StatusPartial
	}
	return d
}

// Member is a cluster member as GET /api/v1/servers reports it.
type Member struct {
	Name        string    `json:"name"`
	URL         string    `json:"url"`
	State       string    `json:"state"` // live, offline, starting
	HeartbeatAt time.Time `json:"heartbeat_at"`
	StartedAt   time.Time `json:"started_at"`
	PID         int       `json:"pid"`
	Host        string    `json:"host"`
}

// Module is a module's current state.
type Module struct {
	Name         string         `json:"name"`
	Version      int            `json:"version"`
	SHA256       string         `json:"sha256"`
	Deployed     bool           `json:"deployed"`
	DeploymentID int64          `json:"deployment_id"`
	Status       string         `json:"status"`
	UpdatedAt    time.Time      `json:"updated_at"`
	Servers      []ServerStatus `json:"servers"`
}

// Version is one stored version of a module.
type Version struct {
	Version   int       `json:"version"`
	SHA256    string    `json:"sha256"`
	Who       string    `json:"who"`
	Origin    string    `json:"origin"`
	CreatedAt time.Time `json:"created_at"`
	Size      int       `json:"size"`
}

// Service is one service a server's runtime serves.
type Service struct {
	Name   string `json:"name"`
	Module string `json:"module"`
	Class  string `json:"class"`
}

// ServicesReport is GET /api/v1/services: the answering server's services.
type ServicesReport struct {
	Server   string    `json:"server"`
	Services []Service `json:"services"`
}

// SourceResult is how a service-sources.txt entry loaded on a server.
type SourceResult struct {
	Server    string    `json:"server"`
	Entry     string    `json:"entry"`
	Status    string    `json:"status"`
	Message   string    `json:"message"`
	Services  []string  `json:"services"`
	UpdatedAt time.Time `json:"updated_at"`
}

// StatusReport is GET /api/v1/status.
type StatusReport struct {
	Server  string          `json:"server"`
	Servers []Member        `json:"servers"`
	Modules []Module        `json:"modules"`
	Sources []SourceResult  `json:"sources"`
	Raw     json.RawMessage `json:"-"`
}
