package deployclient

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"reflect"
	"strconv"
	"time"

	"github.com/zato-go/zato/wire"
)

// longPollWait is how long one long-poll asks the server to hold the answer.
const longPollWait = 5 * time.Second

// Upload sends a module's source (one deployment on every server) and returns the deployment as created: rows
// pending or offline. origin is api, cli, ide, pickup or admin. With Kind "zato" it posts /ide-deploy and the
// result is final, with status "accepted" (or "failed") and Zato's message.
func (c *Client) Upload(ctx context.Context, name string, source []byte, origin string) (Deployment, error) {
	return c.UploadKeyed(ctx, name, source, origin, NewKey())
}

// UploadKeyed is Upload with the caller's idempotency key (NewKey): a caller that tries one save again itself passes
// the same key each time, so that a try whose answer was lost does not make a second deployment.
func (c *Client) UploadKeyed(ctx context.Context, name string, source []byte, origin, key string) (Deployment, error) {
	return c.UploadWith(ctx, Upload{Name: name, Source: source, Origin: origin, Key: key})
}

// Upload is one upload: the module, where it comes from, its idempotency key (NewKey) and its base.
type Upload struct {
	Name   string
	Source []byte
	Origin string
	Key    string
	// Base is the sha256 of the version the uploader last deployed or fetched of this module ("mine": the newest
	// one its user deployed; "": deploy anyway). When someone else deployed another version since, the upload is
	// refused with an *APIError that Is ErrConflict and carries that version (Conflict).
	Base string
}

// UploadWith sends an upload (see Upload and UploadKeyed).
func (c *Client) UploadWith(ctx context.Context, u Upload) (Deployment, error) {
	name, source, origin, key := u.Name, u.Source, u.Origin, u.Key
	if key == "" {
		key = NewKey()
	}
	if c.cfg.Kind == KindZato { // stock Zato judges names itself
		if err := wire.CheckSourceText(source); err != nil { // the server's words, before the JSON would alter the bytes
			return Deployment{}, fmt.Errorf("upload %s: %w", name, err)
		}
		return c.zatoUpload(ctx, name, source)
	}
	if err := CheckModule(name, source); err != nil {
		return Deployment{}, fmt.Errorf("upload %s: %w", name, err)
	}
	body := map[string]string{"name": name, "source": string(source), "origin": origin}
	if u.Base != "" {
		body["base_sha256"] = u.Base
	}
	var d Deployment
	if err := c.doKeyed(ctx, retryKeyedWrite, key, http.MethodPost, "/api/v1/deploy", body, &d); err != nil {
		return Deployment{}, fmt.Errorf("upload %s: %w", name, err)
	}
	return d, nil
}

// Deploy uploads a module and waits for every server's answer (see Watch). onChange, if not nil, sees each new view,
// starting with the one Upload returned.
func (c *Client) Deploy(ctx context.Context, name string, source []byte, origin string, onChange func(Deployment)) (Deployment, error) {
	return c.DeployKeyed(ctx, name, source, origin, NewKey(), onChange)
}

// DeployKeyed is Deploy with the caller's idempotency key (see UploadKeyed).
func (c *Client) DeployKeyed(ctx context.Context, name string, source []byte, origin, key string, onChange func(Deployment)) (Deployment, error) {
	return c.DeployWith(ctx, Upload{Name: name, Source: source, Origin: origin, Key: key}, onChange)
}

// DeployWith is Deploy of an Upload.
func (c *Client) DeployWith(ctx context.Context, u Upload, onChange func(Deployment)) (Deployment, error) {
	d, err := c.UploadWith(ctx, u)
	if err != nil {
		return d, err
	}
	if onChange != nil {
		onChange(d)
	}
	if d.Done || c.cfg.Kind == KindZato {
		return d, nil
	}
	return c.watchFrom(ctx, d, onChange, false)
}

// Deployment fetches one deployment; with wait > 0 the server holds the answer until the deployment is done or the
// wait runs out (then Done is false).
func (c *Client) Deployment(parent context.Context, id int64, wait time.Duration) (Deployment, error) {
	if c.cfg.Kind == KindZato {
		return Deployment{}, fmt.Errorf("deployment %d: %w", id, ErrUnsupported)
	}
	path := "/api/v1/deployments/" + strconv.FormatInt(id, 10)
	ctx, cancel := c.withTimeout(parent, wait)
	defer cancel()
	r := c.req(ctx, retrySafe)
	if wait > 0 {
		r.SetQueryParam("wait", fmt.Sprintf("%dms", wait.Milliseconds()))
	}
	var d Deployment
	resp, err := r.SetResult(&d).Get(path)
	for err == nil && resp.StatusCode() == http.StatusServiceUnavailable && sleepCtx(ctx, retryAfterOf(resp)) {
		resp, err = c.req(ctx, retrySafe).SetQueryParamsFromValues(r.QueryParam).SetResult(&d).Get(path) // the ODB is back soon
	}
	if err != nil {
		return Deployment{}, fmt.Errorf("deployment %d: %w", id, c.netErr(parent, http.MethodGet, path, err))
	}
	if resp.IsError() {
		return Deployment{}, fmt.Errorf("deployment %d: %w", id, apiError(resp.StatusCode(), resp.Body()))
	}
	return d, nil
}

