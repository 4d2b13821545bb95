// Package wire holds what crosses the HTTP API: the JSON types of deployments, servers and modules, the states
// they can be in, and the one function that derives a deployment's overall status from its servers' rows. The server
// (server/api, server/cluster, the web admin) and its clients (deployclient, cmd/zato, lsp) share it, so that every
// way in and out tells the same story. It imports nothing of this module.
package wire

import (
	"encoding/json"
	"fmt"
	"regexp"
	"strings"
	"time"
)

// Statuses of one server's row, and overall statuses of a deployment.
const (
	StatusPending  = "pending"  // not applied yet (the server is live or starting and will apply it)
	StatusDeployed = "deployed" // the module's version serves on that server
	// StatusUndeployed: an undeploy is done on that server (its services are gone). Overall: done everywhere.
	StatusUndeployed = "undeployed"
	StatusFailed     = "failed"  // the server could not apply it; the previous version keeps serving
	StatusOffline    = "offline" // the server was stopped or dead; it catches up with the current version at start
	StatusPartial    = "partial" // overall only: done, applied on some servers and not others
	// StatusAccepted is stock Zato's answer: it took the upload and says nothing about its servers.
	StatusAccepted = "accepted"
)

// A server's lifecycle, as GET /api/v1/servers and each deployment row report it.
const (
	StateStarting = "starting" // registered and catching up; it will apply what is pending for it
	StateLive     = "live"
	StateStopping = "stopping"
	StateOffline  = "offline" // stopped, or silent for longer than the heartbeat limit
)

// Actions of a deployment.
const (
	ActionDeploy   = "deploy"
	ActionUndeploy = "undeploy"
)

