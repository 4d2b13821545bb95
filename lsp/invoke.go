package lsp

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"go.lsp.dev/jsonrpc2"
	"go.lsp.dev/protocol"
	"go.lsp.dev/uri"

	"github.com/zato-go/zato/deployclient"
)

// zato.invoke and zato.invokeEverywhere: run a Service class of a module on the cluster and answer with what the
// server said (pretty JSON, status, duration, which server), the service's traceback with its lines mapped to the
// workspace's files, and a rendering of all of it (`text`) that an editor shows as a read-only document.
//
// The payload is the command's `payload` argument when given, else the request file kept beside the module:
// DIR/.zato/requests/<service name>.json, created on first use from the class's SimpleIO input (each input_required
// and input_optional key, null).

const (
	cmdInvoke           = "zato.invoke"
	cmdInvokeEverywhere = "zato.invokeEverywhere"
	// requestsDir is where request files live, relative to the module's directory.
	requestsDir = ".zato/requests"
	// settleWait bounds how long an invoke waits for the deployment of a save made just before it.
	settleWait = time.Minute
)

// invokeArg is the argument of both commands.
type invokeArg struct {
	URI     string `json:"uri"`
	Service string `json:"service"` // the service name; else the class around Line, else the module's only one
	Line    *int   `json:"line"`    // 0-based, e.g. the cursor's
	Target  string `json:"target"`
	// Payload, when present, is sent instead of the request file's content.
	Payload json.RawMessage `json:"payload"`
}

// traceLocation is a traceback line that names a workspace file, for links: Line in File, and where the link goes
// in the result's Text (0-based TextLine, UTF-16 columns Start..End).
type traceLocation struct {
	URI      string `json:"uri"`
	Line     int    `json:"line"`
	TextLine int    `json:"textLine"`
	Start    int    `json:"start"`
	End      int    `json:"end"`
	Function string `json:"function,omitempty"`
}

// invokeError is the service's failure (or the request's, for a server that could not be reached).
type invokeError struct {
	Type      string `json:"type"`
	Message   string `json:"message"`
	Traceback string `json:"traceback,omitempty"`
}

// invokeResult is zato.invoke's answer, and each server's part of zato.invokeEverywhere's.
type invokeResult struct {
	Service    string          `json:"service"`
	Module     string          `json:"module"`
	URI        string          `json:"uri"`
	Target     string          `json:"target"`
	Server     string          `json:"server"` // the server that answered (its URL when it is not a known member)
	URL        string          `json:"url"`
	Status     int             `json:"status"` // HTTP status; 0 when no server answered
	OK         bool            `json:"ok"`
	DurationMs float64         `json:"durationMs"`
	Response   json.RawMessage `json:"response"` // the answer's JSON (a JSON string when it was not JSON)
	Error      *invokeError    `json:"error"`
	Locations  []traceLocation `json:"locations"`
	Request    json.RawMessage `json:"request"`
	// RequestFile is the request file's URI when the payload came from it; RequestCreated says it was made now.
	RequestFile    string `json:"requestFile,omitempty"`
	RequestCreated bool   `json:"requestCreated"`
	// Deployment is the save's deployment this invoke waited for, if it waited.
	Deployment *deployStatus `json:"deployment,omitempty"`
	Title      string        `json:"title"`    // one line: "x.get on server1: 200 OK in 3.1 ms"
	Text       string        `json:"text"`     // the document to show
	Language   string        `json:"language"` // of Text: jsonc or plaintext
	canonical  string        // status and answer, for comparing servers
	notSent    bool          // no server got the request (deployclient.NotSent): another may take it
}

// everywhereResult is zato.invokeEverywhere's answer.
type everywhereResult struct {
	Service        string          `json:"service"`
	Module         string          `json:"module"`
	URI            string          `json:"uri"`
	Target         string          `json:"target"`
	Results        []invokeResult  `json:"results"` // one per live server, by name
	Same           bool            `json:"same"`    // every server answered alike
	Differs        []string        `json:"differs"` // servers whose answer differs from most servers'
	Request        json.RawMessage `json:"request"`
	RequestFile    string          `json:"requestFile,omitempty"`
	RequestCreated bool            `json:"requestCreated"`
	Deployment     *deployStatus   `json:"deployment,omitempty"`
	Locations      []traceLocation `json:"locations"`
	Title          string          `json:"title"`
	Text           string          `json:"text"`
	Language       string          `json:"language"`
}

