package webadmin

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime/multipart"
	"net/http"
	"net/url"
	"path"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/zato-go/zato/server/api"
	"github.com/zato-go/zato/server/cluster"
	"github.com/zato-go/zato/server/odb"
	"github.com/zato-go/zato/server/runtime"
	"github.com/zato-go/zato/wire"
)

// internal answers a failed read of the ODB.
func (h *handler) internal(w http.ResponseWriter, r *http.Request, err error) {
	if errors.Is(err, odb.ErrNotFound) {
		h.fail(w, r, http.StatusNotFound, err.Error())
		return
	}
	// What failed inside is for the operator: the page shows an id to quote.
	id := api.ErrorID()
	h.log.Error("admin request failed", "path", r.URL.Path, "error_id", id, "err", err)
	h.fail(w, r, http.StatusInternalServerError, "Internal error "+id+"; see the server log.")
}

// ---- home: upload ----

type homeData struct {
	Members     []api.MemberJSON
	Deployments []api.DeploymentJSON
}

func (h *handler) home(w http.ResponseWriter, r *http.Request) {
	members, err := h.api.Members(r.Context())
	if err != nil {
		h.internal(w, r, err)
		return
	}
	ds, err := h.api.Deployments(r.Context(), odb.DeploymentFilter{Limit: 10})
	if err != nil {
		h.internal(w, r, err)
		return
	}
	h.render(w, http.StatusOK, "home", h.page(r, "home", "Deploy", homeData{Members: members, Deployments: ds}))
}

type uploadError struct {
	File    string `json:"file"`
	Message string `json:"message"`
}

// upload deploys each uploaded file cluster-wide: one submission per file.
func (h *handler) upload(w http.ResponseWriter, r *http.Request) {
	var files []*multipart.FileHeader
	if r.MultipartForm != nil { // parsed by action
		files = r.MultipartForm.File["files"]
	}
	if len(files) == 0 {
		h.fail(w, r, http.StatusBadRequest, "Choose at least one .py file.")
		return
	}
	user := sessionOf(r).user
	out := struct {
		Deployments []api.DeploymentJSON `json:"deployments"`
		Errors      []uploadError        `json:"errors"`
	}{Deployments: []api.DeploymentJSON{}, Errors: []uploadError{}}
	for _, fh := range files {
		name := path.Base(strings.ReplaceAll(fh.Filename, "\\", "/")) // some browsers sent full paths
		src, err := readPart(fh)
		if err != nil {
			out.Errors = append(out.Errors, uploadError{File: name, Message: "could not read the file: " + err.Error()})
			continue
		}
		d, err := h.cl.Submit(r.Context(), cluster.Submission{
			Module: name, Action: odb.ActionDeploy, Source: string(src), Who: user, Origin: "admin",
		})
		if err != nil {
			if _, _, refused := api.Refusal(err); !refused {
				h.log.Error("admin upload failed", "module", name, "err", err)
			}
			out.Errors = append(out.Errors, uploadError{File: name, Message: err.Error()})
			continue
		}
		v, err := h.cl.View(r.Context(), d.ID)
		if err != nil {
			h.internal(w, r, err)
			return
		}
		out.Deployments = append(out.Deployments, api.DeploymentView(v))
	}
	status := http.StatusAccepted
	if len(out.Deployments) == 0 {
		status = http.StatusBadRequest
	}
	if wantsJSON(r) {
		writeJSON(w, status, out)
		return
	}
	// A form posted without the script: show what happened on the deployments page.
	if len(out.Deployments) == 1 && len(out.Errors) == 0 {
		http.Redirect(w, r, fmt.Sprintf("/admin/deployments/%d", out.Deployments[0].ID), http.StatusSeeOther)
		return
	}
	if len(out.Errors) > 0 {
		msgs := make([]string, 0, len(out.Errors))
		for _, e := range out.Errors {
			msgs = append(msgs, e.File+": "+e.Message)
		}
		if len(out.Deployments) == 0 {
			h.fail(w, r, status, strings.Join(msgs, "\n"))
			return
		}
		// Some files deployed and some did not: both, the deployments with links to follow them.
		msg := "Not deployed: " + strings.Join(msgs, "\n")
		h.render(w, status, "error", h.page(r, "", "Some files were not deployed", map[string]any{
			"Status": status, "Message": msg, "Deployments": out.Deployments}))
		return
	}
	http.Redirect(w, r, "/admin/deployments", http.StatusSeeOther)
}

