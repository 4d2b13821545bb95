package lsp

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"time"

	"go.lsp.dev/protocol"
	"go.lsp.dev/uri"
)

// document is an open file as the editor has it.
type document struct {
	uri     uri.URI
	path    string
	version int32
	text    string
	// lintTimer checks the document again once its changes pause.
	lintTimer *time.Timer
}

func (s *server) DidOpen(_ context.Context, p *protocol.DidOpenTextDocumentParams) error {
	d := p.TextDocument
	s.mu.Lock()
	s.docs[d.URI] = &document{uri: d.URI, path: d.URI.FsPath(), version: d.Version, text: d.Text}
	if _, ok := s.seen[d.URI.FsPath()]; !ok && filepath.Ext(d.URI.FsPath()) == ".py" {
		s.seen[d.URI.FsPath()] = sourceSHA(d.Text) // the file as this editor first had it: the first save's base
	}
	s.mu.Unlock()
	s.goFn(func() { s.lintDoc(d.URI) })
	if filepath.Ext(d.URI.FsPath()) == ".py" {
		s.goFn(func() { s.checkOpened(d.URI, d.Text) })
	}
	return nil
}

func (s *server) DidChange(_ context.Context, p *protocol.DidChangeTextDocumentParams) error {
	defer s.scheduleLint(p.TextDocument.URI)
	s.mu.Lock()
	defer s.mu.Unlock()
	doc := s.docs[p.TextDocument.URI]
	if doc == nil {
		return nil
	}
	for _, c := range p.ContentChanges {
		// The server asks for full sync; a partial change would be a client bug, the next save repairs it.
		if whole, ok := c.(*protocol.TextDocumentContentChangeWholeDocument); ok {
			doc.text = whole.Text
		}
	}
	doc.version = p.TextDocument.Version
	return nil
}

func (s *server) DidClose(_ context.Context, p *protocol.DidCloseTextDocumentParams) error {
	s.mu.Lock()
	if d := s.docs[p.TextDocument.URI]; d != nil && d.lintTimer != nil {
		d.lintTimer.Stop()
	}
	delete(s.docs, p.TextDocument.URI)
	s.mu.Unlock()
	// A closed file keeps its deployment's diagnostics; the lint was of the buffer.
	u := p.TextDocument.URI
	s.goFn(func() { s.setDiagnostics(u, nil, []protocol.Diagnostic{}, false) })
	return nil
}

// DidSave records the saved text and hands the deployment to a goroutine: it never waits for the network.
func (s *server) DidSave(_ context.Context, p *protocol.DidSaveTextDocumentParams) error {
	u := p.TextDocument.URI
	path := u.FsPath()
	savedAt := time.Now()
	if slices.Contains(workspaceConfigNames, filepath.Base(path)) {
		s.reloadConfig("saved " + filepath.Base(path))
		return nil
	}
	if filepath.Ext(path) != ".py" {
		return nil
	}
	defer s.scheduleLint(u)
	text, ok := s.savedText(u, p.Text)
	if !ok {
		// Neither the editor nor the cache has the text: read it from disk, off the read loop.
		s.goFn(func() {
			b, err := os.ReadFile(path)
			if err != nil {
				s.logf(protocol.MessageTypeError, "Zato: cannot read %s: %v", path, err)
				return
			}
			s.onSave(u, path, string(b), savedAt)
		})
		return nil
	}
	s.onSave(u, path, text, savedAt)
	return nil
}

// savedText is the text sent with didSave, else the open document's.
func (s *server) savedText(u uri.URI, sent *string) (string, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	doc := s.docs[u]
	if sent != nil {
		if doc != nil {
			doc.text = *sent
		}
		return *sent, true
	}
	if doc != nil {
		return doc.text, true
	}
	return "", false
}

// onSave applies the deploy-on-save rules and queues a deployment.
func (s *server) onSave(u uri.URI, path, text string, savedAt time.Time) {
	s.mu.Lock()
	scope, cfg, cfgErr := s.scopeLocked(path)
	on := s.deployOnSaveLocked(cfg, cfgErr)
	s.mu.Unlock()
	if !on {
		s.log.Debug("deploy on save is off", "file", path)
		return
	}
	module := moduleName(path)
	switch {
	case scope != "" && cfgErr != nil:
		s.log.Debug("not deployed", "file", path, "err", cfgErr) // a folder without a file, or with a broken one (said at load)
		return
	case !cfg.matches(path):
		s.log.Debug("not deployed: outside include/exclude", "file", path)
		return
	case module == "":
		s.logf(protocol.MessageTypeLog, "Zato: %s not deployed: Zato module names are letters, digits and _ ending in .py", filepath.Base(path))
		return
	case cfg.requireMarker && !hasMarker(text):
		s.logf(protocol.MessageTypeLog, "Zato: %s not deployed on save: it lacks the \"# zato: ide-deploy=True\" marker (requireMarker is on)", module)
		return
	}
	s.enqueue(deployRequest{uri: u, path: path, module: module, text: text, savedAt: savedAt, scope: scope})
}

// documentText is the open document's text or the file's.
func (s *server) documentText(u uri.URI) (string, error) {
	s.mu.Lock()
	if doc := s.docs[u]; doc != nil {
		t := doc.text
		s.mu.Unlock()
		return t, nil
	}
	s.mu.Unlock()
	b, err := os.ReadFile(u.FsPath())
	if err != nil {
		return "", fmt.Errorf("read %s: %w", u.FsPath(), err)
	}
	return string(b), nil
}
