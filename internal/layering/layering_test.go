package layering

import (
	"bufio"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

const module = "github.com/zato-go/zato/"

var backticked = regexp.MustCompile("`([^`]+)`")

// table reads docs/architecture.md's package table: package -> allowed imports of this module.
func table(t *testing.T, root string) map[string]map[string]bool {
	f, err := os.Open(filepath.Join(root, "docs", "architecture.md"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	out := map[string]map[string]bool{}
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		cells := strings.Split(sc.Text(), "|")
		if len(cells) != 5 || !strings.HasPrefix(strings.TrimSpace(cells[1]), "`") {
			continue
		}
		allowed := map[string]bool{}
		for _, m := range backticked.FindAllStringSubmatch(cells[3], -1) {
			allowed[m[1]] = true
		}
		for _, m := range backticked.FindAllStringSubmatch(cells[1], -1) {
			out[m[1]] = allowed
		}
	}
	if len(out) == 0 {
		t.Fatal("no package table in docs/architecture.md")
	}
	return out
}

func TestArchitectureTable(t *testing.T) {
	root, err := filepath.Abs(filepath.Join("..", ".."))
	if err != nil {
		t.Fatal(err)
	}
	rows := table(t, root)
	cmd := exec.Command("go", "list", "-f", "{{.ImportPath}}{{range .Imports}} {{.}}{{end}}", "./...")
	cmd.Dir = root
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("go list: %v", err)
	}
	for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		f := strings.Fields(line)
		pkg := strings.TrimPrefix(f[0], module)
		allowed, ok := rows[pkg]
		if !ok {
			t.Errorf("package %s is not in docs/architecture.md's package table", pkg)
			continue
		}
		for _, imp := range f[1:] {
			if !strings.HasPrefix(imp, module) {
				continue
			}
			if dep := strings.TrimPrefix(imp, module); !allowed[dep] {
				t.Errorf("%s imports %s, which its row of docs/architecture.md does not allow", pkg, dep)
			}
		}
	}
	// The rows that say "never server/" hold for everything they pull in.
	for _, pkg := range []string{"deployclient", "lsp", "wire"} {
		cmd := exec.Command("go", "list", "-deps", "./"+pkg)
		cmd.Dir = root
		out, err := cmd.Output()
		if err != nil {
			t.Fatalf("go list -deps %s: %v", pkg, err)
		}
		for _, dep := range strings.Fields(string(out)) {
			if strings.HasPrefix(dep, module+"server/") {
				t.Errorf("%s depends on %s", pkg, dep)
			}
		}
	}
}
