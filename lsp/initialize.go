package lsp

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"

	"go.lsp.dev/protocol"
	"go.lsp.dev/uri"
)

// Commands served by workspace/executeCommand.
const (
	cmdDeploy         = "zato.deploy"
	cmdTestConnection = "zato.testConnection"
	cmdToggle         = "zato.toggleDeployOnSave"
	cmdShowStatus     = "zato.showStatus"
)

// clientCaps is what the editor said it can do, reduced to what the server uses.
type clientCaps struct {
	workDoneProgress  bool // window/workDoneProgress/create and $/progress
	configuration     bool // workspace/configuration
	codeLensRefresh   bool // workspace/codeLens/refresh
	dynamicConfigPush bool // may register for workspace/didChangeConfiguration
	dynamicWatch      bool // may register file watchers (workspace/didChangeWatchedFiles)
	// completionEditRange: the completion list may give the range its items replace once (itemDefaults.editRange)
	completionEditRange bool
	// statusUI: the editor shows zato/deployStatus itself (experimental.zato.statusUI: VS Code's status bar and
	// conflict prompt, PyCharm's widget), so a finished deployment and a conflict need no window/showMessage
	statusUI bool
	// serverStatus: the editor shows zato/serverStatus (experimental.zato.serverStatus, health.go)
	serverStatus bool
}

func (s *server) Initialize(_ context.Context, p *protocol.InitializeParams) (*protocol.InitializeResult, error) {
	caps := clientCaps{}
	c := p.Capabilities
	if c.Window != nil && c.Window.WorkDoneProgress != nil {
		caps.workDoneProgress = *c.Window.WorkDoneProgress
	}
	if w := c.Workspace; w != nil {
		caps.configuration = w.Configuration != nil && *w.Configuration
		caps.codeLensRefresh = w.CodeLens != nil && w.CodeLens.RefreshSupport != nil && *w.CodeLens.RefreshSupport
		caps.dynamicConfigPush = w.DidChangeConfiguration != nil && w.DidChangeConfiguration.DynamicRegistration != nil &&
			*w.DidChangeConfiguration.DynamicRegistration
		caps.dynamicWatch = w.DidChangeWatchedFiles != nil && w.DidChangeWatchedFiles.DynamicRegistration != nil &&
			*w.DidChangeWatchedFiles.DynamicRegistration
	}
	if t := c.TextDocument; t != nil && t.Completion != nil && t.Completion.CompletionList != nil {
		caps.completionEditRange = slices.Contains(t.Completion.CompletionList.ItemDefaults, "editRange")
	}
	if len(c.Experimental) > 0 {
		var x struct {
			Zato struct {
				StatusUI     bool `json:"statusUI"`
				ServerStatus bool `json:"serverStatus"`
			} `json:"zato"`
		}
		if json.Unmarshal(c.Experimental, &x) == nil {
			caps.statusUI, caps.serverStatus = x.Zato.StatusUI, x.Zato.ServerStatus
		}
	}
	var folders []string
	if fs, ok := p.WorkspaceFolders.Get(); ok {
		for _, f := range fs {
			folders = append(folders, uri.URI(f.URI).FsPath())
		}
	}
	if len(folders) == 0 && p.RootURI != nil && *p.RootURI != "" {
		folders = append(folders, p.RootURI.FsPath())
	}
	if len(folders) == 0 {
		if rp, ok := p.RootPath.Get(); ok && rp != "" {
			folders = append(folders, rp)
		}
	}
	init := decodeSettings(json.RawMessage(p.InitializationOptions))

	s.mu.Lock()
	s.caps = caps
	s.folders = folders
	s.layers.getenv = s.getenv
	s.layers.init = init
	s.mu.Unlock()
	s.reloadConfig("initialize")

	yes := true
	return &protocol.InitializeResult{
		Capabilities: protocol.ServerCapabilities{
			TextDocumentSync: &protocol.TextDocumentSyncOptions{
				OpenClose: &yes,
				Change:    ptr(protocol.TextDocumentSyncKindFull),
				// The deployed text is the one the editor saved: ask for it with every didSave.
				Save: &protocol.SaveOptions{IncludeText: &yes},
			},
			HoverProvider:      protocol.Boolean(true),
			CodeLensProvider:   &protocol.CodeLensOptions{},
			DefinitionProvider: protocol.Boolean(true),
			// Service names inside self.invoke('...'): the quotes open the list, dots and dashes keep it open.
			CompletionProvider: &protocol.CompletionOptions{TriggerCharacters: []string{"'", "\"", ".", "-"}, ResolveProvider: &yes},
			ExecuteCommandProvider: protocol.ExecuteCommandOptions{Commands: []string{cmdDeploy, cmdTestConnection, cmdToggle, cmdShowStatus,
				cmdInvoke, cmdInvokeEverywhere, cmdShowClusterVersion, cmdDeployAnyway, cmdRollback, cmdUndeploy}},
			CodeActionProvider: &protocol.CodeActionOptions{CodeActionKinds: []protocol.CodeActionKind{protocol.CodeActionKindQuickFix}},
			// Each folder's own .zato.yaml applies to its files (folders.go): the server follows folders added later.
			Workspace: &protocol.WorkspaceOptions{WorkspaceFolders: &protocol.WorkspaceFoldersServerCapabilities{
				Supported: &yes, ChangeNotifications: protocol.Boolean(true)}},
		},
		ServerInfo: protocol.ServerInfo{Name: "zato-lsp", Version: protocol.NewOptional(Version)},
	}, nil
}

