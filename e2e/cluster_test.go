package e2e

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"testing"

	"github.com/zato-go/zato/internal/testenv"
	"github.com/zato-go/zato/server/config"
)

const greet = `from zato.server.service import Service

class Greet(Service):
    class SimpleIO:
        input_required = ('name',)

    def handle(self):
        self.response.payload = {'hello': self.request.input.name, 'version': %d}

class Farewell(Service):
    def handle(self):
        self.response.payload = {'bye': True}
`

func TestDeployConfirmedByEveryServer(t *testing.T) {
	t.Parallel()
	c := testenv.StartCluster(t, testenv.Options{})
	cl := client(t, c, "")
	d := deploy(t, cl, "greet_mod.py", fmt.Sprintf(greet, 1))
	mustStatus(t, d, "deployed")
	if d.Expected != 2 || d.Confirmed != 2 {
		t.Fatalf("confirmed %d/%d, want 2/2", d.Confirmed, d.Expected)
	}
	for _, s := range d.Servers {
		if !contains(s.Services, "greet-mod.greet") || !contains(s.Services, "greet-mod.farewell") {
			t.Fatalf("%s services %v", s.Name, s.Services)
		}
		if s.DurationMs <= 0 { // an import in python3 takes a while: 0 would be a time never measured
			t.Fatalf("%s says it took %v ms to apply the deployment", s.Name, s.DurationMs)
		}
	}
	for _, s := range c.Servers {
		out := invoke(t, client(t, c, s.URL), "greet-mod.greet", `{"name": "Ann"}`)
		if out["hello"] != "Ann" || out["version"] != float64(1) {
			t.Fatalf("%s answered %v", s.Name, out)
		}
		log := readLog(t, c, s.Name)
		if !strings.Contains(log, "Deployed 2 services from greet_mod.py -> [greet-mod.farewell greet-mod.greet]") {
			t.Fatalf("%s log lacks the deployed line:\n%s", s.Name, log)
		}
		if b, err := os.ReadFile(filepath.Join(s.Dir, "work/hot-deploy/current/greet_mod.py")); err != nil || !bytes.Contains(b, []byte("version': 1")) {
			t.Fatalf("%s work dir: %v %s", s.Name, err, b)
		}
	}
	if log := readLog(t, c, d.ReceivedBy); !strings.Contains(log, fmt.Sprintf("Uploaded package id:[%d], payload_name:[greet_mod.py]", d.ID)) {
		t.Fatalf("receiving server's log lacks the upload line")
	}
	// The environment's servers share the machine's cores: each schedules Go code on its share.
	if log, want := readLog(t, c, d.ReceivedBy), fmt.Sprintf("max_procs=%d", config.SharedMaxProcs(runtime.NumCPU(), len(c.Servers))); !strings.Contains(log, want) {
		t.Fatalf("receiving server's log lacks %s", want)
	}

	// Missing required input is a clear 400.
	_, err := cl.Invoke(ctx(t), "greet-mod.greet", []byte(`{}`))
	if err == nil || !strings.Contains(err.Error(), "name") {
		t.Fatalf("missing input: %v", err)
	}

	// A redeploy without Farewell removes it everywhere.
	src := strings.Split(fmt.Sprintf(greet, 2), "class Farewell")[0]
	d = deploy(t, cl, "greet_mod.py", src)
	mustStatus(t, d, "deployed")
	for _, s := range c.Servers {
		sc := client(t, c, s.URL)
		if out := invoke(t, sc, "greet-mod.greet", `{"name": "Bo"}`); out["version"] != float64(2) {
			t.Fatalf("%s still serves the old version: %v", s.Name, out)
		}
		if _, err := sc.Invoke(ctx(t), "greet-mod.farewell", nil); err == nil {
			t.Fatalf("%s still serves a removed service", s.Name)
		}
	}

	// A module too big to be pushed in one datagram (over 16 KiB) reaches the other servers through their pending
	// lists instead.
	big := fmt.Sprintf(greet, 3) + strings.Repeat("# padding that keeps this module over the size of a push\n", 400)
	mustStatus(t, deploy(t, cl, "greet_mod.py", big), "deployed")
	for _, s := range c.Servers {
		if out := invoke(t, client(t, c, s.URL), "greet-mod.greet", `{"name": "Bo"}`); out["version"] != float64(3) {
			t.Fatalf("%s does not serve the big version: %v", s.Name, out)
		}
	}

	// Undeploy removes every service of the module from every server.
	ud, err := cl.Undeploy(ctx(t), "greet_mod.py", "")
	if err != nil {
		t.Fatal(err)
	}
	if ud, err = cl.Watch(ctx(t), ud.ID, nil); err != nil {
		t.Fatal(err)
	}
	mustStatus(t, ud, "undeployed")
	for _, s := range ud.Servers {
		if s.DurationMs <= 0 {
			t.Fatalf("%s says it took %v ms to apply the undeployment", s.Name, s.DurationMs)
		}
	}
	for _, s := range c.Servers {
		if _, err := client(t, c, s.URL).Invoke(ctx(t), "greet-mod.greet", []byte(`{"name":"x"}`)); err == nil {
			t.Fatalf("%s still serves an undeployed module", s.Name)
		}
		if _, err := os.Stat(filepath.Join(s.Dir, "work/hot-deploy/current/greet_mod.py")); !os.IsNotExist(err) {
			t.Fatalf("%s kept the undeployed file: %v", s.Name, err)
		}
	}
}

