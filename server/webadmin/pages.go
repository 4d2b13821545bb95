package webadmin

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime/multipart"
	"net/http"
	"path"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/zato-go/zato/server/api"
	"github.com/zato-go/zato/server/cluster"
	"github.com/zato-go/zato/server/odb"
	"github.com/zato-go/zato/server/runtime"
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

// recent lists deployments newest first as clients see them.
func (h *handler) recent(ctx context.Context, module string, limit int) ([]api.DeploymentJSON, error) {
	vs, err := h.cl.Deployments(ctx, odb.DeploymentFilter{Module: module, Limit: limit})
	if err != nil {
		return nil, err
	}
	out := make([]api.DeploymentJSON, 0, len(vs))
	for _, v := range vs {
		out = append(out, api.DeploymentView(v))
	}
	return out, nil
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
	ds, err := h.recent(r.Context(), "", 10)
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
			if !errors.Is(err, cluster.ErrBadName) && !errors.Is(err, cluster.ErrBadPayload) && !errors.Is(err, cluster.ErrTooLarge) {
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
		h.fail(w, r, status, strings.Join(msgs, "\n"))
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
	Module      string
	Deployments []api.DeploymentJSON
}

func (h *handler) deployments(w http.ResponseWriter, r *http.Request) {
	module := r.URL.Query().Get("module")
	limit, _ := strconv.Atoi(r.URL.Query().Get("limit"))
	if limit <= 0 {
		limit = 50
	}
	limit = min(limit, 500)
	ds, err := h.recent(r.Context(), module, limit)
	if err != nil {
		h.internal(w, r, err)
		return
	}
	h.render(w, http.StatusOK, "deployments", h.page(r, "deployments", "Deployments", deploymentsData{Module: module, Deployments: ds}))
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

func (h *handler) modules(w http.ResponseWriter, r *http.Request) {
	mods, err := h.api.Modules(r.Context())
	if err != nil {
		h.internal(w, r, err)
		return
	}
	h.render(w, http.StatusOK, "modules", h.page(r, "modules", "Modules", mods))
}

type moduleData struct {
	Name        string
	Current     int // 0 once undeployed
	Versions    []api.VersionJSON
	Deployments []api.DeploymentJSON
}

func (h *handler) module(w http.ResponseWriter, r *http.Request) {
	name := r.PathValue("name")
	if !cluster.ValidName(name) {
		h.fail(w, r, http.StatusNotFound, "No such module.")
		return
	}
	vs, err := h.cl.Versions(r.Context(), name)
	if err != nil {
		h.internal(w, r, err)
		return
	}
	if len(vs) == 0 {
		h.fail(w, r, http.StatusNotFound, "No such module: "+name)
		return
	}
	mod, err := h.cl.Module(r.Context(), name)
	if err != nil {
		h.internal(w, r, err)
		return
	}
	d := moduleData{Name: name, Versions: make([]api.VersionJSON, 0, len(vs))}
	if mod.Current != nil {
		d.Current = mod.Current.Number
	}
	for _, v := range vs {
		d.Versions = append(d.Versions, api.VersionView(v))
	}
	if d.Deployments, err = h.recent(r.Context(), name, 20); err != nil {
		h.internal(w, r, err)
		return
	}
	h.render(w, http.StatusOK, "module", h.page(r, "modules", name, d))
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
			h.fail(w, r, http.StatusBadRequest, "version must be a number")
			return
		}
		want = n
	}
	d, err := h.cl.Rollback(r.Context(), cluster.RollbackRequest{Module: name, Version: want, Who: sessionOf(r).user})
	if err != nil {
		h.submitError(w, r, err)
		return
	}
	h.accepted(w, r, d.ID)
}

// submitError answers a refused rollback or undeploy in the user's words.
func (h *handler) submitError(w http.ResponseWriter, r *http.Request, err error) {
	switch {
	case errors.Is(err, cluster.ErrBadName):
		h.fail(w, r, http.StatusBadRequest, "Bad module name.")
	case errors.Is(err, cluster.ErrNoVersion), errors.Is(err, cluster.ErrNotDeployed):
		h.fail(w, r, http.StatusNotFound, err.Error()+".")
	default:
		h.internal(w, r, err)
	}
}

func (h *handler) undeploy(w http.ResponseWriter, r *http.Request) {
	d, err := h.cl.Undeploy(r.Context(), r.PathValue("name"), sessionOf(r).user, "admin", "")
	if err != nil {
		h.submitError(w, r, err)
		return
	}
	h.accepted(w, r, d.ID)
}

// ---- services ----

type servicesData struct {
	Services []runtime.ServiceInfo
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
	Error      *invokeErr      `json:"error,omitempty"`
	DurationMs float64         `json:"duration_ms"`
}

type invokeErr struct {
	Type      string `json:"type"`
	Message   string `json:"message"`
	Traceback string `json:"traceback,omitempty"`
}

// Pretty is the response indented for the page.
func (res *invokeResult) Pretty() string {
	if len(res.Response) == 0 {
		return ""
	}
	var v any
	if json.Unmarshal(res.Response, &v) != nil {
		return string(res.Response)
	}
	var b strings.Builder
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false) // the template escapes
	enc.SetIndent("", "  ")
	_ = enc.Encode(v)
	return strings.TrimSuffix(b.String(), "\n")
}

func (h *handler) serviceList() []runtime.ServiceInfo {
	svcs := h.rt.Services()
	sort.Slice(svcs, func(i, j int) bool { return svcs[i].Name < svcs[j].Name })
	return svcs
}

func (h *handler) services(w http.ResponseWriter, r *http.Request) {
	d := servicesData{Services: h.serviceList(), Selected: r.URL.Query().Get("service"), Payload: "{}"}
	h.render(w, http.StatusOK, "services", h.page(r, "services", "Services", d))
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
	res.OK, res.Status, res.Response = true, http.StatusOK, out
	return res
}
