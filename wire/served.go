package wire

import (
	"fmt"
	"sort"
	"strings"
)

// Served is GET /api/v1/served: what one server's runtime serves now, module by module. Every server of a cluster
// should report the same; Differences says where they do not.
type Served struct {
	Server  string         `json:"server"`
	Modules []ServedModule `json:"modules"`
}

// ServedModule is one module a server serves: its sha256 (empty for a service-sources module) and its services.
type ServedModule struct {
	Name     string   `json:"name"`
	SHA256   string   `json:"sha256"`
	Services []string `json:"services"`
}

// Difference is one module that not every server serves alike, with what each server serves ("-" for nothing).
type Difference struct {
	Module  string
	Servers map[string]string // server -> "sha256[:12] svc1,svc2" or "-"
	// Source says the module comes from service-sources.txt wherever it is served (no sha256): each server's own
	// file may list other entries, so such a difference may be meant.
	Source bool
}

// Differences compares what servers serve: a module is listed when two servers serve different versions or
// services of it, or one serves it and another does not.
func Differences(reports []Served) []Difference {
	seen := map[string]map[string]string{} // module -> server -> what
	hot := map[string]bool{}                // modules some server serves hot-deployed (with a sha256)
	for _, r := range reports {
		for _, m := range r.Modules {
			if seen[m.Name] == nil {
				seen[m.Name] = map[string]string{}
			}
			hot[m.Name] = hot[m.Name] || m.SHA256 != ""
			svcs := append([]string(nil), m.Services...)
			sort.Strings(svcs)
			sum := m.SHA256
			if len(sum) > 12 {
				sum = sum[:12]
			}
			seen[m.Name][r.Server] = strings.TrimSpace(fmt.Sprintf("%s %s", sum, strings.Join(svcs, ",")))
		}
	}
	var out []Difference
	for module, by := range seen {
		d := Difference{Module: module, Servers: map[string]string{}, Source: !hot[module]}
		same := true
		var first string
		for i, r := range reports {
			what, ok := by[r.Server]
			if !ok {
				what = "-"
			}
			if i == 0 {
				first = what
			} else if what != first {
				same = false
			}
			d.Servers[r.Server] = what
		}
		if !same {
			out = append(out, d)
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Module < out[j].Module })
	return out
}
