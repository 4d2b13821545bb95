package cluster

import (
	"context"
	"time"
)

// ViewChanges returns a channel that receives whenever anything a cluster view shows may have changed: a deployment
// created, a server's row updated, a server's state (starting, live, stopping, offline). It is what the Hub is woken
// by (this server's own changes, peers' nudges, the ODB's change feed, a member found dead), coalesced: at most one
// signal every gap, and one waiting signal stands for every change since it was sent. The channel is closed when ctx
// ends or this server stops (Stop), so that a stream following it ends with the server.
func (c *Cluster) ViewChanges(ctx context.Context, gap time.Duration) <-chan time.Time {
	out := make(chan time.Time, 1)
	ch := c.hub.Wait() // taken now: a change made after the call is not missed
	go func() {
		defer close(out)
		for {
			select {
			case <-ch:
			case <-ctx.Done():
				return
			case <-c.stopping:
				return
			}
			ch = c.hub.Wait() // taken before the signal goes out: a change while it is read is the next signal
			select {
			case out <- time.Now():
			default: // one is waiting: it stands for this change too
			}
			t := time.NewTimer(gap)
			select {
			case <-t.C:
			case <-ctx.Done():
				t.Stop()
				return
			case <-c.stopping:
				t.Stop()
				return
			}
		}
	}()
	return out
}