func TestFailuresKeepThePreviousVersion(t *testing.T) {
	t.Parallel()
	c := testenv.StartCluster(t, testenv.Options{ServerConf: map[string]string{"hot_deploy.import_timeout": "3s"}})
	cl := client(t, c, "")
	mustStatus(t, deploy(t, cl, "svc_mod.py", fmt.Sprintf(greet, 1)), "deployed")

	cases := []struct {
		name, src, errType string
		line               int
	}{
		{"syntax", "from zato.server.service import Service\n\nclass A(Service):\n    def handle(self)\n        pass\n", "SyntaxError", 4},
		{"exception", "from zato.server.service import Service\nx = 1\nraise ValueError('boom')\n", "ValueError", 3},
		{"hang", "import time\nwhile True:\n    time.sleep(0.05)\n", "ImportTimeout", 0},
		{"exit", "import os\nos._exit(3)\n", "WorkerExited", 0},
	}
	for _, tc := range cases {
		d := deploy(t, cl, "svc_mod.py", tc.src)
		mustStatus(t, d, "failed")
		for _, s := range d.Servers {
			if s.Status != "failed" || s.Error == nil || s.Error.Type != tc.errType {
				t.Fatalf("%s on %s: %+v %+v", tc.name, s.Name, s, s.Error)
			}
			if tc.line > 0 && s.Error.Line != tc.line {
				t.Fatalf("%s on %s: line %d, want %d", tc.name, s.Name, s.Error.Line, tc.line)
			}
		}
		// The previous version keeps serving on every server, and the servers stay up.
		for _, s := range c.Servers {
			if out := invoke(t, client(t, c, s.URL), "svc-mod.greet", `{"name": "x"}`); out["version"] != float64(1) {
				t.Fatalf("after %s, %s answered %v", tc.name, s.Name, out)
			}
		}
	}

	// A server that starts with an empty work dir, while the module's current version fails everywhere, serves
	// what its peers serve (the last version that deployed) rather than nothing.
	c.Stop(t, "server2")
	current := filepath.Join(c.Server(t, "server2").Dir, "work", "hot-deploy", "current")
	if err := os.RemoveAll(current); err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(current, 0o755); err != nil {
		t.Fatal(err)
	}
	c.Start(t, "server2")
	if out := invoke(t, client(t, c, c.Server(t, "server2").URL), "svc-mod.greet", `{"name": "x"}`); out["version"] != float64(1) {
		t.Fatalf("a fresh server2 answered %v", out)
	}

	// A service name owned by another module fails the deployment naming both modules.
	d := deploy(t, cl, "other_mod.py", "from zato.server.service import Service\n\nclass G(Service):\n    name = 'svc-mod.greet'\n    def handle(self):\n        pass\n")
	mustStatus(t, d, "failed")
	if e := d.Servers[0].Error; e == nil || !strings.Contains(e.Message, "svc_mod") || !strings.Contains(e.Message, "other_mod") {
		t.Fatalf("conflict error: %+v", e)
	}
}

