package deployclient

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// These are edge cases of the client alone; the real server is covered by e2e/ and lsp/.

func ctx(t *testing.T) context.Context {
	c, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	t.Cleanup(cancel)
	return c
}

func newClient(t *testing.T, cfg Config) *Client {
	t.Helper()
	c, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

func view(id int64, statuses ...string) Deployment {
	d := Deployment{ID: id, Module: "x.py", Action: "deploy"}
	for i, s := range statuses {
		d = d.WithRow(ServerStatus{Name: fmt.Sprintf("server%d", i+1), Status: s})
	}
	return d
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

func TestDeploySSE(t *testing.T) {
	var gotBody map[string]string
	release := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if u, p, _ := r.BasicAuth(); u != "admin" || p != "pw" {
			writeJSON(w, 401, map[string]any{"error": map[string]string{"code": "unauthorized", "message": "no"}})
			return
		}
		switch r.URL.Path {
		case "/api/v1/deploy":
			_ = json.NewDecoder(r.Body).Decode(&gotBody)
			writeJSON(w, 202, view(7, "pending", "pending"))
		case "/api/v1/deployments/7/events":
			w.Header().Set("Content-Type", "text/event-stream")
			fl := w.(http.Flusher)
			b, _ := json.Marshal(view(7, "pending", "pending"))
			fmt.Fprintf(w, ": comment\nevent: deployment\ndata: %s\n\n", b)
			fl.Flush()
			<-release
			s2 := `{"name":"server2","status":"deployed","services":["x.svc"]}`
			s1 := `{"name":"server1","status":"failed","error":{"type":"SyntaxError","message":"bad","line":3,"column":5}}`
			fmt.Fprintf(w, "event: server\ndata: %s\n\nevent: server\ndata: %s\n\n", s2, s1)
			var r1, r2 ServerStatus
			_ = json.Unmarshal([]byte(s1), &r1)
			_ = json.Unmarshal([]byte(s2), &r2)
			b, _ = json.Marshal(view(7).WithRow(r1).WithRow(r2))
			fmt.Fprintf(w, "event: done\ndata: %s\n\n", b)
		default:
			http.NotFound(w, r)
		}
	}))
	defer srv.Close()
	c := newClient(t, Config{URL: srv.URL + "/", Username: "admin", Password: "pw"})
	var views []Deployment
	d, err := c.Deploy(ctx(t), "x.py", []byte("print(1)\n"), "cli", func(d Deployment) {
		views = append(views, d)
		if len(views) == 1 {
			close(release)
		}
	})
	if err != nil {
		t.Fatal(err)
	}
	if gotBody["name"] != "x.py" || gotBody["source"] != "print(1)\n" || gotBody["origin"] != "cli" {
		t.Fatalf("body %v", gotBody)
	}
	if d.Status != StatusPartial || !d.Done || d.Confirmed != 1 {
		t.Fatalf("final %+v", d)
	}
	// upload view, server2 deployed, server1 failed (the done view says the same: not repeated)
	if len(views) != 3 {
		t.Fatalf("%d views: %+v", len(views), views)
	}
	if s, _ := views[1].Server("server2"); s.Status != StatusDeployed || views[1].Status != StatusPending {
		t.Fatalf("second view %+v", views[1])
	}
	if s, _ := views[2].Server("server1"); s.Error == nil || s.Error.Line != 3 || views[2].Status != StatusPartial {
		t.Fatalf("third view %+v", views[2])
	}
}

func TestWatchFallsBackToLongPoll(t *testing.T) {
	for _, mode := range []string{"no-stream", "broken-stream"} {
		t.Run(mode, func(t *testing.T) {
			var polls atomic.Int32
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				switch r.URL.Path {
				case "/api/v1/deployments/3/events":
					if mode == "no-stream" {
						http.Error(w, "no such thing here", http.StatusNotFound) // an old server or a proxy
						return
					}
					w.Header().Set("Content-Type", "text/event-stream")
					b, _ := json.Marshal(view(3, "pending", "pending"))
					fmt.Fprintf(w, "event: deployment\ndata: %s\n\n", b) // then the connection drops
				case "/api/v1/deployments/3":
					if r.URL.Query().Get("wait") == "" {
						t.Errorf("long-poll without wait")
					}
					if polls.Add(1) == 1 {
						writeJSON(w, 200, view(3, "deployed", "pending"))
						return
					}
					writeJSON(w, 200, view(3, "deployed", "deployed"))
				default:
					http.NotFound(w, r)
				}
			}))
			defer srv.Close()
			c := newClient(t, Config{URL: srv.URL})
			var n int
			d, err := c.Watch(ctx(t), 3, func(Deployment) { n++ })
			if err != nil {
				t.Fatal(err)
			}
			if d.Status != StatusDeployed || !d.Done || polls.Load() != 2 {
				t.Fatalf("final %+v after %d polls", d, polls.Load())
			}
			if want := map[string]int{"no-stream": 2, "broken-stream": 3}[mode]; n != want {
				t.Fatalf("%d views, want %d", n, want)
			}
		})
	}
}

