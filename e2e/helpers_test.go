// Package e2e tests whole clusters: real server processes, real python3, the real zato binary.
package e2e

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/zato-go/zato/deployclient"
	"github.com/zato-go/zato/internal/testenv"
)

func client(t *testing.T, c *testenv.Cluster, url string) *deployclient.Client {
	t.Helper()
	if url == "" {
		url = c.URL
	}
	cl, err := deployclient.New(deployclient.Config{URL: url, Username: c.Username, Password: c.Password, Timeout: 20 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	return cl
}

func ctx(t *testing.T) context.Context {
	t.Helper()
	c, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	t.Cleanup(cancel)
	return c
}

func deploy(t *testing.T, cl *deployclient.Client, name, src string) deployclient.Deployment {
	t.Helper()
	d, err := cl.Deploy(ctx(t), name, []byte(src), "api", nil)
	if err != nil {
		t.Fatalf("deploy %s: %v", name, err)
	}
	return d
}

func invoke(t *testing.T, cl *deployclient.Client, service, payload string) map[string]any {
	t.Helper()
	var p []byte
	if payload != "" {
		p = []byte(payload)
	}
	out, err := cl.Invoke(ctx(t), service, p)
	if err != nil {
		t.Fatalf("invoke %s: %v", service, err)
	}
	var m map[string]any
	if err := json.Unmarshal(out, &m); err != nil {
		t.Fatalf("invoke %s: %s is not an object: %v", service, out, err)
	}
	return m
}

func serverByName(d deployclient.Deployment, name string) deployclient.ServerStatus {
	for _, s := range d.Servers {
		if s.Name == name {
			return s
		}
	}
	return deployclient.ServerStatus{}
}

func mustStatus(t *testing.T, d deployclient.Deployment, want string) {
	t.Helper()
	if d.Status != want {
		b, _ := json.MarshalIndent(d, "", "  ")
		t.Fatalf("deployment status %s, want %s:\n%s", d.Status, want, b)
	}
}

func readLog(t *testing.T, c *testenv.Cluster, server string) string {
	t.Helper()
	b, err := os.ReadFile(c.Server(t, server).Dir + "/logs/server.log")
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

var _ = strings.Contains

// writeFile writes body to path, making its directory first.
func writeFile(t *testing.T, path, body string) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte(body), 0o644); err != nil {
		t.Fatal(err)
	}
}
