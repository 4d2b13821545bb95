package api

// The cluster-wide event stream: GET /api/v1/events.

import (
	"encoding/json"
	"fmt"
	"net/http"
	"time"

	"github.com/zato-go/zato/wire"
)

// clusterEventGap is the least time between two events of the cluster-wide stream: changes within it make one event.
const clusterEventGap = 100 * time.Millisecond

// clusterEventBeat is how often the stream sends a comment while nothing changes, so that proxies keep the connection
// and clients notice a dead one.
const clusterEventBeat = 15 * time.Second

// clusterEvents streams wire.ClusterChanged events: one at once (a client reads its first view once it is
// subscribed), then one whenever the cluster says its view may have changed (Cluster.ViewChanges), until the client
// goes or the server stops.
func (a *API) clusterEvents(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	changes := a.cl.ViewChanges(ctx, clusterEventGap)
	rc := http.NewResponseController(w)
	w.Header().Set("Content-Type", "text/event-stream")
	w.Header().Set("Cache-Control", "no-cache")
	w.Header().Set("X-Accel-Buffering", "no")
	w.WriteHeader(http.StatusOK)
	send := func(at time.Time) error {
		b, _ := json.Marshal(wire.ClusterChange{At: at.UTC()})
		if _, err := fmt.Fprintf(w, "event: %s\ndata: %s\n\n", wire.ClusterChanged, b); err != nil {
			return err
		}
		return rc.Flush()
	}
	if send(time.Now()) != nil {
		return
	}
	beat := time.NewTicker(clusterEventBeat)
	defer beat.Stop()
	for {
		select {
		case at, ok := <-changes:
			if !ok || send(at) != nil {
				return // the server stops, or the client went
			}
		case <-beat.C:
			if _, err := fmt.Fprint(w, ": keep-alive\n\n"); err != nil || rc.Flush() != nil {
				return
			}
		case <-ctx.Done():
			return
		}
	}
}