func TestWatchContextEndReturnsLastView(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/event-stream")
		b, _ := json.Marshal(view(4, "pending", "deployed"))
		fmt.Fprintf(w, "event: deployment\ndata: %s\n\n", b)
		w.(http.Flusher).Flush()
		<-r.Context().Done()
	}))
	defer srv.Close()
	c := newClient(t, Config{URL: srv.URL})
	cctx, cancel := context.WithCancel(ctx(t))
	d, err := c.Watch(cctx, 4, func(Deployment) { cancel() })
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("err %v", err)
	}
	if d.ID != 4 || d.Confirmed != 1 {
		t.Fatalf("last view %+v", d)
	}
}

func TestRetries(t *testing.T) {
	var uploads, invokes, bad atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/api/v1/deploy":
			if uploads.Add(1) < 3 {
				writeJSON(w, 503, map[string]any{"error": map[string]string{"code": "busy", "message": "try later"}})
				return
			}
			writeJSON(w, 202, view(1, "pending"))
		case "/api/v1/invoke/x.svc":
			invokes.Add(1)
			writeJSON(w, 500, map[string]any{"error": map[string]string{"type": "ValueError", "message": "boom", "traceback": "tb"}})
		case "/api/v1/modules/y.py/versions":
			bad.Add(1)
			writeJSON(w, 404, map[string]any{"error": map[string]string{"code": "not_found", "message": "no such module: y.py"}})
		case "/api/v1/servers":
			writeJSON(w, 403, map[string]any{"error": map[string]string{"code": "unauthorized", "message": "no"}})
		}
	}))
	defer srv.Close()
	c := newClient(t, Config{URL: srv.URL})

	d, err := c.Upload(ctx(t), "x.py", []byte("x"), "api")
	if err != nil || d.ID != 1 || uploads.Load() != 3 {
		t.Fatalf("upload: %v %+v after %d tries", err, d, uploads.Load())
	}

	_, err = c.Invoke(ctx(t), "x.svc", []byte(`{}`))
	var ae *APIError
	if !errors.As(err, &ae) || ae.Status != 500 || ae.Code != "ValueError" || ae.Traceback != "tb" || invokes.Load() != 1 {
		t.Fatalf("invoke: %v (%d tries): a service error is not retried", err, invokes.Load())
	}

	_, err = c.Versions(ctx(t), "y.py")
	if !errors.As(err, &ae) || ae.Code != "not_found" || bad.Load() != 1 {
		t.Fatalf("versions: %v (%d tries): 4xx is not retried", err, bad.Load())
	}

	if err := c.Ping(ctx(t)); !errors.Is(err, ErrUnauthorized) || errors.Is(err, ErrUnreachable) {
		t.Fatalf("ping: %v", err)
	}
}

func TestUnreachable(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close() // nothing listens there now
	c := newClient(t, Config{URL: "http://" + addr, Retries: 2})
	start := time.Now()
	_, err = c.Upload(ctx(t), "x.py", []byte("x"), "api")
	if !errors.Is(err, ErrUnreachable) || errors.Is(err, ErrUnauthorized) {
		t.Fatalf("err %v", err)
	}
	// Said once: the request, then the cause, without net/http's repeat of both.
	if msg := err.Error(); strings.Count(msg, addr) != 2 || strings.Contains(msg, `Post "`) || !strings.Contains(msg, "connection refused") {
		t.Fatalf("the error says the address other than once in the request and once in the cause: %s", msg)
	}
	if time.Since(start) > 5*time.Second {
		t.Fatalf("took %s", time.Since(start))
	}

	// A server that accepts but never answers: the per-request timeout makes it unreachable, not a hang.
	hang := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { <-r.Context().Done() }))
	defer hang.Close()
	c = newClient(t, Config{URL: hang.URL, Timeout: 200 * time.Millisecond})
	if err := c.Ping(ctx(t)); !errors.Is(err, ErrUnreachable) {
		t.Fatalf("hanging server: %v", err)
	}
	// The caller's own cancellation is not "unreachable".
	cctx, cancel := context.WithCancel(ctx(t))
	cancel()
	if err := c.Ping(cctx); !errors.Is(err, context.Canceled) || errors.Is(err, ErrUnreachable) {
		t.Fatalf("cancelled: %v", err)
	}
}

