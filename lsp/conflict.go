package lsp

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"path/filepath"
	"strings"
	"time"

	"go.lsp.dev/jsonrpc2"
	"go.lsp.dev/protocol"
	"go.lsp.dev/uri"

	"github.com/zato-go/zato/deployclient"
	"github.com/zato-go/zato/wire"
)

// Never overwrite a version you have not seen (issue 14, item 2). Each save names its base: the sha256 of the version
// this editor last deployed of the module on that target; before the first deployment, the sha256 of the file as the
// editor first opened it (so the cluster's version is taken as the base only when the file on disk equals it). The
// cluster answers 409 conflict when another version was deployed since by someone or something else; the editor gets
// the state "conflict", an error on line 1 with two code actions (zato.showClusterVersion, zato.deployAnyway).

// Commands of the conflict.
const (
	cmdShowClusterVersion = "zato.showClusterVersion"
	cmdDeployAnyway       = "zato.deployAnyway"
)

// Diagnostic codes on line 1.
const (
	codeConflict = "zato-conflict"        // error: the save was refused
	codeDiffers  = "zato-cluster-differs" // information: the cluster's version is not the file's
)

// sourceSHA is the sha256 the cluster gives a source (it drops a leading BOM, as python3 does).
func sourceSHA(text string) string {
	sum := sha256.Sum256([]byte(strings.TrimPrefix(text, "\ufeff")))
	return hex.EncodeToString(sum[:])
}

