package lsp

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"

	"github.com/zato-go/zato/wire"
)

// fakeAPI is a one-server cluster's API as far as the credential tests need it: it checks basic auth against its
// password, counts every request that carried credentials (the server's failed-login limit counts those), and
// answers /healthz, the server list, the status and the module listings. The event stream is not there (404).
type fakeAPI struct {
	*httptest.Server
	mu       sync.Mutex
	password string
	// passwords are the passwords requests carried, in order ("" for a request without credentials).
	passwords []string
	refused   int
	// handler, when set, answers the authenticated requests first: true when it did.
	handler func(http.ResponseWriter, *http.Request) bool
}

func newFakeAPI(t testing.TB, password string) *fakeAPI {
	t.Helper()
	f := &fakeAPI{password: password}
	f.Server = httptest.NewServer(http.HandlerFunc(f.serve))
	t.Cleanup(f.Close)
	return f
}

func (f *fakeAPI) serve(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "application/json")
	if r.URL.Path == "/healthz" {
		fmt.Fprint(w, `{"status":"ok","server":"server1"}`)
		return
	}
	user, pass, ok := r.BasicAuth()
	f.mu.Lock()
	if ok {
		f.passwords = append(f.passwords, pass)
	} else {
		f.passwords = append(f.passwords, "")
	}
	good := ok && user == "admin" && pass == f.password
	if !good {
		f.refused++
	}
	h := f.handler
	f.mu.Unlock()
	if !good {
		w.WriteHeader(http.StatusUnauthorized)
		fmt.Fprint(w, `{"error":{"code":"unauthorized","message":"valid credentials are required"}}`)
		return
	}
	if h != nil && h(w, r) {
		return
	}
	switch r.URL.Path {
	case "/api/v1/servers":
		_ = json.NewEncoder(w).Encode(map[string]any{"servers": []wire.Member{{Name: "server1", URL: f.URL, State: wire.StateLive}}})
	case "/api/v1/status":
		_ = json.NewEncoder(w).Encode(wire.StatusReport{Server: "server1", Servers: []wire.Member{{Name: "server1", URL: f.URL, State: wire.StateLive}}})
	case "/api/v1/modules":
		fmt.Fprint(w, `{"modules":[]}`)
	case "/api/v1/services":
		fmt.Fprint(w, `{"server":"server1","services":[]}`)
	default:
		w.WriteHeader(http.StatusNotFound)
		fmt.Fprint(w, `{"error":{"code":"not_found","message":"not found"}}`)
	}
}

// sent is the passwords the requests so far carried.
func (f *fakeAPI) sent() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]string(nil), f.passwords...)
}

// requests is how many requests other than /healthz reached the API.
func (f *fakeAPI) requests() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return len(f.passwords)
}

// refusedLogins is how many requests the API refused for their credentials.
func (f *fakeAPI) refusedLogins() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.refused
}

func (f *fakeAPI) setPassword(pw string) {
	f.mu.Lock()
	f.password = pw
	f.mu.Unlock()
}
