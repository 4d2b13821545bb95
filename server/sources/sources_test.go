package sources

import (
	"os"
	"path/filepath"
	"reflect"
	"testing"
)

func TestOrderIsZatos(t *testing.T) {
	got := Order([]string{"zeta.py", "model_b.py", "util_x.py", "alpha.py", "common_z.py", "model_a.py", "common_a.py"})
	want := []string{"common_a.py", "common_z.py", "util_x.py", "model_a.py", "model_b.py", "alpha.py", "zeta.py"}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("got %v, want %v", got, want)
	}
}

func TestParseSkipsCommentsAndBlanks(t *testing.T) {
	p := filepath.Join(t.TempDir(), "service-sources.txt")
	if err := os.WriteFile(p, []byte("# comment\n\n  ./services  \n# another\nmy.module\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	got, err := Parse(p)
	if err != nil || !reflect.DeepEqual(got, []string{"./services", "my.module"}) {
		t.Fatalf("%v %v", got, err)
	}
}

// TestParseStripsBOM: Windows Notepad starts the file with a BOM, which is not part of the first entry.
func TestParseStripsBOM(t *testing.T) {
	p := filepath.Join(t.TempDir(), "service-sources.txt")
	if err := os.WriteFile(p, []byte("\ufeff./extra/billing_jobs.py\r\nacme.crm.services\r\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	got, err := Parse(p)
	if err != nil || !reflect.DeepEqual(got, []string{"./extra/billing_jobs.py", "acme.crm.services"}) {
		t.Fatalf("%q %v", got, err)
	}
}