// moduleName is the rule for a hot-deployed module's name: a flat Python module file (no package, no path).
var moduleName = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*\.py$`)

// ValidModuleName reports whether name is a flat module file name, such as crm_channel.py: the one rule the server,
// the command line and the editors apply (the server adds what it alone can judge: length, shadowed names).
func ValidModuleName(name string) bool { return moduleName.MatchString(name) }

// Applied reports whether a row's status means the deployment took effect on that server.
func Applied(status string) bool { return status == StatusDeployed || status == StatusUndeployed }

// Summary is what a deployment's rows say as a whole.
type Summary struct {
	Status    string // pending, deployed, undeployed, partial, failed
	Done      bool   // no row is pending
	Expected  int    // rows
	Confirmed int    // rows applied (deployed, or undeployed for an undeploy)
	Failed    int
	Offline   int
}

// Summarize derives a deployment's overall status from its rows: pending while any row is pending; once done,
// deployed (undeployed for an undeploy) when every row applied it, failed when none did, partial otherwise.
func Summarize(action string, rows []ServerStatus) Summary {
	s := Summary{Expected: len(rows), Done: true}
	for _, r := range rows {
		switch {
		case r.Status == StatusPending:
			s.Done = false
		case Applied(r.Status):
			s.Confirmed++
		case r.Status == StatusFailed:
			s.Failed++
		case r.Status == StatusOffline:
			s.Offline++
		}
	}
	switch {
	case !s.Done:
		s.Status = StatusPending
	case s.Confirmed == s.Expected && action == ActionUndeploy:
		s.Status = StatusUndeployed
	case s.Confirmed == s.Expected:
		s.Status = StatusDeployed
	case s.Confirmed == 0:
		s.Status = StatusFailed // failed everywhere, or no server was there to take it
	default:
		s.Status = StatusPartial
	}
	return s
}

// RowStatus is how a row reads for an action: an undeploy that took effect reads undeployed, never deployed.
func RowStatus(action, status string) string {
	if action == ActionUndeploy && status == StatusDeployed {
		return StatusUndeployed
	}
	return status
}

// Deployment is the deployment view of docs/architecture.md.
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
	// Repeated: this answer is the deployment a previous request with the same idempotency key created.
	Repeated bool `json:"repeated,omitempty"`
	// Message is stock Zato's answer text (deploy clients of kind "zato" only).
	Message string `json:"message,omitempty"`
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

// WithRow replaces (or adds) one server's row and derives the overall fields again, as the server does.
func (d Deployment) WithRow(row ServerStatus) Deployment {
	servers := make([]ServerStatus, 0, len(d.Servers)+1)
	found := false
	for _, s := range d.Servers {
		if s.Name == row.Name {
			if row.State == "" {
				row.State = s.State
			}
			s, found = row, true
		}
		servers = append(servers, s)
	}
	if !found {
		servers = append(servers, row)
	}
	d.Servers = servers
	sum := Summarize(d.Action, servers)
	d.Status, d.Done, d.Expected, d.Confirmed = sum.Status, sum.Done, sum.Expected, sum.Confirmed
	return d
}

// ServerStatus is one server's row of a deployment.
type ServerStatus struct {
	Name   string `json:"name"`
	Status string `json:"status"`
	// State is the server's lifecycle state when the view was made: a pending row of a starting server will be
	// applied once it has caught up.
	State      string       `json:"server_state,omitempty"`
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

// Member is a cluster member as GET /api/v1/servers reports it.
type Member struct {
	Name        string    `json:"name"`
	URL         string    `json:"url"`
	State       string    `json:"state"` // starting, live, stopping, offline
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
	Deployed     bool           `json:"deployed"` // false once undeployed; whether its version serves is Status
	DeploymentID int64          `json:"deployment_id"`
	Status       string         `json:"status"`
	UpdatedAt    time.Time      `json:"updated_at"`
	Servers      []ServerStatus `json:"servers"`
	// Who and Origin made the module's newest deployment (a rollback, an undeploy, a save in an IDE, the pickup dir).
	Who    string `json:"who"`
	Origin string `json:"origin"`
}

// Version is one stored version of a module.
type Version struct {
	Version   int       `json:"version"`
	SHA256    string    `json:"sha256"`
	Who       string    `json:"who"`
	Origin    string    `json:"origin"`
	CreatedAt time.Time `json:"created_at"`
	Size      int       `json:"size"`
	// ServedBy are the servers this version serves on now (the newest deployment each applied); GET .../versions
	// fills it, other answers leave it out.
	ServedBy []string `json:"served_by,omitempty"`
}

// VersionSource is GET /api/v1/modules/{name}/versions/{n}: one stored version of a module with its source, what an
// editor shows read-only ("open deployed source", a version from the history, the cluster's side of a diff).
type VersionSource struct {
	Module    string    `json:"module"`
	Version   int       `json:"version"`
	SHA256    string    `json:"sha256"`
	Who       string    `json:"who"`
	Origin    string    `json:"origin"`
	CreatedAt time.Time `json:"created_at"`
	Size      int       `json:"size"`
	Source    string    `json:"source"`
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

// Conflict is the 409 answer to an upload whose base (the version its author last saw) is not the module's current
// version any more, because someone or something else deployed another one: {"error": {"code": "conflict",
// "message", "current": Conflict}}.
type Conflict struct {
	Version   int       `json:"version"`
	SHA256    string    `json:"sha256"`
	Source    string    `json:"source"`
	Who       string    `json:"who"`
	Origin    string    `json:"origin"`
	CreatedAt time.Time `json:"created_at"`
}

// ServerHeader names the server that answered, on every answer of the HTTP API.
const ServerHeader = "X-Zato-Server"

// IdempotencyHeader carries a write's idempotency key: a repeat of a write with the same key returns the deployment
// the first one created instead of making another, so a client may retry a write whose answer it did not get.
const IdempotencyHeader = "Idempotency-Key"

// Outcome says in words what a deployment's rows say: "deployed on every server (2/2)", "failed on every server
// (0/2)", "deployed on 1 of 2 servers; server2 failed", "undeployed from every server (2/2)", "waiting: 1/2
// confirmed; server2 starting". Every client prints it, so they agree.
func Outcome(d Deployment) string {
	sum := Summarize(d.Action, d.Servers)
	verb, prep := "deployed", "on"
	if d.Action == ActionUndeploy {
		verb, prep = "undeployed", "from"
	}
	every := "every server"
	if sum.Expected == 1 {
		every = "the only server"
	}
	var others []string
	for _, s := range d.Servers {
		switch {
		case Applied(s.Status):
		case s.Status == StatusPending && s.State != "" && s.State != StateLive:
			others = append(others, s.Name+" "+s.State)
		default:
			others = append(others, s.Name+" "+s.Status)
		}
	}
	rest := ""
	if len(others) > 0 {
		rest = "; " + strings.Join(others, ", ")
	}
	switch sum.Status {
	case StatusDeployed, StatusUndeployed:
		return fmt.Sprintf("%s %s %s (%d/%d)", verb, prep, every, sum.Confirmed, sum.Expected)
	case StatusFailed:
		return fmt.Sprintf("failed on %s (0/%d)%s", every, sum.Expected, rest)
	case StatusPartial:
		return fmt.Sprintf("%s %s %d of %d servers%s", verb, prep, sum.Confirmed, sum.Expected, rest)
	}
	return fmt.Sprintf("waiting: %d/%d confirmed%s", sum.Confirmed, sum.Expected, rest)
}

// Succeeded reports whether a deployment took effect on every server.
func Succeeded(d Deployment) bool {
	return d.Status == StatusDeployed || d.Status == StatusUndeployed
}

// ClusterEventsPath is the cluster-wide event stream (Server-Sent Events): an event ClusterChanged whenever anything
// a cluster view shows may have changed (a deployment, a server's row, a server's state), coalesced, and a comment
// every 15 s while nothing changes.
const ClusterEventsPath = "/api/v1/events"

// ClusterChanged is the cluster-wide event stream's event name.
const ClusterChanged = "changed"

// ClusterChange is the data of a ClusterChanged event: only when the server learned of the change. A client reads
// what it shows again (GET /api/v1/status).
type ClusterChange struct {
	At time.Time `json:"at"`
}
