// Package odb is the operational database shared by the servers of a cluster: membership with heartbeats, every
// module version, deployments and one status row per server per deployment. SQLite (embedded, one file shared by the
// servers of an environment) and PostgreSQL (servers on several hosts) implement the same Store.
package odb

import (
	"context"
	"errors"
	"fmt"
	"time"
)

// ErrUnavailable is returned (wrapped) when the ODB cannot be reached, or is going away, right now (PostgreSQL
// restarting, a network cut): the request may be tried again shortly.
var ErrUnavailable = errors.New("the ODB is unavailable")

// errStoreClosed is a write after Close (a goroutine that outlived its server's stop).
var errStoreClosed = fmt.Errorf("%w: the store is closed", ErrUnavailable)

// ErrNotFound is returned (wrapped) when a deployment, module or version does not exist.
var ErrNotFound = errors.New("not found")

// ServerState is what a server says of itself.
type ServerState string

const (
	ServerStarting ServerState = "starting" // registered, still loading its modules
	ServerLive     ServerState = "live"     // serving; heartbeats
	ServerStopping ServerState = "stopping" // shutting down: takes no new deployments
	ServerStopped  ServerState = "stopped"  // stopped cleanly
)

// Server is one cluster member.
type Server struct {
	Name        string
	URL         string // base URL peers use to nudge it, e.g. http://127.0.0.1:17010
	PID         int
	Host        string
	State       ServerState
	StartedAt   time.Time
	HeartbeatAt time.Time
}

// Live reports whether the server counts as live at now: state live and a heartbeat within maxAge.
func (s Server) Live(now time.Time, maxAge time.Duration) bool {
	return s.State == ServerLive && now.Sub(s.HeartbeatAt) <= maxAge
}

// Status of one server in one deployment.
type Status string

const (
	StatusPending  Status = "pending"
	StatusDeployed Status = "deployed"
	StatusFailed   Status = "failed"
	StatusOffline  Status = "offline"
)

// Action of a deployment.
type Action string

const (
	ActionDeploy   Action = "deploy"
	ActionUndeploy Action = "undeploy"
)

// ErrorDetail is why a server failed a deployment.
type ErrorDetail struct {
	Type      string `json:"type"`
	Message   string `json:"message"`
	Line      int    `json:"line,omitempty"`
	Column    int    `json:"column,omitempty"`
	Traceback string `json:"traceback,omitempty"`
}

// ServerStatus is one server's row in a deployment.
type ServerStatus struct {
	Server     string
	Status     Status
	Services   []string
	Error      *ErrorDetail
	DurationMs float64 // time the server took to apply it
	UpdatedAt  time.Time
}

// Version is one immutable version of a module's source.
type Version struct {
	ID        int64
	Module    string // file name, e.g. crm_channel.py
	Number    int    // 1, 2, 3... per module
	SHA256    string // hex
	Source    string
	Who       string
	Origin    string
	CreatedAt time.Time
}

// Deployment asks every server to deploy a version of a module, or to undeploy it.
type Deployment struct {
	ID         int64
	Module     string
	Action     Action
	Version    Version // zero for undeploy
	Who        string
	Origin     string
	ReceivedBy string
	CreatedAt  time.Time
	Servers    []ServerStatus // ordered by server name
	// Repeated, set by CreateDeployment only: the deployment was created by an earlier request with the same Key.
	Repeated bool
	// Backlog, set by CreateDeployment only, lists the servers given a pending row here that had older
	// deployments pending too: they must apply those first. The others may apply this one at once.
	Backlog []string
}

// Change is what Changes reports.
type Change struct {
	// RowsOnly: only servers' rows changed (their status in deployments, their service-sources results), so there is
	// nothing new to apply; those waiting on a deployment may look. PostgreSQL tells; SQLite cannot and always says
	// false. Coalesced changes are RowsOnly only if each was.
	RowsOnly bool
}

// Module is a module's current state.
type Module struct {
	Name           string
	Current        *Version // nil once undeployed
	LastDeployment int64    // newest deployment of the module (deploy or undeploy)
}

// NewDeployment is the input of CreateDeployment.
type NewDeployment struct {
	Module string
	Action Action
	// For deploy: the source. A source whose sha256 equals the module's newest version reuses that version;
	// otherwise a new version is stored. Ignored for undeploy.
	Source string
	// For rollback: deploy this existing version (its module must match) instead of Source. 0 = use Source.
	VersionID  int64
	Who        string
	Origin     string
	ReceivedBy string
	// One row per server, usually pending for live servers and offline for the others.
	Servers []ServerStatus
	// Base, if set, is the sha256 of the version the requester last saw (deployed or fetched). When the module's
	// current version has another sha256 than Base and than Source, and its newest deployment was made by someone
	// or something else (another who or origin), CreateDeployment stores nothing and returns a *ConflictError.
	Base string
	// Key, if set, is the request's idempotency key: when a deployment with this key exists, CreateDeployment
	// returns it (Repeated) and stores nothing.
	Key string
}

