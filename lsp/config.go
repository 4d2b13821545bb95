package lsp

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"

	"github.com/bmatcuk/doublestar/v4"
	"github.com/spf13/viper"
	"go.lsp.dev/protocol"
	"go.lsp.dev/uri"

	"github.com/zato-go/zato/deployclient"
)

// Workspace config files, same schema as zato-client.yaml.
var workspaceConfigNames = []string{".zato.yaml", ".zato.yml"}

// Defaults: every .py file except tests, virtualenvs and dot-directories.
var (
	defaultInclude = []string{"**/*.py"}
	defaultExclude = []string{
		"**/.*/**", "**/__pycache__/**", "**/venv/**", "**/env/**", "**/virtualenv/**", "**/site-packages/**",
		"**/node_modules/**", "**/test/**", "**/tests/**", "**/test_*.py", "**/*_test.py", "**/conftest.py",
	}
)

// marker is Zato's "# zato: ide-deploy=True" with spaces removed and lower-cased: Zato's IDE plug-ins deploy on
// save only the files carrying it.
const marker = "#zato:ide-deploy=true"

// config is the merged configuration a deployment uses.
type config struct {
	file          deployclient.FileConfig
	deployOnSave  bool
	include       []string
	exclude       []string
	requireMarker bool
	stored        []storedPassword // the editor's secret storage's passwords, by server URL and user (passwords.go)
	roots         []string         // the workspace folders; globs are relative to the one holding the file
	sources       []string         // which layers contributed, for the log
}

// settings is what viper decodes: the client file's keys plus the editor-only ones.
type settings struct {
	deployclient.FileConfig `mapstructure:",squash"`
	DeployOnSave            bool     `mapstructure:"deployOnSave"`
	Include                 []string `mapstructure:"include"`
	Exclude                 []string `mapstructure:"exclude"`
	RequireMarker           bool     `mapstructure:"requireMarker"`
	// StoredPasswords come from the editor's secret storage (passwords.go), never from a file.
	StoredPasswords []storedPassword `mapstructure:"storedPasswords"`
}

// configLayers are the sources, lowest first: the workspace's .zato.yaml (or the file ZATO_CONFIG names), ZATO_*
// environment, initializationOptions, workspace/configuration's "zato" section, didChangeConfiguration's settings.
type configLayers struct {
	folders   []string
	getenv    func(string) (string, bool)
	init      map[string]any
	workspace map[string]any
	pushed    map[string]any
}

// envKeys maps ZATO_* variables to keys.
var envKeys = map[string]string{
	"ZATO_URL": "url", "ZATO_USERNAME": "username", "ZATO_PASSWORD": "password", "ZATO_PASSWORD_ENV": "passwordEnv",
	"ZATO_CA_FILE": "caFile", "ZATO_KIND": "kind", "ZATO_TARGET": "defaultTarget", "ZATO_DEPLOY_ON_SAVE": "deployOnSave",
	"ZATO_REQUIRE_MARKER": "requireMarker", "ZATO_INCLUDE": "include", "ZATO_EXCLUDE": "exclude",
}

func (l configLayers) merge() (config, error) {
	v := viper.New()
	c := config{}
	c.roots = slices.Clone(l.folders)
	file := ""
	for _, dir := range l.folders {
		for _, n := range workspaceConfigNames {
			if p := filepath.Join(dir, n); fileExists(p) && file == "" {
				file = p
			}
		}
	}
	// deployOnSave is on when the workspace has its own config file; ZATO_CONFIG alone only says where to deploy.
	v.SetDefault("deployOnSave", file != "")
	v.SetDefault("include", defaultInclude)
	v.SetDefault("exclude", defaultExclude)
	if file == "" && l.getenv != nil {
		if p, ok := l.getenv("ZATO_CONFIG"); ok && p != "" {
			file = p
		}
	}
	var fromFile deployclient.ConfigFile
	if file != "" {
		// Strictly, as the CLI reads it: a typo in a key is an error naming the file and the line, not a setting
		// silently left out.
		cf, err := deployclient.ReadConfigFile(file)
		if err != nil {
			c.file.Targets = nil
			return c, err
		}
		fromFile = cf
		if err := v.MergeConfigMap(fileLayer(cf)); err != nil {
			return c, fmt.Errorf("%s: %w", file, err)
		}
		c.sources = append(c.sources, file)
	}
	if env := l.env(); len(env) > 0 {
		_ = v.MergeConfigMap(env)
		c.sources = append(c.sources, "environment")
	}
	for _, layer := range []struct {
		name string
		m    map[string]any
	}{{"initializationOptions", l.init}, {"workspace/configuration", l.workspace}, {"didChangeConfiguration", l.pushed}} {
		if len(layer.m) > 0 {
			if err := v.MergeConfigMap(cloneMap(layer.m)); err != nil {
				return c, fmt.Errorf("%s: %w", layer.name, err)
			}
			c.sources = append(c.sources, layer.name)
		}
	}
	var st settings
	if err := v.Unmarshal(&st); err != nil {
		return c, fmt.Errorf("configuration: %w", err)
	}
	c.file, c.deployOnSave, c.include, c.exclude, c.requireMarker = st.FileConfig, st.DeployOnSave, st.Include, st.Exclude, st.RequireMarker
	c.stored = st.StoredPasswords
	c.file.Targets = keepCase(st.Targets, fromFile.Targets)
	if fromFile.DefaultTarget != "" && strings.EqualFold(fromFile.DefaultTarget, c.file.DefaultTarget) {
		c.file.DefaultTarget = fromFile.DefaultTarget
	}
	for _, p := range append(append([]string{}, c.include...), c.exclude...) {
		if !doublestar.ValidatePattern(p) {
			return c, fmt.Errorf("configuration: bad glob %q", p)
		}
	}
	return c, nil
}