func TestOfflineServerCatchesUpAfterKill(t *testing.T) {
	t.Parallel()
	c := testenv.StartCluster(t, testenv.Options{})
	cl := client(t, c, c.Server(t, "server1").URL)
	mustStatus(t, deploy(t, cl, "catch_up.py", fmt.Sprintf(greet, 1)), "deployed")

	c.Kill(t, "server2")
	d := deploy(t, cl, "catch_up.py", fmt.Sprintf(greet, 2))
	mustStatus(t, d, "partial")
	if s := serverByName(d, "server2"); s.Status != "offline" {
		t.Fatalf("server2 is %s, want offline", s.Status)
	}
	c.Stop(t, "server1")
	c.Start(t, "server1")
	c.Start(t, "server2")
	for _, s := range c.Servers {
		if out := invoke(t, client(t, c, s.URL), "catch-up.greet", `{"name": "x"}`); out["version"] != float64(2) {
			t.Fatalf("%s after restart answered %v", s.Name, out)
		}
	}
	// The catch-up is recorded in the newest deployment.
	final, err := cl.Deployment(ctx(t), d.ID, 0)
	if err != nil {
		t.Fatal(err)
	}
	mustStatus(t, final, "deployed")
}

func TestConcurrentDeploysEndIdentical(t *testing.T) {
	t.Parallel()
	c := testenv.StartCluster(t, testenv.Options{})
	a, b := client(t, c, c.Servers[0].URL), client(t, c, c.Servers[1].URL)
	var wg sync.WaitGroup
	for i := range 10 {
		wg.Add(2)
		go func() { defer wg.Done(); deploy(t, a, "race_mod.py", fmt.Sprintf(greet, 100+i)) }()
		go func() { defer wg.Done(); deploy(t, b, "race_mod.py", fmt.Sprintf(greet, 200+i)) }()
	}
	wg.Wait()
	var got []any
	for _, s := range c.Servers {
		got = append(got, invoke(t, client(t, c, s.URL), "race-mod.greet", `{"name": "x"}`)["version"])
		f, _ := os.ReadFile(filepath.Join(s.Dir, "work/hot-deploy/current/race_mod.py"))
		if !bytes.Contains(f, []byte(fmt.Sprint(got[len(got)-1]))) {
			t.Fatalf("%s's work dir does not hold what it serves", s.Name)
		}
	}
	if got[0] != got[1] {
		t.Fatalf("servers disagree: %v", got)
	}
}

