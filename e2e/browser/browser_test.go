// Package browser tests the web admin in a real browser: Debian's Chromium, driven by playwright-core (npm, pinned
// in package-lock.json), against a real 2-server cluster. Screenshots land in test-artifacts/browser/ (kept out of
// git): NN-*.png for each step at 1280 px, 800-*.png for each page at 800 px, where no page may scroll sideways.
package browser

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/zato-go/zato/internal/testenv"
)

const chromium = "/usr/bin/chromium"

const greet = `from zato.server.service import Service

class Greet(Service):
    class SimpleIO:
        input_required = ('name',)

    def handle(self):
        self.response.payload = {'hello': self.request.input.name, 'version': %s}
`

// For the layout at 800 px: a long module name with a long service name, a module failing with a long unbroken
// message, and a service-sources.txt entry (a long path) that loads on server1 and fails on server2.
const (
	longModule = "a_module_with_a_remarkably_long_name_to_check_the_layout_of_narrow_pages.py"
	longSource = `from zato.server.service import Service

class AServiceWithAVeryLongNameThatKeepsGoingAndGoingForTheLayoutCheck(Service):
    def handle(self):
        self.response.payload = {'ok': True}
`
	longErrorModule = "long_error_module.py"
	longError       = `raise ValueError('this-message-has-no-spaces-at-all-so-only-the-page-can-wrap-it-' * 8)
`
	sourceModule = "source_loaded_jobs_with_a_long_name_from_service_sources.py"
	sourceOK     = `from zato.server.service import Service

class NightlyJob(Service):
    def handle(self):
        self.response.payload = {'from': 'service-sources.txt'}
`
	sourceBroken = `from zato.server.service import Service

class NightlyJob(Service)
    pass
`
)

const broken = `from zato.server.service import Service

class Broken(Service)
    def handle(self):
        pass
`

// here is this package's directory (package.json, the script).
func here(t *testing.T) string {
	t.Helper()
	_, file, _, ok := runtime.Caller(0)
	if !ok {
		t.Fatal("no caller")
	}
	return filepath.Dir(file)
}

// nodeModules installs playwright-core from the lock file unless it is there already.
func nodeModules(t *testing.T, dir string) {
	t.Helper()
	if _, err := os.Stat(filepath.Join(dir, "node_modules", "playwright-core", "package.json")); err == nil {
		return
	}
	args := []string{"ci", "--no-audit", "--no-fund"}
	if _, err := os.Stat(filepath.Join(dir, "package-lock.json")); err != nil {
		args[0] = "install"
	}
	cmd := exec.Command("npm", args...)
	cmd.Dir = dir
	// playwright-core downloads no browser; we use Debian's.
	cmd.Env = append(os.Environ(), "PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD=1")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("npm %s: %v\n%s", args[0], err, out)
	}
}

func TestWebAdminInChromium(t *testing.T) {
	if _, err := os.Stat(chromium); err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("%s is missing: run scripts/install-test-deps.sh", chromium)
		}
		t.Skipf("%s is missing (apt-get install chromium, or scripts/install-test-deps.sh)", chromium)
	}
	node, err := exec.LookPath("node")
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatal("node is missing")
		}
		t.Skip("node is missing")
	}
	dir := here(t)
	nodeModules(t, dir)

	c := testenv.StartCluster(t, testenv.Options{NoStart: true})
	// service-sources.txt: one module in a deep directory (a long entry), good on server1, broken on server2.
	sourceEntry := "./service-sources/with/a/rather/deep/directory/tree/for/the/layout/" + sourceModule
	for i, s := range c.Servers {
		src := sourceOK
		if i > 0 {
			src = sourceBroken
		}
		p := filepath.Join(s.Dir, sourceEntry)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(src), 0o644); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(s.Dir, "config", "repo", "service-sources.txt"), []byte(sourceEntry+"\n"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	c.Start(t, "")
	work := t.TempDir()
	write := func(name, src string) string {
		p := filepath.Join(work, name)
		if err := os.WriteFile(p, []byte(src), 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	v1 := write("browser_greet.py", strings.Replace(greet, "%s", "1", 1))
	brokenFile := write("broken_mod.py", broken)
	longFile := write(longModule, longSource)
	longErrorFile := write(longErrorModule, longError)
	names := make([]string, 0, len(c.Servers))
	for _, s := range c.Servers {
		names = append(names, s.Name)
	}
	artifacts := filepath.Join(dir, "..", "..", "test-artifacts", "browser")
	if err := os.MkdirAll(artifacts, 0o755); err != nil {
		t.Fatal(err)
	}
	artifacts, _ = filepath.Abs(artifacts)
	// Screenshots of an earlier run (a 99-failure.png above all) must not pass for this run's.
	old, _ := filepath.Glob(filepath.Join(artifacts, "*.png"))
	for _, p := range old {
		_ = os.Remove(p)
	}

	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, node, "admin.spec.mjs")
	cmd.Dir = dir
	cmd.Env = append(os.Environ(),
		"ZATO_URL="+c.Servers[0].URL, // the browser talks to one server and sees every server confirm
		"ZATO_USERNAME="+c.Username,
		"ZATO_PASSWORD="+c.Password,
		"ZATO_MODULE_FILE="+v1,
		"ZATO_MODULE_V2="+strings.Replace(greet, "%s", "2", 1),
		"ZATO_BROKEN_FILE="+brokenFile,
		"ZATO_LONG_FILES="+longFile+string(os.PathListSeparator)+longErrorFile,
		"ZATO_SOURCE_ENTRY="+sourceEntry,
		"ZATO_SERVERS="+strings.Join(names, ","),
		"ZATO_ARTIFACTS="+artifacts,
		"CHROMIUM="+chromium,
	)
	out, err := cmd.CombinedOutput()
	t.Logf("node admin.spec.mjs:\n%s", out)
	if err != nil {
		t.Fatalf("browser script failed: %v (screenshots in %s)", err, artifacts)
	}
	for _, shot := range []string{"01-login.png", "02-upload-confirmed.png", "06-invoke.png", "07-filter-no-match.png",
		"08-source-module.png", "09-version-source.png", "10-diff.png",
		"800-home.png", "800-deployments.png", "800-module.png", "800-services.png", "800-source-module.png"} {
		if _, err := os.Stat(filepath.Join(artifacts, shot)); err != nil {
			t.Errorf("screenshot %s: %v", shot, err)
		}
	}
}
