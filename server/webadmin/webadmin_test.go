package webadmin

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"mime/multipart"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
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
	"github.com/zato-go/zato/server/runtime"
)

// fakeRuntime serves one service per module, named after it; a module whose source contains "boom" fails to load.
type fakeRuntime struct {
	mu       sync.Mutex
	services map[string]runtime.ServiceInfo
}

func (f *fakeRuntime) Load(_ context.Context, module, _ string, source []byte) (runtime.LoadResult, error) {
	if strings.Contains(string(source), "boom") {
		return runtime.LoadResult{Module: module, Error: &runtime.ModuleError{
			Type: "SyntaxError", Message: "invalid <script>alert(1)</script>", Line: 3, Traceback: "Traceback <b>x</b>",
		}}, nil
	}
	name := strings.TrimSuffix(module, ".py") + ".echo"
	f.mu.Lock()
	f.services[name] = runtime.ServiceInfo{Name: name, Module: module, Class: "Echo"}
	f.mu.Unlock()
	return runtime.LoadResult{Module: module, Services: []string{name}}, nil
}

func (f *fakeRuntime) Unload(_ context.Context, module string) ([]string, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []string
	for n, s := range f.services {
		if s.Module == module {
			delete(f.services, n)
			out = append(out, n)
		}
	}
	return out, nil
}

func (f *fakeRuntime) Invoke(_ context.Context, service string, payload []byte, _ runtime.InvokeOptions) (json.RawMessage, error) {
	f.mu.Lock()
	_, ok := f.services[service]
	f.mu.Unlock()
	if !ok {
		return nil, &runtime.InvokeError{Status: 404, Type: "NotFound", Message: "no such service: " + service}
	}
	return json.RawMessage(`{"echo":` + string(orNull(payload)) + `}`), nil
}

func orNull(b []byte) []byte {
	if len(b) == 0 {
		return []byte("null")
	}
	return b
}

func (f *fakeRuntime) Services() []runtime.ServiceInfo {
	f.mu.Lock()
	defer f.mu.Unlock()
	out := make([]runtime.ServiceInfo, 0, len(f.services))
	for _, s := range f.services {
		out = append(out, s)
	}
	return out
}

const (
	user = "admin"
	pass = "s3cret"
)

type env struct {
	srv   *httptest.Server
	cl    *cluster.Cluster
	store odb.Store
	rt    *fakeRuntime
}

func start(t *testing.T) *env {
	t.Helper()
	dir := t.TempDir()
	ctx, cancel := context.WithCancel(context.Background())
	store, err := odb.OpenSQLite(ctx, filepath.Join(dir, "zato.db"))
	if err != nil {
		t.Fatal(err)
	}
	current := filepath.Join(dir, "current")
	if err := os.MkdirAll(current, 0o755); err != nil {
		t.Fatal(err)
	}
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	rt := &fakeRuntime{services: map[string]runtime.ServiceInfo{}}
	cl := cluster.New(cluster.Config{Name: "server1", CurrentDir: current, Logger: log}, store, rt)
	if err := cl.Start(ctx, os.Getpid(), "test"); err != nil {
		t.Fatal(err)
	}
	a := api.New(api.Config{Server: "server1", Logger: log, Auth: api.Auth{Username: user, Check: func(p string) bool { return p == pass }}}, cl, rt)
	a.Handle("/admin/", New(Config{Server: "server1", Logger: log, CheckCredentials: a.CheckCredentials}, a, cl, rt))
	srv := httptest.NewServer(a)
	t.Cleanup(func() {
		srv.Close()
		cancel()
		cl.Stop(context.Background())
		store.Close()
	})
	return &env{srv: srv, cl: cl, store: store, rt: rt}
}