func readPart(fh *multipart.FileHeader) ([]byte, error) {
	f, err := fh.Open()
	if err != nil {
		return nil, err
	}
	defer f.Close()
	return io.ReadAll(f)
}

// ---- deployments ----

type deploymentsData struct {
	Module      string   // the filter as typed
	Matches     []string // the modules it matched (one when it named a module exactly)
	Deployments []api.DeploymentJSON
	Older       string // the link to the next page, "" on the last
}

func (h *handler) deployments(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	module := strings.TrimSpace(q.Get("module"))
	limit, _ := strconv.Atoi(q.Get("limit"))
	if limit <= 0 {
		limit = 50
	}
	limit = min(limit, 500)
	before, _ := strconv.ParseInt(q.Get("before"), 10, 64)
	d := deploymentsData{Module: module, Deployments: []api.DeploymentJSON{}}
	if module == "" {
		ds, err := h.api.Deployments(r.Context(), odb.DeploymentFilter{Limit: limit, Before: before})
		if err != nil {
			h.internal(w, r, err)
			return
		}
		d.Deployments = ds
	} else {
		// The filter is part of a module's name, in any case, as one types it; a module's full name is only itself.
		mods, err := h.cl.Modules(r.Context())
		if err != nil {
			h.internal(w, r, err)
			return
		}
		d.Matches = matchNames(moduleNames(mods), module)
		if d.Deployments, err = h.newestOf(r.Context(), matching(mods, d.Matches), limit, before); err != nil {
			h.internal(w, r, err)
			return
		}
	}
	if len(d.Deployments) == limit { // there may be older ones
		v := url.Values{"before": {strconv.FormatInt(d.Deployments[len(d.Deployments)-1].ID, 10)}}
		if module != "" {
			v.Set("module", module)
		}
		if limit != 50 {
			v.Set("limit", strconv.Itoa(limit))
		}
		d.Older = "/admin/deployments?" + v.Encode()
	}
	h.render(w, http.StatusOK, "deployments", h.page(r, "deployments", "Deployments", d))
}

// matching returns the modules named in names, the most recently deployed first.
func matching(mods []odb.Module, names []string) []odb.Module {
	want := make(map[string]bool, len(names))
	for _, n := range names {
		want[n] = true
	}
	var out []odb.Module
	for _, m := range mods {
		if want[m.Name] {
			out = append(out, m)
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].LastDeployment > out[j].LastDeployment })
	return out
}

// newestOf returns the newest limit deployments of mods (most recently deployed first) older than before (0: all).
// It reads a module's deployments only while that module's newest one could still be among them.
func (h *handler) newestOf(ctx context.Context, mods []odb.Module, limit int, before int64) ([]api.DeploymentJSON, error) {
	out := []api.DeploymentJSON{}
	for _, m := range mods {
		if len(out) == limit && m.LastDeployment < out[limit-1].ID {
			break // every deployment of this module and of the ones after it is older than the limit-th
		}
		ds, err := h.api.Deployments(ctx, odb.DeploymentFilter{Module: m.Name, Limit: limit, Before: before})
		if err != nil {
			return nil, err
		}
		out = append(out, ds...)
		sort.Slice(out, func(i, j int) bool { return out[i].ID > out[j].ID })
		out = out[:min(len(out), limit)]
	}
	return out, nil
}

func moduleNames(mods []odb.Module) []string {
	out := make([]string, 0, len(mods))
	for _, m := range mods {
		out = append(out, m.Name)
	}
	return out
}

