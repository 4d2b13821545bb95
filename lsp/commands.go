package lsp

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"path/filepath"
	"strings"
	"time"

	"go.lsp.dev/jsonrpc2"
	"go.lsp.dev/protocol"
	"go.lsp.dev/uri"

	"github.com/zato-go/zato/deployclient"
)

// commandArg is the object form of a command's first argument. zato.deploy also takes a bare URI string.
type commandArg struct {
	URI    string `json:"uri"`
	Target string `json:"target"`
	// zato.showClusterVersion, zato.rollback, zato.undeploy: a module of the cluster and one of its versions.
	Module  string `json:"module"`
	Version int    `json:"version"`
	// zato.testConnection may carry settings not saved yet (a settings page's "Test Connection" button).
	URL         string `json:"url"`
	Username    string `json:"username"`
	Password    string `json:"password"`
	PasswordEnv string `json:"passwordEnv"`
	Kind        string `json:"kind"`
	CAFile      string `json:"caFile"`
	// InsecureSkipVerify and Timeout ("30s") as in .zato.yaml.
	InsecureSkipVerify bool   `json:"insecureSkipVerify"`
	Timeout            string `json:"timeout"`
}

func parseArg(args []protocol.LSPAny) (commandArg, error) {
	var a commandArg
	if len(args) == 0 {
		return a, nil
	}
	raw := []byte(args[0])
	var str string
	if json.Unmarshal(raw, &str) == nil {
		a.URI = str
		return a, nil
	}
	if err := json.Unmarshal(raw, &a); err != nil {
		return a, fmt.Errorf("%w: argument must be a URI or an object: %v", jsonrpc2.ErrInvalidParams, err)
	}
	return a, nil
}

// ExecuteCommand dispatches the zato.* commands. It runs concurrently with other messages (see serve).
func (s *server) ExecuteCommand(ctx context.Context, p *protocol.ExecuteCommandParams) (protocol.LSPAny, error) {
	ctx = asked(ctx) // a command is the user's: it goes even to a target whose credentials were refused (refused.go)
	switch p.Command {
	case cmdInvoke, cmdInvokeEverywhere:
		a, err := parseInvokeArg(p.Arguments)
		if err != nil {
			return nil, err
		}
		var res any
		if p.Command == cmdInvoke {
			res, err = s.invoke(ctx, a)
		} else {
			res, err = s.invokeEverywhere(ctx, a)
		}
		if err != nil {
			if ctx.Err() == nil {
				s.showMessage(protocol.MessageTypeError, "Zato: "+err.Error())
			}
			return nil, err
		}
		return lspAny(res)
	}
	a, err := parseArg(p.Arguments)
	if err != nil {
		return nil, err
	}
	switch p.Command {
	case cmdDeploy:
		return s.deployFile(a, false)
	case cmdDeployAnyway:
		return s.deployAnyway(a)
	case cmdShowClusterVersion:
		if a.Module != "" {
			return s.moduleVersion(ctx, a)
		}
		return s.showClusterVersion(a)
	case cmdRollback, cmdUndeploy:
		res, err := s.clusterWrite(ctx, p.Command, a)
		if err != nil {
			if ctx.Err() == nil {
				s.showMessage(protocol.MessageTypeError, "Zato: "+err.Error())
			}
			return nil, err
		}
		return lspAny(res)
	case cmdTestConnection:
		return lspAny(s.testConnection(ctx, a))
	case cmdToggle:
		s.mu.Lock()
		v := !(s.toggled != nil && *s.toggled || s.toggled == nil && s.cfgErr == nil && s.cfg.deployOnSave)
		s.toggled = &v
		s.mu.Unlock()
		s.logf(protocol.MessageTypeInfo, "Zato: deploy on save %s", onOff(v))
		return lspAny(map[string]bool{"deployOnSave": v})
	case cmdShowStatus:
		path := ""
		if a.URI != "" {
			path = uri.URI(a.URI).FsPath()
		}
		rep, err := s.showStatus(ctx, path)
		if err != nil {
			return nil, err
		}
		return lspAny(rep)
	}
	return nil, fmt.Errorf("%w: unknown command %q", jsonrpc2.ErrInvalidParams, p.Command)
}

