package e2e

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/zato-go/zato/internal/testenv"
	"github.com/zato-go/zato/server/cluster"
	"github.com/zato-go/zato/server/config"
)

// httpDo sends one request to a server of c and returns the status, body and headers.
func httpDo(t *testing.T, url, method, path, user, pass string, body []byte, hdr ...string) (int, string, http.Header) {
	t.Helper()
	req, err := http.NewRequest(method, url+path, bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	if user != "" {
		req.SetBasicAuth(user, pass)
	}
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b), resp.Header
}

// TestValidationAtTheDoor (issue 11, item 7): against real servers, input that would be stored altered or fail on
// every server is refused with 400 and the reason before anything is stored, and a BOM is stripped as python3
// does, so the module serves on every server.
func TestValidationAtTheDoor(t *testing.T) {
	t.Parallel()
	c := testenv.StartCluster(t, testenv.Options{})
	do := func(method, path string, body []byte) (int, string) {
		code, b, _ := httpDo(t, c.URL, method, path, c.Username, c.Password, body)
		return code, b
	}
	native := func(name, src string) []byte {
		b, _ := json.Marshal(map[string]string{"name": name, "source": src})
		return b
	}
	for _, b := range []struct {
		what string
		body []byte
		code string
		says string
	}{
		{"raw non-UTF-8", []byte("{\"name\":\"latin.py\",\"source\":\"# caf\xe9\\nx = 1\\n\"}"), "bad_payload", "not UTF-8"},
		{"lone surrogate", []byte(`{"name":"latin.py","source":"x = '\udc80'\n"}`), "bad_payload", "surrogate"},
		{"240-byte name", native(strings.Repeat("n", 237)+".py", "x = 1\n"), "bad_name", "at most 200 bytes"},
		{"json.py", native("json.py", "x = 1\n"), "bad_name", "json.py would shadow Python's standard module json; rename it"},
		{"os.py", native("os.py", "x = 1\n"), "bad_name", "standard module os"},
		{"zato.py", native("zato.py", "x = 1\n"), "bad_name", "shadow the zato package"},
		{"zato_worker.py", native("zato_worker.py", "x = 1\n"), "bad_name", "zato_worker"},
		{"__init__.py", native("__init__.py", "x = 1\n"), "bad_name", "__init__"},
	} {
		code, body := do("POST", "/api/v1/deploy", b.body)
		var e struct {
			Error struct{ Code, Message string }
		}
		_ = json.Unmarshal([]byte(body), &e)
		if code != 400 || e.Error.Code != b.code || !strings.Contains(e.Error.Message, b.says) {
			t.Errorf("%s: %d %s, want 400 %s saying %q", b.what, code, body, b.code, b.says)
		}
	}
	if _, body := do("GET", "/api/v1/modules", nil); strings.Contains(body, ".py") {
		t.Fatalf("refused uploads stored modules: %s", body)
	}

	// A BOM: accepted, stored without it, live on every server.
	src := fmt.Sprintf(greet, 3)
	code, body := do("POST", "/api/v1/deploy", native("bom_mod.py", "\ufeff"+src))
	if code != 202 {
		t.Fatalf("BOM: %d %s", code, body)
	}
	var d struct {
		ID     int64  `json:"deployment_id"`
		SHA256 string `json:"sha256"`
	}
	if err := json.Unmarshal([]byte(body), &d); err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256([]byte(src))
	if d.SHA256 != hex.EncodeToString(sum[:]) {
		t.Fatalf("stored sha256 %s is not that of the source without its BOM", d.SHA256)
	}
	done, err := client(t, c, "").Watch(ctx(t), d.ID, nil)
	if err != nil {
		t.Fatal(err)
	}
	mustStatus(t, done, "deployed")
	for _, s := range c.Servers {
		if out := invoke(t, client(t, c, s.URL), "bom-mod.greet", `{"name":"b"}`); out["version"] != float64(3) {
			t.Fatalf("%s: %v", s.Name, out)
		}
	}
}