// matchNames returns the name equal to filter if there is one, else every name containing it (case-insensitive).
func matchNames(names []string, filter string) []string {
	f := strings.ToLower(filter)
	var out []string
	for _, n := range names {
		if n == filter {
			return []string{n}
		}
		if strings.Contains(strings.ToLower(n), f) {
			out = append(out, n)
		}
	}
	return out
}

func pathID(r *http.Request) (int64, bool) {
	id, err := strconv.ParseInt(r.PathValue("id"), 10, 64)
	return id, err == nil && id > 0
}

func (h *handler) deployment(w http.ResponseWriter, r *http.Request) {
	id, ok := pathID(r)
	if !ok {
		h.fail(w, r, http.StatusNotFound, "No such deployment.")
		return
	}
	v, err := h.cl.View(r.Context(), id)
	if err != nil {
		h.internal(w, r, err)
		return
	}
	d := api.DeploymentView(v)
	h.render(w, http.StatusOK, "deployment", h.page(r, "deployments", fmt.Sprintf("Deployment %d", id), d))
}

// events streams a deployment as the API does: `deployment` (snapshot), `server` at each server's change, `done`.
func (h *handler) events(w http.ResponseWriter, r *http.Request) {
	id, ok := pathID(r)
	if !ok {
		h.fail(w, r, http.StatusNotFound, "No such deployment.")
		return
	}
	if _, err := h.cl.View(r.Context(), id); err != nil {
		h.internal(w, r, err)
		return
	}
	ctx, cancel := context.WithTimeout(r.Context(), sseMax)
	defer cancel()
	api.StreamEvents(ctx, w, h.cl, id) // ends after sseMax at most: the browser reconnects
}

// ---- modules ----

type modulesData struct {
	Filter  string
	Modules []api.ModuleJSON
	Sources []sourceEntry
}

func (h *handler) modules(w http.ResponseWriter, r *http.Request) {
	mods, err := h.api.Modules(r.Context())
	if err != nil {
		h.internal(w, r, err)
		return
	}
	sources, err := h.sourceEntries(r.Context())
	if err != nil {
		h.internal(w, r, err)
		return
	}
	d := modulesData{Filter: strings.TrimSpace(r.URL.Query().Get("q")), Modules: mods, Sources: sources}
	if d.Filter != "" {
		f := strings.ToLower(d.Filter)
		d.Modules = []api.ModuleJSON{}
		for _, m := range mods {
			if strings.Contains(strings.ToLower(m.Name), f) {
				d.Modules = append(d.Modules, m)
			}
		}
		d.Sources = nil
		for _, e := range sources {
			if strings.Contains(strings.ToLower(e.Entry), f) || slices.ContainsFunc(e.Modules, func(m string) bool {
				return strings.Contains(strings.ToLower(m), f)
			}) {
				d.Sources = append(d.Sources, e)
			}
		}
	}
	h.render(w, http.StatusOK, "modules", h.page(r, "modules", "Modules", d))
}

type moduleData struct {
	Name        string
	Current     int            // the newest version deployed (0 once undeployed), whether or not it serves
	Serving     []servingGroup // the versions serving somewhere, newest first
	ServedBy    map[int]int    // version -> how many servers serve it
	Servers     int
	Versions    []versionData
	Deployments []api.DeploymentJSON
	Sources     []sourceEntry // service-sources.txt entries that load a module of this name too
	DiffFrom    int           // the diff form's defaults: the version before the newest, and the newest
	DiffTo      int
}

// servingGroup is a version and the servers that serve it.
type servingGroup struct {
	Version int
	Servers []string
}

// Everywhere is the version every server serves, 0 when they differ or none does.
func (d moduleData) Everywhere() int {
	if len(d.Serving) == 1 && len(d.Serving[0].Servers) == d.Servers {
		return d.Serving[0].Version
	}
	return 0
}

// groups lists the versions that serve somewhere, newest first, each with its servers.
func groups(sv cluster.Serving) []servingGroup {
	var out []servingGroup
	for v, servers := range sv.ByVersion {
		out = append(out, servingGroup{Version: v, Servers: servers})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Version > out[j].Version })
	return out
}

