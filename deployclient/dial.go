package deployclient

import (
	"context"
	"net/http"
	"strings"
	"time"
)

// Dial returns a client of the first server that answers: cfg.URL, then each of others (the environment's other
// servers), so that a command works while any server of the cluster is up. A server that refuses the connection or
// does not answer within a short while is passed over; one that answers, even with an error, is chosen. With no
// others it is New.
func Dial(ctx context.Context, cfg Config, others []string) (*Client, error) {
	first, err := New(cfg)
	if err != nil || len(others) == 0 || cfg.Kind == KindZato {
		return first, err
	}
	var tried []string
	for _, u := range append([]string{cfg.URL}, others...) {
		if u == "" || contains(tried, strings.TrimRight(u, "/")) {
			continue
		}
		tried = append(tried, strings.TrimRight(u, "/"))
		c := first
		if len(tried) > 1 {
			next := cfg
			next.URL = u
			if c, err = New(next); err != nil {
				continue
			}
		}
		if c.answers(ctx) {
			if c != first {
				first.Close()
			}
			return c, nil
		}
		if c != first {
			c.Close()
		}
	}
	// Nobody answers: the first, whose requests will say so in the usual words (and wait for a starting server).
	first.noneAnswered = true
	return first, nil
}

// NoneAnswered reports that Dial chose this client because no server answered at all, not because it did.
func (c *Client) NoneAnswered() bool { return c.noneAnswered }

// answers reports whether a server is there: GET /healthz, without credentials, within 2 s.
func (c *Client) answers(ctx context.Context) bool {
	ctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, c.base+"/healthz", nil)
	if err != nil {
		return false
	}
	resp, err := c.r.GetClient().Do(req) // once: no retries, a dead server is passed over at once
	if err != nil {
		return false
	}
	resp.Body.Close()
	return resp.StatusCode < http.StatusInternalServerError
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}