func TestAPIRefusesBadInputAndBadCredentials(t *testing.T) {
	t.Parallel()
	c := testenv.StartCluster(t, testenv.Options{Servers: 1})
	do := func(method, path, user, pass string, body []byte) (int, string, http.Header) {
		req, _ := http.NewRequest(method, c.URL+path, bytes.NewReader(body))
		if user != "" {
			req.SetBasicAuth(user, pass)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b), resp.Header
	}
	if code, _, _ := do("GET", "/healthz", "", "", nil); code != 200 {
		t.Fatalf("healthz %d", code)
	}
	code, _, h := do("GET", "/api/v1/modules", "", "", nil)
	if code != 401 || !strings.HasPrefix(h.Get("WWW-Authenticate"), "Basic") {
		t.Fatalf("no credentials: %d %v", code, h)
	}
	if code, _, _ := do("GET", "/api/v1/modules", c.Username, "wrong", nil); code != 401 {
		t.Fatalf("wrong password: %d", code)
	}
	zato := func(name string, payload []byte) []byte {
		b, _ := json.Marshal(map[string]string{"payload_name": name, "payload": base64.StdEncoding.EncodeToString(payload)})
		return b
	}
	bad := []struct {
		path string
		body []byte
		code int
	}{
		{"/api/v1/deploy", []byte(`{"name": "../x.py", "source": "x=1"}`), 400},
		{"/api/v1/deploy", []byte(`{"name": "a/b.py", "source": "x=1"}`), 400},
		{"/api/v1/deploy", []byte(`{"name": "x.txt", "source": "x=1"}`), 400},
		{"/api/v1/deploy", []byte(`{"name": "x.py", "source": `), 400},
		{"/api/v1/deploy", []byte(`{"name": "x.py", "source": "` + strings.Repeat("a", 1<<20+1) + `"}`), 413},
		{"/ide-deploy", zato(`a\b.py`, []byte("x=1")), 200},
		{"/ide-deploy", zato("x.py", []byte{0xff, 0xfe}), 200},
		{"/ide-deploy", zato("x.py\x00", []byte("x=1")), 200},
		{"/ide-deploy", []byte(`{"payload_name": "x.py", "payload": "***"}`), 200},
		{"/ide-deploy", []byte(`{not json`), 200},
		{"/ide-deploy", zato("big.py", []byte(strings.Repeat("a", 1<<20+1))), 200},
		{"/zato/api/invoke/zato.service.upload-package", zato("../x.py", []byte("x=1")), 200},
	}
	for _, b := range bad {
		// Zato's endpoints answer refusals as Zato does: 200, success false and the reason (its IDE plug-ins drop
		// the body of any other status).
		if code, body, _ := do("POST", b.path, c.Username, c.Password, b.body); code != b.code || b.code == 200 && !strings.Contains(body, `"success":false`) {
			t.Errorf("%s %.60q: %d %s, want %d", b.path, b.body, code, body, b.code)
		}
	}
	if _, body, _ := do("GET", "/api/v1/modules", c.Username, c.Password, nil); strings.Contains(body, "x.py") {
		t.Fatalf("bad input changed something: %s", body)
	}
	// A module well over the limit is refused in the same words as one just over it, naming the setting; it used to
	// get "request body over 1463637 bytes", the size of the JSON the API reads.
	huge := []byte(`{"name": "x.py", "source": "` + strings.Repeat("a", 2<<20) + `"}`)
	if code, body, _ := do("POST", "/api/v1/deploy", c.Username, c.Password, huge); code != 413 || !strings.Contains(body, "over the 1048576-byte limit ([api] max_payload in server.conf)") {
		t.Errorf("a 2 MiB module: %d %s", code, body)
	}
	if code, body, _ := do("POST", "/ide-deploy", c.Username, c.Password, zato("huge.py", []byte(strings.Repeat("a", 2<<20)))); code != 200 || !strings.Contains(body, `"success":false`) || !strings.Contains(body, "max_payload") {
		t.Errorf("a 2 MiB module to /ide-deploy (Zato's plug-ins read only a 200's body): %d %.300s", code, body)
	}

	// Zato's VS Code plug-in: GET with a JSON body; an empty body is a connection test.
	code, body, _ := do("GET", "/ide-deploy", c.Username, c.Password, nil)
	if code != 200 || strings.TrimSpace(body) != `{"zato_ide_deploy_create_response":{"msg":"Ping succeeded.","success":true}}` {
		t.Fatalf("ping: %d %s", code, body)
	}
	code, body, _ = do("GET", "/ide-deploy", c.Username, c.Password, zato("ide_mod.py", []byte(fmt.Sprintf(greet, 7))))
	var resp struct {
		R struct {
			Success bool
			Msg     string
		} `json:"zato_ide_deploy_create_response"`
	}
	if err := json.Unmarshal([]byte(body), &resp); code != 200 || err != nil || !resp.R.Success || !strings.Contains(resp.R.Msg, "1/1") {
		t.Fatalf("ide-deploy: %d %s", code, body)
	}
	code, body, _ = do("POST", "/zato/api/invoke/ide-mod.greet", c.Username, c.Password, []byte(`{"name": "Zed"}`))
	if code != 200 || !strings.Contains(body, `"hello": "Zed"`) && !strings.Contains(body, `"hello":"Zed"`) {
		t.Fatalf("zato invoke: %d %s", code, body)
	}
	code, body, _ = do("POST", "/zato/api/invoke/zato.hot-deploy.create", c.Username, c.Password, zato("hd_mod.py", []byte(fmt.Sprintf(greet, 8))))
	if code != 200 || !strings.Contains(body, `"success":true`) {
		t.Fatalf("hot-deploy.create: %d %s", code, body)
	}
	code, body, _ = do("POST", "/zato/api/invoke/zato.service.upload-package", c.Username, c.Password, zato("up_mod.py", []byte(fmt.Sprintf(greet, 9))))
	if code != 200 || !strings.Contains(body, `"zato_service_upload_package_response"`) || !strings.Contains(body, `"success":true`) {
		t.Fatalf("service.upload-package: %d %s", code, body)
	}
	code, body, _ = do("POST", "/zato/api/invoke/up-mod.greet", c.Username, c.Password, []byte(`{"name": "Up"}`))
	if code != 200 || !strings.Contains(body, `"version": 9`) && !strings.Contains(body, `"version":9`) {
		t.Fatalf("service uploaded as a package: %d %s", code, body)
	}

	// A module never deployed, or a version number that cannot be, is refused in the same words by every endpoint.
	for _, r := range []struct {
		method, path, body string
		code               int
		words              string
	}{
		{"GET", "/api/v1/modules/nope.py/versions", "", 404, "nope.py has never been deployed"},
		{"GET", "/api/v1/modules/nope.py/versions/1", "", 404, "nope.py has never been deployed"},
		{"POST", "/api/v1/modules/nope.py/rollback", "", 404, "nope.py has never been deployed"},
		{"POST", "/api/v1/modules/nope.py/rollback", `{"version": 1}`, 404, "nope.py has never been deployed"},
		{"GET", "/api/v1/modules/ide_mod.py/versions/0", "", 400, "versions are numbered 1, 2, 3"},
		{"POST", "/api/v1/modules/ide_mod.py/rollback", `{"version": -1}`, 400, "versions are numbered 1, 2, 3"},
		{"DELETE", "/api/v1/modules/ide_mod.py?origin=nowhere", "", 400, "unknown origin"},
	} {
		if code, body, _ := do(r.method, r.path, c.Username, c.Password, []byte(r.body)); code != r.code || !strings.Contains(body, r.words) {
			t.Errorf("%s %s %s: %d %s, want %d saying %q", r.method, r.path, r.body, code, body, r.code, r.words)
		}
	}
}