// fileLayer is the config file as viper's lowest layer: the keys it sets, with the names viper knows them by.
func fileLayer(cf deployclient.ConfigFile) map[string]any {
	m := map[string]any{}
	set := func(k, v string) {
		if v != "" {
			m[k] = v
		}
	}
	f := cf.FileConfig
	set("url", f.URL)
	set("username", f.Username)
	set("password", f.Password)
	set("passwordEnv", f.PasswordEnv)
	set("caFile", f.CAFile)
	set("kind", f.Kind)
	set("defaultTarget", f.DefaultTarget)
	if f.InsecureSkipVerify {
		m["insecureSkipVerify"] = true
	}
	if f.Timeout != 0 {
		m["timeout"] = f.Timeout.String()
	}
	if len(f.Servers) > 0 {
		var servers []any
		for _, sr := range f.Servers {
			servers = append(servers, map[string]any{"name": sr.Name, "url": sr.URL, "dir": sr.Dir})
		}
		m["servers"] = servers
	}
	if len(f.Targets) > 0 {
		targets := map[string]any{}
		for name, t := range f.Targets {
			tm := map[string]any{}
			for k, v := range map[string]string{"url": t.URL, "username": t.Username, "password": t.Password, "passwordEnv": t.PasswordEnv,
				"caFile": t.CAFile, "kind": t.Kind} {
				if v != "" {
					tm[k] = v
				}
			}
			if t.InsecureSkipVerify {
				tm["insecureSkipVerify"] = true
			}
			targets[name] = tm
		}
		m["targets"] = targets
	}
	if cf.DeployOnSave != nil {
		m["deployOnSave"] = *cf.DeployOnSave
	}
	if cf.RequireMarker != nil {
		m["requireMarker"] = *cf.RequireMarker
	}
	if len(cf.Include) > 0 {
		m["include"] = cf.Include
	}
	if len(cf.Exclude) > 0 {
		m["exclude"] = cf.Exclude
	}
	return m
}

// keepCase gives the merged targets (viper lower-cases map keys) the names the config file wrote them with.
func keepCase(merged, written map[string]deployclient.Target) map[string]deployclient.Target {
	if len(merged) == 0 {
		return merged
	}
	out := make(map[string]deployclient.Target, len(merged))
	for name, t := range merged {
		for w := range written {
			if strings.EqualFold(w, name) {
				name = w
				break
			}
		}
		out[name] = t
	}
	return out
}

func (l configLayers) env() map[string]any {
	if l.getenv == nil {
		return nil
	}
	m := map[string]any{}
	for k, key := range envKeys {
		val, ok := l.getenv(k)
		if !ok || val == "" {
			continue
		}
		switch key {
		case "deployOnSave", "requireMarker":
			b, err := strconv.ParseBool(val)
			if err != nil {
				continue
			}
			m[key] = b
		case "include", "exclude":
			m[key] = strings.Split(val, ",")
		default:
			m[key] = val
		}
	}
	return m
}

func fileExists(p string) bool {
	st, err := os.Stat(p)
	return err == nil && st.Mode().IsRegular()
}