// TestHardeningOnRealServers (issue 15, "Hardening found by reading the code"): the internal nudge takes only a
// signed header, failed logins are throttled per client, the password is kept as bcrypt, and the pickup dir does
// not follow a link that leads outside it.
func TestHardeningOnRealServers(t *testing.T) {
	t.Parallel()
	c := testenv.StartCluster(t, testenv.Options{})
	s1 := c.Server(t, "server1")
	conf, err := config.Load(s1.Dir)
	if err != nil {
		t.Fatal(err)
	}

	// The nudge over HTTP: the plain secret is refused (it must never travel); a signed nudge is taken once.
	if code, body, _ := httpDo(t, s1.URL, "POST", cluster.NudgePath, "", "", nil, "X-Zato-Cluster-Secret", conf.ClusterSecret); code != 401 {
		t.Errorf("nudge with the plain secret: %d %s", code, body)
	}
	signed := cluster.SignHTTPNudge([]byte(conf.ClusterSecret), "server2", cluster.Nudge{Members: true}, time.Now())
	if code, body, _ := httpDo(t, s1.URL, "POST", cluster.NudgePath, "", "", nil, cluster.NudgeHeader, signed); code != 204 {
		t.Errorf("signed nudge: %d %s", code, body)
	}
	if code, _, _ := httpDo(t, s1.URL, "POST", cluster.NudgePath, "", "", nil, cluster.NudgeHeader, signed); code != 401 {
		t.Errorf("replayed nudge: %d", code)
	}

	// The password is a bcrypt hash in server.conf.
	if !strings.HasPrefix(conf.PasswordHash, "bcrypt$") {
		t.Errorf("password hash %.10q... is not bcrypt", conf.PasswordHash)
	}

	// A link in the pickup dir to a file outside it is not deployed, and the log says why.
	pickup := filepath.Join(s1.Dir, "pickup/incoming/services")
	outside := filepath.Join(t.TempDir(), "hostname")
	if err := os.WriteFile(outside, []byte("host-secret = 1\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(outside, filepath.Join(pickup, "hostname.py")); err != nil {
		t.Fatal(err)
	}
	barrier := fmt.Sprintf(greet, 9)
	if err := os.WriteFile(filepath.Join(pickup, "after_link.py"), []byte(barrier), 0o644); err != nil {
		t.Fatal(err)
	}
	mustStatus(t, waitDeployment(t, c, "after_link.py", 0, barrier), "deployed") // events are handled in order
	if _, body, _ := httpDo(t, c.URL, "GET", "/api/v1/modules", c.Username, c.Password, nil); strings.Contains(body, "hostname.py") {
		t.Fatalf("the link was followed: %s", body)
	}
	if log := readLog(t, c, "server1"); !strings.Contains(log, "Not following hostname.py in the pickup dir") {
		t.Fatalf("no warning for the link in the log")
	}

	// Failed logins: 10, then 429 with Retry-After, even with the right password; another server is not affected.
	for i := range 10 {
		if code, _, _ := httpDo(t, s1.URL, "GET", "/api/v1/status", c.Username, "wrong", nil); code != 401 {
			t.Fatalf("failure %d: %d", i, code)
		}
	}
	for _, pass := range []string{"wrong", c.Password} {
		code, body, h := httpDo(t, s1.URL, "POST", "/api/v1/deploy", c.Username, pass, []byte(`{"name":"x.py","source":"x = 1\n"}`))
		if ra, err := strconv.Atoi(h.Get("Retry-After")); code != 429 || err != nil || ra < 1 {
			t.Fatalf("after 10 failures: %d Retry-After %q %s", code, h.Get("Retry-After"), body)
		}
	}
	if code, _, _ := httpDo(t, c.Server(t, "server2").URL, "GET", "/api/v1/status", c.Username, c.Password, nil); code != 200 {
		t.Fatalf("server2: %d", code)
	}
}
