// Package deployclient is the HTTP client of a cluster's hot-deploy API, used by the CLI, the language server and
// tests. It also speaks to a stock Zato server through /ide-deploy (Kind "zato"), where the answer is only
// "accepted", as Zato gives no confirmation.
package deployclient

import (
	"bufio"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/go-resty/resty/v2"
)

// Errors callers tell apart.
var (
	ErrUnauthorized = errors.New("unauthorized: wrong username or password")
	ErrUnreachable  = errors.New("server unreachable")
)

// APIError is a 4xx or 5xx answer.
type APIError struct {
	Status  int
	Code    string
	Message string
}

func (e *APIError) Error() string {
	if e.Code != "" {
		return fmt.Sprintf("%d %s: %s", e.Status, e.Code, e.Message)
	}
	return fmt.Sprintf("%d: %s", e.Status, e.Message)
}

// Config of a Client.
type Config struct {
	URL, Username, Password string
	CAFile                  string
	InsecureSkipVerify      bool
	Timeout                 time.Duration // per request, default 30s (long-polls add their wait)
	Kind                    string        // "" (this project's servers) or "zato" (stock Zato: /ide-deploy only)
	Retries                 int           // on network errors and 5xx, default 3; never on 4xx
}

// Deployment mirrors the server's deployment view.
type Deployment struct {
	ID         int64          `json:"deployment_id"`
	Module     string         `json:"module"`
	Action     string         `json:"action"`
	Version    int            `json:"version"`
	SHA256     string         `json:"sha256"`
	Status     string         `json:"status"` // pending|deployed|partial|failed, or accepted for stock Zato
	Done       bool           `json:"done"`
	Expected   int            `json:"expected"`
	Confirmed  int            `json:"confirmed"`
	CreatedAt  time.Time      `json:"created_at"`
	Who        string         `json:"who"`
	Origin     string         `json:"origin"`
	ReceivedBy string         `json:"received_by"`
	Servers    []ServerStatus `json:"servers"`
	Message    string         `json:"message,omitempty"` // stock Zato's answer
}

// ServerStatus is one server's row.
type ServerStatus struct {
	Name       string       `json:"name"`
	Status     string       `json:"status"`
	Services   []string     `json:"services"`
	Error      *DeployError `json:"error"`
	UpdatedAt  time.Time    `json:"updated_at"`
	DurationMs float64      `json:"duration_ms"`
}

// DeployError is why a server failed.
type DeployError struct {
	Type      string `json:"type"`
	Message   string `json:"message"`
	Line      int    `json:"line,omitempty"`
	Column    int    `json:"column,omitempty"`
	Traceback string `json:"traceback,omitempty"`
}

// Version is one version of a module.
type Version struct {
	Version   int       `json:"version"`
	SHA256    string    `json:"sha256"`
	Who       string    `json:"who"`
	Origin    string    `json:"origin"`
	CreatedAt time.Time `json:"created_at"`
	Size      int       `json:"size"`
}

// Member is a cluster member.
type Member struct {
	Name        string    `json:"name"`
	URL         string    `json:"url"`
	State       string    `json:"state"`
	HeartbeatAt time.Time `json:"heartbeat_at"`
}

// Client talks to one server.
type Client struct {
	cfg Config
	r   *resty.Client
	sse *http.Client // streams have no overall timeout
}

// New returns a Client.
func New(cfg Config) (*Client, error) {
	if cfg.URL == "" {
		return nil, errors.New("deployclient: no URL")
	}
	if _, err := url.Parse(cfg.URL); err != nil {
		return nil, fmt.Errorf("deployclient: bad URL %q: %w", cfg.URL, err)
	}
	if cfg.Timeout <= 0 {
		cfg.Timeout = 30 * time.Second
	}
	if cfg.Retries == 0 {
		cfg.Retries = 3
	}
	r := resty.New().
		SetBaseURL(strings.TrimRight(cfg.URL, "/")).
		SetBasicAuth(cfg.Username, cfg.Password).
		SetRetryCount(max(cfg.Retries, 0)).
		SetRetryWaitTime(50 * time.Millisecond).
		SetRetryMaxWaitTime(2 * time.Second).
		AddRetryCondition(func(resp *resty.Response, err error) bool {
			if err != nil {
				return isNetErr(err)
			}
			return resp.StatusCode() >= 500
		}).
		SetHeader("User-Agent", "zato-deployclient")
	if cfg.CAFile != "" {
		r.SetRootCertificate(cfg.CAFile)
	}
	if cfg.InsecureSkipVerify {
		r.SetTLSClientConfig(insecureTLS())
	}
	c := &Client{cfg: cfg, r: r, sse: &http.Client{Transport: r.GetClient().Transport}}
	return c, nil
}

func isNetErr(err error) bool {
	if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return false
	}
	var ne net.Error
	var ue *url.Error
	return errors.As(err, &ne) || errors.As(err, &ue)
}