// GET /api/v1/deployments/{id}?wait= holds the request until the deployment is done (or the wait runs out), so a
// client without SSE needs one request, not a polling loop.
func TestLongPoll(t *testing.T) {
	t.Parallel()
	c := testenv.StartCluster(t, testenv.Options{})
	get := func(path string) (int, map[string]any) {
		req, _ := http.NewRequest("GET", c.URL+path, nil)
		req.SetBasicAuth(c.Username, c.Password)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var m map[string]any
		_ = json.NewDecoder(resp.Body).Decode(&m)
		return resp.StatusCode, m
	}
	post := func(name, src string) int64 {
		b, _ := json.Marshal(map[string]string{"name": name, "source": src})
		req, _ := http.NewRequest("POST", c.URL+"/api/v1/deploy", bytes.NewReader(b))
		req.SetBasicAuth(c.Username, c.Password)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var m struct {
			ID int64 `json:"deployment_id"`
		}
		if err := json.NewDecoder(resp.Body).Decode(&m); err != nil || resp.StatusCode != 202 || m.ID == 0 {
			t.Fatalf("upload: %d %v", resp.StatusCode, err)
		}
		return m.ID
	}
	// Both servers up: the long poll returns the finished deployment (no client-side polling needed).
	id := post("lp_mod.py", fmt.Sprintf(greet, 1))
	code, m := get(fmt.Sprintf("/api/v1/deployments/%d?wait=20s", id))
	if code != 200 || m["done"] != true || m["status"] != "deployed" || m["confirmed"] != float64(2) {
		t.Fatalf("long poll: %d %v", code, m)
	}
	// A malformed wait is refused.
	if code, _ := get(fmt.Sprintf("/api/v1/deployments/%d?wait=soon", id)); code != 400 {
		t.Fatalf("wait=soon: %d", code)
	}
}

func TestPostgreSQLCluster(t *testing.T) {
	t.Parallel()
	c := testenv.StartCluster(t, testenv.Options{ODB: "postgresql"})
	cl := client(t, c, "")
	d := deploy(t, cl, "pg_mod.py", fmt.Sprintf(greet, 1))
	mustStatus(t, d, "deployed")
	c.Kill(t, "server2")
	d = deploy(t, cl, "pg_mod.py", fmt.Sprintf(greet, 2))
	mustStatus(t, d, "partial")
	c.Start(t, "server2")
	if out := invoke(t, client(t, c, c.Server(t, "server2").URL), "pg-mod.greet", `{"name": "x"}`); out["version"] != float64(2) {
		t.Fatalf("server2 did not catch up: %v", out)
	}
}

