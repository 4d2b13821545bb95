package api

import (
	"github.com/zato-go/zato/server/cluster"
	"github.com/zato-go/zato/server/odb"
	"github.com/zato-go/zato/wire"
)

// The API's JSON types are the wire package's, shared with every client.
type (
	DeploymentJSON    = wire.Deployment
	ServerJSON        = wire.ServerStatus
	MemberJSON        = wire.Member
	ModuleJSON        = wire.Module
	VersionJSON       = wire.Version
	VersionSourceJSON = wire.VersionSource
)

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
	var e *wire.DeployError
	if s.Error != nil {
		e = &wire.DeployError{Type: s.Error.Type, Message: s.Error.Message, Line: s.Error.Line, Column: s.Error.Column, Traceback: s.Error.Traceback}
	}
	return ServerJSON{Name: s.Server, Status: string(s.Status), Services: svc, Error: e, UpdatedAt: s.UpdatedAt, DurationMs: s.DurationMs}
}

func memberJSON(m odb.Server, clock cluster.Clock) MemberJSON {
	return MemberJSON{Name: m.Name, URL: m.URL, State: cluster.MemberState(m, clock), HeartbeatAt: m.HeartbeatAt, StartedAt: m.StartedAt, PID: m.PID, Host: m.Host}
}

// VersionView converts a stored version to its JSON form.
func VersionView(v odb.Version) VersionJSON {
	return VersionJSON{Version: v.Number, SHA256: v.SHA256, Who: v.Who, Origin: v.Origin, CreatedAt: v.CreatedAt, Size: len(v.Source)}
}

// VersionSourceView converts a version to its JSON form with its source.
func VersionSourceView(v odb.Version) VersionSourceJSON {
	return VersionSourceJSON{Module: v.Module, Version: v.Number, SHA256: v.SHA256, Who: v.Who, Origin: v.Origin, CreatedAt: v.CreatedAt,
		Size: len(v.Source), Source: v.Source}
}