// do runs a request with a per-request timeout and maps errors.
func (c *Client) do(ctx context.Context, method, path string, body, out any, extra time.Duration) error {
	ctx, cancel := context.WithTimeout(ctx, c.cfg.Timeout+extra)
	defer cancel()
	req := c.r.R().SetContext(ctx)
	if body != nil {
		req.SetHeader("Content-Type", "application/json").SetBody(body)
	}
	resp, err := req.Execute(method, path)
	if err != nil {
		if ctx.Err() != nil && errors.Is(err, context.DeadlineExceeded) || errors.Is(err, context.Canceled) {
			return err
		}
		return fmt.Errorf("%w: %s: %v", ErrUnreachable, c.cfg.URL, err)
	}
	return c.decode(resp.StatusCode(), resp.Body(), out)
}

func (c *Client) decode(status int, body []byte, out any) error {
	switch {
	case status == http.StatusUnauthorized || status == http.StatusForbidden:
		return ErrUnauthorized
	case status >= 400:
		var e struct {
			Error struct{ Code, Message, Type string }
		}
		ae := &APIError{Status: status, Message: strings.TrimSpace(string(body))}
		if json.Unmarshal(body, &e) == nil && (e.Error.Message != "" || e.Error.Code != "") {
			ae.Code, ae.Message = e.Error.Code, e.Error.Message
			if ae.Code == "" {
				ae.Code = e.Error.Type
			}
		}
		return ae
	}
	if out == nil {
		return nil
	}
	if raw, ok := out.(*json.RawMessage); ok {
		*raw = append((*raw)[:0], body...)
		return nil
	}
	if err := json.Unmarshal(body, out); err != nil {
		return fmt.Errorf("decode answer: %w", err)
	}
	return nil
}

// Ping checks the connection and the credentials.
func (c *Client) Ping(ctx context.Context) error {
	if c.cfg.Kind == "zato" {
		var out zatoReply
		if err := c.do(ctx, http.MethodPost, "/ide-deploy", nil, &out, 0); err != nil {
			return err
		}
		if !out.R.Success {
			return fmt.Errorf("zato: %s", out.R.Msg)
		}
		return nil
	}
	_, err := c.Servers(ctx)
	return err
}

type zatoReply struct {
	R struct {
		Success bool   `json:"success"`
		Msg     string `json:"msg"`
	} `json:"zato_ide_deploy_create_response"`
}

// Upload sends a module and returns the pending deployment (for stock Zato: status "accepted").
func (c *Client) Upload(ctx context.Context, name string, source []byte, origin string) (Deployment, error) {
	if c.cfg.Kind == "zato" {
		var out zatoReply
		body := map[string]string{"payload_name": name, "payload": base64.StdEncoding.EncodeToString(source)}
		if err := c.do(ctx, http.MethodPost, "/ide-deploy", body, &out, 0); err != nil {
			return Deployment{}, err
		}
		if !out.R.Success {
			return Deployment{Module: name, Status: "failed", Done: true, Message: out.R.Msg}, fmt.Errorf("zato: %s", out.R.Msg)
		}
		return Deployment{Module: name, Status: "accepted", Done: true, Message: out.R.Msg}, nil
	}
	var d Deployment
	err := c.do(ctx, http.MethodPost, "/api/v1/deploy", map[string]string{"name": name, "source": string(source), "origin": origin}, &d, 0)
	return d, err
}

// Deployment reads a deployment; with wait > 0 the server answers as soon as it is done or the wait runs out.
func (c *Client) Deployment(ctx context.Context, id int64, wait time.Duration) (Deployment, error) {
	path := fmt.Sprintf("/api/v1/deployments/%d", id)
	if wait > 0 {
		path += "?wait=" + wait.String()
	}
	var d Deployment
	err := c.do(ctx, http.MethodGet, path, nil, &d, wait)
	return d, err
}

// Watch follows a deployment until it is done, calling onChange with each new view: Server-Sent Events, falling back
// to long-polls when the stream fails. On ctx's end it returns the last view with ctx's error.
func (c *Client) Watch(ctx context.Context, id int64, onChange func(Deployment)) (Deployment, error) {
	last, err := c.watchSSE(ctx, id, onChange)
	if err == nil || ctx.Err() != nil || errors.Is(err, ErrUnauthorized) {
		return last, err
	}
	var ae *APIError
	if errors.As(err, &ae) && ae.Status < 500 && ae.Status != http.StatusNotFound {
		return last, err
	}
	for { // long-poll fallback
		d, err := c.Deployment(ctx, id, 10*time.Second)
		if err != nil {
			return last, err
		}
		if onChange != nil && (d.Confirmed != last.Confirmed || d.Status != last.Status || statusesDiffer(d, last)) {
			onChange(d)
		}
		last = d
		if d.Done {
			return d, nil
		}
	}
}

