package lsp

import (
	"context"
	"encoding/json"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"go.lsp.dev/protocol"
	"go.lsp.dev/uri"
)

// Service-aware editing: completion of service names inside self.invoke('...') from the cluster's live services,
// hover and go to definition on such a name, and warnings for a name no server serves and for
// self.request.input.x where x is not in the class's SimpleIO input.

// Diagnostic codes of the lint.
const (
	codeUnknownService = "zato-unknown-service"
	codeUnknownInput   = "zato-unknown-input"
	// lintDelay: a document is checked again this long after its last change.
	lintDelay = 150 * time.Millisecond
	// maxIndexedFiles bounds the workspace scan of go to definition.
	maxIndexedFiles = 20000
)

// docText is an open document's text and path, if it is open.
func (s *server) docText(u uri.URI) (string, string, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	d := s.docs[u]
	if d == nil {
		return "", "", false
	}
	return d.text, d.path, true
}

// Completion offers the cluster's services inside the first string of self.invoke( ... ). The list stays small:
// the range every item replaces goes once in itemDefaults when the editor takes it, and an item's documentation
// (its class and servers) comes with completionItem/resolve.
func (s *server) Completion(ctx context.Context, p *protocol.CompletionParams) (protocol.CompletionResult, error) {
	text, path, ok := s.docText(p.TextDocument.URI)
	if !ok {
		return nil, nil
	}
	spot, ok := invokeCompletionAt(text, int(p.Position.Line), int(p.Position.Character))
	if !ok {
		return nil, nil
	}
	at := s.placeOf(path)
	snap := s.services(ctx, at, true)
	if snap == nil || snap.err != nil {
		return &protocol.CompletionList{IsIncomplete: true, Items: []protocol.CompletionItem{}}, nil
	}
	r := protocol.Range{
		Start: protocol.Position{Line: uint32(spot.line), Character: uint32(spot.start)},
		End:   protocol.Position{Line: uint32(spot.line), Character: uint32(spot.end)},
	}
	s.mu.Lock()
	defaults := s.caps.completionEditRange
	s.mu.Unlock()
	return completionList(snap, at, r, defaults), nil
}

// completionData is what completionItem/resolve gets back: the place the list came from.
type completionData struct {
	Target string `json:"t"`
	Scope  string `json:"s,omitempty"`
}

// completionList lists the services, replacing range r; with defaults the range is given once, in itemDefaults.
func completionList(snap *servicesSnap, at place, r protocol.Range, defaults bool) *protocol.CompletionList {
	data, _ := lspAny(completionData{Target: at.target, Scope: at.scope})
	list := &protocol.CompletionList{Items: make([]protocol.CompletionItem, 0, len(snap.list))}
	if defaults {
		list.ItemDefaults = &protocol.CompletionItemDefaults{EditRange: &r, Data: data}
	}
	for _, ls := range snap.list {
		it := protocol.CompletionItem{Label: ls.Name, Kind: protocol.CompletionItemKindFunction, Detail: protocol.NewOptional(ls.Module)}
		if !defaults {
			it.TextEdit = &protocol.TextEdit{Range: r, NewText: ls.Name}
			it.Data = data
		}
		list.Items = append(list.Items, it)
	}
	return list
}

// CompletionResolve adds a service's class and servers to its completion item.
func (s *server) CompletionResolve(ctx context.Context, it *protocol.CompletionItem) (*protocol.CompletionItem, error) {
	var d completionData
	if len(it.Data) > 0 {
		_ = json.Unmarshal([]byte(it.Data), &d)
	}
	if d.Target == "" {
		d.Target = s.targetNameIn(d.Scope, "")
	}
	if snap := s.services(ctx, place{d.Scope, d.Target}, false); snap != nil && snap.byName[it.Label] != nil {
		ls := snap.byName[it.Label]
		it.Documentation = &protocol.MarkupContent{Kind: protocol.MarkupKindMarkdown,
			Value: fmt.Sprintf("Class `%s` in `%s`, served by %s", ls.Class, ls.Module, backticks(ls.Servers))}
	}
	return it, nil
}

// Definition goes from an invoked name to its Service class in the workspace, else in a read-only copy of the
// module the cluster serves it from (deployedsource.go).
func (s *server) Definition(ctx context.Context, p *protocol.DefinitionParams) (protocol.DefinitionResult, error) {
	text, _, ok := s.docText(p.TextDocument.URI)
	if !ok {
		return nil, nil
	}
	ref, ok := invokeAt(text, int(p.Position.Line), int(p.Position.Character))
	if !ok {
		return nil, nil
	}
	hint := ""
	at := s.placeOf(p.TextDocument.URI.FsPath())
	if snap := s.services(ctx, at, false); snap != nil && snap.byName[ref.name] != nil {
		hint = snap.byName[ref.name].Module
	}
	def, ok := s.findServiceClass(ctx, ref.name, hint)
	if !ok {
		if loc, ok := s.deployedDefinition(ctx, at, ref.name); ok {
			return loc, nil
		}
		return nil, nil
	}
	return &protocol.Location{URI: uri.File(def.path), Range: classRange(def.info.serviceClass)}, nil
}

