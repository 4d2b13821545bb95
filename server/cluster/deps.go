package cluster

import (
	"regexp"
	"sort"
	"strings"
	"sync"

	"github.com/zato-go/zato/server/loadorder"
	"github.com/zato-go/zato/server/odb"
)

// deps knows which hot-deployed modules import which, read from their sources, and which failed because a module
// they import did not exist yet. When a module deploys, the deployer imports its dependents again, so that no server
// serves a dependent bound to an old version, or keeps failing for want of a module that is now there, only because
// it has not restarted since.
type deps struct {
	mu      sync.Mutex
	imports map[string]map[string]bool // module file -> top-level names its loaded version imports
	missing map[string]string          // module file -> the top-level module it failed to find
}

func newDeps() deps {
	return deps{imports: map[string]map[string]bool{}, missing: map[string]string{}}
}

// loaded records what module's version now loaded imports.
func (d *deps) loaded(module, src string) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.imports[module] = loadorder.Imports(src)
	delete(d.missing, module)
}

// failed records why module's version (src) did not load, a missing module apart, and what it imports: a module
// that failed for what another one is now is imported again when that one changes, even on a server that never
// loaded it.
func (d *deps) failed(module, src string, e *odb.ErrorDetail) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if src != "" {
		d.imports[module] = loadorder.Imports(src)
	}
	if name := missingModule(e); name != "" {
		d.missing[module] = name
	} else {
		delete(d.missing, module)
	}
}

// forget drops an undeployed module.
func (d *deps) forget(module string) {
	d.mu.Lock()
	defer d.mu.Unlock()
	delete(d.imports, module)
	delete(d.missing, module)
}

// dependents lists the modules to import again after module deployed: those that import it or failed for want of
// it, then theirs, each once, nearest first and by name within a step.
func (d *deps) dependents(module string) []string {
	d.mu.Lock()
	defer d.mu.Unlock()
	seen := map[string]bool{module: true}
	var out []string
	for step := []string{module}; len(step) > 0; {
		var next []string
		for _, m := range step {
			name := strings.TrimSuffix(m, ".py")
			for dep, names := range d.imports {
				if !seen[dep] && names[name] {
					seen[dep] = true
					next = append(next, dep)
				}
			}
			for dep, miss := range d.missing {
				if !seen[dep] && miss == name {
					seen[dep] = true
					next = append(next, dep)
				}
			}
		}
		sort.Strings(next)
		out = append(out, next...)
		step = next
	}
	return out
}

var noModule = regexp.MustCompile(`No module named '([^']+)'`)

// missingModule is the top-level module an import failure could not find, or "".
func missingModule(e *odb.ErrorDetail) string {
	if e == nil || (e.Type != "ModuleNotFoundError" && e.Type != "ImportError") {
		return ""
	}
	m := noModule.FindStringSubmatch(e.Message)
	if m == nil {
		return ""
	}
	return strings.SplitN(m[1], ".", 2)[0]
}