func parseInvokeArg(args []protocol.LSPAny) (invokeArg, error) {
	var a invokeArg
	if len(args) == 0 {
		return a, fmt.Errorf("%w: needs {\"uri\", \"service\"}", jsonrpc2.ErrInvalidParams)
	}
	raw := []byte(args[0])
	var str string
	if json.Unmarshal(raw, &str) == nil {
		a.URI = str
	} else if err := json.Unmarshal(raw, &a); err != nil {
		return a, fmt.Errorf("%w: argument must be a URI or an object: %v", jsonrpc2.ErrInvalidParams, err)
	}
	if a.URI == "" {
		return a, fmt.Errorf("%w: needs the module's URI", jsonrpc2.ErrInvalidParams)
	}
	if len(a.Payload) > 0 && !json.Valid(a.Payload) {
		return a, fmt.Errorf("%w: payload is not JSON", jsonrpc2.ErrInvalidParams)
	}
	return a, nil
}

// invocation is what both commands prepare before calling a server.
type invocation struct {
	u       uri.URI
	path    string
	module  string
	svc     serviceInfo
	scope   string // the file's folder's (folders.go)
	target  string
	cl      *deployclient.Client
	cc      deployclient.Config
	payload []byte
	reqFile string
	created bool
	waited  *deployStatus
}

// prepare resolves the service, waits for a deployment of the module that is under way, and reads the payload.
func (s *server) prepare(ctx context.Context, a invokeArg) (*invocation, error) {
	u, err := uri.Parse(a.URI)
	if err != nil {
		return nil, fmt.Errorf("%w: bad URI %q: %v", jsonrpc2.ErrInvalidParams, a.URI, err)
	}
	inv := &invocation{u: u, path: u.FsPath()}
	inv.module = moduleName(inv.path)
	if inv.module == "" {
		return nil, fmt.Errorf("%s is not a Zato module: names are letters, digits and _ ending in .py", filepath.Base(inv.path))
	}
	text, err := s.documentText(u)
	if err != nil {
		return nil, err
	}
	infos := analyzeServices(text, inv.module)
	switch {
	case len(infos) == 0:
		return nil, fmt.Errorf("%s has no Service class", inv.module)
	case a.Service != "":
		i := slices.IndexFunc(infos, func(x serviceInfo) bool { return x.name == a.Service })
		if i < 0 {
			// A name the module does not define (a service invoked by name): invoke it all the same.
			inv.svc = serviceInfo{serviceClass: serviceClass{name: a.Service}}
		} else {
			inv.svc = infos[i]
		}
	case a.Line != nil:
		inv.svc = infos[0]
		for _, x := range infos {
			if x.line <= *a.Line {
				inv.svc = x
			}
		}
	default:
		inv.svc = infos[0]
	}
	// The service runs on the cluster of the file's folder (folders.go), as its saves deploy there.
	scope, _, cfgErr := s.scopeOf(inv.path)
	if scope != "" && cfgErr != nil {
		return nil, cfgErr
	}
	inv.scope = scope
	inv.target = s.moduleTargetIn(scope, inv.module, a.Target)
	// The first invoke after a save waits for that save's deployment: the answer comes from the saved code.
	waitCtx, cancel := context.WithTimeout(ctx, settleWait)
	inv.waited = s.waitSettled(waitCtx, inScope(scope, inv.target), inv.module)
	cancel()
	if ctx.Err() != nil {
		return nil, ctx.Err()
	}
	if inv.target, inv.cl, inv.cc, err = s.clientIn(ctx, scope, inv.target); err != nil {
		return nil, err
	}
	if len(a.Payload) > 0 {
		inv.payload = a.Payload
		return inv, nil
	}
	inv.reqFile = requestFile(inv.path, inv.svc.name)
	inv.payload, inv.created, err = readOrCreateRequest(inv.reqFile, inv.svc.sio)
	if err != nil {
		return nil, err
	}
	return inv, nil
}

// moduleTargetIn is the target a module's commands go to in a scope (folders.go): the one asked for, else where it
// was last deployed, else the scope's default.
func (s *server) moduleTargetIn(scope, module, asked string) string {
	if asked != "" {
		return s.targetNameIn(scope, asked)
	}
	s.mu.Lock()
	t, ok := s.targetOf[inScope(scope, module)]
	s.mu.Unlock()
	if ok {
		return t
	}
	return s.targetNameIn(scope, "")
}

