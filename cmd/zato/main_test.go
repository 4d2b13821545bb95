package main

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/zato-go/zato/deployclient"
	"github.com/zato-go/zato/internal/testenv"
)

// The tests of this package run the real zato binary (testenv builds it from this tree) against real clusters:
// what a user sees from outside.

// TestMain removes the zato binary the tests built once they end.
func TestMain(m *testing.M) { os.Exit(testenv.Main(m)) }

// greet is a module with one service, greet, that answers its version.
const greet = `from zato.server.service import Service

class Greet(Service):
    def handle(self):
        self.response.payload = {'version': %d}
`

// writeFile writes body to dir/rel, making its directory first, and returns its path.
func writeFile(t *testing.T, dir, rel, body string) string {
	t.Helper()
	p := filepath.Join(dir, rel)
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

// module writes a greet module of that version to dir/name and returns its path.
func module(t *testing.T, dir, name string, version int) string {
	t.Helper()
	return writeFile(t, dir, name, fmt.Sprintf(greet, version))
}

// deployed lists the modules the cluster has, with what serves (zato status's module lines).
func deployed(t *testing.T, c *testenv.Cluster) []string {
	t.Helper()
	cl := client(t, c)
	ms, err := cl.Modules(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, m := range ms {
		if m.Deployed {
			names = append(names, m.Name)
		}
	}
	return names
}

// mustZato runs zato and fails the test on an error.
func mustZato(t *testing.T, c *testenv.Cluster, args ...string) string {
	t.Helper()
	out, err := c.Zato(t, args...)
	if err != nil {
		t.Fatalf("zato %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return out
}

// client is a deployclient of the cluster's first server.
func client(t *testing.T, c *testenv.Cluster) *deployclient.Client {
	t.Helper()
	cl, err := deployclient.New(deployclient.Config{URL: c.URL, Username: c.Username, Password: c.Password, Timeout: 20 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cl.Close() })
	return cl
}