func TestCAFile(t *testing.T) {
	srv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, 200, map[string]any{"servers": []Member{{Name: "server1", State: "live"}}})
	}))
	defer srv.Close()
	ca := filepath.Join(t.TempDir(), "ca.pem")
	pemBytes := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: srv.Certificate().Raw})
	if err := os.WriteFile(ca, pemBytes, 0o600); err != nil {
		t.Fatal(err)
	}
	ms, err := newClient(t, Config{URL: srv.URL, CAFile: ca}).Servers(ctx(t))
	if err != nil || len(ms) != 1 || ms[0].State != "live" {
		t.Fatalf("with CA: %v %+v", err, ms)
	}
	if err := newClient(t, Config{URL: srv.URL, Retries: -1}).Ping(ctx(t)); !errors.Is(err, ErrUnreachable) {
		t.Fatalf("without CA: %v", err)
	}
	if err := newClient(t, Config{URL: srv.URL, InsecureSkipVerify: true}).Ping(ctx(t)); err != nil {
		t.Fatalf("insecure: %v", err)
	}
	if _, err := New(Config{URL: srv.URL, CAFile: filepath.Join(t.TempDir(), "missing.pem")}); err == nil {
		t.Fatal("missing CA file accepted")
	}
}

func TestZatoKind(t *testing.T) {
	var mu sync.Mutex
	var bodies []string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/ide-deploy" {
			http.NotFound(w, r)
			return
		}
		b, _ := io.ReadAll(r.Body)
		mu.Lock()
		bodies = append(bodies, string(b))
		mu.Unlock()
		reply := func(ok bool, msg string) {
			writeJSON(w, 200, map[string]any{"zato_ide_deploy_create_response": map[string]any{"success": ok, "msg": msg}})
		}
		if len(b) == 0 {
			reply(true, "Ping succeeded.")
			return
		}
		var req struct {
			PayloadName string `json:"payload_name"`
			Payload     string `json:"payload"`
		}
		_ = json.Unmarshal(b, &req)
		src, _ := base64.StdEncoding.DecodeString(req.Payload)
		if strings.Contains(string(src), "bad") {
			reply(false, "Invalid payload")
			return
		}
		reply(true, "Deployment accepted: "+req.PayloadName)
	}))
	defer srv.Close()
	c := newClient(t, Config{URL: srv.URL, Kind: KindZato})
	if err := c.Ping(ctx(t)); err != nil {
		t.Fatal(err)
	}
	calls := 0
	d, err := c.Deploy(ctx(t), "x.py", []byte("ok = 1\n"), "ide", func(Deployment) { calls++ })
	if err != nil || d.Status != StatusAccepted || !d.Done || d.Message != "Deployment accepted: x.py" || calls != 1 {
		t.Fatalf("%v %+v (%d calls)", err, d, calls)
	}
	d, err = c.Upload(ctx(t), "x.py", []byte("bad"), "ide")
	if err != nil || d.Status != StatusFailed || d.Message != "Invalid payload" {
		t.Fatalf("%v %+v", err, d)
	}
	mu.Lock()
	defer mu.Unlock()
	if !strings.Contains(bodies[1], `"payload_name":"x.py"`) || !strings.Contains(bodies[1], base64.StdEncoding.EncodeToString([]byte("ok = 1\n"))) {
		t.Fatalf("body %s", bodies[1])
	}
	if _, err := c.Watch(ctx(t), 1, nil); !errors.Is(err, ErrUnsupported) {
		t.Fatalf("watch on Zato: %v", err)
	}
}