// waitSettled waits until a module has no deployment running or queued on a target (inScope's name), and returns
// the last finished one's status if it had to wait (nil otherwise).
func (s *server) waitSettled(ctx context.Context, target, module string) *deployStatus {
	s.mu.Lock()
	m := s.modules[moduleKey(target, module)]
	if m == nil || !m.busy() {
		s.mu.Unlock()
		return nil
	}
	if m.settled == nil {
		m.settled = make(chan struct{})
	}
	ch := m.settled
	s.mu.Unlock()
	select {
	case <-ch:
	case <-ctx.Done():
	case <-s.ctx.Done():
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	return m.lastFinal
}

var unsafeFileChars = regexp.MustCompile(`[^A-Za-z0-9._-]`)

// requestFile is the path of a service's request file, beside the module.
func requestFile(modulePath, service string) string {
	name := unsafeFileChars.ReplaceAllString(service, "_")
	return filepath.Join(filepath.Dir(modulePath), filepath.FromSlash(requestsDir), name+".json")
}

// requestTemplate is a new request file's content: the SimpleIO input's keys, null.
func requestTemplate(sio simpleIO) []byte {
	keys := sio.inputs()
	if len(keys) == 0 {
		return []byte("{}\n")
	}
	var b strings.Builder
	b.WriteString("{\n")
	for i, k := range keys {
		kb, _ := json.Marshal(k)
		fmt.Fprintf(&b, "  %s: null", kb)
		if i < len(keys)-1 {
			b.WriteString(",")
		}
		b.WriteString("\n")
	}
	b.WriteString("}\n")
	return []byte(b.String())
}

// readOrCreateRequest reads a request file, making it from the template first when it does not exist.
func readOrCreateRequest(path string, sio simpleIO) (payload []byte, created bool, err error) {
	b, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		b = requestTemplate(sio)
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			return nil, false, fmt.Errorf("create %s: %w", filepath.Dir(path), err)
		}
		if err := os.WriteFile(path, b, 0o644); err != nil {
			return nil, false, fmt.Errorf("create %s: %w", path, err)
		}
		created = true
	} else if err != nil {
		return nil, false, fmt.Errorf("read %s: %w", path, err)
	}
	if len(bytes.TrimSpace(b)) > 0 && !json.Valid(b) {
		var se *json.SyntaxError
		msg := "not JSON"
		if err := json.Unmarshal(b, new(any)); errors.As(err, &se) {
			line := 1 + bytes.Count(b[:min(int(se.Offset), len(b))], []byte("\n"))
			msg = fmt.Sprintf("not JSON at line %d: %v", line, se)
		}
		return nil, false, fmt.Errorf("request file %s is %s", path, msg)
	}
	return b, created, nil
}

// invoke runs zato.invoke.
func (s *server) invoke(ctx context.Context, a invokeArg) (*invokeResult, error) {
	inv, err := s.prepare(ctx, a)
	if err != nil {
		return nil, err
	}
	res := s.invokeAt(ctx, inv, inv.cc.URL, "")
	if res.notSent {
		// The target's server is gone: another server of the cluster runs it (the request never left, so the
		// service runs once).
		if cl, cc, ok := s.redial(ctx, inv.scope, inv.target, inv.cl); ok {
			inv.cl, inv.cc = cl, cc
			res = s.invokeAt(ctx, inv, inv.cc.URL, "")
		}
	}
	s.mu.Lock()
	snap := s.svcCache[inScope(inv.scope, inv.target)]
	var members []deployclient.Member
	if snap != nil && snap.snap != nil {
		members = snap.snap.members
	}
	s.mu.Unlock()
	if members == nil && inv.cc.Kind != deployclient.KindZato {
		lctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		members, _ = inv.cl.Servers(lctx)
		cancel()
	}
	res.Server = serverNameAt(members, inv.cc.URL)
	res.Title = resultTitleLine(res)
	res.Text, res.Locations = renderInvoke(res, inv)
	res.Language = "jsonc"
	s.logf(protocol.MessageTypeInfo, "Zato: invoked %s", res.Title)
	return res, nil
}

