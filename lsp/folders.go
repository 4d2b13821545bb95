package lsp

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"slices"
	"strings"

	"go.lsp.dev/protocol"
)

// Multi-root workspaces. When a workspace has several folders and any of them has its own .zato.yaml, each file is
// deployed with the configuration of the folder holding it (the deepest one when folders nest): a folder's file
// names its cluster, and a save must never go to another folder's cluster. A folder without a file of its own
// deploys nothing. What a file shows of its cluster (completion, hover, definitions, code lenses, the
// unknown-service warning, zato.showStatus for the file) comes from its folder's cluster too. The first folder with
// a file is the primary one: its configuration is s.cfg, which what names no file (the cluster view,
// zato.showStatus without a file) uses, as a single-folder workspace's. zato.toggleDeployOnSave is the workspace's.
//
// Deployments and clients of the other folders are told apart by a scope, the folder's path ("" for s.cfg), so
// two folders' "default" targets never share a client or a module's state.

// folderConfig is one folder of a multi-root workspace and its own configuration.
type folderConfig struct {
	dir     string
	hasFile bool // the folder has its own .zato.yaml (or .zato.yml)
	primary bool // the first folder with a file: its configuration is s.cfg and its scope ""
	cfg     config
	err     error
}

// folderConfigs merges each folder's own configuration: the folder's file, then the layers every folder shares. It
// is nil for one folder, or when no folder has a file: then one configuration applies to the whole workspace.
func (l configLayers) folderConfigs() []folderConfig {
	if len(l.folders) < 2 {
		return nil
	}
	var out []folderConfig
	found := false
	for _, dir := range l.folders {
		f := folderConfig{dir: dir}
		for _, n := range workspaceConfigNames {
			f.hasFile = f.hasFile || fileExists(filepath.Join(dir, n))
		}
		if f.hasFile {
			one := l
			one.folders = []string{dir}
			f.cfg, f.err = one.merge()
			f.primary = !found
			found = true
		}
		out = append(out, f)
	}
	if !found {
		return nil
	}
	return out
}

// inScope names a target (or a module) of a scope in the maps shared by all scopes: clients, modules, targetOf.
func inScope(scope, name string) string {
	if scope == "" {
		return name
	}
	return scope + "\x00" + name
}

// scopeLocked is the scope of a file and its configuration; s.mu is held. A file outside every folder has the
// workspace's (it is never deployed on save: see config.matches).
func (s *server) scopeLocked(path string) (string, config, error) {
	var best *folderConfig
	for i := range s.folderCfgs {
		f := &s.folderCfgs[i]
		if _, ok := relTo(f.dir, path); ok && (best == nil || len(f.dir) > len(best.dir)) {
			best = f
		}
	}
	if best == nil || best.primary {
		return "", s.cfg, s.cfgErr
	}
	cfg, err := best.config()
	return best.dir, cfg, err
}

// config is what a folder deploys with, or why it deploys nothing.
func (f *folderConfig) config() (config, error) {
	if !f.hasFile {
		return config{}, fmt.Errorf("no .zato.yaml applies here: workspace folder %s has none of its own (another folder's applies to that folder's files only)", f.dir)
	}
	return f.cfg, f.err
}

// configOfLocked is a scope's configuration; s.mu is held.
func (s *server) configOfLocked(scope string) (config, error) {
	if scope == "" {
		return s.cfg, s.cfgErr
	}
	for i := range s.folderCfgs {
		if f := &s.folderCfgs[i]; f.dir == scope && !f.primary {
			return f.config()
		}
	}
	return config{}, fmt.Errorf("workspace folder %s is no longer open", scope)
}

// scopeOf is a file's scope and configuration.
func (s *server) scopeOf(path string) (string, config, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.scopeLocked(path)
}

// configErrLocked is every configuration file's problem, for messages and diagnostics; s.mu is held.
func (s *server) configErrLocked() error {
	errs := []error{s.cfgErr}
	for _, f := range s.folderCfgs {
		if f.hasFile && !f.primary {
			errs = append(errs, f.err)
		}
	}
	return errors.Join(errs...)
}

// relTo is path relative to root, when root holds it.
func relTo(root, path string) (string, bool) {
	r, err := filepath.Rel(root, path)
	if err != nil || r == ".." || strings.HasPrefix(r, "../") {
		return "", false
	}
	return r, true
}

// logFolders says, in a multi-root workspace, where each other folder's files go.
func (s *server) logFolders() {
	s.mu.Lock()
	folders := slices.Clone(s.folderCfgs)
	s.mu.Unlock()
	for _, f := range folders {
		cfg, err := f.config()
		switch {
		case f.primary:
		case !f.hasFile:
			s.logf(protocol.MessageTypeInfo, "Zato: workspace folder %s has no .zato.yaml: its files are not deployed", f.dir)
		case err == nil:
			name, cc, rerr := cfg.file.ResolveTarget("", s.getenv)
			if rerr != nil {
				s.logf(protocol.MessageTypeWarning, "Zato: workspace folder %s: target %s: %v", f.dir, name, rerr)
				continue
			}
			s.logf(protocol.MessageTypeInfo, "Zato: workspace folder %s: target %s at %s", f.dir, name, cc.URL)
		}
	}
}

// DidChangeWorkspaceFolders follows folders added to or removed from the workspace.
func (s *server) DidChangeWorkspaceFolders(_ context.Context, p *protocol.DidChangeWorkspaceFoldersParams) error {
	s.mu.Lock()
	for _, f := range p.Event.Removed {
		s.folders = slices.DeleteFunc(s.folders, func(d string) bool { return d == f.URI.FsPath() })
	}
	for _, f := range p.Event.Added {
		if !slices.Contains(s.folders, f.URI.FsPath()) {
			s.folders = append(s.folders, f.URI.FsPath())
		}
	}
	s.mu.Unlock()
	s.reloadConfig("workspace folders changed")
	s.goFn(s.logFolders)
	return nil
}
