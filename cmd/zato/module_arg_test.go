package main

import (
	"strings"
	"testing"

	"github.com/zato-go/zato/internal/testenv"
)

// The verbs that take MODULE (history, rollback, undeploy) read it alike: spaces around it are ignored ("pk_a.py "
// named the module "pk_a.py .py"), and a name no module can have is refused in the command's words, naming it.
func TestModuleArgumentIsReadAlikeByEveryVerb(t *testing.T) {
	t.Parallel()
	c := testenv.StartCluster(t, testenv.Options{})
	dir := t.TempDir()
	mustZato(t, c, "deploy", module(t, dir, "pk_a.py", 1))
	mustZato(t, c, "deploy", module(t, dir, "pk_a.py", 2))
	if out, err := c.Zato(t, "history", "pk_a.py "); err != nil || !strings.Contains(out, "Serving: v2 on server1, server2.") {
		t.Errorf("history \"pk_a.py \": %v\n%s", err, out)
	}
	if out, err := c.Zato(t, "rollback", " pk_a "); err != nil || !strings.Contains(out, "pk_a.py: version 1 deployed on every server (2/2)") {
		t.Errorf("rollback \" pk_a \": %v\n%s", err, out)
	}
	if out, err := c.Zato(t, "undeploy", "\tpk_a.py\n"); err != nil || !strings.Contains(out, "pk_a.py: undeployed from every server (2/2)") {
		t.Errorf("undeploy \"\\tpk_a.py\\n\": %v\n%s", err, out)
	}
	for _, verb := range []string{"history", "rollback", "undeploy"} {
		for arg, says := range map[string]string{"pk a.py": `"pk a.py" is not a module name`, "notes.txt": `"notes.txt" is not a module name`, " ": "MODULE is empty"} {
			out, err := c.Zato(t, verb, arg)
			if err == nil || !strings.Contains(err.Error(), says) || strings.Contains(err.Error(), "server answered") {
				t.Errorf("%s %q: %v, want the command's refusal saying %q\n%s", verb, arg, err, says, out)
			}
		}
	}
}