// versionData is a version in the history, with its source while the page stays small.
type versionData struct {
	api.VersionJSON
	Source   string
	Lines    int
	Inline   bool // the source is on the page (else too much already is)
	Previous int  // the version before it, for "diff with the previous"
}

// maxInlineSources bounds the sources a module page carries: older versions beyond it are not shown in full.
const maxInlineSources = 2 << 20

func (h *handler) module(w http.ResponseWriter, r *http.Request) {
	name := r.PathValue("name")
	sources, err := h.sourcesOf(r.Context(), name)
	if err != nil {
		h.internal(w, r, err)
		return
	}
	var vs []odb.Version
	if cluster.ValidName(name) {
		if vs, err = h.cl.Versions(r.Context(), name); err != nil && !errors.Is(err, cluster.ErrNoVersion) {
			h.internal(w, r, err)
			return
		}
	}
	if len(vs) == 0 {
		if len(sources) > 0 { // never hot-deployed: loaded from service-sources.txt when the servers started
			d := sourceModuleData{Name: name, Sources: sources, Services: h.servicesOf(name)}
			h.render(w, http.StatusOK, "sourcemodule", h.page(r, "modules", name, d))
			return
		}
		h.fail(w, r, http.StatusNotFound, "No such module: "+name)
		return
	}
	mod, err := h.cl.Module(r.Context(), name)
	if err != nil {
		h.internal(w, r, err)
		return
	}
	d := moduleData{Name: name, Versions: make([]versionData, 0, len(vs)), Sources: sources}
	if mod.Current != nil {
		d.Current = mod.Current.Number
	}
	sv, err := h.cl.Serving(r.Context(), name)
	if err != nil {
		h.internal(w, r, err)
		return
	}
	d.Servers, d.Serving, d.ServedBy = sv.Servers, groups(sv), map[int]int{}
	for v, servers := range sv.ByVersion {
		d.ServedBy[v] = len(servers)
	}
	budget := maxInlineSources
	for i, v := range vs { // newest first
		vd := versionData{VersionJSON: api.VersionView(v), Source: v.Source, Lines: len(splitLines(v.Source))}
		if len(v.Source) <= budget {
			vd.Inline = true
			budget -= len(v.Source)
		}
		if i+1 < len(vs) {
			vd.Previous = vs[i+1].Number
		}
		d.Versions = append(d.Versions, vd)
	}
	d.DiffTo = vs[0].Number
	d.DiffFrom = d.DiffTo
	if len(vs) > 1 {
		d.DiffFrom = vs[1].Number
	}
	if d.Deployments, err = h.api.Deployments(r.Context(), odb.DeploymentFilter{Module: name, Limit: 20}); err != nil {
		h.internal(w, r, err)
		return
	}
	h.render(w, http.StatusOK, "module", h.page(r, "modules", name, d))
}

// ---- a diff between two versions ----

type diffData struct {
	Name      string
	From, To  int
	Versions  []int // every version, newest first, for the form
	Hunks     []diffHunk
	Same      bool
	Invisible string // how two versions with the same lines differ (line endings, the final newline)
	Source    string // of the version, when From and To are one
	Added     int
	Removed   int
}