// client does not follow redirects, so tests see them.
func (e *env) client(t *testing.T) *http.Client {
	jar, _ := cookiejar.New(nil)
	return &http.Client{Jar: jar, Timeout: 20 * time.Second, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
}

var csrfField = regexp.MustCompile(`name="csrf" value="([^"]+)"`)

func body(t *testing.T, resp *http.Response) string {
	t.Helper()
	b, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func (e *env) get(t *testing.T, c *http.Client, path string) (*http.Response, string) {
	t.Helper()
	resp, err := c.Get(e.srv.URL + path)
	if err != nil {
		t.Fatal(err)
	}
	return resp, body(t, resp)
}

func (e *env) postForm(t *testing.T, c *http.Client, path string, form url.Values, hdr map[string]string) (*http.Response, string) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodPost, e.srv.URL+path, strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	resp, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	return resp, body(t, resp)
}

// login logs c in and returns the session's CSRF token.
func (e *env) login(t *testing.T, c *http.Client) string {
	t.Helper()
	_, page := e.get(t, c, "/admin/login")
	m := csrfField.FindStringSubmatch(page)
	if m == nil {
		t.Fatalf("no csrf field in the login page:\n%s", page)
	}
	resp, _ := e.postForm(t, c, "/admin/login", url.Values{"csrf": {m[1]}, "username": {user}, "password": {pass}, "next": {"/admin/services"}}, nil)
	if resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != "/admin/services" {
		t.Fatalf("login: %d %s", resp.StatusCode, resp.Header.Get("Location"))
	}
	_, home := e.get(t, c, "/admin/")
	m = regexp.MustCompile(`<meta name="csrf-token" content="([^"]+)">`).FindStringSubmatch(home)
	if m == nil {
		t.Fatalf("no csrf meta on the home page:\n%s", home)
	}
	return m[1]
}

func TestUnauthenticatedRedirectsToLogin(t *testing.T) {
	e := start(t)
	c := e.client(t)
	for _, p := range []string{"/admin/", "/admin/services?service=x", "/admin/deployments/1", "/admin/modules", "/admin/nope"} {
		resp, _ := e.get(t, c, p)
		want := "/admin/login?next=" + url.QueryEscape(p)
		if resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != want {
			t.Errorf("GET %s: %d %q, want 303 %q", p, resp.StatusCode, resp.Header.Get("Location"), want)
		}
	}
	resp, _ := e.postForm(t, c, "/admin/upload", url.Values{}, nil)
	if resp.StatusCode != http.StatusSeeOther || !strings.HasPrefix(resp.Header.Get("Location"), "/admin/login") {
		t.Errorf("POST upload: %d %q", resp.StatusCode, resp.Header.Get("Location"))
	}
	resp, page := e.get(t, c, "/admin/login")
	if resp.StatusCode != 200 || !strings.Contains(page, `name="password"`) {
		t.Fatalf("login page: %d", resp.StatusCode)
	}
	if csp := resp.Header.Get("Content-Security-Policy"); !strings.Contains(csp, "script-src 'self'") {
		t.Errorf("CSP %q", csp)
	}
	// Static assets need no session (the login page uses them).
	if resp, js := e.get(t, c, "/admin/static/app.js"); resp.StatusCode != 200 || !strings.Contains(js, "EventSource") {
		t.Errorf("app.js: %d", resp.StatusCode)
	}
}

func TestLogin(t *testing.T) {
	e := start(t)
	c := e.client(t)
	_, page := e.get(t, c, "/admin/login?next=//evil.example/")
	token := csrfField.FindStringSubmatch(page)[1]
	if !strings.Contains(page, `name="next" value="/admin/"`) {
		t.Error("an off-site next was kept")
	}

	// No or a wrong login CSRF token: 403, even with good credentials.
	for _, tok := range []string{"", "wrong"} {
		resp, _ := e.postForm(t, c, "/admin/login", url.Values{"csrf": {tok}, "username": {user}, "password": {pass}}, nil)
		if resp.StatusCode != http.StatusForbidden {
			t.Errorf("csrf %q: %d", tok, resp.StatusCode)
		}
	}
	// Bad credentials: the form again, with a message, escaped.
	resp, page := e.postForm(t, c, "/admin/login", url.Values{"csrf": {token}, "username": {"<b>x</b>"}, "password": {"no"}}, nil)
	if resp.StatusCode != http.StatusUnauthorized || !strings.Contains(page, "Invalid username or password") {
		t.Fatalf("bad password: %d", resp.StatusCode)
	}
	if strings.Contains(page, "<b>x</b>") || !strings.Contains(page, "&lt;b&gt;x&lt;/b&gt;") {
		t.Error("the user name was not escaped")
	}
	resp, _ = e.postForm(t, c, "/admin/login", url.Values{"csrf": {token}, "username": {user}, "password": {pass}, "next": {"/admin/modules"}}, nil)
	if resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != "/admin/modules" {
		t.Fatalf("login: %d %q", resp.StatusCode, resp.Header.Get("Location"))
	}
	var sc *http.Cookie
	for _, ck := range resp.Cookies() {
		if ck.Name == "zato_admin_server1" {
			sc = ck
		}
	}
	if sc == nil || !sc.HttpOnly || sc.SameSite != http.SameSiteStrictMode || sc.Path != "/admin/" || len(sc.Value) < 40 {
		t.Fatalf("session cookie: %+v", sc)
	}
	for _, p := range []string{"/admin/", "/admin/deployments", "/admin/modules", "/admin/services"} {
		if resp, page := e.get(t, c, p); resp.StatusCode != 200 || !strings.Contains(page, `name="csrf-token"`) {
			t.Errorf("GET %s: %d", p, resp.StatusCode)
		}
	}
	if resp, _ := e.get(t, c, "/admin/nope"); resp.StatusCode != 404 {
		t.Errorf("unknown page: %d", resp.StatusCode)
	}
	// Logged in: the login page sends you on.
	if resp, _ := e.get(t, c, "/admin/login"); resp.StatusCode != http.StatusSeeOther {
		t.Errorf("login page when logged in: %d", resp.StatusCode)
	}

	// Logout needs the token too, then the session is gone.
	_, home := e.get(t, c, "/admin/")
	tok := csrfField.FindStringSubmatch(home)[1]
	if resp, _ := e.postForm(t, c, "/admin/logout", url.Values{}, nil); resp.StatusCode != http.StatusForbidden {
		t.Errorf("logout without token: %d", resp.StatusCode)
	}
	if resp, _ := e.postForm(t, c, "/admin/logout", url.Values{"csrf": {tok}}, nil); resp.StatusCode != http.StatusSeeOther {
		t.Errorf("logout: %d", resp.StatusCode)
	}
	// Even a replayed cookie is dead now.
	req, _ := http.NewRequest(http.MethodGet, e.srv.URL+"/admin/", nil)
	req.AddCookie(&http.Cookie{Name: sc.Name, Value: sc.Value})
	r2, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	r2.Body.Close()
	if r2.StatusCode != http.StatusSeeOther {
		t.Errorf("after logout: %d", r2.StatusCode)
	}
}

func multipartBody(t *testing.T, files map[string]string, fields map[string]string) (*bytes.Buffer, string) {
	t.Helper()
	var buf bytes.Buffer
	mw := multipart.NewWriter(&buf)
	for k, v := range fields {
		_ = mw.WriteField(k, v)
	}
	for name, src := range files {
		fw, err := mw.CreateFormFile("files", name)
		if err != nil {
			t.Fatal(err)
		}
		_, _ = fw.Write([]byte(src))
	}
	mw.Close()
	return &buf, mw.FormDataContentType()
}

type uploadResult struct {
	Deployments []api.DeploymentJSON `json:"deployments"`
	Errors      []uploadError        `json:"errors"`
}

func (e *env) upload(t *testing.T, c *http.Client, files map[string]string, token string) (int, uploadResult) {
	t.Helper()
	b, ct := multipartBody(t, files, nil)
	req, _ := http.NewRequest(http.MethodPost, e.srv.URL+"/admin/upload", b)
	req.Header.Set("Content-Type", ct)
	req.Header.Set("Accept", "application/json")
	if token != "" {
		req.Header.Set("X-CSRF-Token", token)
	}
	resp, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	var out uploadResult
	raw := body(t, resp)
	if resp.StatusCode != http.StatusForbidden {
		if err := json.Unmarshal([]byte(raw), &out); err != nil {
			t.Fatalf("upload answer %d %q: %v", resp.StatusCode, raw, err)
		}
	}
	return resp.StatusCode, out
}

type sseEvent struct{ name, data string }

func (e *env) events(t *testing.T, c *http.Client, id int64) []sseEvent {
	t.Helper()
	resp, err := c.Get(e.srv.URL + "/admin/deployments/" + itoa(id) + "/events")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if ct := resp.Header.Get("Content-Type"); ct != "text/event-stream" {
		t.Fatalf("events: %d %s", resp.StatusCode, ct)
	}
	var out []sseEvent
	var cur sseEvent
	sc := bufio.NewScanner(resp.Body)
	for sc.Scan() {
		line := sc.Text()
		switch {
		case strings.HasPrefix(line, "event: "):
			cur.name = strings.TrimPrefix(line, "event: ")
		case strings.HasPrefix(line, "data: "):
			cur.data = strings.TrimPrefix(line, "data: ")
		case line == "":
			out = append(out, cur)
			cur = sseEvent{}
		}
	}
	return out
}

func itoa(n int64) string { return strconv.FormatInt(n, 10) }

func TestUploadNeedsCSRFAndDeploysEachFile(t *testing.T) {
	e := start(t)
	c := e.client(t)
	token := e.login(t, c)
	files := map[string]string{"alpha.py": "x = 1\n", "beta.py": "y = 2\n"}

	for _, tok := range []string{"", "not-the-token"} {
		if st, _ := e.upload(t, c, files, tok); st != http.StatusForbidden {
			t.Errorf("upload with token %q: %d", tok, st)
		}
	}
	// A wrong header token is refused before the body is read: a body over the limit still gets 403, not 413.
	big, bct := multipartBody(t, map[string]string{"huge.py": strings.Repeat("x", maxUploadBody+1)}, nil)
	req, _ := http.NewRequest(http.MethodPost, e.srv.URL+"/admin/upload", big)
	req.Header.Set("Content-Type", bct)
	req.Header.Set("X-CSRF-Token", "not-the-token")
	resp, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusForbidden {
		t.Fatalf("oversized upload with a wrong token: %d", resp.StatusCode)
	}
	// The csrf form field works too (a form posted without the script).
	b, ct := multipartBody(t, map[string]string{"gamma.py": "z = 3\n"}, map[string]string{"csrf": token})
	resp, err = c.Post(e.srv.URL+"/admin/upload", ct, b)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusSeeOther || !strings.HasPrefix(resp.Header.Get("Location"), "/admin/deployments/") {
		t.Fatalf("form upload: %d %q", resp.StatusCode, resp.Header.Get("Location"))
	}
	// A form with a file that deploys and one that cannot: the page says both, with the deployment to follow.
	b, ct = multipartBody(t, map[string]string{"delta.py": "z = 4\n", "notes.txt": "hi"}, map[string]string{"csrf": token})
	resp, err = c.Post(e.srv.URL+"/admin/upload", ct, b)
	if err != nil {
		t.Fatal(err)
	}
	mixed, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if !strings.Contains(string(mixed), "notes.txt") || !regexp.MustCompile(`href="/admin/deployments/\d+">delta.py: deployment \d+`).Match(mixed) {
		t.Fatalf("form upload of a good and a bad file: %d\n%s", resp.StatusCode, mixed)
	}

	files["../evil.py"] = "z = 1\n"
	files["bad name.py"] = "z = 1\n"
	st, out := e.upload(t, c, files, token)
	if st != http.StatusAccepted || len(out.Deployments) != 3 || len(out.Errors) != 1 {
		t.Fatalf("upload: %d %+v", st, out)
	}
	for _, d := range out.Deployments {
		if d.Origin != "admin" || d.Who != user || d.Expected != 1 || d.ReceivedBy != "server1" {
			t.Errorf("deployment %+v", d)
		}
		evs := e.events(t, c, d.ID)
		if len(evs) < 2 || evs[0].name != "deployment" || evs[len(evs)-1].name != "done" {
			t.Fatalf("events %+v", evs)
		}
		var done api.DeploymentJSON
		if err := json.Unmarshal([]byte(evs[len(evs)-1].data), &done); err != nil {
			t.Fatal(err)
		}
		if done.Status != "deployed" || done.Confirmed != 1 || !done.Done {
			t.Errorf("done %+v", done)
		}
	}
	// "../evil.py" arrives as its base name: the path is dropped (by mime/multipart), never used.
	names := map[string]bool{}
	for _, d := range out.Deployments {
		names[d.Module] = true
	}
	if !names["alpha.py"] || !names["beta.py"] || !names["evil.py"] {
		t.Errorf("modules %v", names)
	}

	// Nothing good at all: 400 with the reasons.
	if st, out := e.upload(t, c, map[string]string{"x.txt": "hi"}, token); st != http.StatusBadRequest || len(out.Errors) != 1 {
		t.Errorf("bad upload: %d %+v", st, out)
	}
	// Every page shows what happened.
	_, page := e.get(t, c, "/admin/deployments")
	if !strings.Contains(page, "alpha.py") || !strings.Contains(page, "gamma.py") {
		t.Error("deployments page lacks the uploads")
	}
}

func TestFailedDeploymentIsEscapedWithDetails(t *testing.T) {
	e := start(t)
	c := e.client(t)
	token := e.login(t, c)
	_, out := e.upload(t, c, map[string]string{"broken.py": "boom\n"}, token)
	if len(out.Deployments) != 1 {
		t.Fatalf("%+v", out)
	}
	id := out.Deployments[0].ID
	e.events(t, c, id) // until done
	_, page := e.get(t, c, "/admin/deployments/"+itoa(id))
	if strings.Contains(page, "<script>alert") || strings.Contains(page, "<b>x</b>") {
		t.Fatal("error details are not escaped")
	}
	// " ms</td>": the time the server took, which a failed load has too.
	for _, want := range []string{"SyntaxError", "&lt;script&gt;alert(1)&lt;/script&gt;", "line 3", "<details><summary>Traceback</summary>", "status-failed", " ms</td>"} {
		if !strings.Contains(page, want) {
			t.Errorf("deployment page lacks %q", want)
		}
	}
}

func TestRollbackAndUndeploy(t *testing.T) {
	e := start(t)
	c := e.client(t)
	token := e.login(t, c)
	for _, src := range []string{"v = 1\n", "v = 2\n", "v = 3\n"} {
		_, out := e.upload(t, c, map[string]string{"mod.py": src}, token)
		e.events(t, c, out.Deployments[0].ID)
	}
	_, page := e.get(t, c, "/admin/modules/mod.py")
	for _, want := range []string{"Roll back to v1", "Roll back to v2", "status-current", "Serving <strong>v3</strong> on every server."} {
		if !strings.Contains(page, want) {
			t.Errorf("module page lacks %q", want)
		}
	}
	if strings.Contains(page, "Roll back to v3") {
		t.Error("the current version has a rollback button")
	}
	hdr := map[string]string{"Accept": "application/json"}
	if resp, _ := e.postForm(t, c, "/admin/modules/mod.py/rollback", url.Values{"version": {"1"}}, hdr); resp.StatusCode != http.StatusForbidden {
		t.Errorf("rollback without token: %d", resp.StatusCode)
	}
	hdr["X-CSRF-Token"] = token
	resp, raw := e.postForm(t, c, "/admin/modules/mod.py/rollback", url.Values{"version": {"1"}}, hdr)
	var d api.DeploymentJSON
	if resp.StatusCode != http.StatusAccepted || json.Unmarshal([]byte(raw), &d) != nil || d.Version != 1 || d.Origin != "rollback" {
		t.Fatalf("rollback: %d %s", resp.StatusCode, raw)
	}
	e.events(t, c, d.ID)
	// No version: what served before the current one (v3), as through the API.
	resp, raw = e.postForm(t, c, "/admin/modules/mod.py/rollback", url.Values{}, hdr)
	if resp.StatusCode != http.StatusAccepted || json.Unmarshal([]byte(raw), &d) != nil || d.Version != 3 {
		t.Fatalf("default rollback after a rollback to v1: %d %s", resp.StatusCode, raw)
	}
	e.events(t, c, d.ID)
	if resp, raw := e.postForm(t, c, "/admin/modules/mod.py/rollback", url.Values{"version": {"9"}}, hdr); resp.StatusCode != http.StatusNotFound || !strings.Contains(raw, "versions 1-3") {
		t.Errorf("rollback to v9: %d %s", resp.StatusCode, raw)
	}
	// Refusals in the API's words and with its statuses.
	for _, v := range []string{"-1", "two"} {
		if resp, raw := e.postForm(t, c, "/admin/modules/mod.py/rollback", url.Values{"version": {v}}, hdr); resp.StatusCode != http.StatusBadRequest || !strings.Contains(raw, `versions are numbered 1, 2, 3..."`) {
			t.Errorf("rollback to %s: %d %s", v, resp.StatusCode, raw)
		}
	}
	if resp, raw := e.postForm(t, c, "/admin/modules/never.py/rollback", url.Values{}, hdr); resp.StatusCode != http.StatusNotFound || !strings.Contains(raw, "never.py has never been deployed") {
		t.Errorf("rollback of a module never deployed: %d %s", resp.StatusCode, raw)
	}
	if resp, page := e.get(t, c, "/admin/modules/never.py/diff"); resp.StatusCode != http.StatusNotFound || !strings.Contains(page, "never.py has never been deployed") {
		t.Errorf("diff of a module never deployed: %d %.300s", resp.StatusCode, page)
	}
	// A form post (no script) lands on the deployment's page.
	resp, _ = e.postForm(t, c, "/admin/modules/mod.py/rollback", url.Values{"version": {"3"}, "csrf": {token}}, nil)
	if resp.StatusCode != http.StatusSeeOther || !strings.HasPrefix(resp.Header.Get("Location"), "/admin/deployments/") {
		t.Fatalf("form rollback: %d %q", resp.StatusCode, resp.Header.Get("Location"))
	}
	resp, raw = e.postForm(t, c, "/admin/modules/mod.py/undeploy", url.Values{}, hdr)
	if resp.StatusCode != http.StatusAccepted || json.Unmarshal([]byte(raw), &d) != nil || d.Action != "undeploy" || d.Origin != "admin" {
		t.Fatalf("undeploy: %d %s", resp.StatusCode, raw)
	}
}

// A version that failed everywhere is never where a rollback without a version goes: the web admin agrees with the
// API (both ask the cluster), and goes to the last version that loaded everywhere.
func TestRollbackDefaultSkipsFailedVersion(t *testing.T) {
	e := start(t)
	c := e.client(t)
	token := e.login(t, c)
	for _, src := range []string{"v = 1\n", "boom = 2\n", "v = 3\n"} {
		_, out := e.upload(t, c, map[string]string{"mod.py": src}, token)
		e.events(t, c, out.Deployments[0].ID)
	}
	hdr := map[string]string{"Accept": "application/json", "X-CSRF-Token": token}
	resp, raw := e.postForm(t, c, "/admin/modules/mod.py/rollback", url.Values{}, hdr)
	var d api.DeploymentJSON
	if resp.StatusCode != http.StatusAccepted || json.Unmarshal([]byte(raw), &d) != nil || d.Version != 1 {
		t.Fatalf("default rollback went to %d, want v1 (v2 never loaded): %d %s", d.Version, resp.StatusCode, raw)
	}
}

// The module page says what serves: after a version that failed everywhere, the one before it, never the failed one.
func TestModulePageSaysWhatServes(t *testing.T) {
	e := start(t)
	c := e.client(t)
	token := e.login(t, c)
	for _, src := range []string{"v = 1\n", "boom = 2\n"} {
		_, out := e.upload(t, c, map[string]string{"mod.py": src}, token)
		e.events(t, c, out.Deployments[0].ID)
	}
	_, out := e.upload(t, c, map[string]string{"never.py": "boom = 1\n"}, token)
	e.events(t, c, out.Deployments[0].ID)
	_, page := e.get(t, c, "/admin/modules/mod.py")
	for _, want := range []string{"Serving <strong>v1</strong> on every server.", "The newest version, v2, serves on 0 of", "not serving"} {
		if !strings.Contains(page, want) {
			t.Errorf("mod.py's page lacks %q", want)
		}
	}
	if strings.Contains(page, "Serving <strong>v2</strong>") {
		t.Error("mod.py's page says v2 serves: it failed everywhere")
	}
	if _, page = e.get(t, c, "/admin/modules/never.py"); !strings.Contains(page, "No server serves it.") || strings.Contains(page, "Serving <strong>") {
		t.Errorf("never.py's page: %s", page)
	}
}

func TestInvoke(t *testing.T) {
	e := start(t)
	c := e.client(t)
	token := e.login(t, c)
	_, out := e.upload(t, c, map[string]string{"hello.py": "x = 1\n"}, token)
	e.events(t, c, out.Deployments[0].ID)

	_, page := e.get(t, c, "/admin/services")
	if !strings.Contains(page, `<option value="hello.echo"`) {
		t.Fatal("services page lacks the service")
	}
	hdr := map[string]string{"Accept": "application/json", "X-CSRF-Token": token}
	resp, raw := e.postForm(t, c, "/admin/services/invoke", url.Values{"service": {"hello.echo"}, "payload": {`{"a": 1}`}}, hdr)
	var res invokeResult
	if resp.StatusCode != 200 || json.Unmarshal([]byte(raw), &res) != nil || !res.OK || string(res.Response) != `{"echo":{"a":1}}` {
		t.Fatalf("invoke: %d %s", resp.StatusCode, raw)
	}
	resp, raw = e.postForm(t, c, "/admin/services/invoke", url.Values{"service": {"hello.echo"}, "payload": {`{nope`}}, hdr)
	if resp.StatusCode != 400 || !strings.Contains(raw, "must be JSON") {
		t.Errorf("bad payload: %d %s", resp.StatusCode, raw)
	}
	resp, raw = e.postForm(t, c, "/admin/services/invoke", url.Values{"service": {"nope"}}, hdr)
	if resp.StatusCode != 404 || !strings.Contains(raw, "NotFound") {
		t.Errorf("unknown service: %d %s", resp.StatusCode, raw)
	}
	delete(hdr, "X-CSRF-Token")
	if resp, _ := e.postForm(t, c, "/admin/services/invoke", url.Values{"service": {"hello.echo"}}, hdr); resp.StatusCode != http.StatusForbidden {
		t.Errorf("invoke without token: %d", resp.StatusCode)
	}
	// Without the script: the page renders the response.
	resp, page = e.postForm(t, c, "/admin/services/invoke", url.Values{"service": {"hello.echo"}, "payload": {`{"b": "<i>"}`}, "csrf": {token}}, nil)
	if resp.StatusCode != 200 || !strings.Contains(page, `id="invoke-response"`) || !strings.Contains(page, `&#34;\u003ci\u003e&#34;`) && !strings.Contains(page, "&lt;i&gt;") {
		t.Errorf("form invoke: %d\n%s", resp.StatusCode, page)
	}
	// The response as the service gave it: every digit of a large number, the keys in its order; with the script
	// (pretty, which the page shows) and without.
	big := url.Values{"service": {"hello.echo"}, "payload": {`{"z": 1, "id": 12345678901234567890}`}}
	resp, raw = e.postForm(t, c, "/admin/services/invoke", big, map[string]string{"Accept": "application/json", "X-CSRF-Token": token})
	if err := json.Unmarshal([]byte(raw), &res); err != nil || !strings.Contains(res.Pretty, "12345678901234567890") || strings.Index(res.Pretty, `"z"`) > strings.Index(res.Pretty, `"id"`) {
		t.Errorf("a large number, with the script: %d %s", resp.StatusCode, raw)
	}
	big.Set("csrf", token)
	resp, page = e.postForm(t, c, "/admin/services/invoke", big, nil)
	shown, _, _ := strings.Cut(page[strings.Index(page, `id="invoke-response"`)+1:], "</pre>") // not the form's payload
	if !strings.Contains(shown, "12345678901234567890") || strings.Index(shown, `&#34;z&#34;`) > strings.Index(shown, `&#34;id&#34;`) {
		t.Errorf("a large number, without the script: %d\n%s", resp.StatusCode, shown)
	}
	// A failed invocation without the script: the page with the error, as the script shows it.
	for payload, want := range map[string]string{`{nope`: "must be JSON", `{}`: "NotFound"} {
		service := "hello.echo"
		if want == "NotFound" {
			service = "nope"
		}
		resp, page = e.postForm(t, c, "/admin/services/invoke", url.Values{"service": {service}, "payload": {payload}, "csrf": {token}}, nil)
		if resp.StatusCode != 200 || !strings.Contains(page, `class="error-detail"`) || !strings.Contains(page, want) {
			t.Errorf("form invoke of %s with %s: %d, want the page with %q\n%s", service, payload, resp.StatusCode, want, page)
		}
	}
	// A payload over the limit, url-encoded as the script sends it: too large, not an empty form.
	huge := url.Values{"service": {"hello.echo"}, "payload": {`"` + strings.Repeat("a", maxInvokeBody) + `"`}}
	resp, raw = e.postForm(t, c, "/admin/services/invoke", huge, map[string]string{"Accept": "application/json", "X-CSRF-Token": token})
	if resp.StatusCode != http.StatusRequestEntityTooLarge || !strings.Contains(raw, "over") {
		t.Errorf("a payload over the limit: %d %s", resp.StatusCode, clip(raw))
	}
}

func clip(s string) string { return s[:min(len(s), 300)] }

func TestSafeNext(t *testing.T) {
	for in, want := range map[string]string{
		"/admin/modules": "/admin/modules", "": "/admin/", "//evil": "/admin/", "https://evil/admin/": "/admin/",
		"/admin/\r\nx": "/admin/", "/other": "/admin/", "/admin/\\evil": "/admin/",
	} {
		if got := safeNext(in); got != want {
			t.Errorf("safeNext(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestFailedLoginsAreThrottled(t *testing.T) {
	e := start(t)
	c := e.client(t)
	_, page := e.get(t, c, "/admin/login")
	token := csrfField.FindStringSubmatch(page)[1]
	try := func(password string) *http.Response {
		resp, _ := e.postForm(t, c, "/admin/login", url.Values{"csrf": {token}, "username": {user}, "password": {password}}, nil)
		return resp
	}
	for i := range api.ThrottleBurst {
		if resp := try("wrong"); resp.StatusCode != http.StatusUnauthorized {
			t.Fatalf("failed login %d: %d", i+1, resp.StatusCode)
		}
	}
	// Past the burst even the right password waits, and the page says for how long.
	resp, page := e.postForm(t, c, "/admin/login", url.Values{"csrf": {token}, "username": {user}, "password": {pass}}, nil)
	if resp.StatusCode != http.StatusTooManyRequests || resp.Header.Get("Retry-After") == "" || !strings.Contains(page, "Too many failed logins") {
		t.Fatalf("after %d failures: %d %q", api.ThrottleBurst, resp.StatusCode, resp.Header.Get("Retry-After"))
	}
}

func TestLoginThrottleRefills(t *testing.T) {
	th := api.NewThrottle()
	now := time.Now()
	for range api.ThrottleBurst {
		th.Failed("h", now)
	}
	if th.Wait("h", now) <= 0 || th.Wait("other", now) != 0 {
		t.Fatal("the burst is not limited per host")
	}
	if d := th.Wait("h", now.Add(6*time.Second)); d != 0 {
		t.Fatalf("one more try after 6 s: wait %s", d)
	}
}
