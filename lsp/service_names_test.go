package lsp

import (
	"encoding/json"
	"os"
	"path/filepath"
	"testing"
)

// serviceNameCase is one row of testdata/service_names.json at the repository root, the table the Python runtime's
// Service.get_name is checked against too (server/runtime TestServiceNamesTable).
type serviceNameCase struct {
	Module  string  `json:"module"`
	Class   string  `json:"class"`
	Name    *string `json:"name"`
	Service string  `json:"service"`
	Why     string  `json:"why"`
}

func readServiceNames(t *testing.T) []serviceNameCase {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("..", "testdata", "service_names.json"))
	if err != nil {
		t.Fatal(err)
	}
	var table struct {
		Cases []serviceNameCase `json:"cases"`
	}
	if err := json.Unmarshal(b, &table); err != nil {
		t.Fatal(err)
	}
	if len(table.Cases) < 20 {
		t.Fatalf("only %d cases", len(table.Cases))
	}
	return table.Cases
}

// TestServiceNamesTable: the name the language server shows over a Service class (code lens, hover) is the one the
// runtime serves it under, for every case of the shared table.
func TestServiceNamesTable(t *testing.T) {
	for _, c := range readServiceNames(t) {
		src := "from zato.server.service import Service\n\n\nclass " + c.Class + "(Service):\n"
		if c.Name != nil {
			src += "    name = '" + *c.Name + "'\n\n"
		}
		src += "    def handle(self):\n        pass\n"
		got := findServices(src, c.Module+".py")
		if len(got) != 1 || got[0].name != c.Service || got[0].class != c.Class || got[0].explicit != (c.Name != nil && *c.Name != "") {
			t.Errorf("%s.%s (%s): got %+v, want %q", c.Module, c.Class, c.Why, got, c.Service)
		}
		if c.Name == nil || *c.Name == "" {
			if d := derivedName(c.Module, c.Class); d != c.Service {
				t.Errorf("derivedName(%q, %q) = %q, want %q (%s)", c.Module, c.Class, d, c.Service, c.Why)
			}
		}
	}
}