// Deployments lists deployments newest first, of one module if module is not empty.
func (c *Client) Deployments(ctx context.Context, module string, limit int) ([]Deployment, error) {
	if c.cfg.Kind == KindZato {
		return nil, fmt.Errorf("deployments: %w", ErrUnsupported)
	}
	q := url.Values{}
	if module != "" {
		q.Set("module", module)
	}
	if limit > 0 {
		q.Set("limit", strconv.Itoa(limit))
	}
	var out struct {
		Deployments []Deployment `json:"deployments"`
	}
	if err := c.do(ctx, retrySafe, http.MethodGet, "/api/v1/deployments?"+q.Encode(), nil, &out); err != nil {
		return nil, fmt.Errorf("list deployments: %w", err)
	}
	return out.Deployments, nil
}

// Watch follows a deployment until it is done and returns the final view. It reads the server's event stream and
// falls back to long-polling when the stream is not available or breaks. onChange, if not nil, sees every new view.
// When ctx ends first it returns the last view seen along with the context's error.
func (c *Client) Watch(ctx context.Context, id int64, onChange func(Deployment)) (Deployment, error) {
	if c.cfg.Kind == KindZato {
		return Deployment{}, fmt.Errorf("watch deployment %d: %w", id, ErrUnsupported)
	}
	return c.watchFrom(ctx, Deployment{ID: id}, onChange, true)
}

func (c *Client) watchFrom(ctx context.Context, last Deployment, onChange func(Deployment), reportFirst bool) (Deployment, error) {
	seen := !reportFirst
	emit := func(d Deployment) {
		changed := !seen || !sameProgress(last, d)
		last, seen = d, true
		if changed && onChange != nil {
			onChange(d)
		}
	}
	err := c.stream(ctx, last.ID, &last, emit)
	if err == nil {
		return last, nil
	}
	if ctx.Err() != nil {
		return last, fmt.Errorf("watch deployment %d: %w", last.ID, ctx.Err())
	}
	var ae *APIError
	if errors.As(err, &ae) && (ae.Status == http.StatusNotFound && ae.Code == "not_found" || ae.Status == http.StatusUnauthorized || ae.Status == http.StatusForbidden) {
		return last, fmt.Errorf("watch deployment %d: %w", last.ID, err)
	}
	c.log.Debug("event stream unavailable, long-polling", "deployment", last.ID, "err", err)
	return c.longPoll(ctx, last.ID, &last, emit)
}

// sameProgress reports whether two views say the same thing (status and each server's state).
func sameProgress(a, b Deployment) bool {
	if a.Status != b.Status || a.Done != b.Done || a.Confirmed != b.Confirmed || len(a.Servers) != len(b.Servers) {
		return false
	}
	for i := range a.Servers {
		x, y := a.Servers[i], b.Servers[i]
		if x.Name != y.Name || x.Status != y.Status || !reflect.DeepEqual(x.Error, y.Error) {
			return false
		}
	}
	return true
}

func (c *Client) longPoll(ctx context.Context, id int64, last *Deployment, emit func(Deployment)) (Deployment, error) {
	for {
		d, err := c.Deployment(ctx, id, longPollWait)
		if err != nil {
			if ctx.Err() != nil {
				return *last, fmt.Errorf("watch deployment %d: %w", id, ctx.Err())
			}
			return *last, fmt.Errorf("watch deployment %d: %w", id, err)
		}
		emit(d)
		if d.Done {
			return d, nil
		}
	}
}

// stream reads GET /deployments/{id}/events until the done event. Errors before the stream starts are *APIError or
// network errors; a stream that ends early gives errStreamBroken.
func (c *Client) stream(ctx context.Context, id int64, last *Deployment, emit func(Deployment)) error {
	path := "/api/v1/deployments/" + strconv.FormatInt(id, 10) + "/events"
	body, err := c.openStream(ctx, path, 0)
	if err != nil {
		return err
	}
	defer body.Close()
	return readEvents(body, func(event string, data []byte) error {
		switch event {
		case "deployment", "done":
			var d Deployment
			if err := json.Unmarshal(data, &d); err != nil {
				return fmt.Errorf("decode %s event: %w", event, err)
			}
			emit(d)
			if event == "done" {
				return io.EOF
			}
		case "server":
			var row ServerStatus
			if err := json.Unmarshal(data, &row); err != nil {
				return fmt.Errorf("decode server event: %w", err)
			}
			emit(last.WithRow(row))
		}
		return nil
	})
}