func (h *handler) diff(w http.ResponseWriter, r *http.Request) {
	name := r.PathValue("name")
	if !cluster.ValidName(name) {
		h.fail(w, r, http.StatusNotFound, "No such module: "+name)
		return
	}
	vs, err := h.cl.Versions(r.Context(), name)
	if err != nil {
		h.refused(w, r, err)
		return
	}
	byNumber := make(map[int]odb.Version, len(vs))
	d := diffData{Name: name}
	for _, v := range vs {
		byNumber[v.Number] = v
		d.Versions = append(d.Versions, v.Number)
	}
	pick := func(key string, def int) (odb.Version, bool) {
		n := def
		if s := strings.TrimSpace(r.URL.Query().Get(key)); s != "" {
			var err error
			if n, err = strconv.Atoi(strings.TrimPrefix(s, "v")); err != nil {
				return odb.Version{}, false
			}
		}
		v, ok := byNumber[n]
		return v, ok
	}
	newest, oldest := vs[0].Number, vs[len(vs)-1].Number
	defFrom := newest
	if len(vs) > 1 {
		defFrom = vs[1].Number
	}
	from, ok1 := pick("from", defFrom)
	to, ok2 := pick("to", newest)
	if !ok1 || !ok2 {
		h.fail(w, r, http.StatusNotFound, fmt.Sprintf("No such version: %s has versions %d-%d.", name, oldest, newest))
		return
	}
	d.From, d.To = from.Number, to.Number
	script := lineDiff(splitLines(from.Source), splitLines(to.Source))
	for _, l := range script {
		switch l.Op {
		case opInsert:
			d.Added++
		case opDelete:
			d.Removed++
		}
	}
	d.Hunks = unified(script, 3)
	d.Same = from.Source == to.Source
	if len(d.Hunks) == 0 && !d.Same {
		d.Invisible = invisible(from.Source, to.Source, d.From, d.To)
	}
	if d.From == d.To {
		d.Source = from.Source
	}
	h.render(w, http.StatusOK, "diff", h.page(r, "modules", fmt.Sprintf("%s v%d → v%d", name, d.From, d.To), d))
}

// ---- service-sources.txt ----

// sourceEntry is one line of service-sources.txt with what each server made of it.
type sourceEntry struct {
	Entry    string
	Servers  []sourceServer
	Services []string // every server's, once each
	Modules  []string // the modules it loaded, as far as this server knows them
	Status   string   // ok (on every server that has it), failed (on every one) or partial
}

type sourceServer struct {
	Name, Status, Message string
	Services              []string
	UpdatedAt             time.Time
}

type sourceModuleData struct {
	Name     string
	Sources  []sourceEntry
	Services []runtime.ServiceInfo // this server's, of the module
}

// sourceEntries groups every server's service-sources results by entry, in the order the servers list them.
func (h *handler) sourceEntries(ctx context.Context) ([]sourceEntry, error) {
	results, err := h.cl.SourceResults(ctx)
	if err != nil {
		return nil, err
	}
	moduleOf := map[string]string{} // service -> module, as this server's runtime has it
	if h.rt != nil {
		for _, s := range h.rt.Services() {
			moduleOf[s.Name] = s.Module
		}
	}
	var out []sourceEntry
	// An entry's row is its line: the same text listed twice is two rows, the first of each server's file with the
	// first, and so on (each server's results come in the file's order).
	type line struct {
		entry string
		nth   int
	}
	index := map[line]int{}
	seen := map[string]map[string]int{} // server -> entry -> times seen
	for _, res := range results {
		if seen[res.Server] == nil {
			seen[res.Server] = map[string]int{}
		}
		key := line{res.Entry, seen[res.Server][res.Entry]}
		seen[res.Server][res.Entry]++
		i, ok := index[key]
		if !ok {
			i = len(out)
			index[key] = i
			out = append(out, sourceEntry{Entry: res.Entry})
		}
		e := &out[i]
		e.Servers = append(e.Servers, sourceServer{Name: res.Server, Status: res.Status, Message: res.Message,
			Services: res.Services, UpdatedAt: res.UpdatedAt})
		for _, m := range res.Modules { // what the server loaded for the entry
			if !slices.Contains(e.Modules, m) {
				e.Modules = append(e.Modules, m)
			}
		}
		for _, s := range res.Services {
			if !slices.Contains(e.Services, s) {
				e.Services = append(e.Services, s)
			}
			if m, ok := moduleOf[s]; ok && len(res.Modules) == 0 && !slices.Contains(e.Modules, m) {
				e.Modules = append(e.Modules, m) // a row from a server that does not record its modules
			}
		}
	}
	for i := range out {
		e := &out[i]
		if m := entryModule(e.Entry); m != "" && len(e.Modules) == 0 {
			e.Modules = append(e.Modules, m) // loaded nothing (it failed): what the entry names, if it names one
		}
		sort.Strings(e.Modules)
		ok, failed := 0, 0
		for _, s := range e.Servers {
			if s.Status == "ok" {
				ok++
			} else {
				failed++
			}
		}
		switch {
		case failed == 0:
			e.Status = "ok"
		case ok == 0:
			e.Status = "failed"
		default:
			e.Status = "partial"
		}
	}
	return out, nil
}

