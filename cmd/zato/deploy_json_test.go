package main

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/zato-go/zato/internal/testenv"
)

// jsonEntry is one entry of zato deploy --json.
type jsonEntry struct {
	File         string `json:"file"`
	Module       string `json:"module"`
	DeploymentID int64  `json:"deployment_id"`
	Status       string `json:"status"`
	Servers      []struct {
		Name, Status string
	} `json:"servers"`
	Error *struct {
		Type, Message string
	} `json:"error"`
}

// zato deploy --json prints the array of every file it was given, whatever ends the run, with an "error" for each
// file that did not reach the servers (refused, by the command or by the servers, or not sent), and exits non-zero.
// It printed nothing on stdout when an error ended the run, though files before it were deployed.
func TestDeployJSONAlwaysPrintsTheArray(t *testing.T) {
	t.Parallel()
	c := testenv.StartCluster(t, testenv.Options{})
	dir := t.TempDir()
	a, cc := module(t, dir, "a.py", 1), module(t, dir, "c.py", 1)
	notes := writeFile(t, dir, "notes.txt", "not a module\n")
	shadow := module(t, dir, "json.py", 1)
	run := func(what string, flags []string, args ...string) map[string]jsonEntry {
		t.Helper()
		out, err := c.Zato(t, append(append([]string{"deploy", "--json"}, flags...), args...)...)
		if err == nil {
			t.Fatalf("%s: exit 0\n%s", what, out)
		}
		var entries []jsonEntry
		if jerr := json.Unmarshal([]byte(out), &entries); jerr != nil {
			t.Fatalf("%s: stdout is not the JSON array (%v): %q\n%v", what, jerr, out, err)
		}
		byFile := map[string]jsonEntry{}
		for _, e := range entries {
			byFile[e.File] = e
		}
		if len(entries) != len(args) || len(byFile) != len(args) {
			t.Fatalf("%s: %d entries for %d files:\n%s", what, len(entries), len(args), out)
		}
		return byFile
	}
	failedWith := func(what string, e jsonEntry, says string) {
		t.Helper()
		if e.Error == nil || !strings.Contains(e.Error.Type+": "+e.Error.Message, says) || e.Status != "failed" || e.DeploymentID != 0 || e.Servers == nil {
			t.Errorf("%s: %s: %+v, want status failed, no deployment, and an error saying %q", what, e.File, e, says)
		}
	}

	// A file the command refuses: nothing is sent, and the array says why for each file.
	got := run("a refused file", nil, a, notes)
	failedWith("a refused file", got[notes], ".py")
	failedWith("a refused file", got[a], "not sent")

	// A file the servers refuse, between two that deploy.
	got = run("a file the servers refuse", nil, a, shadow, cc)
	failedWith("a file the servers refuse", got[shadow], "shadow")
	for _, f := range []string{a, cc} {
		if e := got[f]; e.Status != "deployed" || e.DeploymentID == 0 || e.Error != nil || len(e.Servers) != 2 {
			t.Errorf("a file the servers refuse: %s: %+v, want deployed", f, e)
		}
	}

	// An error that ends the run (a refused login): the file it hit and the files never sent are in the array.
	got = run("a refused login", []string{"--password", "wrong"}, a, cc)
	failedWith("a refused login", got[a], "unauthorized")
	failedWith("a refused login", got[cc], "not sent")
}
