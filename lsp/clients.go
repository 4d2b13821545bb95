package lsp

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"

	"go.lsp.dev/protocol"

	"github.com/zato-go/zato/deployclient"
)

// clientEntry caches a deploy client per target: the server of the target that answered when it was dialled.
type clientEntry struct {
	cfg    deployclient.Config // the target as configured (cfg.URL is its url, not necessarily the server used)
	others []string            // the client file's other servers, tried when cfg.URL does not answer
	client *deployclient.Client
	stale  bool   // its server stopped answering, or none answered when it was dialled: the next use dials again
	was    string // with no server answering: the server the target used before, for the log once one answers
}

// client returns the deploy client of a target of the workspace's configuration (see clientIn).
func (s *server) client(ctx context.Context, name string) (string, *deployclient.Client, deployclient.Config, error) {
	return s.clientIn(ctx, "", name)
}

// clientIn returns the deploy client of a target of a scope (folders.go) and its config, whose URL is the server the
// client talks to. The first use dials as the CLI does (deployclient.Dial: the target's url, then the client file's
// other servers), and so does the first use after redial found the server gone.
func (s *server) clientIn(ctx context.Context, scope, name string) (string, *deployclient.Client, deployclient.Config, error) {
	name, cc, others, e, err := s.resolveClient(ctx, scope, name)
	if err != nil || e != nil {
		return name, clientOf(e), at(cc, e), err
	}
	// Dial outside s.mu (it waits on the network), one dial at a time: a second caller finds the first's client.
	s.dialMu.Lock()
	defer s.dialMu.Unlock()
	if name, cc, others, e, err = s.resolveClient(ctx, scope, name); err != nil || e != nil {
		return name, clientOf(e), at(cc, e), err
	}
	c, err := deployclient.Dial(ctx, cc, others)
	if err != nil {
		return name, nil, cc, fmt.Errorf("target %s: %w", name, err)
	}
	e = &clientEntry{cfg: cc, others: others, client: c}
	s.mu.Lock()
	prev := s.clients[inScope(scope, name)]
	s.clients[inScope(scope, name)] = e
	cfg, _ := s.configOfLocked(scope)
	servers := cfg.file.Servers
	s.mu.Unlock()
	if prev != nil {
		_ = prev.client.Close()
	}
	// Say which server answers for the target when it is not the one the editor was using (or the configured one).
	// Dial returns another server than url only when that one answered.
	was := cc.URL
	if prev != nil && prev.cfg == cc {
		was = prev.client.URL()
		if prev.was != "" {
			was = prev.was
		}
	}
	if c.NoneAnswered() {
		s.mu.Lock()
		e.stale, e.was = true, was
		s.mu.Unlock()
	}
	switch {
	case c.NoneAnswered() && !sameURL(was, c.URL()):
		s.logf(protocol.MessageTypeInfo, "Zato: %s does not answer, nor does any other server of target %s", serverLabel(servers, was), name)
	case !sameURL(c.URL(), cc.URL):
		s.logf(protocol.MessageTypeInfo, "Zato: %s does not answer; target %s now uses %s", serverLabel(servers, was), name,
			serverLabel(servers, c.URL()))
	case !sameURL(was, c.URL()):
		s.logf(protocol.MessageTypeInfo, "Zato: %s does not answer; target %s goes back to its url, %s", serverLabel(servers, was), name,
			serverLabel(servers, c.URL()))
	}
	return name, c, at(cc, e), nil
}

