package main

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/zato-go/zato/internal/testenv"
)

// A deploy whose --timeout runs out while servers are still importing says pending, as the API does, and says in
// the user's words what happened. --json called it failed (or partial once some server confirmed), though it
// deployed everywhere a moment later, and the text run printed "watch deployment N: context deadline exceeded".
func TestDeployOutOfTimeSaysPending(t *testing.T) {
	t.Parallel()
	c := testenv.StartCluster(t, testenv.Options{})
	dir := t.TempDir()
	slow := writeFile(t, dir, "slow_import.py", "import time\ntime.sleep(3)\n")
	out, err := c.Zato(t, "deploy", "--json", "--timeout", "500ms", slow)
	var entries []jsonEntry
	if jerr := json.Unmarshal([]byte(out), &entries); err == nil || jerr != nil || len(entries) != 1 {
		t.Fatalf("deploy --json out of time: %v %v\n%s", err, jerr, out)
	}
	if entries[0].Status != "pending" {
		t.Errorf("deploy --json out of time says %q, want pending:\n%s", entries[0].Status, out)
	}
	slow2 := writeFile(t, dir, "slow_import2.py", "import time\ntime.sleep(3)\n")
	out, err = c.Zato(t, "deploy", "--timeout", "500ms", slow2)
	if err == nil || strings.Contains(err.Error(), "context deadline exceeded") || !strings.Contains(err.Error(), "not every server confirmed within --timeout 500ms") {
		t.Errorf("deploy out of time: %v\n%s", err, out)
	}
}