func statusesDiffer(a, b Deployment) bool {
	if len(a.Servers) != len(b.Servers) {
		return true
	}
	for i := range a.Servers {
		if a.Servers[i].Status != b.Servers[i].Status {
			return true
		}
	}
	return false
}

func (c *Client) watchSSE(ctx context.Context, id int64, onChange func(Deployment)) (Deployment, error) {
	var last Deployment
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, fmt.Sprintf("%s/api/v1/deployments/%d/events", strings.TrimRight(c.cfg.URL, "/"), id), nil)
	if err != nil {
		return last, err
	}
	req.SetBasicAuth(c.cfg.Username, c.cfg.Password)
	req.Header.Set("Accept", "text/event-stream")
	resp, err := c.sse.Do(req)
	if err != nil {
		if ctx.Err() != nil {
			return last, ctx.Err()
		}
		return last, fmt.Errorf("%w: %s: %v", ErrUnreachable, c.cfg.URL, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		body := make([]byte, 4096)
		n, _ := resp.Body.Read(body)
		return last, c.decode(resp.StatusCode, body[:n], nil)
	}
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 64<<10), 16<<20)
	var event, data string
	for sc.Scan() {
		line := sc.Text()
		switch {
		case strings.HasPrefix(line, "event:"):
			event = strings.TrimSpace(line[len("event:"):])
		case strings.HasPrefix(line, "data:"):
			data += strings.TrimSpace(line[len("data:"):])
		case line == "":
			if data != "" {
				switch event {
				case "deployment", "done":
					var d Deployment
					if err := json.Unmarshal([]byte(data), &d); err == nil {
						last = d
						if onChange != nil {
							onChange(d)
						}
						if event == "done" {
							return d, nil
						}
					}
				case "server":
					var s ServerStatus
					if err := json.Unmarshal([]byte(data), &s); err == nil {
						last = apply(last, s)
						if onChange != nil {
							onChange(last)
						}
					}
				}
			}
			event, data = "", ""
		}
	}
	if ctx.Err() != nil {
		return last, ctx.Err()
	}
	return last, fmt.Errorf("%w: the event stream ended early: %v", ErrUnreachable, sc.Err())
}

// apply folds one server's new row into a copy of d.
func apply(d Deployment, s ServerStatus) Deployment {
	servers := append([]ServerStatus(nil), d.Servers...)
	for i := range servers {
		if servers[i].Name == s.Name {
			servers[i] = s
		}
	}
	d.Servers = servers
	d.Confirmed = 0
	for _, x := range servers {
		if x.Status == "deployed" {
			d.Confirmed++
		}
	}
	return d
}

// Deploy uploads and follows the deployment until every server answered.
func (c *Client) Deploy(ctx context.Context, name string, source []byte, origin string, onChange func(Deployment)) (Deployment, error) {
	d, err := c.Upload(ctx, name, source, origin)
	if err != nil || c.cfg.Kind == "zato" {
		return d, err
	}
	if onChange != nil {
		onChange(d)
	}
	return c.Watch(ctx, d.ID, onChange)
}

// StatusRaw returns /api/v1/status as JSON.
func (c *Client) StatusRaw(ctx context.Context) (json.RawMessage, error) {
	var raw json.RawMessage
	err := c.do(ctx, http.MethodGet, "/api/v1/status", nil, &raw, 0)
	return raw, err
}

// Servers lists the cluster's members.
func (c *Client) Servers(ctx context.Context) ([]Member, error) {
	var out struct{ Servers []Member }
	err := c.do(ctx, http.MethodGet, "/api/v1/servers", nil, &out, 0)
	return out.Servers, err
}

// Versions lists a module's versions, newest first.
func (c *Client) Versions(ctx context.Context, module string) ([]Version, error) {
	var out struct{ Versions []Version }
	err := c.do(ctx, http.MethodGet, "/api/v1/modules/"+url.PathEscape(module)+"/versions", nil, &out, 0)
	return out.Versions, err
}

// Rollback redeploys an earlier version (0: the one before the current).
func (c *Client) Rollback(ctx context.Context, module string, version int) (Deployment, error) {
	var d Deployment
	err := c.do(ctx, http.MethodPost, "/api/v1/modules/"+url.PathEscape(module)+"/rollback", map[string]int{"version": version}, &d, 0)
	return d, err
}

// Undeploy removes a module from every server.
func (c *Client) Undeploy(ctx context.Context, module string) (Deployment, error) {
	var d Deployment
	err := c.do(ctx, http.MethodDelete, "/api/v1/modules/"+url.PathEscape(module), nil, &d, 0)
	return d, err
}

// Invoke runs a service and returns its JSON response.
func (c *Client) Invoke(ctx context.Context, service string, payload []byte) (json.RawMessage, error) {
	var raw json.RawMessage
	var body any
	if len(payload) > 0 {
		body = json.RawMessage(payload)
	}
	err := c.do(ctx, http.MethodPost, "/api/v1/invoke/"+url.PathEscape(service), body, &raw, 0)
	return raw, err
}
