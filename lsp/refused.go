package lsp

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"go.lsp.dev/protocol"

	"github.com/zato-go/zato/deployclient"
)

// Credentials a server refused. The servers limit failed logins per client address (10 at once, then one every 6 s),
// and past the limit they refuse every request from the address, good credentials included: a language server that
// went on polling the cluster view, listing services and deploying saves with a wrong password locked out every
// client on the machine (the CLI with the right password got 429). So once a target's server refuses its username and
// password (401 or 403), nothing more is sent with those credentials, until they change (the password, the user or
// the URL: a new .zato.yaml, settings, a password set in the editor) or the user asks (zato.testConnection, any other
// command, zato/clusterView with "refresh": true), and the refusal is said once: "wrong username or password for
// target X". Meanwhile the cluster view's watch waits, and saves are not sent (their status reads unauthorized).

// refusedCreds are the credentials of a target that its server refused.
type refusedCreds struct {
	url, username, password string // url: the target's configured url
}

// refusedError is what a target refused earlier answers without asking its server again.
type refusedError struct {
	target, username, url string
}

func (e *refusedError) Error() string {
	return fmt.Sprintf("wrong username or password for target %s (user %q at %s): not sent again until its password or the configuration changes, or you test the connection",
		e.target, e.username, strings.TrimRight(e.url, "/"))
}

// Is makes errors.Is(err, deployclient.ErrUnauthorized) true: callers treat it as the refusal it repeats.
func (e *refusedError) Is(target error) bool { return target == deployclient.ErrUnauthorized }

// askedKey marks a context whose call the user asked for: it goes out even to a target refused earlier.
type askedKey struct{}

// asked marks ctx as a call the user asked for.
func asked(ctx context.Context) context.Context { return context.WithValue(ctx, askedKey{}, true) }

func wasAsked(ctx context.Context) bool { v, _ := ctx.Value(askedKey{}).(bool); return v }

// refusedLocked says whether a target's credentials cc (as configured) were refused; s.mu is held. A refusal of
// other credentials than cc's is over.
func (s *server) refusedLocked(key string, cc deployclient.Config) bool {
	r, ok := s.refused[key]
	if !ok {
		return false
	}
	if r.username == cc.Username && r.password == cc.Password && strings.TrimRight(r.url, "/") == strings.TrimRight(cc.URL, "/") {
		return true
	}
	delete(s.refused, key)
	s.wakeAuthLocked()
	return false
}

// wakeAuthLocked tells whoever waits for a refusal to end (the cluster view's watch) to look again; s.mu is held.
func (s *server) wakeAuthLocked() {
	if s.authWake != nil {
		close(s.authWake)
	}
	s.authWake = make(chan struct{})
}

// authWakeChan is closed the next time a refusal ends or may have ended.
func (s *server) authWakeChan() <-chan struct{} {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.authWake == nil {
		s.authWake = make(chan struct{})
	}
	return s.authWake
}

// noteAuth records what a call with a target's credentials (used) taught: a refusal (401, 403), said once, or that
// they are good again. It answers whether it showed the refusal to the user.
func (s *server) noteAuth(scope, target string, used deployclient.Config, err error) bool {
	var again *refusedError
	if errors.As(err, &again) {
		return false
	}
	key := inScope(scope, target)
	s.mu.Lock()
	if err == nil || !errors.Is(err, deployclient.ErrUnauthorized) {
		if r, ok := s.refused[key]; ok && err == nil && r.username == used.Username && r.password == used.Password {
			delete(s.refused, key)
			s.wakeAuthLocked()
			s.mu.Unlock()
			s.logf(protocol.MessageTypeInfo, "Zato: target %s accepts user %q again", target, used.Username)
			s.healthAfterCall(scope, target, used, err)
			return false
		}
		s.mu.Unlock()
		s.healthAfterCall(scope, target, used, err)
		return false
	}
	// The credentials as configured now: a call made with older ones (the configuration changed meanwhile) says
	// nothing of these.
	cfg, cerr := s.configOfLocked(scope)
	var cc deployclient.Config
	var rerr error
	if cerr == nil {
		_, cc, _, rerr = s.resolveTarget(cfg, target)
	}
	if cerr != nil || rerr != nil || cc.Username != used.Username || cc.Password != used.Password {
		s.mu.Unlock()
		return false
	}
	r := refusedCreds{url: cc.URL, username: cc.Username, password: cc.Password}
	_, known := s.refused[key]
	s.refused[key] = r
	shown := s.refusedShown[key] == r
	s.refusedShown[key] = r
	s.mu.Unlock()
	s.healthAfterCall(scope, target, used, err)
	if known || shown {
		return false
	}
	msg := "Zato: " + (&refusedError{target: target, username: cc.Username, url: cc.URL}).Error()
	s.logf(protocol.MessageTypeError, "%s", msg)
	s.showMessage(protocol.MessageTypeError, msg)
	return true
}