// invokeAt calls one server and turns its answer into a result (without Title and Text).
func (s *server) invokeAt(ctx context.Context, inv *invocation, at, name string) *invokeResult {
	res := &invokeResult{Service: inv.svc.name, Module: inv.module, URI: string(inv.u), Target: inv.target, Server: name, URL: at,
		Request: normalizedJSON(inv.payload), Deployment: inv.waited, RequestCreated: inv.created, Locations: []traceLocation{}}
	if inv.reqFile != "" {
		res.RequestFile = string(uri.File(inv.reqFile))
	}
	target := at
	if at == inv.cc.URL || strings.TrimRight(at, "/") == strings.TrimRight(inv.cc.URL, "/") {
		target = ""
	}
	r, err := inv.cl.InvokeAt(ctx, target, inv.svc.name, inv.payload)
	res.DurationMs = float64(r.Duration.Microseconds()) / 1000
	if err == nil && (r.Status == http.StatusUnauthorized || r.Status == http.StatusForbidden) {
		s.noteAuth(inv.scope, inv.target, inv.cc, deployclient.ErrUnauthorized)
	} else if target == "" {
		s.noteAuth(inv.scope, inv.target, inv.cc, err)
	}
	if err != nil {
		res.Error = &invokeError{Type: "Unreachable", Message: rootCause(err)}
		if errors.Is(err, deployclient.ErrUnsupported) {
			res.Error.Type = "Unsupported"
		}
		res.Response = json.RawMessage("null")
		res.canonical = "error " + res.Error.Type
		res.notSent = deployclient.NotSent(err)
		return res
	}
	res.Status, res.OK = r.Status, r.Error == nil
	res.Response = normalizedJSON(r.Body)
	if r.Error != nil {
		res.Error = &invokeError{Type: r.Error.Code, Message: r.Error.Message, Traceback: r.Error.Traceback}
	}
	res.canonical = strconv.Itoa(r.Status) + " " + canonicalJSON(res.Response)
	return res
}

// normalizedJSON is a body as JSON: itself when it is JSON, else a JSON string of its text; null when empty.
func normalizedJSON(b []byte) json.RawMessage {
	t := bytes.TrimSpace(b)
	if len(t) == 0 {
		return json.RawMessage("null")
	}
	if json.Valid(t) {
		return json.RawMessage(t)
	}
	q, _ := json.Marshal(string(b))
	return q
}

// canonicalJSON encodes a JSON value with sorted keys, so equal answers compare equal.
func canonicalJSON(b json.RawMessage) string {
	var v any
	if json.Unmarshal(b, &v) != nil {
		return string(b)
	}
	out, _ := json.Marshal(v)
	return string(out)
}

func prettyJSON(b json.RawMessage) string {
	var buf bytes.Buffer
	if json.Indent(&buf, b, "", "  ") != nil {
		return string(b)
	}
	return buf.String()
}

// serverNameAt names the member at a URL, or gives the URL back.
func serverNameAt(members []deployclient.Member, at string) string {
	norm := func(s string) string {
		u, err := url.Parse(strings.TrimRight(s, "/"))
		if err != nil {
			return s
		}
		h := u.Hostname()
		if h == "localhost" || h == "::1" {
			h = "127.0.0.1"
		}
		return u.Scheme + "://" + h + ":" + u.Port() + u.Path
	}
	for _, m := range members {
		if norm(m.URL) == norm(at) {
			return m.Name
		}
	}
	return at
}

// resultTitleLine is "x.get on server1: 200 OK in 3.1 ms" or "x.get on server1: 500 ZeroDivisionError in 2 ms".
func resultTitleLine(r *invokeResult) string {
	what := ""
	switch {
	case r.Status == 0 && r.Error != nil:
		what = r.Error.Type + ": " + r.Error.Message
	case r.Error != nil:
		what = fmt.Sprintf("%d %s", r.Status, r.Error.Type)
	default:
		what = fmt.Sprintf("%d %s", r.Status, http.StatusText(r.Status))
	}
	return fmt.Sprintf("%s on %s: %s in %s", r.Service, r.Server, what, fmtMs(r.DurationMs))
}

func fmtMs(ms float64) string {
	if ms < 10 {
		return fmt.Sprintf("%.1f ms", ms)
	}
	return fmt.Sprintf("%.0f ms", ms)
}

// text is a document being rendered, with the links found in it.
type text struct {
	lines []string
	locs  []traceLocation
}

func (t *text) add(format string, args ...any) {
	t.lines = append(t.lines, fmt.Sprintf(format, args...))
}

