package api_test

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/zato-go/zato/server/api"
	"github.com/zato-go/zato/server/cluster"
	"github.com/zato-go/zato/server/odb"
	"github.com/zato-go/zato/wire"
)

// syncBuffer is a log sink tests read while the server writes.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// server is a real API over a real cluster member and SQLite ODB; only Python is left out.
type server struct {
	api   *api.API
	store odb.Store
	log   *syncBuffer
}

func newServer(t *testing.T, cfg api.Config) *server {
	t.Helper()
	dir := t.TempDir()
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	store, err := odb.OpenSQLite(ctx, filepath.Join(dir, "zato.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { store.Close() })
	current := filepath.Join(dir, "current")
	if err := os.MkdirAll(current, 0o755); err != nil {
		t.Fatal(err)
	}
	buf := &syncBuffer{}
	log := slog.New(slog.NewTextHandler(buf, nil))
	cl := cluster.New(cluster.Config{Name: "server1", CurrentDir: current, Logger: log, MaxPayload: 4 << 10, Secret: "s3cret"}, store, instantRuntime{})
	if err := cl.Start(ctx, os.Getpid(), "test"); err != nil {
		t.Fatal(err)
	}
	cfg.Server, cfg.Logger, cfg.MaxPayload = "server1", log, 4<<10
	if cfg.Secret == "" {
		cfg.Secret = "s3cret"
	}
	if cfg.Auth.Check == nil {
		cfg.Auth = api.Auth{Username: "u", Check: func(p string) bool { return p == "p" }}
	}
	return &server{api: api.New(cfg, cl, instantRuntime{}), store: store, log: buf}
}

func (s *server) do(t *testing.T, method, path string, body []byte, hdr ...string) *httptest.ResponseRecorder {
	t.Helper()
	req := httptest.NewRequest(method, path, bytes.NewReader(body))
	req.SetBasicAuth("u", "p")
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	rec := httptest.NewRecorder()
	s.api.ServeHTTP(rec, req)
	return rec
}

func (s *server) modules(t *testing.T) int {
	t.Helper()
	mods, err := s.store.Modules(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	return len(mods)
}

type apiError struct {
	Error struct{ Code, Message string }
}

func errorOf(t *testing.T, rec *httptest.ResponseRecorder) apiError {
	t.Helper()
	var e apiError
	if err := json.Unmarshal(rec.Body.Bytes(), &e); err != nil {
		t.Fatalf("%d %q is not an API error: %v", rec.Code, rec.Body, err)
	}
	return e
}

// TestDeployRefusesNonUTF8: a source that is not UTF-8 is refused with 400 bad_payload before anything is stored,
// whether it comes as raw bytes in the native API's JSON (which the JSON decoder would turn into U+FFFD), as
// escaped halves of surrogate pairs (the same), or base64-encoded through Zato's endpoints.
func TestDeployRefusesNonUTF8(t *testing.T) {
	s := newServer(t, api.Config{})
	for name, body := range map[string]string{
		"raw byte":         "{\"name\":\"x.py\",\"source\":\"x = '\xff'\\n\"}",
		"raw latin-1":      "{\"name\":\"x.py\",\"source\":\"# caf\xe9\\nx = 1\\n\"}",
		"lone high":        `{"name":"x.py","source":"x = '\ud800'\n"}`,
		"lone low":         `{"name":"x.py","source":"x = '\udc00'\n"}`,
		"high then other":  `{"name":"x.py","source":"x = '\ud800\u0041'\n"}`,
		"raw byte in name": "{\"name\":\"x\xff.py\",\"source\":\"x = 1\\n\"}",
	} {
		rec := s.do(t, http.MethodPost, "/api/v1/deploy", []byte(body))
		if e := errorOf(t, rec); rec.Code != http.StatusBadRequest || e.Error.Code != "bad_payload" || !strings.Contains(e.Error.Message, "UTF-8") {
			t.Errorf("%s: %d %s", name, rec.Code, rec.Body)
		}
	}
	// Escapes that are text stay accepted: a pair, an escaped backslash before a u, U+FFFD itself.
	for name, src := range map[string]string{
		"pair":             `x = '\ud83d\ude00'\n`,
		"escaped slash u":  `x = '\\ud800'\n`,
		"replacement char": `x = '\ufffd'\n`,
	} {
		rec := s.do(t, http.MethodPost, "/api/v1/deploy", []byte(`{"name":"ok.py","source":"`+src+`"}`))
		if rec.Code != http.StatusAccepted {
			t.Errorf("%s: %d %s", name, rec.Code, rec.Body)
		}
	}
	before := s.modules(t)
	for _, path := range []string{"/ide-deploy", "/zato/api/invoke/zato.hot-deploy.create", "/zato/api/invoke/zato.service.upload-package"} {
		for name, body := range map[string]string{
			"latin-1 payload": `{"payload_name":"x.py","payload":"` + base64.StdEncoding.EncodeToString([]byte("# caf\xe9\nx = 1\n")) + `"}`,
			// Zato's PyCharm plug-in sends the name in Latin-1: it is read as such, and refused as a name.
			"raw byte in name": "{\"payload_name\":\"x\xff.py\",\"payload\":\"eCA9IDEK\"}",
		} {
			rec := s.do(t, http.MethodPost, path, []byte(body))
			// As Zato answers: 200, success false and the reason (its plug-ins drop the body of other statuses).
			if rec.Code != http.StatusOK || !strings.Contains(rec.Body.String(), "UTF-8") && !strings.Contains(rec.Body.String(), `x\u00ff.py`) && !strings.Contains(rec.Body.String(), "xÿ.py") || !strings.Contains(rec.Body.String(), `"success":false`) {
				t.Errorf("%s %s: %d %s", path, name, rec.Code, rec.Body)
			}
		}
	}
	if after := s.modules(t); after != before {
		t.Fatalf("refused uploads stored modules: %d -> %d", before, after)
	}
}

// TestRefusedNames: long and shadowing names get 400 bad_name with the reason, through every way in.
func TestRefusedNames(t *testing.T) {
	s := newServer(t, api.Config{})
	long := strings.Repeat("a", 240) + ".py"
	for _, name := range []string{long, "json.py", "zato_worker.py", "__init__.py"} {
		body, _ := json.Marshal(map[string]string{"name": name, "source": "x = 1\n"})
		rec := s.do(t, http.MethodPost, "/api/v1/deploy", body)
		if e := errorOf(t, rec); rec.Code != http.StatusBadRequest || e.Error.Code != "bad_name" || !strings.Contains(e.Error.Message, "200 bytes") && !strings.Contains(e.Error.Message, "shadow") {
			t.Errorf("%.20s: %d %s", name, rec.Code, rec.Body)
		}
		body, _ = json.Marshal(map[string]string{"payload_name": name, "payload": base64.StdEncoding.EncodeToString([]byte("x = 1\n"))})
		rec = s.do(t, http.MethodPost, "/ide-deploy", body)
		if rec.Code != http.StatusOK || !strings.Contains(rec.Body.String(), `"success":false`) || !strings.Contains(rec.Body.String(), "200 bytes") && !strings.Contains(rec.Body.String(), "shadow") {
			t.Errorf("ide-deploy %.20s: %d %s", name, rec.Code, rec.Body)
		}
	}
	if n := s.modules(t); n != 0 {
		t.Fatalf("%d modules stored", n)
	}
}

// TestDeployStripsBOM: a module saved with a UTF-8 BOM is accepted and stored without it, as python3 reads it.
func TestDeployStripsBOM(t *testing.T) {
	s := newServer(t, api.Config{})
	body, _ := json.Marshal(map[string]string{"name": "bom.py", "source": "\ufeffx = 1\n"})
	if rec := s.do(t, http.MethodPost, "/api/v1/deploy", body); rec.Code != http.StatusAccepted {
		t.Fatalf("native: %d %s", rec.Code, rec.Body)
	}
	body, _ = json.Marshal(map[string]string{"payload_name": "bom2.py", "payload": base64.StdEncoding.EncodeToString([]byte("\ufeffy = 2\n"))})
	if rec := s.do(t, http.MethodPost, "/zato/api/invoke/zato.hot-deploy.create", body); rec.Code != http.StatusOK {
		t.Fatalf("zato: %d %s", rec.Code, rec.Body)
	}
	for mod, want := range map[string]string{"bom.py": "x = 1\n", "bom2.py": "y = 2\n"} {
		vs, err := s.store.Versions(context.Background(), mod)
		if err != nil || len(vs) != 1 || vs[0].Source != want {
			t.Fatalf("%s stored as %+v, %v; want %q", mod, vs, err, want)
		}
	}
}

// TestInternalErrorsHidden: what failed inside (here the ODB's own words) goes to the log with an id; the client
// gets the id only.
func TestInternalErrorsHidden(t *testing.T) {
	s := newServer(t, api.Config{})
	s.store.Close() // every query now fails with the driver's text
	body, _ := json.Marshal(map[string]string{"name": "x.py", "source": "x = 1\n"})
	for _, path := range []string{"/api/v1/deploy", "/api/v1/status"} {
		method := http.MethodPost
		if path == "/api/v1/status" {
			method, body = http.MethodGet, nil
		}
		rec := s.do(t, method, path, body)
		e := errorOf(t, rec)
		m := regexp.MustCompile(`^internal error ([0-9a-f]{16}); see the server log$`).FindStringSubmatch(e.Error.Message)
		if rec.Code != http.StatusInternalServerError || e.Error.Code != "internal" || m == nil {
			t.Fatalf("%s: %d %s", path, rec.Code, rec.Body)
		}
		logged := s.log.String()
		if !strings.Contains(logged, m[1]) || !strings.Contains(logged, "closed") {
			t.Fatalf("%s: error %s is not in the log:\n%s", path, m[1], logged)
		}
	}
}

// TestNudgeOverHTTP: the internal nudge takes only a signed header (the cluster secret never travels), once.
func TestNudgeOverHTTP(t *testing.T) {
	s := newServer(t, api.Config{})
	post := func(hdr ...string) int {
		req := httptest.NewRequest(http.MethodPost, cluster.NudgePath+"?members=1", nil)
		for i := 0; i+1 < len(hdr); i += 2 {
			req.Header.Set(hdr[i], hdr[i+1])
		}
		rec := httptest.NewRecorder()
		s.api.ServeHTTP(rec, req)
		return rec.Code
	}
	if code := post("X-Zato-Cluster-Secret", "s3cret"); code != http.StatusUnauthorized {
		t.Errorf("the plain secret header: %d, want 401", code)
	}
	if code := post(); code != http.StatusUnauthorized {
		t.Errorf("no header: %d", code)
	}
	signed := cluster.SignHTTPNudge([]byte("s3cret"), "server2", cluster.Nudge{Members: true}, time.Now())
	if code := post(cluster.NudgeHeader, signed); code != http.StatusNoContent {
		t.Errorf("signed: %d", code)
	}
	if code := post(cluster.NudgeHeader, signed); code != http.StatusUnauthorized {
		t.Errorf("replayed: %d", code)
	}
	if code := post(cluster.NudgeHeader, cluster.SignHTTPNudge([]byte("other"), "server2", cluster.Nudge{}, time.Now())); code != http.StatusUnauthorized {
		t.Errorf("another cluster's: %d", code)
	}
	if n := strings.Count(s.log.String(), "refused a nudge over HTTP"); n != 1 {
		t.Errorf("%d log lines for 4 refused nudges, want 1:\n%s", n, s.log)
	}
}

// TestAuthThrottle: failed basic-auth attempts are limited per client address on every authenticated endpoint:
// after 10 a 429 with Retry-After, right password or not, while other addresses and requests that never failed
// go on as before.
func TestAuthThrottle(t *testing.T) {
	s := newServer(t, api.Config{})
	req := func(host, pass, path string) *httptest.ResponseRecorder {
		r := httptest.NewRequest(http.MethodGet, path, nil)
		r.RemoteAddr = host + ":40000"
		r.SetBasicAuth("u", pass)
		rec := httptest.NewRecorder()
		s.api.ServeHTTP(rec, r)
		return rec
	}
	for i := range 50 { // successes are never counted
		if rec := req("192.0.2.1", "p", "/api/v1/servers"); rec.Code != http.StatusOK {
			t.Fatalf("good request %d: %d %s", i, rec.Code, rec.Body)
		}
	}
	paths := []string{"/api/v1/status", "/api/v1/modules", "/ide-deploy", "/api/v1/services", "/zato/api/invoke/x"}
	for i := range 10 {
		if rec := req("192.0.2.2", "wrong", paths[i%len(paths)]); rec.Code != http.StatusUnauthorized {
			t.Fatalf("failure %d: %d %s", i, rec.Code, rec.Body)
		}
	}
	for _, pass := range []string{"wrong", "p"} {
		rec := req("192.0.2.2", pass, "/api/v1/status")
		ra, err := strconv.Atoi(rec.Header().Get("Retry-After"))
		if rec.Code != http.StatusTooManyRequests || err != nil || ra < 1 || ra > 60 || errorOf(t, rec).Error.Code != "too_many_requests" {
			t.Fatalf("after 10 failures, password %q: %d Retry-After %q %s", pass, rec.Code, rec.Header().Get("Retry-After"), rec.Body)
		}
	}
	if rec := req("192.0.2.3", "p", "/api/v1/status"); rec.Code != http.StatusOK {
		t.Fatalf("another address: %d", rec.Code)
	}
	if rec := req("192.0.2.1", "p", "/api/v1/status"); rec.Code != http.StatusOK {
		t.Fatalf("the good client: %d", rec.Code)
	}
	// A request without credentials guesses nothing: a browser's first try is not counted.
	for i := range 20 {
		r := httptest.NewRequest(http.MethodGet, "/api/v1/status", nil)
		r.RemoteAddr = "192.0.2.4:1"
		rec := httptest.NewRecorder()
		s.api.ServeHTTP(rec, r)
		if rec.Code != http.StatusUnauthorized {
			t.Fatalf("no credentials %d: %d", i, rec.Code)
		}
	}
	if rec := req("192.0.2.4", "p", "/api/v1/status"); rec.Code != http.StatusOK {
		t.Fatalf("after requests without credentials: %d", rec.Code)
	}
}

// TestAuthCache: a password hash made to be slow is checked once per password, not once per request.
func TestAuthCache(t *testing.T) {
	var mu sync.Mutex
	checks := 0
	s := newServer(t, api.Config{Auth: api.Auth{Username: "u", Check: func(p string) bool {
		mu.Lock()
		defer mu.Unlock()
		checks++
		return p == "p"
	}}})
	for i := range 20 {
		if rec := s.do(t, http.MethodGet, "/api/v1/servers", nil); rec.Code != http.StatusOK {
			t.Fatalf("%d: %d", i, rec.Code)
		}
	}
	if !s.api.CheckCredentials("u", "p") || s.api.CheckCredentials("u", "q") || s.api.CheckCredentials("v", "p") {
		t.Fatal("CheckCredentials")
	}
	mu.Lock()
	defer mu.Unlock()
	if checks != 3 { // the first good one, "q" and "v"'s (a wrong user still costs a check: no timing hint)
		t.Fatalf("%d password checks for 21 good requests and 2 bad ones, want 3", checks)
	}
}

// Every answer names the server that gave it.
func TestAnswersNameTheServer(t *testing.T) {
	s := newServer(t, api.Config{}) // named server1
	for _, path := range []string{"/healthz", "/api/v1/servers", "/api/v1/nope"} {
		if rec := s.do(t, http.MethodGet, path, nil); rec.Header().Get("X-Zato-Server") != "server1" {
			t.Errorf("%s: X-Zato-Server %q", path, rec.Header().Get("X-Zato-Server"))
		}
	}
}

// TestModuleVersion: GET /api/v1/modules/{name}/versions/{n} answers that version with its source; a module or a
// version the cluster does not have is a 404 that says which versions exist.
func TestModuleVersion(t *testing.T) {
	s := newServer(t, api.Config{})
	for _, src := range []string{"x = 1\n", "x = 2\n"} {
		body, _ := json.Marshal(map[string]string{"name": "hist.py", "source": src, "origin": "cli"})
		if rec := s.do(t, http.MethodPost, "/api/v1/deploy", body); rec.Code != http.StatusAccepted {
			t.Fatalf("deploy: %d %s", rec.Code, rec.Body)
		}
	}
	for n, want := range map[int]string{1: "x = 1\n", 2: "x = 2\n"} {
		rec := s.do(t, http.MethodGet, "/api/v1/modules/hist.py/versions/"+strconv.Itoa(n), nil)
		var v struct {
			Module, SHA256, Who, Origin, Source string
			Version, Size                       int
			CreatedAt                           time.Time `json:"created_at"`
		}
		if rec.Code != http.StatusOK || json.Unmarshal(rec.Body.Bytes(), &v) != nil {
			t.Fatalf("version %d: %d %s", n, rec.Code, rec.Body)
		}
		if v.Module != "hist.py" || v.Version != n || v.Source != want || v.Size != len(want) || v.Who != "u" || v.Origin != "cli" ||
			len(v.SHA256) != 64 || v.CreatedAt.IsZero() {
			t.Fatalf("version %d: %+v", n, v)
		}
	}
	for path, want := range map[string]struct {
		status      int
		code, words string
	}{
		"/api/v1/modules/hist.py/versions/3":   {http.StatusNotFound, "not_found", "hist.py has versions 1-2; there is no version 3"},
		"/api/v1/modules/never.py/versions/1":  {http.StatusNotFound, "not_found", "never.py has never been deployed"},
		"/api/v1/modules/hist.py/versions/0":   {http.StatusBadRequest, "bad_request", "not a version number"},
		"/api/v1/modules/hist.py/versions/two": {http.StatusBadRequest, "bad_request", "not a version number"},
		"/api/v1/modules/a-b.py/versions/1":    {http.StatusBadRequest, "bad_name", "flat module file name"},
		// The history of a name that today's rules refuse to deploy stays readable (as in the web admin): a module
		// stored before the rule grew keeps it.
		"/api/v1/modules/json.py/versions/1": {http.StatusNotFound, "not_found", "json.py has never been deployed"},
	} {
		rec := s.do(t, http.MethodGet, path, nil)
		if e := errorOf(t, rec); rec.Code != want.status || e.Error.Code != want.code || !strings.Contains(e.Error.Message, want.words) {
			t.Errorf("%s: %d %s", path, rec.Code, rec.Body)
		}
	}
}

// GET /api/v1/deployments pages with before: the deployments older than the one given, newest first.
func TestDeploymentsBefore(t *testing.T) {
	s := newServer(t, api.Config{})
	for i := range 3 {
		body, _ := json.Marshal(map[string]string{"name": "page.py", "source": fmt.Sprintf("x = %d\n", i)})
		if rec := s.do(t, http.MethodPost, "/api/v1/deploy", body); rec.Code != http.StatusAccepted {
			t.Fatalf("deploy: %d %s", rec.Code, rec.Body)
		}
	}
	ids := func(path string) (out []int64) {
		var list struct{ Deployments []wire.Deployment }
		if rec := s.do(t, http.MethodGet, path, nil); rec.Code != http.StatusOK || json.Unmarshal(rec.Body.Bytes(), &list) != nil {
			t.Fatalf("%s: %d %s", path, rec.Code, rec.Body)
		}
		for _, d := range list.Deployments {
			out = append(out, d.ID)
		}
		return out
	}
	all := ids("/api/v1/deployments?module=page.py")
	if len(all) != 3 {
		t.Fatalf("deployments %v", all)
	}
	if got := ids(fmt.Sprintf("/api/v1/deployments?module=page.py&before=%d", all[0])); fmt.Sprint(got) != fmt.Sprint(all[1:]) {
		t.Errorf("before %d: %v, want %v", all[0], got, all[1:])
	}
}