func classRange(c serviceClass) protocol.Range {
	return protocol.Range{
		Start: protocol.Position{Line: uint32(c.line), Character: uint32(c.nameStart)},
		End:   protocol.Position{Line: uint32(c.line), Character: uint32(c.nameEnd)},
	}
}

// serviceDef is a Service class found in the workspace.
type serviceDef struct {
	path string
	info serviceInfo
}

// indexedFile is a workspace file's Service classes as of its size and modification time.
type indexedFile struct {
	size    int64
	mod     time.Time
	classes []serviceInfo
}

// findServiceClass looks for the class serving a name: in the open documents, then in the workspace's .py files
// (the module the cluster names first).
func (s *server) findServiceClass(ctx context.Context, name, hintModule string) (serviceDef, bool) {
	s.mu.Lock()
	type open struct{ path, text string }
	var docs []open
	for _, d := range s.docs {
		docs = append(docs, open{d.path, d.text})
	}
	folders := slices.Clone(s.folders)
	s.mu.Unlock()
	slices.SortFunc(docs, func(a, b open) int { return strings.Compare(a.path, b.path) })
	opened := map[string]bool{}
	for _, d := range docs {
		opened[d.path] = true
		module := moduleName(d.path)
		if module == "" {
			continue
		}
		for _, c := range analyzeServices(d.text, module) {
			if c.name == name {
				return serviceDef{path: d.path, info: c}, true
			}
		}
	}
	var files []string
	for _, root := range folders {
		_ = filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
			if err != nil || ctx.Err() != nil || len(files) >= maxIndexedFiles {
				return filepath.SkipDir
			}
			if d.IsDir() {
				n := d.Name()
				if p != root && (strings.HasPrefix(n, ".") || n == "__pycache__" || n == "node_modules" || n == "venv" ||
					n == "virtualenv" || n == "site-packages") {
					return filepath.SkipDir
				}
				return nil
			}
			if moduleName(p) != "" && !opened[p] {
				files = append(files, p)
			}
			return nil
		})
	}
	// The module the cluster serves the name from goes first.
	slices.SortStableFunc(files, func(a, b string) int {
		ah, bh := filepath.Base(a) == hintModule, filepath.Base(b) == hintModule
		switch {
		case ah && !bh:
			return -1
		case bh && !ah:
			return 1
		}
		return 0
	})
	for _, p := range files {
		for _, c := range s.indexFile(p) {
			if c.name == name {
				return serviceDef{path: p, info: c}, true
			}
		}
	}
	return serviceDef{}, false
}

// indexFile returns a file's Service classes, reading it only when it changed since the last look.
func (s *server) indexFile(p string) []serviceInfo {
	st, err := os.Stat(p)
	if err != nil || !st.Mode().IsRegular() || st.Size() > 4<<20 {
		return nil
	}
	s.mu.Lock()
	e := s.wsIndex[p]
	s.mu.Unlock()
	if e != nil && e.size == st.Size() && e.mod.Equal(st.ModTime()) {
		return e.classes
	}
	b, err := os.ReadFile(p)
	if err != nil {
		return nil
	}
	e = &indexedFile{size: st.Size(), mod: st.ModTime(), classes: analyzeServices(string(b), moduleName(p))}
	s.mu.Lock()
	s.wsIndex[p] = e
	s.mu.Unlock()
	return e.classes
}

// hoverInvoke describes an invoked service: its module and class, the servers serving it, its SimpleIO and where
// the workspace defines it.
func (s *server) hoverInvoke(ctx context.Context, u uri.URI, ref invokeRef) *protocol.Hover {
	at := s.placeOf(u.FsPath())
	target := at.target
	snap := s.services(ctx, at, true)
	var b strings.Builder
	fmt.Fprintf(&b, "**Zato service** `%s`\n\n", ref.name)
	hint := ""
	switch {
	case snap == nil:
		fmt.Fprintf(&b, "The services of target `%s` are not known yet.\n", target)
	case snap.err != nil:
		fmt.Fprintf(&b, "The services of target `%s` cannot be listed: %s\n", target, rootCause(snap.err))
	case snap.byName[ref.name] == nil:
		fmt.Fprintf(&b, "No server of target `%s` serves it.\n", target)
	default:
		ls := snap.byName[ref.name]
		hint = ls.Module
		fmt.Fprintf(&b, "Module `%s`, class `%s`; served by %s (target `%s`).\n", ls.Module, ls.Class, backticks(ls.Servers), target)
		var missing []string
		for _, m := range snap.liveMembers() {
			if !slices.Contains(ls.Servers, m.Name) {
				if _, unknown := snap.missed[m.Name]; !unknown {
					missing = append(missing, m.Name)
				}
			}
		}
		if len(missing) > 0 {
			fmt.Fprintf(&b, "\nNot served by %s.\n", backticks(missing))
		}
	}
	if def, ok := s.findServiceClass(ctx, ref.name, hint); ok {
		if def.info.sio.declared {
			b.WriteString("\n")
			writeSIO(&b, def.info.sio)
		}
		fmt.Fprintf(&b, "\nDefined in `%s` at line %d.\n", filepath.Base(def.path), def.info.line+1)
	}
	r := protocol.Range{
		Start: protocol.Position{Line: uint32(ref.line), Character: uint32(ref.start)},
		End:   protocol.Position{Line: uint32(ref.line), Character: uint32(ref.end)},
	}
	return &protocol.Hover{Contents: &protocol.MarkupContent{Kind: protocol.MarkupKindMarkdown, Value: b.String()}, Range: &r}
}