// header writes the lines every rendering starts with: the request's source, a deployment waited for.
func (t *text) header(inv *invocation) {
	switch {
	case inv.reqFile != "" && inv.created:
		t.add("// request: %s (created from the SimpleIO input; edit it and invoke again)", relRequest(inv))
	case inv.reqFile != "":
		t.add("// request: %s", relRequest(inv))
	default:
		t.add("// request: the payload given to the command")
	}
	if w := inv.waited; w != nil {
		switch w.State {
		case stateDeployed, stateAccepted:
			t.add("// waited for the save's deployment: %s", w.Message)
		default:
			t.add("// the save's deployment did not succeed everywhere, the previous version may have answered: %s", w.Message)
		}
	}
}

func relRequest(inv *invocation) string {
	if r, err := filepath.Rel(filepath.Dir(inv.path), inv.reqFile); err == nil {
		return filepath.ToSlash(r)
	}
	return inv.reqFile
}

var tracebackFileRe = regexp.MustCompile(`^(\s*File ")([^"]+)(", line )(\d+)(?:, in (.+))?`)

// traceback writes a traceback as comment lines, recording a link for each line naming a workspace file.
func (t *text) traceback(tb string, inv *invocation) {
	for _, l := range strings.Split(strings.TrimRight(tb, "\n"), "\n") {
		prefix := "// "
		line := prefix + l
		if m := tracebackFileRe.FindStringSubmatchIndex(l); m != nil {
			file := l[m[4]:m[5]]
			n, _ := strconv.Atoi(l[m[8]:m[9]])
			if p := workspaceFileFor(file, inv.path); p != "" && n > 0 {
				loc := traceLocation{URI: string(uri.File(p)), Line: n - 1, TextLine: len(t.lines),
					Start: utf16Len(prefix + l[:m[4]]), End: utf16Len(prefix + l[:m[9]])}
				if m[10] >= 0 {
					loc.Function = l[m[10]:m[11]]
				}
				t.locs = append(t.locs, loc)
			}
		}
		t.lines = append(t.lines, line)
	}
}

// workspaceFileFor maps a file a server names in a traceback (its deployed copy) to the workspace's file: the
// module invoked, or a module beside it.
func workspaceFileFor(serverFile, modulePath string) string {
	base := filepath.Base(filepath.FromSlash(serverFile))
	if base == filepath.Base(modulePath) {
		return modulePath
	}
	if moduleName(base) == "" {
		return ""
	}
	p := filepath.Join(filepath.Dir(modulePath), base)
	if fileExists(p) {
		return p
	}
	return ""
}

// renderInvoke is zato.invoke's document: comment lines (what, where, status, time, the traceback), then the JSON.
func renderInvoke(r *invokeResult, inv *invocation) (string, []traceLocation) {
	t := &text{}
	t.add("// %s", r.Title)
	t.add("// %s", r.URL)
	t.header(inv)
	if r.Error != nil {
		t.add("//")
		t.add("// %s: %s", r.Error.Type, r.Error.Message)
		if r.Error.Traceback != "" {
			t.add("//")
			t.traceback(r.Error.Traceback, inv)
		}
	}
	t.lines = append(t.lines, strings.Split(prettyJSON(r.Response), "\n")...)
	return strings.Join(t.lines, "\n") + "\n", t.locs
}