// decodeSettings reads an editor's settings object: either the zato section itself or an object holding it under
// "zato". Empty values are dropped, so an editor's blank defaults do not hide the workspace file's values.
func decodeSettings(raw json.RawMessage) map[string]any {
	if len(raw) == 0 {
		return nil
	}
	var m map[string]any
	if json.Unmarshal(raw, &m) != nil {
		return nil
	}
	if z, ok := m["zato"].(map[string]any); ok {
		m = z
	}
	return prune(m)
}

func prune(m map[string]any) map[string]any {
	out := map[string]any{}
	for k, v := range m {
		switch x := v.(type) {
		case nil:
			continue
		case string:
			if x == "" {
				continue
			}
		case []any:
			if len(x) == 0 {
				continue
			}
		case map[string]any:
			x = prune(x)
			if len(x) == 0 {
				continue
			}
			v = x
		}
		out[k] = v
	}
	return out
}

// cloneMap copies a layer since viper may modify the map it merges.
func cloneMap(m map[string]any) map[string]any {
	out := make(map[string]any, len(m))
	for k, v := range m {
		if sub, ok := v.(map[string]any); ok {
			v = cloneMap(sub)
		}
		out[k] = v
	}
	return out
}

// reloadConfig merges the layers again; cached clients are dropped as their settings may have changed.
func (s *server) reloadConfig(reason string) {
	s.mu.Lock()
	s.layers.folders = s.folders
	folders := s.layers.folderConfigs()
	var c config
	var err error
	if i := slices.IndexFunc(folders, func(f folderConfig) bool { return f.primary }); i >= 0 {
		c, err = folders[i].cfg, folders[i].err
	} else {
		c, err = s.layers.merge()
	}
	prevErr := s.configErrLocked()
	s.cfg, s.cfgErr, s.folderCfgs = c, err, folders
	err = s.configErrLocked()
	for name, e := range s.clients {
		_ = e.client.Close()
		delete(s.clients, name)
	}
	s.wakeAuthLocked() // a refused target's credentials may be others now
	s.mu.Unlock()
	if reason != "initialize" { // nothing but messages before initialize is answered; logStartup publishes them
		s.configDiagnostics(err)
	}
	if reason != "initialize" {
		s.scheduleHealth() // the status bar follows the configuration (health.go)
	}
	if err != nil {
		s.logf(protocol.MessageTypeError, "Zato configuration (%s): %v", reason, err)
		if prevErr == nil || prevErr.Error() != err.Error() {
			s.showMessage(protocol.MessageTypeError, "Zato: "+err.Error())
		}
		return
	}
	s.log.Debug("configuration loaded", "reason", reason, "sources", c.sources)
}

// pullConfiguration asks the editor for the "zato" section (the pull model of VS Code and LSP4IJ).
func (s *server) pullConfiguration() {
	s.mu.Lock()
	ok := s.caps.configuration
	s.mu.Unlock()
	if !ok {
		return
	}
	res, err := s.editor.Configuration(s.ctx, &protocol.ConfigurationParams{Items: []protocol.ConfigurationItem{{Section: ptr("zato")}}})
	if err != nil {
		s.log.Debug("workspace/configuration", "err", err)
		return
	}
	var m map[string]any
	answered := false
	if len(res) > 0 {
		raw := json.RawMessage(res[0])
		m = decodeSettings(raw)
		var obj map[string]any
		answered = json.Unmarshal(raw, &obj) == nil && obj != nil
	}
	s.mu.Lock()
	s.layers.workspace = m
	if answered {
		// The editor's settings as they are now supersede the ones it started the server with: a value the user
		// cleared since must not live on from initializationOptions.
		s.layers.init = nil
	}
	s.mu.Unlock()
	s.reloadConfig("workspace/configuration")
}

func (s *server) DidChangeConfiguration(_ context.Context, p *protocol.DidChangeConfigurationParams) error {
	// Push-model editors send the settings; pull-model ones (VS Code, LSP4IJ) send null and expect a pull.
	if m := decodeSettings(json.RawMessage(p.Settings)); len(m) > 0 {
		s.mu.Lock()
		s.layers.pushed = m
		s.mu.Unlock()
		s.reloadConfig("didChangeConfiguration")
	}
	s.goFn(s.pullConfiguration)
	return nil
}

// DidChangeWatchedFiles reloads the configuration when a workspace config file changes on disk.
func (s *server) DidChangeWatchedFiles(_ context.Context, p *protocol.DidChangeWatchedFilesParams) error {
	for _, c := range p.Changes {
		if slices.Contains(workspaceConfigNames, filepath.Base(c.URI.FsPath())) {
			s.reloadConfig("changed " + filepath.Base(c.URI.FsPath()))
			return nil
		}
	}
	return nil
}

