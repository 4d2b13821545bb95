package sources

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/zato-go/zato/server/runtime"
)

// startRuntime starts a real python3 worker, closed when the test ends.
func startRuntime(t *testing.T) *runtime.Runtime {
	t.Helper()
	dir := t.TempDir()
	if err := os.MkdirAll(filepath.Join(dir, "current"), 0o755); err != nil {
		t.Fatal(err)
	}
	rt, err := runtime.Start(context.Background(), runtime.Config{
		Dir: filepath.Join(dir, "runtime"), ModuleDir: filepath.Join(dir, "current"),
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil)),
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { rt.Close() })
	return rt
}

// serverDir makes a server dir holding files (path relative to it -> content) and this service-sources.txt.
func serverDir(t *testing.T, sourcesTxt string, files map[string]string) string {
	t.Helper()
	dir := t.TempDir()
	files["config/repo/service-sources.txt"] = sourcesTxt
	for name, content := range files {
		p := filepath.Join(dir, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

// loadDir runs Load on dir's service-sources.txt; it returns the results and the log.
func loadDir(t *testing.T, rt Runtime, dir string) ([]Result, string) {
	t.Helper()
	var log bytes.Buffer
	res := Load(context.Background(), rt, filepath.Join(dir, "config", "repo", "service-sources.txt"), dir,
		slog.New(slog.NewTextHandler(&log, nil)))
	return res, log.String()
}

// service is a module with one service, name, answering {"answer": answer}.
func service(name, answer string) string {
	return fmt.Sprintf("from zato.server.service import Service\n\n\nclass S(Service):\n    name = %q\n\n"+
		"    def handle(self):\n        self.response.payload.answer = %q\n", name, answer)
}

// answer invokes a service and returns its answer.
func answer(t *testing.T, rt *runtime.Runtime, name string) string {
	t.Helper()
	out, err := rt.Invoke(context.Background(), name, nil, runtime.InvokeOptions{CID: "cid-1"})
	if err != nil {
		t.Fatalf("invoke %s: %v", name, err)
	}
	return string(out)
}

// TestOverlongLineFailsOnlyItsEntry: a line over bufio.Scanner's 64 KiB used to lose the whole file; it is one
// failed entry, which says why, and the entries around it load.
func TestOverlongLineFailsOnlyItsEntry(t *testing.T) {
	rt := startRuntime(t)
	long := strings.Repeat("x", 70<<10)
	dir := serverDir(t, "./a.py\n"+long+"\n./b.py\n", map[string]string{
		"a.py": service("svc-a", "from a"),
		"b.py": service("svc-b", "from b"),
	})
	res, log := loadDir(t, rt, dir)
	if len(res) != 3 {
		t.Fatalf("got %d results, want 3; log:\n%.2000s", len(res), log)
	}
	if !res[0].OK || !res[2].OK {
		t.Fatalf("the entries around the long line failed: %+v / %+v", res[0], res[2])
	}
	if res[1].OK || !strings.Contains(res[1].Message, "is 71680 bytes long") || len(res[1].Entry) > 100 {
		t.Fatalf("long entry: ok=%v entry=%.100q message=%q", res[1].OK, res[1].Entry, res[1].Message)
	}
	if got := answer(t, rt, "svc-b"); !strings.Contains(got, "from b") {
		t.Fatalf("svc-b answered %s", got)
	}
}

// TestNonPyFileRefused: a listed file that is not a .py file is refused, not run as Python.
func TestNonPyFileRefused(t *testing.T) {
	rt := startRuntime(t)
	dir := serverDir(t, "./extra/readme.txt\n./extra/jobs.py\n", map[string]string{
		"extra/readme.txt": "Billing jobs run nightly.\n",
		"extra/jobs.py":    service("jobs", "ok"),
	})
	res, _ := loadDir(t, rt, dir)
	want := filepath.Join(dir, "extra", "readme.txt") + " is not a .py file; an entry is a directory, a .py file or a dotted module name"
	if len(res) != 2 || res[0].OK || res[0].Message != want || len(res[0].Modules) != 0 {
		t.Fatalf("got %+v, want readme.txt refused with %q", res, want)
	}
	if !res[1].OK {
		t.Fatalf("jobs.py: %+v", res[1])
	}
}

// TestDirectorySkipsDotfiles: as Zato's glob('*.py'), a directory's names starting with '.' are no modules: neither
// a hidden module nor an editor's dangling lock link (.#real.py) is loaded or fails the entry.
func TestDirectorySkipsDotfiles(t *testing.T) {
	rt := startRuntime(t)
	dir := serverDir(t, "./services\n", map[string]string{
		"services/real.py":    service("real", "ok"),
		"services/.hidden.py": service("hidden", "should not load"),
	})
	if err := os.Symlink("root@host.1234:1700000000", filepath.Join(dir, "services", ".#real.py")); err != nil {
		t.Fatal(err)
	}
	res, _ := loadDir(t, rt, dir)
	if len(res) != 1 || !res[0].OK || !reflect.DeepEqual(res[0].Modules, []string{"real.py"}) ||
		!reflect.DeepEqual(res[0].Services, []string{"real"}) {
		t.Fatalf("got %+v, want only real.py loaded", res)
	}
	for _, s := range rt.Services() {
		if s.Name == "hidden" {
			t.Fatalf(".hidden.py was loaded: %+v", s)
		}
	}
}

// TestSameModuleNameRefused: two files of one name (dirA/svc.py, dirB/svc.py) are one Python module; the second is
// refused, naming the first, which keeps serving.
func TestSameModuleNameRefused(t *testing.T) {
	rt := startRuntime(t)
	dir := serverDir(t, "./dirA\n./dirB/svc.py\n", map[string]string{
		"dirA/svc.py": service("svc-a", "from A"),
		"dirB/svc.py": service("svc-b", "from B"),
	})
	res, _ := loadDir(t, rt, dir)
	if len(res) != 2 || !res[0].OK {
		t.Fatalf("got %+v", res)
	}
	first := filepath.Join(dir, "dirA", "svc.py")
	want := "module name svc is taken by " + first + " (entry ./dirA); rename one of them"
	if res[1].OK || res[1].Message != want || len(res[1].Modules) != 0 || len(res[1].Services) != 0 {
		t.Fatalf("second: %+v, want refused with %q", res[1], want)
	}
	if got := answer(t, rt, "svc-a"); !strings.Contains(got, "from A") {
		t.Fatalf("svc-a answered %s", got)
	}
	if _, err := rt.Invoke(context.Background(), "svc-b", nil, runtime.InvokeOptions{CID: "cid-2"}); err == nil {
		t.Fatal("svc-b of the refused dirB/svc.py serves")
	}
}

// TestShadowingNamesRefused: a module named like the standard library or the runtime would be what every later import
// of that name gets (email.py made `import email.parser` fail in unrelated services); it is refused in
// hot-deployment's words, and the entry's other modules load.
func TestShadowingNamesRefused(t *testing.T) {
	rt := startRuntime(t)
	dir := serverDir(t, "./shadow\n./zato.py\n", map[string]string{
		"shadow/email.py":     service("mail", "shadowing"),
		"shadow/web_fetch.py": "import email.parser\n" + service("web-fetch", "fetched"),
		"zato.py":             service("z", "z"),
	})
	res, _ := loadDir(t, rt, dir)
	if len(res) != 2 || res[0].OK || !strings.Contains(res[0].Message, "email.py would shadow Python's standard module email; rename it") {
		t.Fatalf("the directory: %+v", res)
	}
	if res[1].OK || !strings.Contains(res[1].Message, "zato.py would shadow the zato package") {
		t.Fatalf("zato.py: %+v", res[1])
	}
	if got := answer(t, rt, "web-fetch"); !strings.Contains(got, "fetched") {
		t.Fatalf("web-fetch answered %s", got)
	}
}

// TestModuleTextAsHotDeployed: a module that is not UTF-8 is refused (its bytes would reach the worker replaced by
// U+FFFD: a Latin-1 'café' served as 'caf\ufffd'), and a BOM is skipped, as python3 and hot-deployment do.
func TestModuleTextAsHotDeployed(t *testing.T) {
	rt := startRuntime(t)
	dir := serverDir(t, "./latin.py\n./bom.py\n", map[string]string{
		"latin.py": "# -*- coding: latin-1 -*-\nword = 'caf\xe9'\n" + service("latin", "cafe"),
		"bom.py":   "\ufeff" + service("bom", "with a BOM"),
	})
	res, _ := loadDir(t, rt, dir)
	if len(res) != 2 || res[0].OK || !strings.Contains(res[0].Message, "not UTF-8 text; save it as UTF-8") {
		t.Fatalf("latin.py: %+v", res)
	}
	if !res[1].OK {
		t.Fatalf("bom.py: %+v", res[1])
	}
	if got := answer(t, rt, "bom"); !strings.Contains(got, "with a BOM") {
		t.Fatalf("bom answered %s", got)
	}
}

// TestBareWordNamingAServerDirIsAModule: "pickup" names a module on zato_extra_paths and also the server dir's own
// pickup directory, which holds no modules. It used to be taken as that directory: nothing loaded, reported "ok".
func TestBareWordNamingAServerDirIsAModule(t *testing.T) {
	extra := t.TempDir()
	if err := os.WriteFile(filepath.Join(extra, "pickup.py"), []byte(service("bare.pickup", "from extra")), 0o644); err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	rt, err := runtime.Start(context.Background(), runtime.Config{
		Dir: filepath.Join(dir, "runtime"), ModuleDir: filepath.Join(dir, "current"), ExtraPaths: []string{extra},
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil)),
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { rt.Close() })
	sd := serverDir(t, "pickup\nconfig\nwithmods\n", map[string]string{
		"pickup/incoming/services/.keep": "",
		"withmods/common_x.py":           service("bare.withmods", "from dir"),
	})
	res, log := loadDir(t, rt, sd)
	if len(res) != 3 {
		t.Fatalf("results %+v\n%s", res, log)
	}
	if r := res[0]; !r.OK || !r.Dotted || !reflect.DeepEqual(r.Services, []string{"bare.pickup"}) {
		t.Errorf("pickup: want the module from zato_extra_paths, got %+v", r)
	}
	if got := answer(t, rt, "bare.pickup"); !strings.Contains(got, "from extra") {
		t.Errorf("bare.pickup answered %s", got)
	}
	if r := res[1]; r.OK || !strings.Contains(r.Message, "./config/") {
		t.Errorf("config (no such module, a server dir directory without modules): want a failure that says how to "+
			"mean the directory, got %+v", r)
	}
	// A bare word whose directory holds modules stays that directory, as in Zato.
	if r := res[2]; !r.OK || r.Dotted || !reflect.DeepEqual(r.Services, []string{"bare.withmods"}) {
		t.Errorf("withmods: want the directory's module, got %+v", r)
	}
}
