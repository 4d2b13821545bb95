package deployclient

// Event streams (Server-Sent Events): opening one, reading one, and the cluster-wide stream.

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/zato-go/zato/wire"
)

// errStreamBroken is a stream that ended before its reader was done with it (a deployment's before its done event;
// the cluster's, which has no end, at all).
var errStreamBroken = errors.New("the event stream ended")

// clusterStreamIdle is how long the cluster-wide stream may stay silent before it counts as broken: the server sends
// a comment every 15 s.
const clusterStreamIdle = 45 * time.Second

// openStream opens GET path as an event stream. The connection is made under the usual timeout, then the stream may
// last as long as ctx, or, when idle is not 0, until it stays silent for idle. Errors are *APIError or network errors.
func (c *Client) openStream(ctx context.Context, path string, idle time.Duration) (io.ReadCloser, error) {
	sctx, cancel := context.WithCancel(ctx)
	timer := time.AfterFunc(c.cfg.Timeout, cancel)
	resp, err := c.req(sctx, retrySafe).SetDoNotParseResponse(true).SetHeader("Accept", "text/event-stream").Get(path)
	if err != nil {
		timer.Stop()
		cancel()
		return nil, c.netErr(ctx, http.MethodGet, path, err)
	}
	body := resp.RawBody()
	fail := func(err error) (io.ReadCloser, error) {
		body.Close()
		cancel()
		return nil, err
	}
	if !timer.Stop() {
		return fail(fmt.Errorf("GET %s: %w: no answer within %s", path, ErrUnreachable, c.cfg.Timeout))
	}
	if resp.IsError() {
		b, _ := io.ReadAll(io.LimitReader(body, 64<<10))
		return fail(apiError(resp.StatusCode(), b))
	}
	if mt, _, _ := mime.ParseMediaType(resp.Header().Get("Content-Type")); mt != "text/event-stream" {
		return fail(fmt.Errorf("GET %s: answer is %q, not an event stream", path, mt))
	}
	lb := &liveBody{r: body, cancel: cancel, after: idle}
	if idle > 0 {
		lb.idle = time.AfterFunc(idle, cancel)
	}
	return lb, nil
}

// liveBody is a stream's body that cancels its request when it closes or, with a timer, when nothing arrives for
// after.
type liveBody struct {
	r      io.ReadCloser
	cancel context.CancelFunc
	idle   *time.Timer // nil: no limit
	after  time.Duration
	once   sync.Once
}

func (b *liveBody) Read(p []byte) (int, error) {
	n, err := b.r.Read(p)
	if n > 0 && b.idle != nil {
		b.idle.Reset(b.after)
	}
	return n, err
}

func (b *liveBody) Close() error {
	var err error
	b.once.Do(func() {
		if b.idle != nil {
			b.idle.Stop()
		}
		err = b.r.Close()
		b.cancel()
	})
	return err
}

// WatchCluster follows the cluster-wide event stream (GET /api/v1/events) and calls onChange at each event: once when
// the stream opens, then whenever anything the cluster's view shows may have changed. The caller reads the view again
// (Status); events are coalesced by the server, so onChange is not called more than about ten times a second. It
// returns when ctx ends (the context's error) or the stream cannot be opened or breaks: an *APIError (a server
// without the stream answers 404), ErrUnreachable, or an error saying the stream ended. A stock Zato target has no
// such stream (ErrUnsupported).
func (c *Client) WatchCluster(ctx context.Context, onChange func()) error {
	if c.cfg.Kind == KindZato {
		return fmt.Errorf("watch the cluster: %w", ErrUnsupported)
	}
	body, err := c.openStream(ctx, wire.ClusterEventsPath, clusterStreamIdle)
	if err != nil {
		return err
	}
	defer body.Close()
	err = readEvents(body, func(event string, _ []byte) error {
		if event == wire.ClusterChanged {
			onChange()
		}
		return nil
	})
	if ctx.Err() != nil {
		return fmt.Errorf("watch the cluster: %w", ctx.Err())
	}
	return fmt.Errorf("watch the cluster at %s: %w", c.base, err)
}

// readEvents parses text/event-stream (the subset servers send: event, data, comments) and calls fn per event.
// fn returns io.EOF to stop cleanly.
func readEvents(r io.Reader, fn func(event string, data []byte) error) error {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 0, 64<<10), 16<<20)
	var event string
	var data []byte
	hasData := false
	for sc.Scan() {
		line := sc.Text()
		if line == "" {
			if hasData {
				if event == "" {
					event = "message"
				}
				if err := fn(event, data); err != nil {
					if errors.Is(err, io.EOF) {
						return nil
					}
					return err
				}
			}
			event, data, hasData = "", data[:0], false
			continue
		}
		if strings.HasPrefix(line, ":") {
			continue
		}
		field, value, _ := strings.Cut(line, ":")
		value = strings.TrimPrefix(value, " ")
		switch field {
		case "event":
			event = value
		case "data":
			if hasData {
				data = append(data, '\n')
			}
			data = append(data, value...)
			hasData = true
		}
	}
	if err := sc.Err(); err != nil {
		return fmt.Errorf("%w: %w", errStreamBroken, err)
	}
	return errStreamBroken
}
