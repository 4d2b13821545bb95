package main

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/zato-go/zato/internal/testenv"
)

// zato deploy checks every file as the upload would (there, a readable regular .py file, a module name, text that
// can travel) before it uploads any: one refused file refuses the whole command, every refused file is listed with
// its reason, and nothing is deployed. It used to deploy the files before the first refused one and drop the rest
// without a word. A file the servers refuse (a syntax error, a name that shadows a standard module) does not stop
// the others.
func TestDeployRefusesBadFilesBeforeUploadingAny(t *testing.T) {
	t.Parallel()
	c := testenv.StartCluster(t, testenv.Options{})
	dir := t.TempDir()
	a, cc := module(t, dir, "a.py", 1), module(t, dir, "c.py", 1)
	notes := writeFile(t, dir, "notes.txt", "not a module\n")
	refusedEach := func(what string, want map[string]string, args ...string) {
		t.Helper()
		out, err := c.Zato(t, append([]string{"deploy"}, args...)...)
		if err == nil {
			t.Fatalf("%s: exit 0\n%s", what, out)
		}
		for file, reason := range want {
			line := ""
			for _, l := range strings.Split(err.Error(), "\n") {
				if strings.Contains(l, file) {
					line = l
				}
			}
			if !strings.Contains(line, reason) {
				t.Errorf("%s: %s is not listed with %q:\n%v\n%s", what, file, reason, err, out)
			}
		}
		if got := deployed(t, c); len(got) != 0 {
			t.Fatalf("%s: deployed %v\n%v\n%s", what, got, err, out)
		}
	}

	refusedEach("a .txt between two modules", map[string]string{notes: ".py"}, a, notes, cc)

	svc := filepath.Join(dir, "svcdir")
	module(t, svc, "one.py", 1)
	writeFile(t, svc, "__init__.py", "")
	module(t, svc, "two.py", 1)
	files, _ := filepath.Glob(filepath.Join(svc, "*")) // zato deploy svcdir/*
	refusedEach("svcdir/* with an empty __init__.py", map[string]string{filepath.Join(svc, "__init__.py"): "empty"}, files...)

	latin := writeFile(t, dir, "latin.py", "word = 'caf\xe9'\n")
	if err := os.Mkdir(filepath.Join(dir, "pkg"), 0o755); err != nil {
		t.Fatal(err)
	}
	refusedEach("every kind of refusal at once", map[string]string{
		filepath.Join(dir, "missing.py"): "no such file",
		module(t, dir, "bad-name.py", 1): "module name",
		latin:                            "UTF-8",
		filepath.Join(dir, "pkg"):        "zato_extra_paths",
		notes:                            ".py",
	}, a, filepath.Join(dir, "missing.py"), filepath.Join(dir, "bad-name.py"), latin, filepath.Join(dir, "pkg"), notes, cc)

	// What the servers refuse, or fail, stops nothing: the next file is deployed, and the exit says that not all were.
	broken := writeFile(t, dir, "broken.py", "def broken(:\n")
	shadow := module(t, dir, "json.py", 1) // the servers refuse a name that would shadow a standard module
	out, err := c.Zato(t, "deploy", broken, shadow, cc)
	if err == nil {
		t.Fatalf("deploy of a syntax error and a shadowing name: exit 0\n%s", out)
	}
	if got := deployed(t, c); !slices.Contains(got, "c.py") {
		t.Fatalf("c.py, after a syntax error and a name the servers refuse, was not deployed (%v): %v\n%s", got, err, out)
	}
	if !strings.Contains(err.Error()+out, "json.py would shadow") {
		t.Errorf("the servers' refusal of json.py is not shown: %v\n%s", err, out)
	}
}
