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

// publishDiagnostics replaces a file's diagnostics with the ones of its latest deployment.
func (s *server) publishDiagnostics(u uri.URI, source string, d deployclient.Deployment) {
	err := s.editor.PublishDiagnostics(s.ctx, &protocol.PublishDiagnosticsParams{URI: u, Diagnostics: diagnosticsFor(source, d)})
	if err != nil && s.ctx.Err() == nil {
		s.log.Debug("publishDiagnostics", "err", err)
	}
}
