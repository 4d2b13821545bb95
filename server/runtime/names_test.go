package runtime_test

import (
	"bytes"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
)

// namesScript builds each case's class in a module made as the worker makes one (a fresh module object of the
// module's name, the source executed in it), and prints what Service.get_name answers, in the table's order.
const namesScript = `
import json, sys, types
sys.path.insert(0, sys.argv[1])
from zato.server.service import Service

cases = json.load(open(sys.argv[2], encoding='utf-8'))['cases']
out = []
for c in cases:
    src = 'from zato.server.service import Service\n\n\nclass {}(Service):\n'.format(c['class'])
    if 'name' in c:
        src += '    name = {!r}\n\n'.format(c['name'])
    src += '    def handle(self):\n        pass\n'
    mod = types.ModuleType(c['module'])
    sys.modules[c['module']] = mod
    exec(compile(src, c['module'] + '.py', 'exec'), mod.__dict__)
    cls = getattr(mod, c['class'])
    assert issubclass(cls, Service) and cls.__module__ == c['module'], (cls, cls.__module__)
    out.append(cls.get_name())
sys.stdout.write(json.dumps(out))
`

// TestServiceNamesTable: the runtime's Service.get_name (the embedded Python package, python/ in this directory)
// names every case of testdata/service_names.json as the table says, the table the language server's derivation is
// checked against too (lsp TestServiceNamesTable).
func TestServiceNamesTable(t *testing.T) {
	table, err := filepath.Abs(filepath.Join("..", "..", "testdata", "service_names.json"))
	if err != nil {
		t.Fatal(err)
	}
	pkg, err := filepath.Abs("python")
	if err != nil {
		t.Fatal(err)
	}
	python, err := exec.LookPath("python3")
	if err != nil {
		t.Fatalf("python3 is needed: %v", err)
	}
	script := filepath.Join(t.TempDir(), "names.py")
	if err := os.WriteFile(script, []byte(namesScript), 0o644); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(python, "-I", script, pkg, table) // -I: no PYTHONPATH or user site-packages
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("python3: %v\n%s", err, stderr.String())
	}
	var got []string
	if err := json.Unmarshal(out, &got); err != nil {
		t.Fatalf("%v: %s", err, out)
	}
	b, err := os.ReadFile(table)
	if err != nil {
		t.Fatal(err)
	}
	var want struct {
		Cases []struct {
			Module, Class, Service, Why string
			Name                        *string
		} `json:"cases"`
	}
	if err := json.Unmarshal(b, &want); err != nil {
		t.Fatal(err)
	}
	if len(got) != len(want.Cases) || len(got) < 20 {
		t.Fatalf("%d names for %d cases", len(got), len(want.Cases))
	}
	for i, c := range want.Cases {
		if got[i] != c.Service {
			t.Errorf("%s.%s (%s): get_name() = %q, want %q", c.Module, c.Class, c.Why, got[i], c.Service)
		}
	}
}