func TestCLI(t *testing.T) {
	t.Parallel()
	c := testenv.StartCluster(t, testenv.Options{})
	file := filepath.Join(t.TempDir(), "cli_mod.py")
	if err := os.WriteFile(file, []byte(fmt.Sprintf(greet, 1)), 0o644); err != nil {
		t.Fatal(err)
	}
	out, err := c.Zato(t, "deploy", file, "--json")
	if err != nil {
		t.Fatalf("deploy: %v\n%s", err, out)
	}
	var res []struct {
		Module       string `json:"module"`
		DeploymentID int64  `json:"deployment_id"`
		Status       string `json:"status"`
		Servers      []struct {
			Name, Status string
			Services     []string
		} `json:"servers"`
	}
	if err := json.Unmarshal([]byte(out), &res); err != nil || len(res) != 1 || res[0].Status != "deployed" || len(res[0].Servers) != 2 || res[0].DeploymentID == 0 {
		t.Fatalf("deploy --json: %v\n%s", err, out)
	}
	// Every key the issue names is there, "error" too (null when the server deployed).
	var raw []map[string]any
	if err := json.Unmarshal([]byte(out), &raw); err != nil {
		t.Fatal(err)
	}
	for _, srv := range raw[0]["servers"].([]any) {
		m := srv.(map[string]any)
		if e, ok := m["error"]; !ok || e != nil || m["services"] == nil {
			t.Fatalf("server entry %v", m)
		}
	}
	out, err = c.Zato(t, "invoke", "cli-mod.greet", "--data", `{"name": "Cy"}`, "--server", "server2")
	if err != nil || !strings.Contains(out, `"Cy"`) {
		t.Fatalf("invoke: %v %s", err, out)
	}
	out, err = c.Zato(t, "status", "--json")
	if err != nil || !strings.Contains(out, `"cli_mod.py"`) || !strings.Contains(out, `"live"`) {
		t.Fatalf("status: %v %s", err, out)
	}
	// A failing module exits non-zero and names the line.
	if err := os.WriteFile(file, []byte("def broken(:\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	out, err = c.Zato(t, "deploy", file)
	if err == nil || !strings.Contains(out, "SyntaxError") || !strings.Contains(out, "line 1") {
		t.Fatalf("failing deploy: %v\n%s", err, out)
	}
	out, err = c.Zato(t, "deploy", file, "--json")
	raw = nil
	if jerr := json.Unmarshal([]byte(out), &raw); err == nil || jerr != nil || raw[0]["status"] != "failed" {
		t.Fatalf("failing deploy --json: %v %v\n%s", err, jerr, out)
	}
	for _, srv := range raw[0]["servers"].([]any) {
		e, _ := srv.(map[string]any)["error"].(map[string]any)
		for _, k := range []string{"type", "message", "line", "column", "traceback"} {
			if _, ok := e[k]; !ok {
				t.Fatalf("error without %q: %v", k, e)
			}
		}
		if e["type"] != "SyntaxError" || e["line"] != float64(1) {
			t.Fatalf("error %v", e)
		}
	}
	out, err = c.Zato(t, "history", "cli_mod.py")
	if err != nil || strings.Count(out, "cli") < 2 {
		t.Fatalf("history: %v\n%s", err, out)
	}
	out, err = c.Zato(t, "rollback", "cli_mod.py", "--to", "1")
	if err != nil {
		t.Fatalf("rollback: %v\n%s", err, out)
	}
	out, err = c.Zato(t, "invoke", "cli-mod.greet", "--data", `{"name": "Di"}`, "--server", "server1")
	if err != nil || !strings.Contains(out, `"Di"`) {
		t.Fatalf("invoke after rollback: %v %s", err, out)
	}
	// Version 2 again, then rollback without --to goes back to the version before the current one.
	if err := os.WriteFile(file, []byte(fmt.Sprintf(greet, 2)), 0o644); err != nil {
		t.Fatal(err)
	}
	if out, err = c.Zato(t, "deploy", file); err != nil {
		t.Fatalf("deploy v2: %v\n%s", err, out)
	}
	if out, err = c.Zato(t, "rollback", "cli_mod.py"); err != nil {
		t.Fatalf("rollback: %v\n%s", err, out)
	}
	for _, s := range []string{"server1", "server2"} {
		out, err = c.Zato(t, "invoke", "cli-mod.greet", "--data", `{"name": "Ed"}`, "--server", s)
		if err != nil || !strings.Contains(out, `"version": 1`) && !strings.Contains(out, `"version":1`) {
			t.Fatalf("%s after rollback without --to: %v %s", s, err, out)
		}
	}
	// Undeploy removes the services from every server.
	if out, err = c.Zato(t, "undeploy", "cli_mod.py"); err != nil {
		t.Fatalf("undeploy: %v\n%s", err, out)
	}
	for _, s := range []string{"server1", "server2"} {
		if out, err = c.Zato(t, "invoke", "cli-mod.greet", "--server", s); err == nil {
			t.Fatalf("%s still serves cli-mod.greet after undeploy: %s", s, out)
		}
	}
}
