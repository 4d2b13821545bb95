package lsp

import (
	"context"
	"fmt"
	"slices"
	"strings"

	"github.com/zato-go/zato/deployclient"
)

// Passwords an editor keeps in its own secret storage (VS Code's "Zato: Set Password"). They reach the language
// server as the setting storedPasswords, each for one server URL and user: [{"url", "username", "password"}]. A
// target uses the one stored for its own URL and user, and only when the configuration gives it no password of its
// own (password or passwordEnv in .zato.yaml, ZATO_PASSWORD, a password in the editor's settings): a secret set in
// one project is never sent to another project's server, and never overrides what a project's .zato.yaml says.
//
// zato/targets ({} -> {"targets": [...]}) tells the editor every target of the workspace, with its URL, user and
// where its password comes from, so that it knows which one a password is for.

// methodTargets is the custom request listing the workspace's targets.
const methodTargets = "zato/targets"

// storedPassword is one entry of the storedPasswords setting.
type storedPassword struct {
	URL      string `mapstructure:"url"`
	Username string `mapstructure:"username"`
	Password string `mapstructure:"password"`
}

// Where a target's password comes from, in zato/targets.
const (
	passwordConfigured = "configured" // the configuration's own: .zato.yaml, passwordEnv, ZATO_PASSWORD, the editor's settings
	passwordStored     = "stored"     // the editor's secret storage, for this URL and user
	passwordNone       = "none"
)

// storedFor is the password stored for a server URL and user, if any.
func (c config) storedFor(url, username string) (string, bool) {
	for _, p := range c.stored {
		if p.Password != "" && sameURL(p.URL, url) && p.Username == username {
			return p.Password, true
		}
	}
	return "", false
}

// resolveTarget is deployclient's ResolveTarget with the editor's stored password for a target that has none of
// its own; from says where the password came from. A target with a user and no password at all is an error: a
// request would only count as a failed login on the server.
func (s *server) resolveTarget(cfg config, name string) (string, deployclient.Config, string, error) {
	name, cc, err := cfg.file.ResolveTarget(name, s.getenv)
	if err != nil {
		return name, cc, passwordConfigured, err
	}
	if cc.Password != "" {
		return name, cc, passwordConfigured, nil
	}
	if pw, ok := cfg.storedFor(cc.URL, cc.Username); ok {
		cc.Password = pw
		return name, cc, passwordStored, nil
	}
	if cc.Username != "" {
		return name, cc, passwordNone, &noPasswordError{target: name, username: cc.Username, url: cc.URL}
	}
	return name, cc, passwordNone, nil
}

// noPasswordError is a target with a user and no password from anywhere.
type noPasswordError struct{ target, username, url string }

func (e *noPasswordError) Error() string {
	return fmt.Sprintf("no password for target %s (user %q at %s): set one with the editor (VS Code: Zato: Set Password), or password or passwordEnv in .zato.yaml",
		e.target, e.username, strings.TrimRight(e.url, "/"))
}

// targetInfo is one target in zato/targets' answer.
type targetInfo struct {
	Name string `json:"name"`
	// Folder is the workspace folder whose configuration names the target (its path).
	Folder   string `json:"folder"`
	URL      string `json:"url"`
	Username string `json:"username"`
	Password string `json:"password"` // configured, stored, none
	Error    string `json:"error,omitempty"`
}

type targetsAnswer struct {
	Targets []targetInfo `json:"targets"`
}

// targets lists every target of every configuration of the workspace (the primary one first).
func (s *server) targets(context.Context) targetsAnswer {
	type scoped struct {
		folder string
		cfg    config
	}
	s.mu.Lock()
	var all []scoped
	primary := ""
	if len(s.folders) > 0 {
		primary = s.folders[0]
	}
	for _, f := range s.folderCfgs {
		if f.primary {
			primary = f.dir
		}
	}
	if s.cfgErr == nil {
		all = append(all, scoped{primary, s.cfg})
	}
	for _, f := range s.folderCfgs {
		if f.hasFile && !f.primary && f.err == nil {
			all = append(all, scoped{f.dir, f.cfg})
		}
	}
	s.mu.Unlock()
	out := targetsAnswer{Targets: []targetInfo{}}
	for _, sc := range all {
		var names []string
		if sc.cfg.file.URL != "" {
			names = append(names, deployclient.DefaultTargetName)
		}
		named := make([]string, 0, len(sc.cfg.file.Targets))
		for n := range sc.cfg.file.Targets {
			named = append(named, n)
		}
		slices.Sort(named)
		for _, n := range named {
			if !slices.Contains(names, n) {
				names = append(names, n)
			}
		}
		for _, n := range names {
			name, cc, from, err := s.resolveTarget(sc.cfg, n)
			ti := targetInfo{Name: name, Folder: sc.folder, URL: strings.TrimRight(cc.URL, "/"), Username: cc.Username, Password: from}
			if err != nil {
				ti.Error = err.Error()
			}
			out.Targets = append(out.Targets, ti)
		}
	}
	return out
}
