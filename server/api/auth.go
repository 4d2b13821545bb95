package api

import (
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"net/http"
	"strconv"
	"sync"
	"time"
)

// retryAfter is a Retry-After value: whole seconds, rounded up.
func retryAfter(d time.Duration) string {
	return strconv.Itoa(int((d + time.Second - 1) / time.Second))
}

// authCache remembers credentials that checked out, as HMACs under a key of this process, so a password hash made
// to be slow (bcrypt) is paid once per password rather than on every request. Neither the password nor a plain
// hash of it is kept. Bounded: it holds at most maxCached entries and starts over when full.
type authCache struct {
	key [32]byte
	mu  sync.Mutex
	ok  map[[sha256.Size]byte]struct{}
}

const maxCached = 64

func newAuthCache() *authCache {
	c := &authCache{ok: map[[sha256.Size]byte]struct{}{}}
	_, _ = rand.Read(c.key[:]) // crypto/rand does not fail on the systems Go supports
	return c
}

func (c *authCache) sum(user, password string) [sha256.Size]byte {
	m := hmac.New(sha256.New, c.key[:])
	m.Write([]byte(user))
	m.Write([]byte{0})
	m.Write([]byte(password))
	var s [sha256.Size]byte
	m.Sum(s[:0])
	return s
}

func (c *authCache) has(s [sha256.Size]byte) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	_, ok := c.ok[s]
	return ok
}

func (c *authCache) add(s [sha256.Size]byte) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if len(c.ok) >= maxCached {
		clear(c.ok)
	}
	c.ok[s] = struct{}{}
}

// CheckCredentials reports whether user and password are right; the web admin's login form uses it too. A pair
// that checked out before answers from memory.
func (a *API) CheckCredentials(user, password string) bool {
	s := a.creds.sum(user, password)
	if a.creds.has(s) {
		return true
	}
	userOK := subtle.ConstantTimeCompare([]byte(user), []byte(a.cfg.Auth.Username)) == 1
	passOK := a.cfg.Auth.Check(password) // even for a wrong user: how long a request takes says nothing
	if userOK && passOK {
		a.creds.add(s)
	}
	return userOK && passOK
}

// checkIDE reports whether user and password are Zato's IDE user's.
func (a *API) checkIDE(user, password string) bool {
	if a.cfg.Auth.IDEUsername == "" || a.cfg.Auth.IDECheck == nil {
		return false
	}
	s := a.creds.sum("ide\x00"+user, password)
	if a.creds.has(s) {
		return true
	}
	userOK := subtle.ConstantTimeCompare([]byte(user), []byte(a.cfg.Auth.IDEUsername)) == 1
	if userOK && a.cfg.Auth.IDECheck(password) {
		a.creds.add(s)
		return true
	}
	return false
}

// authed lets requests with the right basic-auth credentials through, and throttles addresses that keep failing.
func (a *API) authed(h http.HandlerFunc) http.Handler { return a.authedAs(h, false) }

// authedIDE is authed that also lets Zato's IDE user through.
func (a *API) authedIDE(h http.HandlerFunc) http.Handler { return a.authedAs(h, true) }

func (a *API) authedAs(h http.HandlerFunc, ide bool) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		host := HostOf(r)
		if d := a.throttle.Wait(host, time.Now()); d > 0 {
			w.Header().Set("Retry-After", retryAfter(d))
			writeError(w, http.StatusTooManyRequests, "too_many_requests",
				"too many failed logins from this address; try again in "+retryAfter(d)+" s")
			return
		}
		user, pass, ok := r.BasicAuth()
		if !ok || !a.CheckCredentials(user, pass) && !(ide && a.checkIDE(user, pass)) {
			if ok {
				a.throttle.Failed(host, time.Now())
			}
			w.Header().Set("WWW-Authenticate", `Basic realm="Zato", charset="UTF-8"`)
			writeError(w, http.StatusUnauthorized, "unauthorized", "valid credentials are required")
			return
		}
		h(w, r.WithContext(context.WithValue(r.Context(), ctxUser{}, user)))
	})
}
