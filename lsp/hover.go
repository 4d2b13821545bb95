package lsp

import (
	"context"
	"fmt"
	"strings"

	"go.lsp.dev/protocol"
)

// Hover over a Service class header shows the name Zato serves it under and each server's state from the last
// deployment, from memory. Over a name in self.invoke('...') it describes that service (hoverInvoke).
func (s *server) Hover(ctx context.Context, p *protocol.HoverParams) (*protocol.Hover, error) {
	u := p.TextDocument.URI
	module := moduleName(u.FsPath())
	if module == "" {
		return nil, nil
	}
	s.mu.Lock()
	doc := s.docs[u]
	text := ""
	if doc != nil {
		text = doc.text
	}
	s.mu.Unlock()
	if doc == nil {
		return nil, nil
	}
	var sc *serviceClass
	for _, c := range findServices(text, module) {
		if uint32(c.line) == p.Position.Line {
			sc = &c
			break
		}
	}
	if sc == nil {
		// A service invoked by name: self.invoke('...').
		if ref, ok := invokeAt(text, int(p.Position.Line), int(p.Position.Character)); ok {
			return s.hoverInvoke(ctx, u, ref), nil
		}
		return nil, nil
	}
	last, final, finalAt := s.lastStatus(u.FsPath())
	var b strings.Builder
	fmt.Fprintf(&b, "**Zato service** `%s`\n\n", sc.name)
	if sc.explicit {
		fmt.Fprintf(&b, "Class `%s` in `%s`, named by its `name` attribute.\n", sc.class, module)
	} else {
		fmt.Fprintf(&b, "Class `%s` in `%s` (Zato's derived name).\n", sc.class, module)
	}
	switch {
	case last == nil:
		b.WriteString("\nNot deployed from this editor yet.")
	default:
		st := last
		if !last.final() && final != nil {
			fmt.Fprintf(&b, "\nNow: %s\n", last.Message)
			st = final
		}
		when := ""
		if st.final() {
			when = " at " + finalAt.Local().Format("15:04:05")
		}
		fmt.Fprintf(&b, "\nTarget `%s`, deployment %d%s: **%s** (%d/%d)\n\n", st.Target, st.DeploymentID, when, st.State, st.Confirmed, st.Expected)
		for _, srv := range st.Servers {
			line := fmt.Sprintf("- `%s`: %s", srv.Name, srv.Status)
			if srv.Error != nil {
				line += fmt.Sprintf(": %s: %s", srv.Error.Type, srv.Error.Message)
				if srv.Error.Line > 0 {
					line += fmt.Sprintf(" (line %d)", srv.Error.Line)
				}
			} else if srv.Status == "deployed" && !contains(srv.Services, sc.name) && len(srv.Services) > 0 {
				line += " (not serving this name)"
			}
			b.WriteString(line + "\n")
		}
		if len(st.Servers) == 0 {
			b.WriteString(st.Message + "\n")
		}
	}
	r := protocol.Range{
		Start: protocol.Position{Line: uint32(sc.line), Character: uint32(sc.nameStart)},
		End:   protocol.Position{Line: uint32(sc.line), Character: uint32(sc.nameEnd)},
	}
	return &protocol.Hover{Contents: &protocol.MarkupContent{Kind: protocol.MarkupKindMarkdown, Value: b.String()}, Range: &r}, nil
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}
