package cluster

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"
)

// Nudges travel as UDP datagrams to the port number a peer's HTTP API listens on, signed with the cluster secret
// (HMAC-SHA256, so the secret never crosses the network). A datagram costs each side one system call, where an HTTP
// request costs both a round trip through several goroutines; every server gets one nudge per deployment and the
// receiving server one back from each peer, so this is a good share of the CPU a deployment costs the cluster.
//
// A nudge only says "look at the ODB now": a lost, replayed or late one changes nothing but timing. The ODB stays
// the truth and the safety net (PostgreSQL NOTIFY, the SQLite change check) catches what UDP drops. Without a UDP
// socket (Config.Nudges nil) a server nudges over HTTP (POST NudgePath), which every server still accepts; that nudge
// is signed the same way, with a time and a random nonce, so a captured one cannot be replayed (see NudgeVerifier).
//
// A push is a nudge that carries a new deployment itself (id, module, source) to a server that, when the deployment
// was created, had nothing older pending: that server applies it at once instead of reading its pending list back
// from the ODB. It is signed the same way; a lost one leaves the deployment pending for the safety net, and a
// replayed or late one names a deployment the server has already passed (see Cluster.deployLoop).

// nudgeMagic and pushMagic start every nudge and push datagram; the version is in them.
const (
	nudgeMagic = "zato-nudge/1 "
	pushMagic  = "zato-push/1 "
)

// maxNudge bounds a datagram, pushes included; maxPushSource bounds the source a push carries (bigger modules get
// a plain nudge: large datagrams are fragmented, and lost whole when one fragment is).
const (
	maxNudge      = 64 << 10
	maxPushSource = 16 << 10
)

// push is a deployment a peer hands this server directly.
type push struct {
	ID     int64  `json:"id"`
	Module string `json:"module"`
	Source string `json:"source"`
	From   string `json:"-"` // the receiving server, which waits for this server's confirmation
}

func sign(secret, msg []byte) []byte {
	mac := hmac.New(sha256.New, secret)
	mac.Write(msg)
	return mac.Sum(msg)
}

// verify checks a datagram's MAC and returns what it signs.
func verify(secret, b []byte) ([]byte, error) {
	if len(b) < sha256.Size {
		return nil, errors.New("too short")
	}
	msg, sum := b[:len(b)-sha256.Size], b[len(b)-sha256.Size:]
	mac := hmac.New(sha256.New, secret)
	mac.Write(msg)
	if !hmac.Equal(mac.Sum(nil), sum) {
		return nil, errors.New("bad signature")
	}
	return msg, nil
}

// encodePush is pushMagic, the sender's name, a newline, the push as JSON, then the HMAC of all that; nil when the
// source is over maxPushSource or the datagram over maxNudge.
func encodePush(secret []byte, from string, p push) []byte {
	if len(p.Source) > maxPushSource {
		return nil
	}
	body, err := json.Marshal(p)
	if err != nil {
		return nil // strings and numbers always marshal
	}
	b := sign(secret, append([]byte(pushMagic+from+"\n"), body...))
	if len(b) > maxNudge { // escaping can grow the source several times over
		return nil
	}
	return b
}

func decodePush(secret, b []byte) (push, error) {
	if !bytes.HasPrefix(b, []byte(pushMagic)) {
		return push{}, errors.New("not a push")
	}
	msg, err := verify(secret, b)
	if err != nil {
		return push{}, err
	}
	from, body, ok := bytes.Cut(msg[len(pushMagic):], []byte("\n"))
	if !ok {
		return push{}, errors.New("no sender")
	}
	var p push
	if err := json.Unmarshal(body, &p); err != nil {
		return push{}, fmt.Errorf("push: %w", err)
	}
	if p.ID <= 0 || !ValidName(p.Module) {
		return push{}, errors.New("push: bad deployment")
	}
	p.From = string(from)
	return p, nil
}

// encodeNudge is nudgeMagic, the flags ("m" members, "s" status, "-" neither), a space, the sender's name, then
// the HMAC of all that.
func encodeNudge(secret []byte, from string, n Nudge) []byte {
	return sign(secret, []byte(nudgeMagic+nudgeFlags(n)+" "+from))
}

func nudgeFlags(n Nudge) string {
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
	return flags
}