// writeSIO writes a SimpleIO's input and output lines.
func writeSIO(b *strings.Builder, sio simpleIO) {
	part := func(req, opt []string) string {
		var out []string
		if len(req) > 0 {
			out = append(out, "required "+backticks(req))
		}
		if len(opt) > 0 {
			out = append(out, "optional "+backticks(opt))
		}
		if len(out) == 0 {
			return "none"
		}
		return strings.Join(out, "; ")
	}
	fmt.Fprintf(b, "- Input: %s\n- Output: %s\n", part(sio.inReq, sio.inOpt), part(sio.outReq, sio.outOpt))
	if !sio.complete {
		b.WriteString("- (SimpleIO also takes elements from elsewhere: a base class or variables)\n")
	}
}

func backticks(names []string) string {
	q := make([]string, len(names))
	for i, n := range names {
		q[i] = "`" + n + "`"
	}
	return strings.Join(q, ", ")
}

// lint computes a document's warnings: invoked names no server serves (when the target's listing is complete) and
// input fields its class's SimpleIO does not declare (when it is fully known).
func (s *server) lint(path, text string) []protocol.Diagnostic {
	out := []protocol.Diagnostic{}
	module := moduleName(path)
	if refs := findInvokes(text); len(refs) > 0 {
		at := s.placeOf(path)
		target := at.target
		snap := s.services(s.ctx, at, false)
		if snap != nil && snap.err == nil && len(snap.missed) == 0 {
			for _, r := range refs {
				if snap.byName[r.name] != nil {
					continue
				}
				out = append(out, warning(r.line, r.start, r.end, codeUnknownService,
					fmt.Sprintf("No server of target %s serves a service named %q", target, r.name)))
			}
		}
	}
	if module != "" && strings.Contains(text, "self.request.input.") {
		lines := splitLines(text)
		for _, c := range analyzeServices(text, module) {
			if !c.sio.declared || !c.sio.complete {
				continue
			}
			inputs := c.sio.inputs()
			for _, r := range findInputRefs(lines, c.line+1, c.end) {
				if slices.Contains(inputs, r.field) {
					continue
				}
				declared := "it declares no input"
				if len(inputs) > 0 {
					declared = "it declares " + strings.Join(inputs, ", ")
				}
				out = append(out, warning(r.line, r.start, r.end, codeUnknownInput,
					fmt.Sprintf("%q is not in %s's SimpleIO input (%s)", r.field, c.class, declared)))
			}
		}
	}
	return out
}

func warning(line, start, end int, code, msg string) protocol.Diagnostic {
	return protocol.Diagnostic{
		Range: protocol.Range{
			Start: protocol.Position{Line: uint32(line), Character: uint32(start)},
			End:   protocol.Position{Line: uint32(line), Character: uint32(end)},
		},
		Severity: protocol.DiagnosticSeverityWarning,
		Code:     protocol.String(code),
		Source:   protocol.NewOptional("zato"),
		Message:  protocol.String(msg),
	}
}

// lintDoc checks an open document now and publishes its diagnostics if they changed.
func (s *server) lintDoc(u uri.URI) {
	text, path, ok := s.docText(u)
	if !ok || filepath.Ext(path) != ".py" {
		return
	}
	s.setDiagnostics(u, nil, s.lint(path, text), false)
}

// scheduleLint checks a document once its changes pause.
func (s *server) scheduleLint(u uri.URI) {
	s.mu.Lock()
	defer s.mu.Unlock()
	d := s.docs[u]
	if d == nil || s.ctx.Err() != nil {
		return
	}
	if d.lintTimer != nil {
		d.lintTimer.Stop()
	}
	d.lintTimer = time.AfterFunc(lintDelay, func() { s.goFn(func() { s.lintDoc(u) }) })
}

// relintAll checks every open document again (the cluster's services changed).
func (s *server) relintAll() {
	s.mu.Lock()
	us := make([]uri.URI, 0, len(s.docs))
	for u := range s.docs {
		us = append(us, u)
	}
	s.mu.Unlock()
	for _, u := range us {
		s.lintDoc(u)
	}
}
