package api_test

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/zato-go/zato/server/api"
	"github.com/zato-go/zato/server/cluster"
	"github.com/zato-go/zato/server/odb"
	"github.com/zato-go/zato/server/runtime"
)

// instantRuntime accepts every module at once: the fuzz target is about the HTTP layer, not Python.
type instantRuntime struct{}

func (instantRuntime) Load(_ context.Context, module, _ string, _ []byte) (runtime.LoadResult, error) {
	return runtime.LoadResult{Module: module, Services: []string{}}, nil
}
func (instantRuntime) Unload(context.Context, string) ([]string, error) { return nil, nil }
func (instantRuntime) Invoke(context.Context, string, []byte, runtime.InvokeOptions) (json.RawMessage, error) {
	return nil, &runtime.InvokeError{Status: 404, Type: "NotFound", Message: "no services here"}
}
func (instantRuntime) Services() []runtime.ServiceInfo { return nil }

// FuzzZatoDeploy sends arbitrary bodies to the Zato-compatible /ide-deploy: the answer is never a 5xx, always
// Zato's reply element, and a refused body changes nothing in the ODB.
func FuzzZatoDeploy(f *testing.F) {
	enc := func(name, src string) []byte {
		b, _ := json.Marshal(map[string]string{"payload_name": name, "payload": base64.StdEncoding.EncodeToString([]byte(src))})
		return b
	}
	f.Add([]byte(""))
	f.Add([]byte("{}"))
	f.Add(enc("ok_mod.py", "x = 1\n"))
	f.Add(enc("../evil.py", "x = 1\n"))
	f.Add(enc("a/b.py", "x"))
	f.Add(enc("x.pyc", "x"))
	f.Add(enc("nul\x00.py", "x"))
	f.Add(enc("bin.py", "\xff\xfe"))
	f.Add([]byte(`{"payload_name": "x.py", "payload": "not base64!"}`))
	f.Add([]byte(`{"payload_name": 7}`))
	f.Add([]byte(`[1, 2`))

	dir := f.TempDir()
	ctx, cancel := context.WithCancel(context.Background())
	f.Cleanup(cancel)
	store, err := odb.OpenSQLite(ctx, filepath.Join(dir, "zato.db"))
	if err != nil {
		f.Fatal(err)
	}
	f.Cleanup(func() { store.Close() })
	current := filepath.Join(dir, "current")
	if err := os.MkdirAll(current, 0o755); err != nil {
		f.Fatal(err)
	}
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	cl := cluster.New(cluster.Config{Name: "server1", CurrentDir: current, Logger: log, MaxPayload: 4 << 10}, store, instantRuntime{})
	if err := cl.Start(ctx, os.Getpid(), "fuzz"); err != nil {
		f.Fatal(err)
	}
	a := api.New(api.Config{Server: "server1", Logger: log, MaxPayload: 4 << 10,
		Auth: api.Auth{Username: "u", Check: func(p string) bool { return p == "p" }}}, cl, instantRuntime{})

	f.Fuzz(func(t *testing.T, body []byte) {
		before, err := store.Modules(ctx)
		if err != nil {
			t.Fatal(err)
		}
		req := httptest.NewRequest(http.MethodPost, "/ide-deploy", bytes.NewReader(body))
		req.SetBasicAuth("u", "p")
		rec := httptest.NewRecorder()
		a.ServeHTTP(rec, req)
		if rec.Code >= 500 {
			t.Fatalf("%d for %q: %s", rec.Code, body, rec.Body)
		}
		var reply map[string]struct {
			Success bool   `json:"success"`
			Msg     string `json:"msg"`
		}
		if err := json.Unmarshal(rec.Body.Bytes(), &reply); err != nil {
			t.Fatalf("not JSON for %q: %s", body, rec.Body)
		}
		inner, ok := reply["zato_ide_deploy_create_response"]
		if !ok || inner.Msg == "" {
			t.Fatalf("no Zato reply element for %q: %s", body, rec.Body)
		}
		if rec.Code >= 400 {
			after, err := store.Modules(ctx)
			if err != nil {
				t.Fatal(err)
			}
			if len(after) != len(before) || inner.Success || strings.Contains(inner.Msg, "Ping") {
				t.Fatalf("refused %q (%d) but modules went %d -> %d: %s", body, rec.Code, len(before), len(after), rec.Body)
			}
		}
	})
}
