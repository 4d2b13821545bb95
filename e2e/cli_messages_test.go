package e2e

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/zato-go/zato/internal/testenv"
)

// Issue 13: the command line says what happened, once, in the user's words.
func TestCLIMessages(t *testing.T) {
	t.Parallel()
	c := testenv.StartCluster(t, testenv.Options{ServerConf: map[string]string{"api.max_payload": "2000"}})
	dir := t.TempDir()
	write := func(name, src string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(src), 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	expectErr := func(what string, want []string, args ...string) {
		t.Helper()
		out, err := c.Zato(t, args...)
		if err == nil {
			t.Fatalf("%s: no error\n%s", what, out)
		}
		for _, w := range want {
			if !strings.Contains(err.Error()+out, w) {
				t.Errorf("%s: %q lacks %q", what, err.Error()+out, w)
			}
		}
	}

	// Starting what runs is not an error.
	if out, err := c.Zato(t, "start", c.Dir); err != nil || !strings.Contains(out, "already running") {
		t.Errorf("start of a running environment: %v\n%s", err, out)
	}
	// A directory is not a module.
	pkg := filepath.Join(dir, "acme")
	if err := os.MkdirAll(pkg, 0o755); err != nil {
		t.Fatal(err)
	}
	expectErr("deploy of a directory", []string{"packages go to zato_extra_paths", pkg}, "deploy", pkg)
	// The size limit names the setting.
	expectErr("deploy over the limit", []string{"big_mod.py", "[api] max_payload"}, "deploy", write("big_mod.py", "x = '"+strings.Repeat("a", 3000)+"'\n"))
	// Undeploying what is not deployed says so, without the layers it went through.
	out, err := c.Zato(t, "undeploy", "nothere.py")
	if err == nil || !strings.Contains(err.Error(), "nothere.py is not deployed") || strings.Contains(err.Error(), "store deployment") || strings.Contains(err.Error(), "create undeploy") {
		t.Errorf("undeploy of an unknown module: %v\n%s", err, out)
	}
	// A refused login names the user and the server.
	cmd := exec.Command(c.Bin(), "status", "--password", "wrong")
	cmd.Env = c.Env()
	b, err := cmd.CombinedOutput()
	if err == nil || !strings.Contains(string(b), c.URL) || !strings.Contains(string(b), fmt.Sprintf("%q", c.Username)) {
		t.Errorf("wrong password: %v\n%s", err, b)
	}

	// History marks the current version and records rollbacks and undeploys with their origin; status says who.
	m := write("hist_mod.py", fmt.Sprintf(greet, 1))
	for i := 1; i <= 2; i++ {
		if err := os.WriteFile(m, []byte(fmt.Sprintf(greet, i)), 0o644); err != nil {
			t.Fatal(err)
		}
		if out, err := c.Zato(t, "deploy", m); err != nil || !strings.Contains(out, "deployed on every server (2/2)") {
			t.Fatalf("deploy v%d: %v\n%s", i, err, out)
		}
	}
	if out, err := c.Zato(t, "rollback", "hist_mod.py"); err != nil || !strings.Contains(out, "version 1 deployed on every server (2/2)") {
		t.Fatalf("rollback: %v\n%s", err, out)
	}
	hist, err := c.Zato(t, "history", "hist_mod.py")
	if err != nil {
		t.Fatal(err)
	}
	for _, w := range []string{"Serving: v1 on server1, server2.", "1 (serving)", "rollback", "cli"} {
		if !strings.Contains(hist, w) {
			t.Errorf("history lacks %q:\n%s", w, hist)
		}
	}
	status, err := c.Zato(t, "status")
	if err != nil || !strings.Contains(status, "admin (rollback)") {
		t.Errorf("status does not say who made hist_mod.py's deployment: %v\n%s", err, status)
	}
	// A version that failed everywhere is not what serves: the one before it is.
	if err := os.WriteFile(m, []byte("def broken(:\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if out, err := c.Zato(t, "deploy", m); err == nil {
		t.Fatalf("deploy of a syntax error: exit 0\n%s", out)
	}
	hist, _ = c.Zato(t, "history", "hist_mod.py")
	if !strings.Contains(hist, "Serving: v1 on server1, server2.") || strings.Contains(hist, "3 (serving)") {
		t.Errorf("history after a version that failed everywhere:\n%s", hist)
	}
	// Four deployments by now: a shorter list says that older ones are left out.
	if hist, _ = c.Zato(t, "history", "hist_mod.py", "--limit", "2"); !strings.Contains(hist, "(the 2 newest deployments; --limit shows more)") {
		t.Errorf("history --limit 2:\n%s", hist)
	}
	if hist, _ = c.Zato(t, "history", "hist_mod.py"); strings.Contains(hist, "--limit shows more") {
		t.Errorf("history with every deployment listed says some are left out:\n%s", hist)
	}
	if _, err := c.Zato(t, "undeploy", "hist_mod.py"); err != nil {
		t.Fatal(err)
	}
	hist, _ = c.Zato(t, "history", "hist_mod.py")
	if strings.Contains(hist, "(serving)") || !strings.Contains(hist, "Serving: no version, on any server.") || !strings.Contains(hist, "undeploy") {
		t.Errorf("history after undeploy:\n%s", hist)
	}

	// The time a deployment took is not read as the state of the last server named: not "server2 offline in 14ms".
	c.Stop(t, "server2")
	out, err = c.Zato(t, "deploy", write("half_mod.py", "x = 1\n"))
	if err == nil || !strings.Contains(out, "half_mod.py: deployed on 1 of 2 servers; server2 offline (deployment ") || strings.Contains(out, "offline in ") ||
		!strings.Contains(out, "server1: deployed half_mod.py (it defines no services)") {
		t.Errorf("deploy with a server stopped: %v\n%s", err, out)
	}
}

// Issue 13: with server1 down, the command line talks to another server of the client file.
func TestCLIFallsBackToAnotherServer(t *testing.T) {
	t.Parallel()
	c := testenv.StartCluster(t, testenv.Options{})
	c.Stop(t, "server1")
	status, err := c.Zato(t, "status")
	if err != nil || !strings.Contains(status, "server2") {
		t.Fatalf("status with server1 down: %v\n%s", err, status)
	}
	p := filepath.Join(t.TempDir(), "fallback_mod.py")
	if err := os.WriteFile(p, []byte(fmt.Sprintf(greet, 1)), 0o644); err != nil {
		t.Fatal(err)
	}
	// Exit 1 (not every server has it), and the reason.
	out, err := c.Zato(t, "deploy", p)
	if err == nil || !strings.Contains(out, "deployed on 1 of 2 servers; server1 offline") {
		t.Fatalf("deploy with server1 down: %v\n%s", err, out)
	}
}

// Issue 12/13: the client file is read strictly, and a password taken from an unset variable says so.
func TestCLIClientFileStrict(t *testing.T) {
	t.Parallel()
	c := testenv.StartCluster(t, testenv.Options{Servers: 1})
	dir := t.TempDir()
	run := func(yaml string) (string, error) {
		p := filepath.Join(dir, "client.yaml")
		if err := os.WriteFile(p, []byte(yaml), 0o600); err != nil {
			t.Fatal(err)
		}
		cmd := exec.Command(c.Bin(), "status", "--config", p)
		cmd.Env = append(os.Environ(), "ZATO_TEST_UNSET_PASSWORD=")
		b, err := cmd.CombinedOutput()
		return string(b), err
	}
	out, err := run(fmt.Sprintf("url: %s\nusername: %s\npasword: %s\n", c.URL, c.Username, c.Password))
	if err == nil || !strings.Contains(out, "line 3") || !strings.Contains(out, "pasword") {
		t.Errorf("a typo in a key: %v\n%s", err, out)
	}
	out, err = run(fmt.Sprintf("url: %s\nusername: %s\npasswordEnv: ZATO_TEST_UNSET_PASSWORD\n", c.URL, c.Username))
	if err == nil || !strings.Contains(out, "ZATO_TEST_UNSET_PASSWORD") || !strings.Contains(out, "not set") {
		t.Errorf("passwordEnv unset: %v\n%s", err, out)
	}
	out, err = run(fmt.Sprintf("url: %s\nusername: %s\npassword: %s\n", c.URL, c.Username, c.Password))
	if err != nil {
		t.Errorf("a good file: %v\n%s", err, out)
	}
}

// Issue 13: Zato's IDE user (ide_publisher), where the environment was created with it, deploys through Zato's
// endpoints and nothing else.
func TestZatoIDEUser(t *testing.T) {
	t.Parallel()
	c := testenv.StartCluster(t, testenv.Options{Servers: 1, IDEUser: true})
	if c.IDEUsername != "ide_publisher" || c.IDEPassword == "" {
		t.Fatalf("IDE user %q", c.IDEUsername)
	}
	do := func(method, path string, body []byte) (int, string) {
		req, _ := http.NewRequest(method, c.URL+path, bytes.NewReader(body))
		req.SetBasicAuth(c.IDEUsername, c.IDEPassword)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	body, _ := json.Marshal(map[string]string{"payload_name": "ide_user_mod.py", "payload": base64.StdEncoding.EncodeToString([]byte(fmt.Sprintf(greet, 1)))})
	if code, out := do(http.MethodPost, "/ide-deploy", body); code != 200 || !strings.Contains(out, `"success":true`) {
		t.Fatalf("ide-deploy as ide_publisher: %d %s", code, out)
	}
	if code, out := do(http.MethodGet, "/api/v1/status", nil); code != http.StatusUnauthorized {
		t.Fatalf("the native API as ide_publisher: %d %s", code, out)
	}
}

// Issue 14.2: an upload that names the version its author last saw is refused when someone else deployed another
// version since; the command line checks against its user's last deploy and has --force.
func TestNeverOverwriteAVersionNotSeen(t *testing.T) {
	t.Parallel()
	c := testenv.StartCluster(t, testenv.Options{Servers: 1})
	p := filepath.Join(t.TempDir(), "guarded_mod.py")
	write := func(v int) {
		if err := os.WriteFile(p, []byte(fmt.Sprintf(greet, v)), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write(1)
	if out, err := c.Zato(t, "deploy", p); err != nil {
		t.Fatalf("first deploy: %v\n%s", err, out)
	}
	// A file in the pickup dir (another origin, another "who") deploys version 2 meanwhile.
	pick := filepath.Join(c.Servers[0].Dir, "pickup", "incoming", "services", "guarded_mod.py")
	if err := os.WriteFile(pick, []byte(fmt.Sprintf(greet, 2)), 0o644); err != nil {
		t.Fatal(err)
	}
	cl := client(t, c, "")
	deadline := time.Now().Add(30 * time.Second)
	for {
		vs, err := cl.Versions(ctx(t), "guarded_mod.py")
		if err == nil && len(vs) == 2 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the pickup dir did not deploy version 2: %v %v", vs, err)
		}
		time.Sleep(100 * time.Millisecond) // bounded: the pickup dir deploys within milliseconds
	}
	write(3)
	out, err := c.Zato(t, "deploy", p)
	if err == nil || !strings.Contains(err.Error(), "version 2 was deployed by pickup (pickup)") || !strings.Contains(err.Error(), "--force") {
		t.Fatalf("deploy over a version not seen: %v\n%s", err, out)
	}
	if vs, _ := cl.Versions(ctx(t), "guarded_mod.py"); len(vs) != 2 {
		t.Fatalf("the refused deploy stored a version: %d versions", len(vs))
	}
	if out, err := c.Zato(t, "deploy", "--force", p); err != nil || !strings.Contains(out, "deployed on the only server (1/1)") {
		t.Fatalf("deploy --force: %v\n%s", err, out)
	}
	// The user's own deploy is what they saw: the next one goes through without --force.
	write(4)
	if out, err := c.Zato(t, "deploy", p); err != nil {
		t.Fatalf("deploy after --force: %v\n%s", err, out)
	}
}