// deployFile queues a deployment of a file now, whatever the deploy-on-save rules say; force sends no base.
func (s *server) deployFile(a commandArg, force bool) (protocol.LSPAny, error) {
	if a.URI == "" {
		return nil, fmt.Errorf("%w: zato.deploy needs the file's URI", jsonrpc2.ErrInvalidParams)
	}
	u, err := uri.Parse(a.URI)
	if err != nil {
		return nil, fmt.Errorf("%w: bad URI %q: %v", jsonrpc2.ErrInvalidParams, a.URI, err)
	}
	path := u.FsPath()
	module := moduleName(path)
	if module == "" {
		msg := fmt.Sprintf("%s cannot be deployed: Zato module names are letters, digits and _ ending in .py", filepath.Base(path))
		s.showMessage(protocol.MessageTypeError, "Zato: "+msg)
		return nil, errors.New(msg)
	}
	// A folder of a multi-root workspace without its own .zato.yaml has nowhere to deploy (folders.go), nor has a
	// workspace without any configuration (said with where a .zato.yaml below a folder's root is, if any).
	scope, cfg, cfgErr := s.scopeOf(path)
	if scope == "" && cfgErr != nil {
		// Not a deployment that failed on the servers: nothing was sent.
		msg := fmt.Sprintf("%s not deployed: the configuration has an error: %v", filepath.Base(path), cfgErr)
		s.showMessage(protocol.MessageTypeError, "Zato: "+msg)
		return nil, errors.New(msg)
	}
	if cfgErr == nil && (cfg.file.URL != "" || len(cfg.file.Targets) > 0) {
		if name, _, _, rerr := s.resolveTarget(cfg, a.Target); rerr != nil {
			msg := fmt.Sprintf("%s not deployed: %v", filepath.Base(path), rerr)
			if !errors.As(rerr, new(*noPasswordError)) {
				msg = fmt.Sprintf("%s not deployed: target %s: %v", filepath.Base(path), name, rerr)
			}
			s.showMessage(protocol.MessageTypeError, "Zato: "+msg)
			return nil, errors.New(msg)
		}
	}
	if cfgErr == nil && cfg.file.URL == "" && len(cfg.file.Targets) == 0 {
		s.mu.Lock()
		cfgErr = s.noConfigErrLocked()
		s.mu.Unlock()
	}
	if scope != "" && cfgErr != nil || errors.Is(cfgErr, errNoConfig) || errors.As(cfgErr, new(*nestedConfigError)) {
		msg := fmt.Sprintf("%s not deployed: %v", filepath.Base(path), cfgErr)
		s.showMessage(protocol.MessageTypeError, "Zato: "+msg)
		return nil, errors.New(msg)
	}
	// Read the text here (this handler may wait on the disk): the deployment goroutine gets it ready.
	text, err := s.documentText(u)
	if err != nil {
		s.showMessage(protocol.MessageTypeError, "Zato: "+err.Error())
		return nil, err
	}
	s.enqueue(deployRequest{uri: u, path: path, module: module, text: text, target: a.Target, savedAt: time.Now(), manual: true, force: force,
		scope: scope})
	return lspAny(map[string]string{"module": module, "target": s.targetNameIn(scope, a.Target), "state": stateQueued})
}

// connectionResult is zato.testConnection's answer.
type connectionResult struct {
	OK      bool                  `json:"ok"`
	Target  string                `json:"target"`
	URL     string                `json:"url"`
	State   string                `json:"state"` // ok, unreachable, unauthorized, failed
	Message string                `json:"message"`
	Servers []deployclient.Member `json:"servers"`
}

// testConnection checks the URL and credentials of a target, or of the settings passed in.
func (s *server) testConnection(ctx context.Context, a commandArg) connectionResult {
	res := connectionResult{Servers: []deployclient.Member{}}
	var cl *deployclient.Client
	var cc deployclient.Config
	var err error
	if a.URL != "" {
		cc = deployclient.Config{URL: a.URL, Username: a.Username, Password: a.Password, Kind: a.Kind, CAFile: a.CAFile,
			InsecureSkipVerify: a.InsecureSkipVerify, Logger: s.log}
		if cc.Password == "" && a.PasswordEnv != "" {
			cc.Password, _ = s.getenv(a.PasswordEnv)
		}
		res.Target = a.Target
		if a.Timeout != "" {
			cc.Timeout, err = time.ParseDuration(a.Timeout)
			if err != nil {
				err = fmt.Errorf("timeout %q: %w", a.Timeout, err)
			}
		}
		if err == nil {
			cl, err = deployclient.New(cc)
		}
		if cl != nil {
			defer cl.Close()
		}
	} else {
		res.Target, cl, cc, err = s.client(ctx, a.Target)
	}
	res.URL = cc.URL
	if err == nil {
		ctx, cancel := context.WithTimeout(ctx, 15*time.Second)
		defer cancel()
		err = cl.Ping(ctx)
		if a.URL == "" {
			s.noteAuth("", res.Target, cc, err)
		}
		if err == nil && cc.Kind != deployclient.KindZato {
			if ms, serr := cl.Servers(ctx); serr == nil {
				res.Servers = ms
			}
		}
	}
	switch {
	case err == nil:
		res.OK, res.State = true, "ok"
		live := 0
		for _, m := range res.Servers {
			if m.State == "live" {
				live++
			}
		}
		if cc.Kind == deployclient.KindZato {
			res.Message = fmt.Sprintf("Connected to Zato at %s", cc.URL)
		} else {
			res.Message = fmt.Sprintf("Connected to %s: %d/%d servers live", cc.URL, live, len(res.Servers))
		}
		s.logf(protocol.MessageTypeInfo, "Zato: %s", res.Message)
	case errors.Is(err, deployclient.ErrUnauthorized):
		res.State = stateUnauthorized
		res.Message = fmt.Sprintf("wrong username or password for target %s: Zato at %s rejected user %q", res.Target, strings.TrimRight(cc.URL, "/"), cc.Username)
	case errors.Is(err, deployclient.ErrUnreachable):
		res.State = stateUnreachable
		res.Message = fmt.Sprintf("Cannot reach Zato at %s: %s", cc.URL, rootCause(err))
	default:
		res.State = stateFailed
		res.Message = err.Error()
	}
	if !res.OK {
		s.logf(protocol.MessageTypeError, "Zato: %s", res.Message)
		s.showMessage(protocol.MessageTypeError, "Zato: "+res.Message)
	}
	return res
}
