package main

import (
	"regexp"
	"strings"
	"testing"

	"github.com/zato-go/zato/internal/testenv"
)

// zato undeploy's last line reads "x.py: undeployed from every server (2/2)"; it read "x.py: undeploy undeployed from
// every server (2/2)". A rollback's still names its version: "x.py: version 1 deployed on every server (2/2)".
func TestUndeployOutcomeLine(t *testing.T) {
	t.Parallel()
	c := testenv.StartCluster(t, testenv.Options{})
	dir := t.TempDir()
	mustZato(t, c, "deploy", module(t, dir, "und_mod.py", 1))
	mustZato(t, c, "deploy", module(t, dir, "und_mod.py", 2))
	if out := mustZato(t, c, "rollback", "und_mod.py"); !regexp.MustCompile(`(?m)^und_mod\.py: version 1 deployed on every server \(2/2\) \(deployment \d+\)$`).MatchString(out) {
		t.Errorf("rollback:\n%s", out)
	}
	out := mustZato(t, c, "undeploy", "und_mod.py")
	if !regexp.MustCompile(`(?m)^und_mod\.py: undeployed from every server \(2/2\) \(deployment \d+\)$`).MatchString(out) || strings.Contains(out, "undeploy undeployed") {
		t.Errorf("undeploy:\n%s", out)
	}
}
