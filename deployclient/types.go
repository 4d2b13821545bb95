package deployclient

import "github.com/zato-go/zato/wire"

// Deployment statuses (overall) and per-server statuses, as in docs/architecture.md; package wire is their home.
const (
	StatusPending    = wire.StatusPending
	StatusDeployed   = wire.StatusDeployed
	StatusUndeployed = wire.StatusUndeployed
	StatusPartial    = wire.StatusPartial
	StatusFailed     = wire.StatusFailed
	StatusOffline    = wire.StatusOffline
	StatusAccepted   = wire.StatusAccepted
)

// The API's JSON types, shared with the server through package wire.
type (
	Deployment     = wire.Deployment
	ServerStatus   = wire.ServerStatus
	DeployError    = wire.DeployError
	Member         = wire.Member
	Module         = wire.Module
	Version        = wire.Version
	VersionSource  = wire.VersionSource
	Service        = wire.Service
	ServicesReport = wire.ServicesReport
	SourceResult   = wire.SourceResult
	StatusReport   = wire.StatusReport
)