// invokeEverywhere runs zato.invokeEverywhere: the service on each live server at once.
func (s *server) invokeEverywhere(ctx context.Context, a invokeArg) (*everywhereResult, error) {
	inv, err := s.prepare(ctx, a)
	if err != nil {
		return nil, err
	}
	if inv.cc.Kind == deployclient.KindZato {
		return nil, fmt.Errorf("invoke on every server: a stock Zato target (kind zato) does not list its servers")
	}
	lctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	members, err := inv.cl.Servers(lctx)
	cancel()
	if err != nil {
		return nil, err
	}
	var live []deployclient.Member
	for _, m := range members {
		if m.State == "live" {
			live = append(live, m)
		}
	}
	if len(live) == 0 {
		return nil, fmt.Errorf("no server of target %s is live", inv.target)
	}
	slices.SortFunc(live, func(x, y deployclient.Member) int { return strings.Compare(x.Name, y.Name) })
	results := make([]invokeResult, len(live))
	var wg sync.WaitGroup
	for i, m := range live {
		wg.Go(func() { results[i] = *s.invokeAt(ctx, inv, m.URL, m.Name) })
	}
	wg.Wait()
	out := &everywhereResult{Service: inv.svc.name, Module: inv.module, URI: string(inv.u), Target: inv.target, Results: results,
		Differs: []string{}, Request: normalizedJSON(inv.payload), RequestCreated: inv.created, Deployment: inv.waited, Language: "plaintext"}
	if inv.reqFile != "" {
		out.RequestFile = string(uri.File(inv.reqFile))
	}
	// The answer most servers gave is the reference; a tie goes to the first server's.
	count := map[string]int{}
	for _, r := range results {
		count[r.canonical]++
	}
	ref := results[0].canonical
	for _, r := range results {
		if count[r.canonical] > count[ref] {
			ref = r.canonical
		}
	}
	for i := range results {
		results[i].Title = resultTitleLine(&results[i])
		if results[i].canonical != ref {
			out.Differs = append(out.Differs, results[i].Server)
		}
	}
	out.Same = len(out.Differs) == 0
	if out.Same {
		out.Title = fmt.Sprintf("%s on %d servers: every server answered alike", inv.svc.name, len(results))
	} else {
		out.Title = fmt.Sprintf("%s on %d servers: %s answered differently", inv.svc.name, len(results), strings.Join(out.Differs, ", "))
	}
	out.Text, out.Locations = renderEverywhere(out, inv)
	s.logf(protocol.MessageTypeInfo, "Zato: invoked %s", out.Title)
	return out, nil
}

// columnWidth caps a column of the side-by-side rendering; wider answers are shown one under the other.
const columnWidth = 72

// renderEverywhere shows each server's answer side by side (one under another when they are too wide or too many),
// each headed by its status and time, and flagged when it differs.
func renderEverywhere(out *everywhereResult, inv *invocation) (string, []traceLocation) {
	t := &text{}
	t.add("%s", out.Title)
	t.header(inv)
	t.add("")
	blocks := make([][]string, len(out.Results))
	width := 0
	for i, r := range out.Results {
		flag := ""
		if slices.Contains(out.Differs, r.Server) {
			flag = "  ≠ DIFFERS"
		}
		b := []string{fmt.Sprintf("%s%s", r.Server, flag), fmt.Sprintf("%s, %s", statusWords(&r), fmtMs(r.DurationMs)), strings.Repeat("─", 12)}
		if r.Error != nil && r.Status != 0 {
			b = append(b, r.Error.Type+": "+r.Error.Message)
		}
		b = append(b, strings.Split(prettyJSON(r.Response), "\n")...)
		blocks[i] = b
		for _, l := range b {
			width = max(width, len([]rune(l)))
		}
	}
	if width <= columnWidth && len(blocks) <= 3 {
		rows := 0
		for _, b := range blocks {
			rows = max(rows, len(b))
		}
		for row := 0; row < rows; row++ {
			cells := make([]string, len(blocks))
			for i, b := range blocks {
				c := ""
				if row < len(b) {
					c = b[row]
				}
				if i < len(blocks)-1 {
					c += strings.Repeat(" ", width-len([]rune(c)))
				}
				cells[i] = c
			}
			t.add("%s", strings.TrimRight(strings.Join(cells, " │ "), " "))
		}
	} else {
		for _, b := range blocks {
			t.lines = append(t.lines, b...)
			t.add("")
		}
	}
	// Tracebacks go under the answers, one per distinct traceback, naming the servers that sent it.
	seen := map[string][]string{}
	var order []string
	for _, r := range out.Results {
		if r.Error == nil || r.Error.Traceback == "" {
			continue
		}
		if _, ok := seen[r.Error.Traceback]; !ok {
			order = append(order, r.Error.Traceback)
		}
		seen[r.Error.Traceback] = append(seen[r.Error.Traceback], r.Server)
	}
	for _, tb := range order {
		t.add("")
		t.add("// traceback from %s:", strings.Join(seen[tb], ", "))
		t.traceback(tb, inv)
	}
	return strings.Join(t.lines, "\n") + "\n", t.locs
}

func statusWords(r *invokeResult) string {
	switch {
	case r.Status == 0 && r.Error != nil:
		return r.Error.Type + ": " + r.Error.Message
	case r.Error != nil:
		return fmt.Sprintf("%d %s", r.Status, r.Error.Type)
	}
	return fmt.Sprintf("%d %s", r.Status, http.StatusText(r.Status))
}