// entryModule is the module an entry names by itself: a .py file's name, or a dotted module's (as the runtime
// names it: acme.crm becomes acme.crm.py); "" for a directory.
func entryModule(entry string) string {
	e := strings.TrimRight(strings.ReplaceAll(entry, "\\", "/"), "/")
	switch {
	case strings.HasSuffix(e, ".py"):
		return path.Base(e)
	case !strings.Contains(e, "/") && e != "" && e != "." && e != "..":
		return e + ".py"
	}
	return ""
}

// sourcesOf returns the service-sources entries that load module.
func (h *handler) sourcesOf(ctx context.Context, module string) ([]sourceEntry, error) {
	all, err := h.sourceEntries(ctx)
	if err != nil {
		return nil, err
	}
	var out []sourceEntry
	for _, e := range all {
		if slices.Contains(e.Modules, module) {
			out = append(out, e)
		}
	}
	return out, nil
}

// servicesOf lists this server's services of a module.
func (h *handler) servicesOf(module string) []runtime.ServiceInfo {
	var out []runtime.ServiceInfo
	for _, s := range h.serviceList() {
		if s.Module == module {
			out = append(out, s)
		}
	}
	return out
}

// accepted answers a submitted deployment: JSON to the page's XHRs, else a redirect to its live page.
func (h *handler) accepted(w http.ResponseWriter, r *http.Request, id int64) {
	if wantsJSON(r) {
		v, err := h.cl.View(r.Context(), id)
		if err != nil {
			h.internal(w, r, err)
			return
		}
		writeJSON(w, http.StatusAccepted, api.DeploymentView(v))
		return
	}
	http.Redirect(w, r, fmt.Sprintf("/admin/deployments/%d", id), http.StatusSeeOther)
}

// rollback redeploys an earlier version (form field version; 0 or absent = the one before the current), choosing
// the target as the API does.
func (h *handler) rollback(w http.ResponseWriter, r *http.Request) {
	name := r.PathValue("name")
	want := 0
	if s := strings.TrimSpace(r.PostFormValue("version")); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil {
			h.refused(w, r, cluster.NotAVersion(s))
			return
		}
		want = n
	}
	d, err := h.cl.Rollback(r.Context(), cluster.RollbackRequest{Module: name, Version: want, Who: sessionOf(r).user})
	if err != nil {
		h.refused(w, r, err)
		return
	}
	h.accepted(w, r, d.ID)
}

// refused answers an input that the cluster refused in the user's words, with the status the API gives it.
func (h *handler) refused(w http.ResponseWriter, r *http.Request, err error) {
	if status, _, ok := api.Refusal(err); ok {
		h.fail(w, r, status, sentence(err.Error()))
		return
	}
	h.internal(w, r, err)
}

// sentence ends a message with a full stop unless it ends with one already ("1, 2, 3..." must not get a fourth).
func sentence(s string) string {
	if strings.HasSuffix(s, ".") {
		return s
	}
	return s + "."
}

func (h *handler) undeploy(w http.ResponseWriter, r *http.Request) {
	d, err := h.cl.Undeploy(r.Context(), r.PathValue("name"), sessionOf(r).user, "admin", "")
	if err != nil {
		h.refused(w, r, err)
		return
	}
	h.accepted(w, r, d.ID)
}

// ---- services ----

type servicesData struct {
	Services []runtime.ServiceInfo // every service of this server (the invoke form's choice)
	Filter   string
	Listed   []runtime.ServiceInfo // those the filter matches
	Selected string
	Payload  string
	Result   *invokeResult
}

