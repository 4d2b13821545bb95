package lsp

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"go.lsp.dev/jsonrpc2"
	"go.lsp.dev/protocol"
	"go.lsp.dev/uri"
)

// server is one editor session. Handlers never block on the network: deployments and calls back into the editor run
// on goroutines bound to s.ctx.
type server struct {
	protocol.UnimplementedServer

	ctx    context.Context // the session; cancelled by close
	cancel context.CancelFunc
	life   lifecycle // initialize ... shutdown, exit: which messages are served
	// deployCtx bounds deployments; cancelled at shutdown, so the ones in flight end (and end their progress) while
	// the session can still tell the editor.
	deployCtx   context.Context
	stopDeploys context.CancelFunc
	deploys     sync.WaitGroup // deployments and their progress reports; shutdown waits for them
	conn        jsonrpc2.Conn
	editor      protocol.Client // calls into the editor
	log         *slog.Logger
	getenv      func(string) (string, bool)
	exited      chan struct{}
	wg          sync.WaitGroup // goroutines started by the server
	wgMu        sync.Mutex     // orders goFn's Add before close's Wait
	closed      bool
	// clusterPoll is how often a watched cluster is polled while its event stream is not available; 0: clusterPoll.
	clusterPoll time.Duration
	dialMu      sync.Mutex // one dial of a target at a time (clients.go); never held under mu

	mu           sync.Mutex
	caps         clientCaps
	folders      []string // workspace folders, file system paths
	layers       configLayers
	cfg          config         // the merged configuration (in a multi-root workspace, the primary folder's)
	cfgErr       error          // why cfg is unusable, if it is
	folderCfgs   []folderConfig // each folder's own, when several folders have their own .zato.yaml (folders.go)
	toggled      *bool          // zato.toggleDeployOnSave's override
	docs         map[uri.URI]*document
	modules      map[string]*moduleState   // by inScope(scope, target) + "/" + module
	targetOf     map[string]string         // inScope(scope, module) -> the target it was last deployed to, for hover and code lens
	clients      map[string]*clientEntry   // deploy clients by inScope(scope, target)
	svcCache     map[string]*servicesCache // the cluster's live services, by target name
	wsIndex      map[string]*indexedFile   // workspace .py files' Service classes, by path (go to definition)
	cfgDiagFiles map[uri.URI]bool          // config files with diagnostics of their problems
	seen         map[string]string         // file path -> sha256 of its text when the editor first opened it (the first base)
	watch        *clusterWatch             // zato/watchCluster: the cluster view is open (clusterview.go)
	refused      map[string]refusedCreds   // targets whose server refused their credentials, by inScope(scope, target) (refused.go)
	refusedShown map[string]refusedCreds   // the last refusal said to the user, by target: it is said once
	authWake     chan struct{}             // closed when a refusal ends or may have ended (refused.go)
	nested       []nestedConfig            // config files below the folders' roots, not read (nested.go)
	health       serverHealth              // the last zato/serverStatus sent (health.go)
	healthTimer  *time.Timer               // the next check of the health
	healthGen    int                       // counts the checks scheduled: only the latest one's result is sent
	recheckArmed bool                      // a check is due while no server answers

	// diagMu orders diagnostics: a file's are the union of its last deployment's and its lint's.
	diagMu sync.Mutex
	diags  map[uri.URI]*docDiags

	progressSeq atomic.Int64
	// uploads counts the uploads this session sent (zato.showStatus reports it).
	uploads atomic.Int64
}

func newServer(ctx context.Context, conn jsonrpc2.Conn, o options) *server {
	ctx, cancel := context.WithCancel(ctx)
	log := o.logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	getenv := o.getenv
	if getenv == nil {
		getenv = func(string) (string, bool) { return "", false }
	}
	s := &server{
		ctx: ctx, cancel: cancel, conn: conn, editor: protocol.ClientDispatcher(conn), log: log, getenv: getenv,
		exited: make(chan struct{}), docs: map[uri.URI]*document{}, modules: map[string]*moduleState{}, targetOf: map[string]string{},
		clients: map[string]*clientEntry{}, svcCache: map[string]*servicesCache{}, wsIndex: map[string]*indexedFile{},
		diags: map[uri.URI]*docDiags{}, seen: map[string]string{}, clusterPoll: o.clusterPoll,
		refused: map[string]refusedCreds{}, refusedShown: map[string]refusedCreds{},
	}
	s.deployCtx, s.stopDeploys = context.WithCancel(ctx)
	s.cfg, s.cfgErr = s.layers.merge()
	return s
}

// close stops every goroutine the server started and waits for them.
func (s *server) close() {
	s.wgMu.Lock()
	s.closed = true
	s.wgMu.Unlock()
	s.cancel()
	s.mu.Lock()
	for _, m := range s.modules {
		m.stopTimer()
	}
	for _, c := range s.clients {
		_ = c.client.Close()
	}
	s.mu.Unlock()
	s.wg.Wait()
}

// goFn runs f on its own goroutine, tracked so close can wait for it; false when the server is closed and f does
// not run.
func (s *server) goFn(f func()) bool {
	s.wgMu.Lock()
	defer s.wgMu.Unlock()
	if s.closed {
		return false
	}
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		f()
	}()
	return true
}

// notify sends a notification with a payload encoded by encoding/json (our own types, not protocol's).
func (s *server) notify(method string, payload any) {
	b, err := json.Marshal(payload)
	if err != nil {
		s.log.Error("encode notification", "method", method, "err", err)
		return
	}
	if err := s.conn.Notify(s.ctx, method, jsonrpc2.RawMessage(b)); err != nil && s.ctx.Err() == nil {
		s.log.Debug("notify", "method", method, "err", err)
	}
}

// logf sends window/logMessage and writes the same line to the server's own log.
func (s *server) logf(t protocol.MessageType, format string, args ...any) {
	msg := fmt.Sprintf(format, args...)
	err := s.editor.LogMessage(s.ctx, &protocol.LogMessageParams{Type: t, Message: msg})
	// Editors show stderr in the same log as window/logMessage: stderr gets the line only when the editor did not.
	level := slog.LevelDebug
	if err != nil && s.ctx.Err() == nil {
		switch t {
		case protocol.MessageTypeError:
			level = slog.LevelError
		case protocol.MessageTypeWarning:
			level = slog.LevelWarn
		default:
			level = slog.LevelInfo
		}
	}
	s.log.Log(s.ctx, level, msg)
}

// showMessage pops a message up in the editor: failures, and a finished deployment in editors without a status UI.
func (s *server) showMessage(t protocol.MessageType, msg string) {
	if err := s.editor.ShowMessage(s.ctx, &protocol.ShowMessageParams{Type: t, Message: msg}); err != nil && s.ctx.Err() == nil {
		s.log.Debug("showMessage", "err", err)
	}
}
