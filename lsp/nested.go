package lsp

import (
	"fmt"
	"io/fs"
	"path/filepath"
	"strings"

	"go.lsp.dev/protocol"
)

// A workspace folder's configuration is the .zato.yaml (or .zato.yml) at its root, and only that one: the editors
// start the language server for it (VS Code's workspaceContains:.zato.yaml, Neovim's root_dir). A .zato.yaml deeper
// down (services/.zato.yaml) is not read; when no configuration is found, the server looks for one and says where
// it is and that it must be at the folder's root, rather than "add a .zato.yaml", which the user did.

// nestedScanLimit bounds the directory entries looked at per folder: a huge tree is not walked to the end.
const nestedScanLimit = 20000

// skippedDirs are never looked into for a nested .zato.yaml (dot-directories are skipped too).
var skippedDirs = map[string]bool{"node_modules": true, "venv": true, "env": true, "virtualenv": true, "site-packages": true, "__pycache__": true}

// nestedConfigs lists the workspace config files below the folders' roots (at most 3), each with its folder.
func nestedConfigs(folders []string) []nestedConfig {
	var out []nestedConfig
	for _, root := range folders {
		seen := 0
		_ = filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
			if err != nil {
				if d != nil && d.IsDir() && p != root {
					return filepath.SkipDir
				}
				return nil
			}
			if seen++; seen > nestedScanLimit || len(out) >= 3 {
				return filepath.SkipAll
			}
			name := d.Name()
			if d.IsDir() {
				if p != root && (strings.HasPrefix(name, ".") || skippedDirs[name]) {
					return filepath.SkipDir
				}
				return nil
			}
			if filepath.Dir(p) != root && d.Type().IsRegular() {
				for _, n := range workspaceConfigNames {
					if name == n {
						out = append(out, nestedConfig{folder: root, path: p})
					}
				}
			}
			return nil
		})
	}
	return out
}

// nestedConfig is a config file below a folder's root.
type nestedConfig struct{ folder, path string }

// nestedConfigError is "no configuration" when a config file sits below a folder's root.
type nestedConfigError struct{ found []nestedConfig }

func (e *nestedConfigError) Error() string {
	f := e.found[0]
	rel, err := filepath.Rel(f.folder, f.path)
	if err != nil {
		rel = f.path
	}
	msg := fmt.Sprintf("no Zato server configured: %s is not read: a .zato.yaml must be at the root of the workspace folder %s; move it there, or open %s as the folder",
		rel, f.folder, filepath.Dir(f.path))
	if len(e.found) > 1 {
		msg += fmt.Sprintf(" (%d such files found)", len(e.found))
	}
	return msg
}

// noConfigErrLocked is why nothing can be deployed when no configuration names a server; s.mu is held.
func (s *server) noConfigErrLocked() error {
	if len(s.nested) > 0 {
		return &nestedConfigError{found: s.nested}
	}
	return errNoConfig
}

// lookForNestedConfigs records (and says once) where config files below the folders' roots are, when no
// configuration names a server.
func (s *server) lookForNestedConfigs() {
	s.mu.Lock()
	none := s.cfgErr == nil && s.cfg.file.URL == "" && len(s.cfg.file.Targets) == 0 && len(s.folderCfgs) == 0
	folders := append([]string(nil), s.folders...)
	s.mu.Unlock()
	var found []nestedConfig
	if none {
		found = nestedConfigs(folders)
	}
	s.mu.Lock()
	s.nested = found
	err := s.noConfigErrLocked()
	s.mu.Unlock()
	if len(found) > 0 {
		s.logf(protocol.MessageTypeWarning, "Zato: %v", err)
		s.showMessage(protocol.MessageTypeWarning, "Zato: "+err.Error())
	}
}

// hasNested reports whether config files below the folders' roots were found.
func (s *server) hasNested() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.nested) > 0
}