// invokeResult is what the invoke form shows (and the XHR's JSON).
type invokeResult struct {
	Service    string          `json:"service"`
	OK         bool            `json:"ok"`
	Status     int             `json:"status"`
	Response   json.RawMessage `json:"response,omitempty"`
	Pretty     string          `json:"pretty,omitempty"` // Response indented as the service returned it (indented): what the page shows
	Error      *invokeErr      `json:"error,omitempty"`
	DurationMs float64         `json:"duration_ms"`
}

// invokeErr is why an invocation failed; the page shows it with errorDetail, as a deployment's error (an invocation's
// has no line).
type invokeErr = wire.DeployError

// indented is a JSON response indented for reading, as the service returned it: the same numbers, to the last
// digit, and the same order of keys (decoding it would give neither).
func indented(raw json.RawMessage) string {
	var b bytes.Buffer
	if json.Indent(&b, raw, "", "  ") != nil {
		return string(raw)
	}
	return b.String()
}

func (h *handler) serviceList() []runtime.ServiceInfo {
	svcs := h.rt.Services()
	sort.Slice(svcs, func(i, j int) bool { return svcs[i].Name < svcs[j].Name })
	return svcs
}

func (h *handler) services(w http.ResponseWriter, r *http.Request) {
	d := servicesData{Services: h.serviceList(), Selected: r.URL.Query().Get("service"), Payload: "{}"}
	d.filter(r.URL.Query().Get("q"))
	h.render(w, http.StatusOK, "services", h.page(r, "services", "Services", d))
}

// filter keeps the services whose name or module contains q (case-insensitive).
func (d *servicesData) filter(q string) {
	d.Filter = strings.TrimSpace(q)
	if d.Filter == "" {
		d.Listed = d.Services
		return
	}
	f := strings.ToLower(d.Filter)
	for _, s := range d.Services {
		if strings.Contains(strings.ToLower(s.Name), f) || strings.Contains(strings.ToLower(s.Module), f) {
			d.Listed = append(d.Listed, s)
		}
	}
}

func (h *handler) invoke(w http.ResponseWriter, r *http.Request) {
	service := strings.TrimSpace(r.PostFormValue("service"))
	payload := r.PostFormValue("payload")
	res := h.runInvoke(r.Context(), service, payload)
	if wantsJSON(r) {
		writeJSON(w, res.Status, res)
		return
	}
	d := servicesData{Services: h.serviceList(), Selected: service, Payload: payload, Result: res}
	d.filter("")
	h.render(w, http.StatusOK, "services", h.page(r, "services", "Services", d))
}

func (h *handler) runInvoke(ctx context.Context, service, payload string) *invokeResult {
	res := &invokeResult{Service: service}
	if service == "" {
		res.Status, res.Error = http.StatusBadRequest, &invokeErr{Type: "BadInput", Message: "choose a service"}
		return res
	}
	var body []byte
	if strings.TrimSpace(payload) != "" {
		if !json.Valid([]byte(payload)) {
			res.Status, res.Error = http.StatusBadRequest, &invokeErr{Type: "BadInput", Message: "the payload must be JSON"}
			return res
		}
		body = []byte(payload)
	}
	start := time.Now()
	out, err := h.rt.Invoke(ctx, service, body, runtime.InvokeOptions{})
	res.DurationMs = float64(time.Since(start).Microseconds()) / 1000
	if err != nil {
		var ie *runtime.InvokeError
		if errors.As(err, &ie) {
			res.Status, res.Error = ie.Status, &invokeErr{Type: ie.Type, Message: ie.Message, Traceback: ie.Traceback}
		} else {
			h.log.Error("admin invoke failed", "service", service, "err", err)
			res.Status, res.Error = http.StatusInternalServerError, &invokeErr{Type: "InternalError", Message: err.Error()}
		}
		if res.Status == 0 {
			res.Status = http.StatusInternalServerError
		}
		return res
	}
	if len(out) == 0 {
		out = json.RawMessage("null")
	}
	res.OK, res.Status, res.Response, res.Pretty = true, http.StatusOK, out, indented(out)
	return res
}
