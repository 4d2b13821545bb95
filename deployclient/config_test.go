package deployclient

import (
	"go/parser"
	"go/token"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

func writeConfig(t *testing.T, name, text string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(p, []byte(text), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

// TestLoadConfigStrict: a client file is decoded with known keys only, and every problem names the file and line.
// Before, viper dropped unknown keys: `pasword:` left the password empty and the server answered 401.
func TestLoadConfigStrict(t *testing.T) {
	for _, tc := range []struct{ text, want string }{
		{"url: http://a:1\nusername: admin\npasword: x\n",
			"line 3: unknown key pasword (known: url, username, password, passwordEnv, caFile, insecureSkipVerify, kind, timeout, servers, targets, defaultTarget, ide, deployOnSave, requireMarker, include, exclude)"},
		{"url: http://a:1\ntargets:\n  Staging:\n    url: https://s:1\n    pasword: x\n",
			"line 5: unknown key pasword in a target (known: url, username, password, passwordEnv, caFile, insecureSkipVerify, kind)"},
		{"servers:\n  - name: server1\n    adress: http://a:1\n", "line 3: unknown key adress in servers (known: name, url, dir)"},
		{"url: http://a:1\ntimeout: 30\n", "line 2: 30 is not a duration (30s, 2m)"},
		{"url: http://a:1\ninsecureSkipVerify: maybe\n", "line 2: maybe is not true or false"},
		{"url: http://a:1\nurl: http://b:1\n", `line 2: mapping key "url" already defined at line 1`},
		{"url: [\n", "line 1: did not find expected node content"},
	} {
		p := writeConfig(t, ".zato.yaml", tc.text)
		_, err := LoadConfig(p)
		if want := p + " " + tc.want; err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%q:\n got %v\nwant %s", tc.text, err, want)
		}
	}
	// Two problems, both told.
	p := writeConfig(t, "zato-client.yaml", "url: http://a:1\npasword: x\nusernme: y\n")
	if _, err := LoadConfig(p); err == nil || !strings.Contains(err.Error(), p+" line 2: unknown key pasword") || !strings.Contains(err.Error(), p+" line 3: unknown key usernme") {
		t.Fatalf("two typos: %v", err)
	}
}

// TestLoadConfigEditorKeys: .zato.yaml holds the language server's keys too; they are known, and read as written.
func TestLoadConfigEditorKeys(t *testing.T) {
	p := writeConfig(t, ".zato.yaml", `url: http://a:1
username: admin
passwordEnv: ZATO_PASSWORD
password: 0123
timeout: 30s
insecureSkipVerify: yes
deployOnSave: false
requireMarker: true
include: ["**/*.py"]
exclude: ["**/test_*.py"]
`)
	f, err := ReadConfigFile(p)
	if err != nil {
		t.Fatal(err)
	}
	if f.URL != "http://a:1" || f.Password != "0123" || f.Timeout != 30*time.Second || !f.InsecureSkipVerify ||
		f.DeployOnSave == nil || *f.DeployOnSave || f.RequireMarker == nil || !*f.RequireMarker ||
		len(f.Include) != 1 || f.Exclude[0] != "**/test_*.py" {
		t.Fatalf("%+v", f)
	}
	// JSON is YAML too; an empty file is an empty config.
	p = writeConfig(t, "zato.json", `{"url": "http://a:1", "targets": {"Prod": {"url": "http://p:1"}}}`)
	if fc, err := LoadConfig(p); err != nil || fc.Targets["Prod"].URL != "http://p:1" {
		t.Fatalf("json: %+v %v", fc, err)
	}
	p = writeConfig(t, ".zato.yaml", "")
	if fc, err := LoadConfig(p); err != nil || fc.URL != "" {
		t.Fatalf("empty: %+v %v", fc, err)
	}
	if _, err := LoadConfig(filepath.Join(t.TempDir(), "absent.yaml")); err == nil || !strings.Contains(err.Error(), "absent.yaml") {
		t.Fatalf("absent: %v", err)
	}
}

// TestTargetNamesKeepCase: a target written `Staging` is listed and resolved as `Staging`. Before, viper lower-cased
// every map key it read, so the editor and `zato` showed `staging`.
func TestTargetNamesKeepCase(t *testing.T) {
	p := writeConfig(t, ".zato.yaml", `username: admin
password: p
defaultTarget: Staging
targets:
  Staging: {url: "https://staging:1"}
  PROD_eu: {url: "https://prod:1", username: ops}
`)
	fc, err := LoadConfig(p)
	if err != nil {
		t.Fatal(err)
	}
	if got := strings.Join(fc.TargetNames(), ","); got != "Staging,PROD_eu" {
		t.Fatalf("names %s", got)
	}
	for ask, want := range map[string]string{"": "Staging", "Staging": "Staging", "staging": "Staging", "prod_eu": "PROD_eu", "PROD_eu": "PROD_eu"} {
		name, cfg, err := fc.Target(ask)
		if err != nil || name != want || cfg.URL == "" {
			t.Errorf("Target(%q) = %q %+v %v, want %q", ask, name, cfg, err, want)
		}
	}
	// Names that differ only in case are two targets: each is found by its own name, neither by a third spelling.
	fc.Targets["staging"] = Target{URL: "https://other:1"}
	if _, cfg, err := fc.Target("Staging"); err != nil || cfg.URL != "https://staging:1" {
		t.Fatalf("Staging: %+v %v", cfg, err)
	}
	if _, cfg, err := fc.Target("staging"); err != nil || cfg.URL != "https://other:1" {
		t.Fatalf("staging: %+v %v", cfg, err)
	}
	if _, _, err := fc.Target("STAGING"); err == nil {
		t.Fatal("STAGING resolved to one of two targets")
	}
}

// TestNoViperInDeployclient: the deploy client's API (and the package itself) does not expose viper; callers that
// layer settings with viper decode into FileConfig themselves (its mapstructure tags serve them).
func TestNoViperInDeployclient(t *testing.T) {
	files, err := filepath.Glob("*.go")
	if err != nil {
		t.Fatal(err)
	}
	fset := token.NewFileSet()
	for _, f := range files {
		if strings.HasSuffix(f, "_test.go") {
			continue
		}
		af, err := parser.ParseFile(fset, f, nil, parser.ImportsOnly)
		if err != nil {
			t.Fatal(err)
		}
		for _, imp := range af.Imports {
			if path, _ := strconv.Unquote(imp.Path.Value); strings.Contains(path, "viper") {
				t.Errorf("%s imports %s", f, path)
			}
		}
	}
}