// resolveClient resolves a target under s.mu: its config, the other servers to dial, and its cached client when
// that one is still good (nil when the target must be dialled). A target whose server refused these credentials is
// not used again unless the user asked (refused.go).
func (s *server) resolveClient(ctx context.Context, scope, name string) (string, deployclient.Config, []string, *clientEntry, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	cfg, cfgErr := s.configOfLocked(scope)
	if cfgErr != nil {
		return name, deployclient.Config{}, nil, nil, cfgErr
	}
	name, cc, _, err := s.resolveTarget(cfg, name)
	if np := (*noPasswordError)(nil); errors.As(err, &np) {
		return name, cc, nil, nil, err // it names the target
	}
	if err != nil {
		if len(cfg.file.Targets) == 0 && cfg.file.URL == "" {
			err = s.noConfigErrLocked()
		}
		return name, cc, nil, nil, fmt.Errorf("target %s: %w", name, err)
	}
	if !wasAsked(ctx) && s.refusedLocked(inScope(scope, name), cc) {
		return name, cc, nil, nil, &refusedError{target: name, username: cc.Username, url: cc.URL}
	}
	cc.Logger = s.log
	// One retry policy for a save: the language server's own (retryBackoff, one idempotency key per save), not
	// the HTTP client's stacked under it.
	cc.Retries = -1
	others := fallbackServers(cfg.file, cc.URL)
	if e, ok := s.clients[inScope(scope, name)]; ok && e.cfg == cc && slices.Equal(e.others, others) && !e.stale {
		return name, cc, others, e, nil
	}
	return name, cc, others, nil, nil
}

// redial is for a caller whose client of a target did not answer (deployclient.ErrUnreachable): the target is
// dialled again, and the new client is returned when another server answers for it.
func (s *server) redial(ctx context.Context, scope, target string, failed *deployclient.Client) (*deployclient.Client, deployclient.Config, bool) {
	s.mu.Lock()
	if e := s.clients[inScope(scope, target)]; e != nil && e.client == failed {
		e.stale = true
	}
	s.mu.Unlock()
	_, c, cc, err := s.clientIn(ctx, scope, target)
	if err != nil || c == failed || sameURL(c.URL(), failed.URL()) || c.NoneAnswered() {
		return nil, cc, false // no other server answers: the caller's backoff applies
	}
	return c, cc, true
}

// read runs a read with the target's client cl and, when its server does not answer, once more with the server
// that answers for the target now. Only for reads: they may be sent twice.
func (s *server) read(ctx context.Context, scope, target string, cl *deployclient.Client, call func(*deployclient.Client) error) error {
	err := call(cl)
	if unreachable(err) && ctx.Err() == nil {
		if ncl, _, ok := s.redial(ctx, scope, target, cl); ok {
			cl = ncl
			err = call(ncl)
		}
	}
	if cc, ok := s.clientConfig(scope, target, cl); ok {
		s.noteAuth(scope, target, cc, err)
	}
	return err
}

// clientConfig is the target config a cached client was made with, while it is the target's client.
func (s *server) clientConfig(scope, target string, cl *deployclient.Client) (deployclient.Config, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if e := s.clients[inScope(scope, target)]; e != nil && e.client == cl {
		return e.cfg, true
	}
	return deployclient.Config{}, false
}

// unreachable reports an error that calls for redial.
func unreachable(err error) bool { return errors.Is(err, deployclient.ErrUnreachable) }

// fallbackServers are the servers of the client file (servers:) to try when url does not answer: for the file's
// own url, or a url that is one of those servers. A target elsewhere (another cluster) has none: a save is never
// sent to a cluster other than the one configured.
func fallbackServers(f deployclient.FileConfig, url string) []string {
	var urls []string
	mine := sameURL(url, f.URL)
	for _, sr := range f.Servers {
		if sr.URL != "" {
			urls = append(urls, sr.URL)
		}
		mine = mine || sameURL(url, sr.URL)
	}
	if !mine {
		return nil
	}
	return urls
}

// at is the target's config with the URL of the server its client talks to.
func at(cc deployclient.Config, e *clientEntry) deployclient.Config {
	if e != nil {
		cc.URL = e.client.URL()
	}
	return cc
}

func clientOf(e *clientEntry) *deployclient.Client {
	if e == nil {
		return nil
	}
	return e.client
}

func sameURL(a, b string) bool {
	return a != "" && strings.TrimRight(a, "/") == strings.TrimRight(b, "/")
}

// serverLabel is "server2 (http://127.0.0.1:17011)" when the client file names the server at url, else url.
func serverLabel(servers []deployclient.ServerRef, url string) string {
	for _, sr := range servers {
		if sr.Name != "" && sameURL(sr.URL, url) {
			return fmt.Sprintf("%s (%s)", sr.Name, strings.TrimRight(url, "/"))
		}
	}
	return url
}
