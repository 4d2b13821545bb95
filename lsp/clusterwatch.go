package lsp

import (
	"context"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"time"

	"github.com/zato-go/zato/deployclient"
)

// zato/watchCluster: following a target's cluster for zato/clusterChanged, over its event stream (GET /api/v1/events)
// or, while that is not available (a stock Zato target, an older server answering 404, a broken connection), by
// polling its status every clusterPoll and trying the stream again every clusterStreamRetry.

// clusterPoll is how often a watched cluster is looked at while its event stream is not available.
const clusterPoll = 2 * time.Second

// clusterStreamRetry is how long the poll runs before the event stream is tried again.
const clusterStreamRetry = 30 * time.Second

// clusterWatch is the state of zato/watchCluster.
type clusterWatch struct {
	target string
	cancel context.CancelFunc
}

// watchCluster starts or stops looking at a target's cluster for zato/clusterChanged.
func (s *server) watchCluster(target string, on bool) {
	s.mu.Lock()
	old := s.watch
	s.watch = nil
	var ctx context.Context
	if on {
		var cancel context.CancelFunc
		ctx, cancel = context.WithCancel(s.ctx)
		s.watch = &clusterWatch{target: target, cancel: cancel}
	}
	s.mu.Unlock()
	if old != nil {
		old.cancel()
	}
	if on {
		s.goFn(func() { s.followCluster(ctx, target) })
	}
}

// viewTracker tells the editor when the cluster's view differs from the one it saw last.
type viewTracker struct {
	s      *server
	target string
	last   [32]byte
	seen   bool
}

// look reads the view and sends zato/clusterChanged when it changed since the last look (the first only records it).
// It answers the error that left the view empty, if any.
func (t *viewTracker) look(ctx context.Context) error {
	v, err := t.s.clusterViewErr(ctx, t.target)
	if ctx.Err() != nil {
		return err
	}
	v.At = time.Time{}
	b, _ := json.Marshal(v)
	if sum := sha256.Sum256(b); sum != t.last {
		if t.seen {
			t.s.notifyClusterChanged(v.Target, "")
		}
		t.last, t.seen = sum, true
	}
	return err
}

// followCluster tells the editor when the cluster's view changes, until ctx ends: over the event stream, polling while
// it is not available. While the target's credentials stand refused (refused.go), it sends nothing and waits until
// they change or work again: polling with them would lock every client of the machine out of the servers.
func (s *server) followCluster(ctx context.Context, target string) {
	t := &viewTracker{s: s, target: target}
	for ctx.Err() == nil {
		wake := s.authWakeChan()
		err := s.streamCluster(ctx, t)
		if ctx.Err() != nil {
			return
		}
		if !errors.Is(err, deployclient.ErrUnauthorized) {
			s.log.Info("cluster view: the event stream is not available, polling", "target", target, "every", s.pollEvery(), "err", err)
			err = s.pollCluster(ctx, t, clusterStreamRetry)
		}
		if errors.Is(err, deployclient.ErrUnauthorized) {
			s.log.Info("cluster view: the credentials were refused, waiting until they change", "target", target)
			t.look(ctx) // says so in the view (without asking the server again), once
			s.following(target, "paused")
			select {
			case <-ctx.Done():
				return
			case <-wake:
			}
		}
	}
}

// streamCluster follows the target's event stream: a look at each event (the first, sent as the stream opens, included),
// until ctx ends or the stream cannot be opened or breaks.
func (s *server) streamCluster(ctx context.Context, t *viewTracker) error {
	target, cl, cc, err := s.clusterClient(ctx, t.target)
	if err != nil {
		return err
	}
	opened := false
	err = cl.WatchCluster(ctx, func() {
		t.look(ctx)
		if !opened {
			opened = true
			s.log.Info("cluster view: following the event stream", "target", t.target)
			s.following(t.target, "stream")
		}
	})
	s.noteAuth("", target, cc, err)
	return err
}

// pollCluster looks at the cluster at once and every clusterPoll, for as long as d or until ctx ends, or until the
// target's credentials are refused (it answers that error then).
func (s *server) pollCluster(ctx context.Context, t *viewTracker, d time.Duration) error {
	tick := time.NewTicker(s.pollEvery())
	defer tick.Stop()
	until := time.NewTimer(d)
	defer until.Stop()
	for first := true; ; first = false {
		if err := t.look(ctx); errors.Is(err, deployclient.ErrUnauthorized) {
			return err
		}
		if first {
			s.following(t.target, "poll")
		}
		select {
		case <-ctx.Done():
			return nil
		case <-until.C:
			return nil
		case <-tick.C:
		}
	}
}

// pollEvery is clusterPoll, or what the options set (tests).
func (s *server) pollEvery() time.Duration {
	if s.clusterPoll > 0 {
		return s.clusterPoll
	}
	return clusterPoll
}

// following tells the editor how the view is followed, with a zato/clusterChanged: "stream" once a stream's first
// event was looked at, "poll" once polling's first look was made, "paused" while the credentials stand refused.
func (s *server) following(target, via string) {
	s.notify(methodClusterChanged, clusterChanged{Target: target, Via: via})
}