func (s *server) Initialized(context.Context, *protocol.InitializedParams) error {
	// Both calls below wait for the editor's answer, which this (inline) notification handler must not do.
	s.goFn(func() {
		s.mu.Lock()
		caps := s.caps
		s.mu.Unlock()
		var regs []protocol.Registration
		if caps.dynamicConfigPush {
			regs = append(regs, protocol.Registration{ID: "zato-config", Method: "workspace/didChangeConfiguration"})
		}
		if caps.dynamicWatch {
			// .zato.yaml edited outside the editor (or by git) reloads the configuration too.
			opts := `{"watchers":[{"globPattern":"**/.zato.yaml"},{"globPattern":"**/.zato.yml"}]}`
			regs = append(regs, protocol.Registration{ID: "zato-config-files", Method: "workspace/didChangeWatchedFiles",
				RegisterOptions: protocol.LSPAny(opts)})
		}
		if len(regs) > 0 {
			if err := s.editor.RegisterCapability(s.ctx, &protocol.RegistrationParams{Registrations: regs}); err != nil {
				s.log.Debug("client/registerCapability", "err", err)
			}
		}
		s.pullConfiguration()
		s.logStartup()
		s.scheduleHealth()
	})
	return nil
}

// Shutdown answers once the deployments in flight have ended their progress: the editor exits next. The lifecycle
// (lifecycle.go) already refuses everything after it but exit.
func (s *server) Shutdown(ctx context.Context) error {
	s.stopDeployments(ctx)
	return nil
}

func (s *server) Exit(context.Context) error {
	select {
	case <-s.exited:
	default:
		close(s.exited)
	}
	return nil
}

// logStartup says once where deployments go, or why they cannot.
func (s *server) logStartup() {
	s.mu.Lock()
	cfg, cfgErr, allErr := s.cfg, s.cfgErr, s.configErrLocked()
	s.mu.Unlock()
	s.configDiagnostics(allErr)
	defer s.logFolders()
	if cfgErr != nil {
		s.logf(protocol.MessageTypeWarning, "Zato: %v", cfgErr)
		return
	}
	name, cc, _, err := s.resolveTarget(cfg, "")
	if err != nil && len(cfg.file.Targets) == 0 && cfg.file.URL == "" {
		if s.lookForNestedConfigs(); s.hasNested() {
			return // said where the file is
		}
		s.logf(protocol.MessageTypeInfo, "Zato: no target configured yet (%v); set url/username/password in .zato.yaml or the editor's settings", err)
		return
	}
	if np := (*noPasswordError)(nil); errors.As(err, &np) {
		// An editor with a status of its own shows it there: its secret storage's password may be on its way.
		s.logf(protocol.MessageTypeWarning, "Zato: %v", err)
		if s.mu.Lock(); !s.caps.serverStatus {
			s.mu.Unlock()
			s.showMessage(protocol.MessageTypeWarning, "Zato: "+err.Error())
		} else {
			s.mu.Unlock()
		}
		return
	}
	if err != nil {
		// A target that is there but cannot be used (passwordEnv naming an unset variable): say so now, not at
		// the first save.
		s.logf(protocol.MessageTypeWarning, "Zato: target %s: %v", name, err)
		s.showMessage(protocol.MessageTypeWarning, fmt.Sprintf("Zato: target %s: %v", name, err))
		return
	}
	s.logf(protocol.MessageTypeInfo, "Zato: target %s at %s, deploy on save %s", name, cc.URL, onOff(s.deployOnSave()))
}

func onOff(b bool) string {
	if b {
		return "on"
	}
	return "off"
}

func ptr[T any](v T) *T { return &v }