// DeploymentFilter selects deployments, newest first.
type DeploymentFilter struct {
	Module string // "" = all
	Limit  int    // 0 = 50
	Before int64  // > 0: only deployments older than this id (the next page of a list, newest first)
}

// Store is the ODB. Every method is safe for concurrent use, also from several processes sharing one database.
type Store interface {
	// RegisterServer inserts or updates a member (name is the key), setting StartedAt and HeartbeatAt to now.
	RegisterServer(ctx context.Context, s Server) error
	// SetServerState changes a member's state and refreshes its heartbeat.
	SetServerState(ctx context.Context, name string, state ServerState) error
	// Heartbeat refreshes a member's heartbeat.
	Heartbeat(ctx context.Context, name string) error
	// Servers lists members ordered by name.
	Servers(ctx context.Context) ([]Server, error)

	// CreateDeployment stores the version (when needed), the deployment and its rows in one transaction, and moves
	// the module's current version (to the deployed version, or to none for undeploy).
	CreateDeployment(ctx context.Context, d NewDeployment) (Deployment, error)
	// Deployment returns one deployment with its version (source included) and rows.
	Deployment(ctx context.Context, id int64) (Deployment, error)
	// Deployments lists deployments (with rows; Version.Source left empty), newest first.
	Deployments(ctx context.Context, f DeploymentFilter) ([]Deployment, error)
	// ServerStatuses reads a deployment's rows only, ordered by server (empty if there is no such deployment):
	// what changes while clients wait on it.
	ServerStatuses(ctx context.Context, id int64) ([]ServerStatus, error)
	// PendingFor lists deployments where server's row is pending, oldest first, with sources; Servers holds that
	// row only (what a deployer needs).
	PendingFor(ctx context.Context, server string) ([]Deployment, error)
	// Behind lists, oldest first with sources, each module's newest deployment where server's row is offline: what
	// a live server missed (it was stopped, starting or silent when the deployment was made) and must catch up on.
	// Servers holds that row only.
	Behind(ctx context.Context, server string) ([]Deployment, error)
	// LastRows returns server's row in each module's newest deployment, by module name (modules without such a row
	// are absent).
	LastRows(ctx context.Context, server string) (map[string]ServerStatus, error)
	// SetServerStatus inserts or replaces server's row in a deployment (UpdatedAt = now).
	SetServerStatus(ctx context.Context, deploymentID int64, st ServerStatus) error
	// MarkOffline turns every pending row of server into offline (a server that died while pending, or one that
	// starts again and skips what it missed in favour of the modules' current versions).
	MarkOffline(ctx context.Context, server string) error

	// Modules lists every module ever deployed ordered by name, with current versions (sources included).
	Modules(ctx context.Context) ([]Module, error)
	// Module returns one module.
	Module(ctx context.Context, name string) (Module, error)
	// Versions lists a module's versions newest first (sources included).
	Versions(ctx context.Context, module string) ([]Version, error)

	// Changes returns a channel that receives (coalesced, non-blocking) whenever another process may have changed the
	// ODB: PostgreSQL LISTEN/NOTIFY; SQLite `PRAGMA data_version` checked at most every 50 ms. It is closed when ctx
	// ends or the store is closed. This is the safety net: servers also nudge each other directly. Heartbeats alone
	// may not signal (liveness is judged by their age, not by their arrival).
	Changes(ctx context.Context) <-chan Change

	// SetSourceResults replaces server's service-sources results (Server is taken from the argument, UpdatedAt = now).
	SetSourceResults(ctx context.Context, server string, results []SourceResult) error
	// SourceResults lists every server's results ordered by server name, then in the order they were given.
	SourceResults(ctx context.Context) ([]SourceResult, error)

	// Close releases the store. Calling it again is a no-op.
	Close() error
}

// ConflictError says that a module's current version is not the one the requester last saw, and who made it.
type ConflictError struct {
	Module  string
	Current Version // the version serving now
	Who     string  // of its newest deployment (a rollback's author, the pickup dir...)
	Origin  string
	At      time.Time // when that deployment was made
}

func (e *ConflictError) Error() string {
	return fmt.Sprintf("%s changed since you last saw it: version %d was deployed by %s (%s) at %s", e.Module,
		e.Current.Number, e.Who, e.Origin, e.At.UTC().Format("2006-01-02 15:04:05 MST"))
}

// ErrKeyReused is returned (wrapped) when an idempotency key comes back with another module or action.
var ErrKeyReused = errors.New("idempotency key reused for another request")

// ErrWrongModule is returned (wrapped) when NewDeployment.VersionID names a version of another module.
var ErrWrongModule = errors.New("version belongs to another module")

// SourceResult is what one server made of one entry of its service-sources.txt.
type SourceResult struct {
	Server    string
	Entry     string // the line of service-sources.txt
	Status    string // "ok" | "failed"
	Message   string
	Services  []string
	Modules   []string // the module files it loaded (a dotted entry: the module, named as the runtime names it)
	UpdatedAt time.Time
}