// deployOnSave is the configured value unless zato.toggleDeployOnSave overrode it.
func (s *server) deployOnSave() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.deployOnSaveLocked(s.cfg, s.cfgErr)
}

// deployOnSaveLocked is deployOnSave for a file's configuration; s.mu is held.
func (s *server) deployOnSaveLocked(c config, err error) bool {
	if s.toggled != nil {
		return *s.toggled
	}
	return err == nil && c.deployOnSave
}

// matches applies the include and exclude globs to a file.
func (c config) matches(path string) bool {
	rel := path
	if len(c.roots) > 0 {
		// A file outside every workspace folder (opened from elsewhere, a library's source) is never deployed on
		// save; "Deploy Current File" still deploys it.
		found := false
		for _, root := range c.roots {
			if r, ok := relTo(root, path); ok {
				rel, found = r, true
				break
			}
		}
		if !found {
			return false
		}
	}
	rel = strings.TrimPrefix(filepath.ToSlash(rel), "/")
	in := false
	for _, p := range c.include {
		if ok, _ := doublestar.Match(p, rel); ok {
			in = true
			break
		}
	}
	if !in {
		return false
	}
	for _, p := range c.exclude {
		if ok, _ := doublestar.Match(p, rel); ok {
			return false
		}
	}
	return true
}

// hasMarker reports whether source carries Zato's "# zato: ide-deploy=True" comment (spacing and case aside): a
// comment line, not a line of a triple-quoted string that reads like one.
func hasMarker(source string) bool {
	open := "" // the triple quote of a string that runs on from an earlier line
	for line := range strings.Lines(source) {
		if t := strings.TrimSpace(line); open == "" && strings.HasPrefix(t, "#") &&
			strings.HasPrefix(strings.ToLower(strings.Join(strings.Fields(t), "")), marker) {
			return true
		}
		open = tripleOpenAfter(line, open)
	}
	return false
}

// tripleOpenAfter returns the triple quote (three double or three single quotes) still open at the end of line,
// given the one open at its start ("" for none). One-line strings and comments are skipped.
func tripleOpenAfter(line, open string) string {
	for i := 0; i < len(line); {
		if open != "" {
			j := strings.Index(line[i:], open)
			if j < 0 {
				return open
			}
			i, open = i+j+3, ""
			continue
		}
		switch c := line[i]; {
		case c == '#':
			return ""
		case strings.HasPrefix(line[i:], `"""`) || strings.HasPrefix(line[i:], "'''"):
			open, i = line[i:i+3], i+3
		case c == '"' || c == '\'':
			i++
			for i < len(line) && line[i] != c {
				if line[i] == '\\' {
					i++
				}
				i++
			}
			i++
		default:
			i++
		}
	}
	return open
}

// configLineRe is one problem of a config file as deployclient words it: "FILE line N: problem".
var configLineRe = regexp.MustCompile(`^(.+) line (\d+): (.+)$`)

// configDiagnostics puts a config file's problems at their lines (and clears the ones of a file fixed since).
func (s *server) configDiagnostics(err error) {
	byFile := map[uri.URI][]protocol.Diagnostic{}
	if err != nil {
		for _, line := range strings.Split(err.Error(), "\n") {
			m := configLineRe.FindStringSubmatch(line)
			if m == nil || !filepath.IsAbs(m[1]) {
				continue
			}
			n, _ := strconv.Atoi(m[2])
			u := uri.File(m[1])
			byFile[u] = append(byFile[u], protocol.Diagnostic{
				Range:    protocol.Range{Start: protocol.Position{Line: uint32(max(n-1, 0))}, End: protocol.Position{Line: uint32(max(n-1, 0)), Character: 1000}},
				Severity: protocol.DiagnosticSeverityError, Code: protocol.String("zato-config"), Source: protocol.NewOptional("zato"),
				Message: protocol.String(m[3]),
			})
		}
	}
	s.mu.Lock()
	prev := s.cfgDiagFiles
	s.cfgDiagFiles = map[uri.URI]bool{}
	for u := range byFile {
		s.cfgDiagFiles[u] = true
	}
	s.mu.Unlock()
	for u := range prev {
		if _, ok := byFile[u]; !ok {
			s.setDiagnostics(u, []protocol.Diagnostic{}, nil, false)
		}
	}
	for u, ds := range byFile {
		s.setDiagnostics(u, ds, nil, false)
	}
}

var errNoConfig = errors.New("no Zato server configured: add a .zato.yaml (url, username, password) to the workspace or set it in the editor's settings")