func TestKinds(t *testing.T) {
	for kind, ok := range map[string]bool{"": true, KindZatoGo: true, KindZato: true, "zato4": false} {
		_, err := New(Config{URL: "http://127.0.0.1:1", Kind: kind})
		if (err == nil) != ok {
			t.Errorf("kind %q: %v", kind, err)
		}
	}
}

func TestLoadConfig(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, ".zato.yaml")
	yaml := `url: http://127.0.0.1:17010
username: admin
password: top
servers:
  - {name: server1, url: "http://127.0.0.1:17010"}
  - {name: server2, url: "http://127.0.0.1:17011"}
defaultTarget: staging
targets:
  staging:
    url: https://staging:17010
    passwordEnv: ZATO_TEST_STAGING_PW
  legacy:
    url: http://zato:11223
    username: pubapi
    password: p
    kind: zato
`
	if err := os.WriteFile(path, []byte(yaml), 0o600); err != nil {
		t.Fatal(err)
	}
	t.Setenv("ZATO_TEST_STAGING_PW", "from-env")
	fc, err := LoadConfig(path)
	if err != nil {
		t.Fatal(err)
	}
	if fc.URL != "http://127.0.0.1:17010" || len(fc.Servers) != 2 || fc.Servers[1].Name != "server2" || len(fc.Targets) != 2 {
		t.Fatalf("%+v", fc)
	}
	name, cfg, err := fc.Target("")
	if err != nil || name != "staging" || cfg.URL != "https://staging:17010" || cfg.Username != "admin" || cfg.Password != "from-env" {
		t.Fatalf("default: %s %+v %v", name, cfg, err)
	}
	if _, cfg, _ = fc.Target("legacy"); cfg.Kind != KindZato || cfg.Username != "pubapi" || cfg.Password != "p" {
		t.Fatalf("legacy: %+v", cfg)
	}
	if _, _, err = fc.Target("nope"); err == nil {
		t.Fatal("unknown target resolved")
	}
	// The top-level url is a target too, named "default".
	if got := fc.TargetNames(); strings.Join(got, ",") != "staging,default,legacy" {
		t.Fatalf("names %v", got)
	}
	if name, cfg, err := fc.Target(DefaultTargetName); err != nil || name != DefaultTargetName || cfg.URL != "http://127.0.0.1:17010" {
		t.Fatalf("default target: %s %+v %v", name, cfg, err)
	}
	// Names match whatever their case when one target matches: layers read through viper come lower-cased.
	if name, cfg, err := fc.Target("Legacy"); err != nil || name != "legacy" || cfg.Kind != KindZato {
		t.Fatalf("Legacy: %s %+v %v", name, cfg, err)
	}
	fc.DefaultTarget = "STAGING"
	if name, _, err := fc.Target(""); err != nil || name != "staging" {
		t.Fatalf("defaultTarget STAGING: %s %v", name, err)
	}
	if got := fc.TargetNames(); strings.Join(got, ",") != "staging,default,legacy" {
		t.Fatalf("names with defaultTarget STAGING: %v", got)
	}
	// A plain zato-client.yaml: the top level is the default target.
	fc = FileConfig{URL: "http://a:1", Username: "u", Password: "p"}
	if name, cfg, err := fc.Target(""); err != nil || name != DefaultTargetName || cfg.URL != "http://a:1" || cfg.Password != "p" {
		t.Fatalf("plain: %s %+v %v", name, cfg, err)
	}
}

func TestReadEvents(t *testing.T) {
	in := "retry: 100\n: keepalive\n\nevent: a\ndata: 1\ndata: 2\n\ndata: x\n\nevent: done\ndata: {}\n\nevent: never\ndata: y\n\n"
	var got []string
	err := readEvents(strings.NewReader(in), func(ev string, data []byte) error {
		got = append(got, ev+"="+string(data))
		if ev == "done" {
			return io.EOF
		}
		return nil
	})
	if err != nil || strings.Join(got, "|") != "a=1\n2|message=x|done={}" {
		t.Fatalf("%v %q", err, got)
	}
	if err := readEvents(strings.NewReader("event: a\ndata: 1\n\n"), func(string, []byte) error { return nil }); !errors.Is(err, errStreamBroken) {
		t.Fatalf("early end: %v", err)
	}
}

