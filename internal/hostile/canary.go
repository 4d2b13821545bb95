package hostile

import (
	"context"
	"sync"
	"sync/atomic"
	"time"

	"github.com/zato-go/zato/deployclient"
)

// CanaryEvery is how often the canary calls each server.
const CanaryEvery = 20 * time.Millisecond

// Sample is one answer of the canary: how long it took, from which server, while which module of the corpus was
// being deployed.
type Sample struct {
	Took           time.Duration
	Server, During string
}

// Canary invokes one service on every server, each CanaryEvery, from the moment it starts until Stop: the harm the
// corpus does to the other modules is how the canary's answers hold meanwhile. Each client must have made a call
// already: a client's first call pays for checking its password (bcrypt), the API's door and not the corpus's harm.
type Canary struct {
	stop    chan struct{}
	wg      sync.WaitGroup
	during  atomic.Value
	mu      sync.Mutex
	samples []Sample
	errs    []string
}

// StartCanary starts calling service with payload through each client, keyed by server name.
func StartCanary(clients map[string]*deployclient.Client, service string, payload []byte) *Canary {
	c := &Canary{stop: make(chan struct{})}
	c.during.Store("")
	for server, cl := range clients {
		c.wg.Go(func() {
			for {
				select {
				case <-c.stop:
					return
				case <-time.After(CanaryEvery):
				}
				start, during := time.Now(), c.during.Load().(string)
				ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
				_, err := cl.Invoke(ctx, service, payload)
				cancel()
				c.mu.Lock()
				if err != nil {
					c.errs = append(c.errs, server+": "+err.Error())
				} else {
					c.samples = append(c.samples, Sample{time.Since(start), server, during})
				}
				c.mu.Unlock()
			}
		})
	}
	return c
}

// During names what is being deployed, for the samples that follow.
func (c *Canary) During(what string) { c.during.Store(what) }

// Stop ends the calls and returns the answers and the failures.
func (c *Canary) Stop() ([]Sample, []string) {
	close(c.stop)
	c.wg.Wait()
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.samples, c.errs
}
