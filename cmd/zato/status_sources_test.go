package main

import (
	"fmt"
	"path/filepath"
	"strings"
	"testing"

	"github.com/zato-go/zato/internal/testenv"
)

// One server's own service-sources.txt listing many modules made zato status list every one of them under SERVERS
// DIFFER (300 lines for a directory of 300 modules), burying a hot-deployed module that differs. Those differences
// may be meant: ten are listed, then how many more; hot-deployed ones are all listed.
func TestStatusSummarisesServiceSourcesDifferences(t *testing.T) {
	t.Parallel()
	c := testenv.StartCluster(t, testenv.Options{NoStart: true})
	s1 := c.Server(t, "server1")
	for i := range 15 {
		writeFile(t, filepath.Join(s1.Dir, "own_mods"), fmt.Sprintf("own_%02d.py", i),
			fmt.Sprintf("from zato.server.service import Service\n\nclass S(Service):\n    name = 'own.s%d'\n\n    def handle(self):\n        pass\n", i))
	}
	writeFile(t, filepath.Join(s1.Dir, "config", "repo"), "service-sources.txt", "./own_mods/\n")
	c.Start(t, "")
	out := mustZato(t, c, "status")
	listed := 0
	for _, line := range strings.Split(out, "\n") {
		if strings.HasPrefix(line, "own_") {
			listed++
		}
	}
	if listed != 10 || !strings.Contains(out, "(and 5 more modules from service-sources.txt that not every server serves)") {
		t.Fatalf("zato status listed %d of the 15 differing service-sources modules:\n%s", listed, out)
	}
}
