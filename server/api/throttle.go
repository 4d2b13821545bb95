package api

import (
	"net"
	"net/http"
	"sync"
	"time"

	"golang.org/x/time/rate"
)

// Failed logins (basic auth on the API, the web admin's login form) are limited per client address: a burst of
// authBurst, then one more every authEvery (10 a minute). Good credentials are never counted, so a client that
// mistypes a few times is not locked out while guessing slows to a crawl; requests without credentials guess
// nothing and are not counted.
const (
	authBurst    = ThrottleBurst
	authEvery    = 6 * time.Second
	maxThrottled = 4096 // addresses remembered; those back to a full burst are forgotten first
	sweepEvery   = time.Minute
)

// ThrottleBurst is how many failed logins an address may make at once before it has to wait.
const ThrottleBurst = 10

// Throttle counts failed logins per client address. Safe for concurrent use.
type Throttle struct {
	mu    sync.Mutex
	hosts map[string]*rate.Limiter
	swept time.Time
}

// NewThrottle returns an empty Throttle.
func NewThrottle() *Throttle { return &Throttle{hosts: map[string]*rate.Limiter{}} }

// HostOf is the client address a request is counted under.
func HostOf(r *http.Request) string {
	h, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		return r.RemoteAddr
	}
	return h
}

// Wait is how long host must wait before its next try; zero when it may try now.
func (t *Throttle) Wait(host string, now time.Time) time.Duration {
	t.mu.Lock()
	defer t.mu.Unlock()
	l := t.hosts[host]
	if l == nil || l.TokensAt(now) >= 1 {
		return 0
	}
	r := l.ReserveN(now, 1)
	d := r.DelayFrom(now)
	r.CancelAt(now)
	return d
}

// Failed counts a failed attempt of host.
func (t *Throttle) Failed(host string, now time.Time) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if now.Sub(t.swept) > sweepEvery || len(t.hosts) >= maxThrottled {
		t.swept = now
		for h, l := range t.hosts {
			if l.TokensAt(now) >= authBurst {
				delete(t.hosts, h)
			}
		}
	}
	l := t.hosts[host]
	if l == nil {
		if len(t.hosts) >= maxThrottled {
			return // every remembered address is mid-burst: memory stays bounded, this one goes uncounted once
		}
		l = rate.NewLimiter(rate.Every(authEvery), authBurst)
		t.hosts[host] = l
	}
	l.AllowN(now, 1)
}
