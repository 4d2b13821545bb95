package api

import (
	"net/http"
	"sort"

	"github.com/zato-go/zato/wire"
)

// served answers what this server's runtime serves now, module by module, with the sha256 of each hot-deployed
// module's loaded version: `zato status` compares the servers' answers.
func (a *API) served(w http.ResponseWriter, _ *http.Request) {
	loaded := a.cl.Served()
	by := map[string]*wire.ServedModule{}
	for name, sum := range loaded {
		by[name] = &wire.ServedModule{Name: name, SHA256: sum, Services: []string{}}
	}
	for _, s := range a.rt.Services() {
		m := by[s.Module]
		if m == nil {
			m = &wire.ServedModule{Name: s.Module, Services: []string{}}
			by[s.Module] = m
		}
		m.Services = append(m.Services, s.Name)
	}
	out := wire.Served{Server: a.cfg.Server, Modules: make([]wire.ServedModule, 0, len(by))}
	for _, m := range by {
		sort.Strings(m.Services)
		out.Modules = append(out.Modules, *m)
	}
	sort.Slice(out.Modules, func(i, j int) bool { return out.Modules[i].Name < out.Modules[j].Name })
	writeJSON(w, http.StatusOK, out)
}
