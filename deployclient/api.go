package deployclient

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"strconv"

	"github.com/zato-go/zato/wire"
)

// Ping checks the connection and the credentials: an authenticated read, or Zato's empty-body /ide-deploy.
func (c *Client) Ping(ctx context.Context) error {
	if c.cfg.Kind == KindZato {
		return c.zatoPing(ctx)
	}
	if err := c.do(ctx, retrySafe, http.MethodGet, "/api/v1/servers", nil, nil); err != nil {
		return fmt.Errorf("ping: %w", err)
	}
	return nil
}

// StatusRaw is GET /api/v1/status as the server sent it.
func (c *Client) StatusRaw(ctx context.Context) (json.RawMessage, error) {
	if c.cfg.Kind == KindZato {
		return nil, fmt.Errorf("status: %w", ErrUnsupported)
	}
	var raw json.RawMessage
	if err := c.do(ctx, retrySafe, http.MethodGet, "/api/v1/status", nil, &raw); err != nil {
		return nil, fmt.Errorf("status: %w", err)
	}
	return raw, nil
}

// Status is servers, modules and service sources.
func (c *Client) Status(ctx context.Context) (StatusReport, error) {
	raw, err := c.StatusRaw(ctx)
	if err != nil {
		return StatusReport{}, err
	}
	var st StatusReport
	if err := json.Unmarshal(raw, &st); err != nil {
		return StatusReport{}, fmt.Errorf("status: decode: %w", err)
	}
	st.Raw = raw
	return st, nil
}

// Servers lists the cluster's members.
func (c *Client) Servers(ctx context.Context) ([]Member, error) {
	if c.cfg.Kind == KindZato {
		return nil, fmt.Errorf("servers: %w", ErrUnsupported)
	}
	var out struct {
		Servers []Member `json:"servers"`
	}
	if err := c.do(ctx, retrySafe, http.MethodGet, "/api/v1/servers", nil, &out); err != nil {
		return nil, fmt.Errorf("servers: %w", err)
	}
	return out.Servers, nil
}

// Modules lists every module's current state.
func (c *Client) Modules(ctx context.Context) ([]Module, error) {
	if c.cfg.Kind == KindZato {
		return nil, fmt.Errorf("modules: %w", ErrUnsupported)
	}
	var out struct {
		Modules []Module `json:"modules"`
	}
	if err := c.do(ctx, retrySafe, http.MethodGet, "/api/v1/modules", nil, &out); err != nil {
		return nil, fmt.Errorf("modules: %w", err)
	}
	return out.Modules, nil
}

// Services lists the services of the server the client talks to.
func (c *Client) Services(ctx context.Context) (ServicesReport, error) {
	if c.cfg.Kind == KindZato {
		return ServicesReport{}, fmt.Errorf("services: %w", ErrUnsupported)
	}
	var out ServicesReport
	if err := c.do(ctx, retrySafe, http.MethodGet, "/api/v1/services", nil, &out); err != nil {
		return ServicesReport{}, fmt.Errorf("services: %w", err)
	}
	return out, nil
}

// Versions lists a module's versions, newest first.
func (c *Client) Versions(ctx context.Context, module string) ([]Version, error) {
	vs, err := c.VersionsServed(ctx, module)
	return vs.Versions, err
}

// ServedVersions is a module's versions, newest first, each with the servers it serves on now (ServedBy), and the
// servers that are offline now, which serve nothing.
type ServedVersions struct {
	Versions []Version `json:"versions"`
	Offline  []string  `json:"offline"`
}

// VersionsServed lists a module's versions and where they serve.
func (c *Client) VersionsServed(ctx context.Context, module string) (ServedVersions, error) {
	var out ServedVersions
	if c.cfg.Kind == KindZato {
		return out, fmt.Errorf("versions: %w", ErrUnsupported)
	}
	if err := c.do(ctx, retrySafe, http.MethodGet, "/api/v1/modules/"+url.PathEscape(module)+"/versions", nil, &out); err != nil {
		return ServedVersions{}, fmt.Errorf("versions of %s: %w", module, err)
	}
	return out, nil
}

// ModuleVersion returns one version of a module with its source. A module or version the cluster does not have is an
// *APIError with Status 404 whose message names the versions that exist.
func (c *Client) ModuleVersion(ctx context.Context, module string, version int) (VersionSource, error) {
	if c.cfg.Kind == KindZato {
		return VersionSource{}, fmt.Errorf("version %d of %s: %w", version, module, ErrUnsupported)
	}
	var out VersionSource
	path := "/api/v1/modules/" + url.PathEscape(module) + "/versions/" + strconv.Itoa(version)
	if err := c.do(ctx, retrySafe, http.MethodGet, path, nil, &out); err != nil {
		return VersionSource{}, fmt.Errorf("version %d of %s: %w", version, module, err)
	}
	return out, nil
}

// Served returns what the server the client talks to serves now, module by module.
func (c *Client) Served(ctx context.Context) (wire.Served, error) {
	var out wire.Served
	if err := c.do(ctx, retrySafe, http.MethodGet, "/api/v1/served", nil, &out); err != nil {
		return wire.Served{}, fmt.Errorf("served: %w", err)
	}
	return out, nil
}

// Rollback deploys an earlier version of a module and returns the new deployment (not yet done: Watch it). version 0
// asks for the servers' default: the most recently deployed other version that loaded on every server that took it
// (zato rollback --help says it all).
func (c *Client) Rollback(ctx context.Context, module string, version int) (Deployment, error) {
	if c.cfg.Kind == KindZato {
		return Deployment{}, fmt.Errorf("rollback: %w", ErrUnsupported)
	}
	var d Deployment
	body := map[string]int{"version": version}
	if err := c.doKeyed(ctx, retryKeyedWrite, NewKey(), http.MethodPost, "/api/v1/modules/"+url.PathEscape(module)+"/rollback", body, &d); err != nil {
		return Deployment{}, fmt.Errorf("rollback %s: %w", module, err)
	}
	return d, nil
}

// Undeploy removes a module from every server and returns the deployment (not yet done: Watch it). origin is the
// way in that the history shows (cli, ide...; "" for api), as Deploy's.
func (c *Client) Undeploy(ctx context.Context, module, origin string) (Deployment, error) {
	if c.cfg.Kind == KindZato {
		return Deployment{}, fmt.Errorf("undeploy: %w", ErrUnsupported)
	}
	var d Deployment
	path := "/api/v1/modules/" + url.PathEscape(module)
	if origin != "" {
		path += "?origin=" + url.QueryEscape(origin)
	}
	if err := c.doKeyed(ctx, retryKeyedWrite, NewKey(), http.MethodDelete, path, nil, &d); err != nil {
		return Deployment{}, fmt.Errorf("undeploy %s: %w", module, err)
	}
	return d, nil
}

// Invoke runs a service on the server the client talks to; payload is JSON or empty. A service's own failure comes
// back as an *APIError with its exception type in Code and its traceback.
func (c *Client) Invoke(ctx context.Context, service string, payload []byte) (json.RawMessage, error) {
	path := "/api/v1/invoke/"
	if c.cfg.Kind == KindZato {
		path = "/zato/api/invoke/"
	}
	var body any
	if len(bytes.TrimSpace(payload)) > 0 {
		body = json.RawMessage(payload)
	}
	var out json.RawMessage
	if err := c.do(ctx, retryNotSent, http.MethodPost, path+url.PathEscape(service), body, &out); err != nil {
		return nil, fmt.Errorf("invoke %s: %w", service, err)
	}
	return out, nil
}
