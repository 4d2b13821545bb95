package e2e

import (
	"bufio"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/zato-go/zato/deployclient"
	"github.com/zato-go/zato/internal/testenv"
	"github.com/zato-go/zato/wire"
)

// openClusterEvents opens GET /api/v1/events on url and sends each event's data to the channel, which is closed
// when the stream ends.
func openClusterEvents(t *testing.T, c *testenv.Cluster, url string) <-chan wire.ClusterChange {
	t.Helper()
	req, err := http.NewRequestWithContext(ctx(t), http.MethodGet, url+wire.ClusterEventsPath, nil)
	if err != nil {
		t.Fatal(err)
	}
	req.SetBasicAuth(c.Username, c.Password)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != http.StatusOK || !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/event-stream") {
		t.Fatalf("GET %s: %s %s", wire.ClusterEventsPath, resp.Status, resp.Header.Get("Content-Type"))
	}
	out := make(chan wire.ClusterChange, 64)
	go func() {
		defer close(out)
		defer resp.Body.Close()
		sc := bufio.NewScanner(resp.Body)
		event := ""
		for sc.Scan() {
			line := sc.Text()
			switch {
			case strings.HasPrefix(line, "event: "):
				event = strings.TrimPrefix(line, "event: ")
			case strings.HasPrefix(line, "data: "):
				var ch wire.ClusterChange
				if event != wire.ClusterChanged || json.Unmarshal([]byte(strings.TrimPrefix(line, "data: ")), &ch) != nil || ch.At.IsZero() {
					out <- wire.ClusterChange{} // a malformed event: the test fails on it
					continue
				}
				out <- ch
			}
		}
	}()
	return out
}

// awaitView reads an event, then the cluster's status, until ok says the status shows what the test waits for: the
// change that made it so must have brought an event.
func awaitView(t *testing.T, events <-chan wire.ClusterChange, cl *deployclient.Client, what string, ok func(deployclient.StatusReport) bool) {
	t.Helper()
	for {
		select {
		case ev, open := <-events:
			if !open {
				t.Fatalf("the event stream ended while waiting for %s", what)
			}
			if ev.At.IsZero() {
				t.Fatalf("a malformed event while waiting for %s", what)
			}
		case <-ctx(t).Done():
			t.Fatalf("no event showing %s", what)
		}
		st, err := cl.Status(ctx(t))
		if err != nil {
			t.Fatal(err)
		}
		if ok(st) {
			return
		}
	}
}

// TestClusterEvents: GET /api/v1/events sends an event at once, one after a deployment made through another server,
// one after a server stops, and ends when the server it comes from stops.
func TestClusterEvents(t *testing.T) {
	t.Parallel()
	c := testenv.StartCluster(t, testenv.Options{})
	first, second := c.Servers[0], c.Servers[1]
	cl := client(t, c, first.URL)
	events := openClusterEvents(t, c, first.URL)
	awaitView(t, events, cl, "the first event", func(deployclient.StatusReport) bool { return true })

	// A deployment received by the other server.
	deploy(t, client(t, c, second.URL), "events_mod.py", fmt.Sprintf(greet, 1))
	awaitView(t, events, cl, "events_mod.py deployed", func(st deployclient.StatusReport) bool {
		for _, m := range st.Modules {
			if m.Name == "events_mod.py" && m.Status == deployclient.StatusDeployed {
				return true
			}
		}
		return false
	})

	// The other server stops.
	c.Stop(t, second.Name)
	awaitView(t, events, cl, second.Name+" not live", func(st deployclient.StatusReport) bool {
		for _, m := range st.Servers {
			if m.Name == second.Name {
				return m.State != wire.StateLive
			}
		}
		return false
	})

	// The server the stream comes from stops: the stream ends.
	c.Stop(t, first.Name)
	deadline := time.NewTimer(30 * time.Second)
	defer deadline.Stop()
	for {
		select {
		case _, open := <-events:
			if !open {
				return
			}
		case <-deadline.C:
			t.Fatal("the event stream outlived its server")
		}
	}
}
