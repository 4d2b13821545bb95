package deployclient

import (
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"
)

func TestInvokeAtAnotherServer(t *testing.T) {
	var calls atomic.Int32
	other := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		calls.Add(1)
		if u, p, _ := r.BasicAuth(); u != "admin" || p != "pw" {
			writeJSON(w, 401, map[string]any{"error": map[string]string{"code": "unauthorized", "message": "no"}})
			return
		}
		switch r.URL.Path {
		case "/api/v1/invoke/x.ok":
			var in map[string]any
			_ = json.NewDecoder(r.Body).Decode(&in)
			writeJSON(w, 200, map[string]any{"echo": in["a"]})
		case "/api/v1/invoke/x.boom":
			writeJSON(w, 500, map[string]any{"error": map[string]string{"type": "ZeroDivisionError", "message": "division by zero",
				"traceback": "Traceback (most recent call last):\n  File \"/srv/x.py\", line 7, in handle\nZeroDivisionError: division by zero\n"}})
		case "/api/v1/services":
			writeJSON(w, 200, map[string]any{"server": "server2", "services": []map[string]string{{"name": "x.ok", "module": "x.py", "class": "Ok"}}})
		default:
			http.NotFound(w, r)
		}
	}))
	defer other.Close()
	own := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, 200, map[string]any{"server": "server1", "services": []any{}})
	}))
	defer own.Close()
	c := newClient(t, Config{URL: own.URL, Username: "admin", Password: "pw"})

	res, err := c.InvokeAt(ctx(t), other.URL+"/", "x.ok", []byte(`{"a": 1}`))
	if err != nil || res.Status != 200 || res.Error != nil || string(res.Body) != "{\"echo\":1}\n" || res.URL != other.URL || res.Duration <= 0 {
		t.Fatalf("%+v %v", res, err)
	}
	res, err = c.InvokeAt(ctx(t), other.URL, "x.boom", nil)
	if err != nil || res.Status != 500 || res.Error == nil || res.Error.Code != "ZeroDivisionError" || res.Error.Traceback == "" {
		t.Fatalf("%+v %v", res, err)
	}
	// 500 from a service is an answer, not retried: user code ran.
	if n := calls.Load(); n != 2 {
		t.Fatalf("%d calls, want 2", n)
	}
	rep, err := c.ServicesAt(ctx(t), other.URL)
	if err != nil || rep.Server != "server2" || len(rep.Services) != 1 {
		t.Fatalf("%+v %v", rep, err)
	}
	rep, err = c.ServicesAt(ctx(t), "")
	if err != nil || rep.Server != "server1" {
		t.Fatalf("%+v %v", rep, err)
	}
	if _, err := c.InvokeAt(ctx(t), "ftp://x", "x.ok", nil); err == nil {
		t.Fatal("bad URL accepted")
	}
	other.Close()
	if _, err := c.InvokeAt(ctx(t), other.URL, "x.ok", nil); !errors.Is(err, ErrUnreachable) {
		t.Fatalf("closed server: %v", err)
	}
	z := newClient(t, Config{URL: own.URL, Kind: KindZato})
	if _, err := z.InvokeAt(ctx(t), other.URL, "x.ok", nil); !errors.Is(err, ErrUnsupported) {
		t.Fatalf("zato kind at another server: %v", err)
	}
}
