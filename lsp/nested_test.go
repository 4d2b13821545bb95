package lsp

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"go.lsp.dev/uri"
)

// TestNestedConfigIsNamed: the language server reads a workspace folder's own .zato.yaml only (its root), as VS Code
// activates on. A .zato.yaml deeper down (services/.zato.yaml) is not read: instead of saying "add a .zato.yaml to
// the workspace", which the user did, the server says where it found one and that it must be at the folder's root,
// at start and when a file is deployed.
func TestNestedConfigIsNamed(t *testing.T) {
	dir := t.TempDir()
	services := filepath.Join(dir, "services")
	if err := os.MkdirAll(services, 0o755); err != nil {
		t.Fatal(err)
	}
	writeYAML(t, services, "url: http://127.0.0.1:1\nusername: admin\npassword: pw\n")
	// Where nobody keeps one: not named.
	if err := os.MkdirAll(filepath.Join(dir, "node_modules", "x"), 0o755); err != nil {
		t.Fatal(err)
	}
	writeYAML(t, filepath.Join(dir, "node_modules", "x"), "url: http://127.0.0.1:2\n")

	e := newSession(t, fixture{})
	e.initialize(dir, nil)
	want := fmt.Sprintf("%s is not read: a .zato.yaml must be at the root of the workspace folder %s", filepath.Join("services", ".zato.yaml"), dir)
	msg := e.awaitLog("is not read")
	if !strings.Contains(msg, want) || strings.Contains(msg, "node_modules") {
		t.Fatalf("start: %q, want it to say %q", msg, want)
	}
	e.await("window/showMessage", func(m message) bool { return strings.Contains(string(m.Params), want) })

	path := filepath.Join(services, "svc.py")
	if err := os.WriteFile(path, []byte("x = 1\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	err := e.command(cmdDeploy, []any{string(uri.File(path))}, nil)
	if err == nil || !strings.Contains(err.Error(), want) {
		t.Fatalf("zato.deploy: %v, want it to say %q", err, want)
	}
}