// baseFor is the base a deployment names; "" deploys anyway. s.mu is not held.
func (s *server) baseFor(m *moduleState, req deployRequest) string {
	if req.force {
		return ""
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if m.base != "" {
		return m.base
	}
	if h, ok := s.seen[req.path]; ok {
		return h
	}
	// Never opened (a save from outside the editor): the file on disk is the text saved.
	return sourceSHA(req.text)
}

// deployed records the version a deployment made as the module's base and forgets any conflict.
func (s *server) deployed(m *moduleState, req deployRequest, d deployclient.Deployment) {
	if d.SHA256 == "" {
		return // stock Zato says nothing of versions
	}
	s.mu.Lock()
	m.base, m.conflict = d.SHA256, nil
	s.mu.Unlock()
	s.setClusterDiagnostics(req.uri, []protocol.Diagnostic{})
}

// when words a time for a person: "2026-11-30 08:31:02 UTC".
func when(t time.Time) string {
	if t.IsZero() {
		return "at an unknown time"
	}
	return "at " + t.UTC().Format("2006-01-02 15:04:05") + " UTC"
}

func byWhom(who, origin string) string {
	if who == "" {
		who = "someone"
	}
	if origin != "" {
		return fmt.Sprintf("%s (%s)", who, origin)
	}
	return who
}

// conflictMessage says who deployed which version when.
func conflictMessage(module string, c *wire.Conflict) string {
	return fmt.Sprintf("%s not deployed: version %d on the cluster was deployed by %s %s, after the version this file started from. "+
		"Show the cluster's version to compare, or deploy anyway.", module, c.Version, byWhom(c.Who, c.Origin), when(c.CreatedAt))
}

// onConflict reports a refused save: the error on line 1 and the conflict kept for zato.showClusterVersion.
func (s *server) onConflict(m *moduleState, req deployRequest, target string, c *wire.Conflict) string {
	s.mu.Lock()
	m.conflict = c
	s.mu.Unlock()
	msg := conflictMessage(req.module, c)
	s.setClusterDiagnostics(req.uri, []protocol.Diagnostic{lineOneDiagnostic(req.text, protocol.DiagnosticSeverityError, codeConflict, msg,
		map[string]any{"module": req.module, "target": target, "version": c.Version, "sha256": c.SHA256})})
	return msg
}

// lineOneDiagnostic covers line 1's text.
func lineOneDiagnostic(text string, sev protocol.DiagnosticSeverity, code, msg string, data any) protocol.Diagnostic {
	end := utf16Len(lineText(text, 0))
	d := protocol.Diagnostic{
		Range:    protocol.Range{Start: protocol.Position{}, End: protocol.Position{Line: 0, Character: uint32(max(end, 1))}},
		Severity: sev, Code: protocol.String(code), Source: protocol.NewOptional("zato"), Message: protocol.String(msg),
	}
	if data != nil {
		if b, err := protocol.Marshal(data); err == nil {
			d.Data = protocol.LSPAny(b)
		}
	}
	return d
}

// checkOpened compares a just-opened module with the cluster's current version (GET /api/v1/modules) and, when they
// differ, says on line 1 who deployed the cluster's and when.
func (s *server) checkOpened(u uri.URI, text string) {
	opened := time.Now()
	path := u.FsPath()
	module := moduleName(path)
	scope, cfg, cfgErr := s.scopeOf(path)
	if module == "" || cfgErr != nil || !cfg.matches(path) {
		return
	}
	target, cl, cc, err := s.clientIn(s.ctx, scope, "")
	if err != nil || cc.Kind == deployclient.KindZato {
		return
	}
	ctx, cancel := context.WithTimeout(s.ctx, 10*time.Second)
	defer cancel()
	var mods []deployclient.Module
	err = s.read(ctx, scope, target, cl, func(cl *deployclient.Client) (err error) {
		mods, err = cl.Modules(ctx)
		return err
	})
	if err != nil {
		s.log.Debug("modules", "err", err)
		return
	}
	for _, md := range mods {
		if md.Name != module {
			continue
		}
		if !md.Deployed || md.SHA256 == "" || md.SHA256 == sourceSHA(text) {
			return
		}
		s.mu.Lock()
		m := s.modules[moduleKey(inScope(scope, target), module)]
		saved := m != nil && (m.base == md.SHA256 || m.busy() || !m.lastSave.Before(opened))
		s.mu.Unlock()
		if saved {
			return // saved since it was opened: that save's own result (deployed, or a conflict) is what to tell
		}
		msg := fmt.Sprintf("The cluster (%s) runs another version of %s: version %d, deployed by %s %s.", target, module, md.Version,
			byWhom(md.Who, md.Origin), when(md.UpdatedAt))
		s.setClusterDiagnostics(u, []protocol.Diagnostic{lineOneDiagnostic(text, protocol.DiagnosticSeverityInformation, codeDiffers, msg,
			map[string]any{"module": module, "target": target, "version": md.Version, "sha256": md.SHA256})})
		return
	}
}

// clusterVersion is zato.showClusterVersion's answer: the version a save conflicted with, source included, and the
// URI an editor may show it under (zato-cluster:/<target>/<module>?version=N, read-only).
type clusterVersion struct {
	Module    string    `json:"module"`
	Target    string    `json:"target"`
	URI       string    `json:"uri"`
	Version   int       `json:"version"`
	SHA256    string    `json:"sha256"`
	Who       string    `json:"who"`
	Origin    string    `json:"origin"`
	CreatedAt time.Time `json:"createdAt"`
	Source    string    `json:"source"`
	Title     string    `json:"title"`
}

func (s *server) showClusterVersion(a commandArg) (protocol.LSPAny, error) {
	if a.URI == "" {
		return nil, fmt.Errorf("%w: %s needs the file's URI", jsonrpc2.ErrInvalidParams, cmdShowClusterVersion)
	}
	module := moduleName(uri.URI(a.URI).FsPath())
	scope, _, _ := s.scopeOf(uri.URI(a.URI).FsPath())
	target := s.targetNameIn(scope, a.Target)
	s.mu.Lock()
	var c *wire.Conflict
	if m := s.modules[moduleKey(inScope(scope, target), module)]; m != nil {
		c = m.conflict
	}
	s.mu.Unlock()
	if c == nil {
		return nil, fmt.Errorf("no conflict of %s on %s to show: the cluster's version is known after a save it refused", module, target)
	}
	return lspAny(clusterVersion{Module: module, Target: target, Version: c.Version, SHA256: c.SHA256, Who: c.Who, Origin: c.Origin,
		CreatedAt: c.CreatedAt, Source: c.Source,
		URI:   fmt.Sprintf("zato-cluster:/%s/%s?version=%d", target, module, c.Version),
		Title: fmt.Sprintf("%s: cluster version %d (%s) ↔ %s", module, c.Version, byWhom(c.Who, c.Origin), filepath.Base(uri.URI(a.URI).FsPath()))})
}

// deployAnyway deploys the file's current text without a base.
func (s *server) deployAnyway(a commandArg) (protocol.LSPAny, error) {
	return s.deployFile(a, true)
}

// CodeAction offers Show the cluster's version and Deploy anyway on a conflict's diagnostic.
func (s *server) CodeAction(_ context.Context, p *protocol.CodeActionParams) ([]protocol.CommandOrCodeAction, error) {
	var out []protocol.CommandOrCodeAction
	for _, d := range p.Context.Diagnostics {
		if code, ok := d.Code.(protocol.String); !ok || string(code) != codeConflict {
			continue
		}
		arg, _ := protocol.Marshal(map[string]string{"uri": string(p.TextDocument.URI)})
		kind := protocol.CodeActionKindQuickFix
		for _, c := range []struct{ title, cmd string }{
			{"Zato: show the cluster's version (diff)", cmdShowClusterVersion},
			{"Zato: deploy anyway (overwrite the cluster's version)", cmdDeployAnyway},
		} {
			out = append(out, &protocol.CodeAction{Title: c.title, Kind: &kind, Diagnostics: []protocol.Diagnostic{d},
				Command: protocol.Command{Title: c.title, Command: c.cmd, Arguments: []protocol.LSPAny{protocol.LSPAny(arg)}}})
		}
		break
	}
	return out, nil
}
