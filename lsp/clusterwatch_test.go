package lsp

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/zato-go/zato/wire"
)

// TestWatchClusterFallsBackToPolling: a server without the cluster-wide event stream (an older one answers 404) is
// watched by polling its status, and a change it shows reaches the editor.
func TestWatchClusterFallsBackToPolling(t *testing.T) {
	var modules atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		switch r.URL.Path {
		case "/healthz":
			fmt.Fprint(w, `{"status":"ok","server":"server1"}`)
		case "/api/v1/status":
			st := wire.StatusReport{Server: "server1", Servers: []wire.Member{{Name: "server1", URL: "http://server1", State: wire.StateLive}}}
			for i := range int(modules.Load()) {
				st.Modules = append(st.Modules, wire.Module{Name: fmt.Sprintf("m%d.py", i)})
			}
			_ = json.NewEncoder(w).Encode(st)
		default:
			w.WriteHeader(http.StatusNotFound)
			fmt.Fprint(w, `{"error":{"code":"not_found","message":"not found"}}`)
		}
	}))
	t.Cleanup(srv.Close)
	dir := t.TempDir()
	writeYAML(t, dir, fmt.Sprintf("url: %s\nusername: admin\npassword: secret\n", srv.URL))

	e := newSession(t, fixture{clusterPoll: 20 * time.Millisecond})
	e.initialize(dir, nil)
	if via := e.watchCluster(); via != "poll" {
		t.Fatalf("a server without the event stream is followed by %s", via)
	}
	from := e.mark()
	modules.Store(1)
	e.awaitFrom(from, methodClusterChanged, func(m message) bool { return moduleChanged(m) && strings.Contains(string(m.Params), "default") })
}
