package webadmin

import (
	"net"
	"net/http"
	"sync"
	"time"

	"golang.org/x/time/rate"
)

// Failed logins are limited per client host: a burst of loginBurst, then one more every loginEvery. Good logins are
// never counted, so a person who mistypes a few times is not locked out, while guessing slows to a crawl.
const (
	loginBurst    = 10
	loginEvery    = 6 * time.Second
	maxThrottled  = 4096 // hosts remembered; full buckets are forgotten first
	throttleSweep = time.Minute
)

type loginThrottle struct {
	mu        sync.Mutex
	hosts     map[string]*rate.Limiter
	lastSweep time.Time
}

func newLoginThrottle() *loginThrottle {
	return &loginThrottle{hosts: map[string]*rate.Limiter{}}
}

func hostOf(r *http.Request) string {
	h, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		return r.RemoteAddr
	}
	return h
}

// wait is how long the host must wait before its next try; zero when it may try now.
func (t *loginThrottle) wait(host string, now time.Time) time.Duration {
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

// failed counts a failed login of the host.
func (t *loginThrottle) failed(host string, now time.Time) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if now.Sub(t.lastSweep) > throttleSweep || len(t.hosts) >= maxThrottled {
		t.lastSweep = now
		for h, l := range t.hosts {
			if l.TokensAt(now) >= loginBurst {
				delete(t.hosts, h)
			}
		}
	}
	l := t.hosts[host]
	if l == nil {
		if len(t.hosts) >= maxThrottled {
			return // every remembered host is mid-burst: still bounded, the newcomer goes uncounted this once
		}
		l = rate.NewLimiter(rate.Every(loginEvery), loginBurst)
		t.hosts[host] = l
	}
	l.AllowN(now, 1)
}
