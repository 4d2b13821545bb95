package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/zato-go/zato/internal/testenv"
)

// Mistakes in how the client is told where and who: each is said in the user's words, before any request. --url
// without a user went to the server and came back as 'refused user ""'; an empty zato-client.yaml was told to
// "point --config at a zato-client.yaml", which it was.
func TestClientConfigMistakes(t *testing.T) {
	t.Parallel()
	bin := testenv.ZatoBinary(t)
	dir := t.TempDir()
	empty := filepath.Join(dir, "zato-client.yaml")
	if err := os.WriteFile(empty, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	noUser := filepath.Join(dir, "nouser.yaml")
	if err := os.WriteFile(noUser, []byte("url: http://127.0.0.1:1\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"status", "--url", "http://127.0.0.1:1"}, "no username: pass --username"},
		{[]string{"status", "--config", empty}, empty + " names no server: give it a url"},
		{[]string{"status", "--config", noUser}, "no username: " + noUser + " gives none"},
	} {
		cmd := exec.Command(bin, c.args...)
		cmd.Env = []string{"PATH=" + os.Getenv("PATH"), "HOME=" + dir}
		out, err := cmd.CombinedOutput()
		if err == nil || !strings.Contains(string(out), c.want) {
			t.Errorf("zato %s: %v\n%s\nwant %q", strings.Join(c.args, " "), err, out, c.want)
		}
	}
}
