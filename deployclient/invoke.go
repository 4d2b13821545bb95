package deployclient

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"time"
)

// InvokeResult is one invocation as the server answered it: the language server shows all of it (status, duration,
// which server, the service's traceback) rather than only the payload Invoke returns.
type InvokeResult struct {
	URL      string          // the server asked
	Status   int             // the HTTP status of the answer
	Body     json.RawMessage // the answer as sent: the service's response, or {"error": {...}}
	Duration time.Duration   // from sending the request to the last byte of the answer
	// Error is set for a 4xx or 5xx answer: a service's failure carries its exception type in Code and its
	// traceback.
	Error *APIError
}

// serverURL is where a call goes: the client's own server for "", else the URL given (another member of the
// cluster, as GET /api/v1/servers lists it), with the same credentials.
func (c *Client) serverURL(at string) (string, error) {
	if at == "" {
		return c.base, nil
	}
	u, err := url.Parse(strings.TrimRight(at, "/"))
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return "", fmt.Errorf("bad server URL %q: want http(s)://host:port", at)
	}
	return u.String(), nil
}

// InvokeAt runs a service on one server (serverURL; "" for the client's own) and returns the answer whatever its
// status. The error is for what is not an answer: the server could not be reached, the context ended, a stock Zato
// target (kind zato) asked for a server other than its own. Like Invoke it is never retried once it may have
// reached the server: a service runs user code.
func (c *Client) InvokeAt(ctx context.Context, serverURL, service string, payload []byte) (InvokeResult, error) {
	base, err := c.serverURL(serverURL)
	if err != nil {
		return InvokeResult{}, err
	}
	path := "/api/v1/invoke/"
	if c.cfg.Kind == KindZato {
		if base != c.base {
			return InvokeResult{}, fmt.Errorf("invoke at %s: %w", base, ErrUnsupported)
		}
		path = "/zato/api/invoke/"
	}
	full := base + path + url.PathEscape(service)
	rctx, cancel := c.withTimeout(ctx, 0)
	defer cancel()
	r := c.req(rctx, retryNotSent)
	if len(bytes.TrimSpace(payload)) > 0 {
		r.SetHeader("Content-Type", "application/json").SetBody(json.RawMessage(payload))
	}
	start := time.Now()
	resp, err := r.Execute(http.MethodPost, full)
	res := InvokeResult{URL: base, Duration: time.Since(start)}
	if err != nil {
		if perr := ctx.Err(); perr != nil {
			return res, fmt.Errorf("POST %s: %w", full, perr)
		}
		return res, fmt.Errorf("POST %s: %w: %w", full, ErrUnreachable, err)
	}
	res.Status = resp.StatusCode()
	res.Body = json.RawMessage(resp.Body())
	if resp.IsError() {
		if ae, ok := apiError(res.Status, resp.Body()).(*APIError); ok {
			res.Error = ae
		}
	}
	return res, nil
}

// ServicesAt lists the services one server's runtime serves (serverURL; "" for the client's own).
func (c *Client) ServicesAt(ctx context.Context, serverURL string) (ServicesReport, error) {
	if c.cfg.Kind == KindZato {
		return ServicesReport{}, fmt.Errorf("services: %w", ErrUnsupported)
	}
	base, err := c.serverURL(serverURL)
	if err != nil {
		return ServicesReport{}, err
	}
	if base == c.base {
		return c.Services(ctx)
	}
	rctx, cancel := c.withTimeout(ctx, 0)
	defer cancel()
	resp, err := c.req(rctx, retrySafe).Get(base + "/api/v1/services")
	if err != nil {
		if perr := ctx.Err(); perr != nil {
			return ServicesReport{}, fmt.Errorf("services at %s: %w", base, perr)
		}
		return ServicesReport{}, fmt.Errorf("services at %s: %w: %w", base, ErrUnreachable, err)
	}
	if resp.IsError() {
		return ServicesReport{}, fmt.Errorf("services at %s: %w", base, apiError(resp.StatusCode(), resp.Body()))
	}
	var out ServicesReport
	if err := json.Unmarshal(resp.Body(), &out); err != nil {
		return ServicesReport{}, fmt.Errorf("services at %s: decode answer: %w", base, err)
	}
	return out, nil
}