// decodeNudge checks a datagram's MAC and returns what it says and who sent it.
func decodeNudge(secret, b []byte) (Nudge, string, error) {
	if !bytes.HasPrefix(b, []byte(nudgeMagic)) {
		return Nudge{}, "", errors.New("not a nudge")
	}
	msg, err := verify(secret, b)
	if err != nil {
		return Nudge{}, "", err
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
		if bytes.HasPrefix(buf[:n], []byte(pushMagic)) {
			var p push
			if p, err = decodePush([]byte(c.cfg.Secret), buf[:n]); err == nil {
				c.pushed(p)
			}
		} else {
			var nudge Nudge
			if nudge, _, err = decodeNudge([]byte(c.cfg.Secret), buf[:n]); err == nil {
				c.Nudged(nudge)
			}
		}
		if err != nil && !warned { // once: a stray or hostile sender must not flood the log
			c.log.Warn("ignored a datagram that is not a nudge or push from this cluster", "from", from.String(), "err", err)
			warned = true
		}
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

// sendPush hands an encoded push (encodePush) to the peer at peerURL, or nudges it where a push cannot go: no UDP
// socket, or no datagram (encoded nil: the module is too big for one).
func (c *Cluster) sendPush(peerURL string, datagram []byte) {
	if c.cfg.Nudges == nil || datagram == nil {
		c.send(peerURL, Nudge{Members: true})
		return
	}
	c.sendDatagram(peerURL, datagram, "push")
}

// sendDatagram writes b to the nudge socket of the peer at peerURL; what names it in the log should that fail.
func (c *Cluster) sendDatagram(peerURL string, b []byte, what string) {
	addr, err := c.addrs.get(peerURL)
	if err == nil {
		_, err = c.cfg.Nudges.WriteTo(b, addr)
	}
	if err != nil {
		c.log.Warn(what+" failed", "peer", peerURL, "err", err)
	}
}

// send delivers one nudge to the peer at peerURL: a datagram, or an HTTP request where this server has no UDP
// socket. It never blocks on the peer.
func (c *Cluster) send(peerURL string, n Nudge) {
	if c.cfg.Nudges != nil {
		c.sendDatagram(peerURL, encodeNudge([]byte(c.cfg.Secret), c.cfg.Name, n), "nudge")
		return
	}
	go func() {
		req, err := http.NewRequest(http.MethodPost, strings.TrimRight(peerURL, "/")+NudgePath, nil)
		if err != nil {
			return
		}
		req.Header.Set(NudgeHeader, SignHTTPNudge([]byte(c.cfg.Secret), c.cfg.Name, n, time.Now()))
		resp, err := c.http.Do(req)
		if err != nil {
			c.log.Warn("nudge failed", "peer", peerURL, "err", err)
			return
		}
		resp.Body.Close()
	}()
}

// NudgeHeader carries a nudge sent over HTTP (SignHTTPNudge); the request has no other content.
const NudgeHeader = "X-Zato-Nudge"

// httpNudgeMagic starts a nudge sent over HTTP. Unlike a datagram's, its text holds a time and a nonce: an HTTP
// request may be logged or captured by a proxy on the way, and a replay of it must not be accepted.
const httpNudgeMagic = "zato-nudge-http/1 "

// NudgeWindow is how far a signed HTTP nudge's time may be from the receiver's clock; a nudge is refused when it is
// older (a replay) or from further in the future (a clock this far off is a broken server).
const NudgeWindow = 30 * time.Second

// SignHTTPNudge returns the NudgeHeader value of nudge n from server from at time now: httpNudgeMagic, the flags,
// the time in Unix nanoseconds, a random nonce and the sender's name, then the HMAC-SHA256 of all that with the
// cluster secret, base64url-encoded. The secret itself never travels.
func SignHTTPNudge(secret []byte, from string, n Nudge, now time.Time) string {
	var nonce [8]byte
	_, _ = rand.Read(nonce[:]) // crypto/rand does not fail on the systems Go supports
	msg := fmt.Sprintf("%s%s %d %s %s", httpNudgeMagic, nudgeFlags(n), now.UnixNano(), hex.EncodeToString(nonce[:]), from)
	return base64.RawURLEncoding.EncodeToString(sign(secret, []byte(msg)))
}

// NudgeVerifier checks the signed nudges a server receives over HTTP and remembers those it has accepted for as
// long as their time is within NudgeWindow, so each is accepted once. Safe for concurrent use.
type NudgeVerifier struct {
	secret []byte
	mu     sync.Mutex
	seen   map[[sha256.Size]byte]time.Time // MAC -> when it may be forgotten (its time is out of the window then)
	swept  time.Time
}

// NewNudgeVerifier returns a verifier for the cluster secret.
func NewNudgeVerifier(secret string) *NudgeVerifier {
	return &NudgeVerifier{secret: []byte(secret), seen: map[[sha256.Size]byte]time.Time{}}
}

// Verify checks a NudgeHeader value received at now and returns the nudge and its sender.
func (v *NudgeVerifier) Verify(header string, now time.Time) (Nudge, string, error) {
	if header == "" {
		return Nudge{}, "", errors.New("no " + NudgeHeader + " header")
	}
	b, err := base64.RawURLEncoding.DecodeString(header)
	if err != nil || !bytes.HasPrefix(b, []byte(httpNudgeMagic)) {
		return Nudge{}, "", errors.New("not a signed nudge")
	}
	msg, err := verify(v.secret, b)
	if err != nil {
		return Nudge{}, "", err
	}
	fields := strings.SplitN(string(msg[len(httpNudgeMagic):]), " ", 4)
	if len(fields) != 4 {
		return Nudge{}, "", errors.New("malformed nudge")
	}
	ns, err := strconv.ParseInt(fields[1], 10, 64)
	if err != nil {
		return Nudge{}, "", errors.New("malformed nudge time")
	}
	at := time.Unix(0, ns)
	if d := now.Sub(at); d > NudgeWindow || d < -NudgeWindow {
		return Nudge{}, "", fmt.Errorf("nudge signed at %s, outside the %s window of this server's clock (a replay, or clocks apart)", at.UTC().Format(time.RFC3339), NudgeWindow)
	}
	var mac [sha256.Size]byte
	copy(mac[:], b[len(b)-sha256.Size:])
	v.mu.Lock()
	defer v.mu.Unlock()
	if now.Sub(v.swept) > time.Second { // only validly signed nudges are remembered: a few per deployment and peer
		v.swept = now
		for k, until := range v.seen {
			if now.After(until) {
				delete(v.seen, k)
			}
		}
	}
	if _, dup := v.seen[mac]; dup {
		return Nudge{}, "", errors.New("replayed nudge")
	}
	v.seen[mac] = at.Add(NudgeWindow)
	flags := fields[0]
	return Nudge{Members: strings.Contains(flags, "m"), Status: strings.Contains(flags, "s")}, fields[3], nil
}