// Network errors are retried with backoff where a repeat is harmless: a server that drops every connection gets
// 1+Retries attempts from a read and an upload, but one from an invocation (it may have run the service already).
func TestRetriesOnNetworkErrors(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	attempts := make(chan struct{}, 100)
	go func() {
		for {
			conn, err := l.Accept()
			if err != nil {
				return
			}
			// Read the request, count it, then hang up without answering (counted first, so the client's error
			// cannot come before the count).
			buf := make([]byte, 4096)
			_, _ = conn.Read(buf)
			attempts <- struct{}{}
			conn.Close()
		}
	}()
	count := func() int {
		n := 0
		for {
			select {
			case <-attempts:
				n++
			default:
				return n
			}
		}
	}
	c := newClient(t, Config{URL: "http://" + l.Addr().String(), Retries: 2})
	for name, call := range map[string]func() error{
		"ping":   func() error { return c.Ping(ctx(t)) },
		"upload": func() error { _, err := c.Upload(ctx(t), "x.py", []byte("x = 1\n"), "api"); return err },
	} {
		count()
		if err := call(); !errors.Is(err, ErrUnreachable) {
			t.Fatalf("%s: %v", name, err)
		}
		if n := count(); n != 3 {
			t.Errorf("%s: %d attempts, want 3", name, n)
		}
	}
	count()
	if _, err := c.Invoke(ctx(t), "svc.name", []byte(`{}`)); err == nil {
		t.Fatal("invoke succeeded")
	}
	if n := count(); n != 1 {
		t.Errorf("invoke: %d attempts, want 1", n)
	}
}

// A module that a JSON string cannot carry as it is (a Latin-1 'café' would arrive as 'caf\ufffd' and deploy) is
// refused before anything is sent, in the server's words; so are an empty module and one with a NUL byte.
func TestUploadRefusesWhatJSONWouldAlter(t *testing.T) {
	var requests atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		requests.Add(1)
		http.Error(w, "no", http.StatusTeapot)
	}))
	defer srv.Close()
	for _, kind := range []string{"", KindZato} {
		c := newClient(t, Config{URL: srv.URL, Kind: kind})
		for src, want := range map[string]string{"word = 'caf\xe9'\n": "not UTF-8 text; save it as UTF-8",
			"\ufeff": "empty", "x = 1\x00\n": "NUL byte"} {
			_, err := c.Upload(ctx(t), "latin.py", []byte(src), "cli")
			if err == nil || !strings.Contains(err.Error(), want) || !strings.Contains(err.Error(), "latin.py") {
				t.Errorf("kind %q, %q: %v, want an error saying %q", kind, src, err, want)
			}
		}
	}
	if n := requests.Load(); n != 0 {
		t.Errorf("%d requests reached the server", n)
	}
}

// A server whose ODB is away answers 503 and is asked again; when the client's deadline runs out during a later try,
// the error says what the server said (unavailable), not that it does not answer.
func TestUnavailableUntilTheDeadline(t *testing.T) {
	var calls atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if calls.Add(1) == 1 {
			w.Header().Set("Retry-After", "1")
			w.WriteHeader(http.StatusServiceUnavailable)
			w.Write([]byte(`{"error": {"type": "Unavailable", "message": "the ODB is unavailable right now"}}`))
			return
		}
		<-r.Context().Done() // the next try gets no answer before the deadline
	}))
	defer srv.Close()
	c := newClient(t, Config{URL: srv.URL, Timeout: 1500 * time.Millisecond})
	_, err := c.Modules(ctx(t))
	if err == nil || errors.Is(err, ErrUnreachable) || !strings.Contains(err.Error(), "ODB is unavailable") {
		t.Fatalf("err %v, want the server's 503", err)
	}
}

// A url that leads to another web server gets its HTML error page named, not dumped: the CLI printed the raw markup
// of the page after "server answered 404:".
func TestHTMLAnswerIsNamed(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/html")
		w.WriteHeader(http.StatusNotFound)
		fmt.Fprint(w, "<!DOCTYPE html>\n<html><head><title>Error response</title></head><body><h1>Error response</h1><p>Error code: 404</p></body></html>\n")
	}))
	defer srv.Close()
	c, err := New(Config{URL: srv.URL, Username: "u", Password: "p"})
	if err != nil {
		t.Fatal(err)
	}
	_, err = c.Modules(context.Background())
	if err == nil || strings.Contains(err.Error(), "<") || !strings.Contains(err.Error(), `an HTML page ("Error response"), not a zato server's answer: check the url`) {
		t.Fatalf("%v", err)
	}
}
