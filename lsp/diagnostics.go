package lsp

import (
	"fmt"
	"strings"

	"go.lsp.dev/protocol"
	"go.lsp.dev/uri"

	"github.com/zato-go/zato/deployclient"
)

// diagnosticsFor turns the servers' errors into diagnostics: one per distinct error, naming every server that
// reported it, at its line and column (1-based from the server, 0-based in LSP; Python counts code points, LSP
// UTF-16 units). A deployment without errors gives none, which clears the previous ones.
func diagnosticsFor(source string, d deployclient.Deployment) []protocol.Diagnostic {
	type key struct {
		typ, msg     string
		line, column int
	}
	var order []key
	servers := map[key][]string{}
	for _, s := range d.Servers {
		if s.Error == nil {
			continue
		}
		k := key{s.Error.Type, s.Error.Message, s.Error.Line, s.Error.Column}
		if _, ok := servers[k]; !ok {
			order = append(order, k)
		}
		servers[k] = append(servers[k], s.Name)
	}
	out := make([]protocol.Diagnostic, 0, len(order))
	for _, k := range order {
		line := max(k.line-1, 0)
		text := lineText(source, line)
		start, end := 0, utf16Len(text)
		if k.column > 0 {
			start = runeColToUTF16(text, k.column-1)
			end = max(end, start+1)
		} else {
			// No column: from the first non-blank character.
			start = utf16Len(text[:len(text)-len(strings.TrimLeft(text, " \t"))])
		}
		if end <= start {
			end = start + 1
		}
		msg := fmt.Sprintf("%s: %s (%s)", k.typ, k.msg, strings.Join(servers[k], ", "))
		out = append(out, protocol.Diagnostic{
			Range: protocol.Range{
				Start: protocol.Position{Line: uint32(line), Character: uint32(start)},
				End:   protocol.Position{Line: uint32(line), Character: uint32(end)},
			},
			Severity: protocol.DiagnosticSeverityError,
			Code:     protocol.String(k.typ),
			Source:   protocol.NewOptional("zato"),
			Message:  protocol.String(msg),
		})
	}
	return out
}

// publishDiagnostics replaces a file's deployment diagnostics with the ones of its latest deployment (its lint's
// stay), and sends them even when unchanged: the editor learns the deployment was checked.
func (s *server) publishDiagnostics(u uri.URI, source string, d deployclient.Deployment) {
	s.setDiagnostics(u, diagnosticsFor(source, d), nil, true)
}

// docDiags are a file's sets of diagnostics and what was last sent for it: its last deployment's errors, its lint,
// and what it has to do with the cluster's version (a conflict, or an information that the cluster's differs).
type docDiags struct {
	deploy, lint, cluster []protocol.Diagnostic
	sent                  string
}

// setClusterDiagnostics replaces a file's line-1 diagnostics about the cluster's version (empty clears them).
func (s *server) setClusterDiagnostics(u uri.URI, cluster []protocol.Diagnostic) {
	s.updateDiagnostics(u, func(dd *docDiags) { dd.cluster = cluster }, false)
}

// setDiagnostics replaces a file's deployment diagnostics and/or its lint (nil keeps a set) and sends their union
// when it changed (or always, with force). One at a time, so the editor gets them in the order they were made.
func (s *server) setDiagnostics(u uri.URI, deploy, lint []protocol.Diagnostic, force bool) {
	s.updateDiagnostics(u, func(dd *docDiags) {
		if deploy != nil {
			dd.deploy = deploy
		}
		if lint != nil {
			dd.lint = lint
		}
	}, force)
}

func (s *server) updateDiagnostics(u uri.URI, change func(*docDiags), force bool) {
	s.diagMu.Lock()
	defer s.diagMu.Unlock()
	dd := s.diags[u]
	if dd == nil {
		dd = &docDiags{sent: "[]"}
		s.diags[u] = dd
	}
	change(dd)
	all := make([]protocol.Diagnostic, 0, len(dd.cluster)+len(dd.deploy)+len(dd.lint))
	all = append(append(append(all, dd.cluster...), dd.deploy...), dd.lint...)
	b, err := protocol.Marshal(all)
	if err != nil {
		s.log.Error("encode diagnostics", "err", err)
		return
	}
	if !force && string(b) == dd.sent {
		return
	}
	dd.sent = string(b)
	err = s.editor.PublishDiagnostics(s.ctx, &protocol.PublishDiagnosticsParams{URI: u, Diagnostics: all})
	if err != nil && s.ctx.Err() == nil {
		s.log.Debug("publishDiagnostics", "err", err)
	}
}
