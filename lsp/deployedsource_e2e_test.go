package lsp

import (
	"fmt"
	"os"
	"path/filepath"
	"testing"

	"go.lsp.dev/uri"

	"github.com/zato-go/zato/internal/testenv"
)

// Issue 14 item 3, the second half of go to definition: a service whose class is not in the workspace opens in a
// read-only copy of the module's current source on the cluster.

// remoteCaller invokes a service of a module deployed from elsewhere (line 5, the name from column 21).
const remoteCaller = `from zato.server.service import Service


class Caller(Service):
    def handle(self):
        self.invoke('lsp-remote.get-customer')
        self.invoke('lsp-remote.nothing-serves-this')
`

type location struct {
	URI   string
	Range struct{ Start, End struct{ Line, Character int } }
}

func (e *editor) definition(u string, line, char int) *location {
	e.t.Helper()
	var loc *location
	if err := e.call("textDocument/definition", map[string]any{"textDocument": map[string]any{"uri": u},
		"position": map[string]any{"line": line, "character": char}}, &loc); err != nil {
		e.t.Fatal(err)
	}
	return loc
}

func TestE2EDefinitionInDeployedSource(t *testing.T) {
	c := testenv.StartCluster(t, testenv.Options{})
	// os.UserCacheDir on Linux; set once the zato binary is built (go build's cache lives there too).
	cache := t.TempDir()
	t.Setenv("XDG_CACHE_HOME", cache)
	v1 := fmt.Sprintf(awareTarget, "")
	deployAs(t, c, "lsp_remote.py", v1, "cli") // deployed by someone else: no file of the workspace defines it

	dir := workspace(t, c, "")
	e := newSession(t, fixture{})
	e.initialize(dir, nil)
	caller := filepath.Join(dir, "lsp_remote_caller.py")
	cu := string(uri.File(caller))
	e.open(caller, remoteCaller)

	check := func(version int, source string, line int) string {
		t.Helper()
		loc := e.definition(cu, 5, 30)
		want := filepath.Join(cache, "zato-lsp", "default", fmt.Sprintf("lsp_remote@v%d.py", version))
		if loc == nil || loc.URI != string(uri.File(want)) || loc.Range.Start.Line != line || loc.Range.Start.Character != 6 ||
			loc.Range.End.Character != 17 {
			t.Fatalf("definition %+v, want %s line %d", loc, want, line)
		}
		b, err := os.ReadFile(want)
		if err != nil || string(b) != source {
			t.Fatalf("copy %q %v", b, err)
		}
		if st, err := os.Stat(want); err != nil || st.Mode().Perm() != 0o444 {
			t.Fatalf("copy mode %v %v", st.Mode(), err)
		}
		return want
	}
	first := check(1, v1, 3)

	// A new version on the cluster gets a copy of its own; the old one stays as it was (a tab open on it).
	v2 := "# version 2\n# moved down two lines\n" + fmt.Sprintf(awareTarget, archiveClass)
	deployAs(t, c, "lsp_remote.py", v2, "cli")
	check(2, v2, 5)
	if b, err := os.ReadFile(first); err != nil || string(b) != v1 {
		t.Fatalf("version 1's copy: %q %v", b, err)
	}

	// A copy that is not the cluster's version (edited, or another cluster's under the same target name) is
	// written again.
	p2 := filepath.Join(cache, "zato-lsp", "default", "lsp_remote@v2.py")
	if err := os.Chmod(p2, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(p2, []byte("# something else\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	check(2, v2, 5)

	// A name no server serves goes nowhere.
	if loc := e.definition(cu, 6, 30); loc != nil {
		t.Fatalf("%+v", loc)
	}
}
