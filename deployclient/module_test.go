package deployclient

import (
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
)

// ReadModule says why a file cannot be deployed, with the checks an upload makes and those of a file.
func TestReadModuleSaysWhyAFileCannotDeploy(t *testing.T) {
	dir := t.TempDir()
	write := func(name, body string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	if err := os.Mkdir(filepath.Join(dir, "pkg"), 0o755); err != nil {
		t.Fatal(err)
	}
	for path, want := range map[string]string{
		filepath.Join(dir, "missing.py"):     "no such file",
		filepath.Join(dir, "pkg"):            "packages go to zato_extra_paths",
		write("notes.txt", "x = 1\n"):        "not a .py file",
		write("bad-name.py", "x = 1\n"):      "not a module name",
		write("__init__.py", ""):             "the module is empty",
		write("latin.py", "w = 'caf\xe9'\n"): "not UTF-8",
		write("nul.py", "x = 1\x00\n"):       "NUL byte",
	} {
		if _, _, err := ReadModule(path); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%s: %v, want an error saying %q", filepath.Base(path), err, want)
		}
	}
	name, src, err := ReadModule(write("good_mod.py", "x = 1\n"))
	if err != nil || name != "good_mod.py" || string(src) != "x = 1\n" {
		t.Fatalf("good_mod.py: %q %q %v", name, src, err)
	}
}

// An upload with a name that is not a module's is refused before anything is sent, as ReadModule refuses the file.
func TestUploadRefusesABadNameBeforeSending(t *testing.T) {
	var requests atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		requests.Add(1)
		http.Error(w, "no", http.StatusTeapot)
	}))
	defer srv.Close()
	c := newClient(t, Config{URL: srv.URL})
	for _, name := range []string{"notes.txt", "bad-name.py", "dir/x.py", "x.py "} {
		if _, err := c.Upload(ctx(t), name, []byte("x = 1\n"), "cli"); err == nil || !strings.Contains(err.Error(), "not a module name") {
			t.Errorf("%q: %v", name, err)
		}
	}
	if n := requests.Load(); n != 0 {
		t.Errorf("%d requests reached the server", n)
	}
}
