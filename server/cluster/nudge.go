package cluster

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"errors"
	"net"
	"net/http"
	"net/url"
	"strings"
	"sync"
)

// Nudges travel as UDP datagrams to the port number a peer's HTTP API listens on, signed with the cluster secret
// (HMAC-SHA256, so the secret never crosses the network). A datagram costs each side one system call, where an HTTP
// request costs both a round trip through several goroutines; every server gets one nudge per deployment and the
// receiving server one back from each peer, so this is a good share of the CPU a deployment costs the cluster.
//
// A nudge only says "look at the ODB now": a lost, replayed or late one changes nothing but timing. The ODB stays
// the truth and the safety net (PostgreSQL NOTIFY, the SQLite change check) catches what UDP drops. Without a UDP
// socket (Config.Nudges nil) a server nudges over HTTP (POST NudgePath), which every server still accepts.

// nudgeMagic starts every nudge datagram; the version is in it.
const nudgeMagic = "zato-nudge/1 "

// maxNudge bounds a datagram: the magic, the flags, a server name and the MAC.
const maxNudge = 1024

// encodeNudge is nudgeMagic, the flags ("m" members, "s" status, "-" neither), a space, the sender's name, then
// the HMAC of all that.
func encodeNudge(secret []byte, from string, n Nudge) []byte {
	flags := ""
	if n.Members {
		flags += "m"
	}
	if n.Status {
		flags += "s"
	}
	if flags == "" {
		flags = "-"
	}
	msg := []byte(nudgeMagic + flags + " " + from)
	mac := hmac.New(sha256.New, secret)
	mac.Write(msg)
	return mac.Sum(msg)
}

// decodeNudge checks a datagram's MAC and returns what it says and who sent it.
func decodeNudge(secret, b []byte) (Nudge, string, error) {
	if len(b) < len(nudgeMagic)+sha256.Size || !bytes.HasPrefix(b, []byte(nudgeMagic)) {
		return Nudge{}, "", errors.New("not a nudge")
	}
	msg, sum := b[:len(b)-sha256.Size], b[len(b)-sha256.Size:]
	mac := hmac.New(sha256.New, secret)
	mac.Write(msg)
	if !hmac.Equal(mac.Sum(nil), sum) {
		return Nudge{}, "", errors.New("bad signature")
	}
	flags, from, ok := strings.Cut(string(msg[len(nudgeMagic):]), " ")
	if !ok {
		return Nudge{}, "", errors.New("no sender")
	}
	return Nudge{Members: strings.Contains(flags, "m"), Status: strings.Contains(flags, "s")}, from, nil
}

// serveNudges reads nudge datagrams until the socket closes (the node closes it when the server stops).
func (c *Cluster) serveNudges(ctx context.Context) {
	buf := make([]byte, maxNudge)
	warned := false
	for {
		n, from, err := c.cfg.Nudges.ReadFrom(buf)
		if err != nil {
			if ctx.Err() == nil && !errors.Is(err, net.ErrClosed) {
				c.log.Warn("nudge socket failed: peers' changes now reach this server through the ODB's change check", "err", err)
			}
			return
		}
		nudge, _, err := decodeNudge([]byte(c.cfg.Secret), buf[:n])
		if err != nil {
			if !warned { // once: a stray or hostile sender must not flood the log
				c.log.Warn("ignored a datagram that is not a nudge from this cluster", "from", from.String(), "err", err)
				warned = true
			}
			continue
		}
		c.Nudged(nudge)
	}
}

// peerAddrs resolves peers' nudge addresses once per URL.
type peerAddrs struct {
	mu sync.Mutex
	m  map[string]net.Addr
}

func (p *peerAddrs) get(peerURL string) (net.Addr, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if a, ok := p.m[peerURL]; ok {
		return a, nil
	}
	u, err := url.Parse(peerURL)
	if err != nil {
		return nil, err
	}
	port := u.Port()
	if port == "" {
		port = map[string]string{"http": "80", "https": "443"}[u.Scheme]
	}
	a, err := net.ResolveUDPAddr("udp", net.JoinHostPort(u.Hostname(), port))
	if err != nil {
		return nil, err
	}
	if p.m == nil {
		p.m = map[string]net.Addr{}
	}
	p.m[peerURL] = a
	return a, nil
}

// send delivers one nudge to the peer at peerURL: a datagram, or an HTTP request where this server has no UDP
// socket. It never blocks on the peer.
func (c *Cluster) send(peerURL string, n Nudge) {
	if c.cfg.Nudges != nil {
		addr, err := c.addrs.get(peerURL)
		if err == nil {
			_, err = c.cfg.Nudges.WriteTo(encodeNudge([]byte(c.cfg.Secret), c.cfg.Name, n), addr)
		}
		if err != nil {
			c.log.Warn("nudge failed", "peer", peerURL, "err", err)
		}
		return
	}
	go func() {
		q := url.Values{}
		if n.Members {
			q.Set(MembersParam, "1")
		}
		if n.Status {
			q.Set(StatusParam, "1")
		}
		target := strings.TrimRight(peerURL, "/") + NudgePath
		if len(q) > 0 {
			target += "?" + q.Encode()
		}
		req, err := http.NewRequest(http.MethodPost, target, nil)
		if err != nil {
			return
		}
		req.Header.Set(SecretHeader, c.cfg.Secret)
		resp, err := c.http.Do(req)
		if err != nil {
			c.log.Warn("nudge failed", "peer", peerURL, "err", err)
			return
		}
		resp.Body.Close()
	}()
}
