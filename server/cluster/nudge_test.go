package cluster

import (
	"bytes"
	"encoding/base64"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"
)

func TestNudgeEncoding(t *testing.T) {
	secret := []byte("s3cret")
	for _, n := range []Nudge{{}, {Members: true}, {Status: true}, {Members: true, Status: true}} {
		got, from, err := decodeNudge(secret, encodeNudge(secret, "server 2", n))
		if err != nil || got != n || from != "server 2" {
			t.Fatalf("%+v: decoded %+v from %q, %v", n, got, from, err)
		}
	}
	good := encodeNudge(secret, "server1", Nudge{Status: true})
	tampered := bytes.Replace(bytes.Clone(good), []byte(" s "), []byte(" m "), 1)
	bad := map[string][]byte{
		"wrong secret": encodeNudge([]byte("other"), "server1", Nudge{}),
		"tampered":     tampered,
		"truncated":    good[:len(good)-1],
		"empty":        {},
		"other magic":  append([]byte("zato-nudge/9 "), good[len(nudgeMagic):]...),
	}
	for name, b := range bad {
		if _, _, err := decodeNudge(secret, b); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
	if bytes.Contains(good, secret) {
		t.Fatal("the secret travels in the datagram")
	}
}

// syncBuffer is a log sink that tests may read while the server writes.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

func udp(t *testing.T) net.PacketConn {
	t.Helper()
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { pc.Close() })
	return pc
}

// TestNudgeDelivery: a nudge sent to a peer's URL arrives on its socket and wakes its waiters; datagrams that are
// not this cluster's nudges are dropped with one log line.
func TestNudgeDelivery(t *testing.T) {
	log := &syncBuffer{}
	recvSock, sendSock := udp(t), udp(t)
	recv := New(Config{Name: "server2", Secret: "s3cret", Nudges: recvSock,
		Logger: slog.New(slog.NewTextHandler(log, nil))}, nil, nil)
	send := New(Config{Name: "server1", Secret: "s3cret", Nudges: sendSock}, nil, nil)
	go recv.serveNudges(t.Context())

	woken := recv.Hub().Wait()
	// Two strays first: datagrams from one socket arrive in order, so once the nudge has woken the hub both were read.
	for range 2 {
		if _, err := sendSock.WriteTo([]byte("hello"), recvSock.LocalAddr()); err != nil {
			t.Fatal(err)
		}
	}
	send.send(fmt.Sprintf("http://%s/", recvSock.LocalAddr()), Nudge{Status: true})
	select {
	case <-woken:
	case <-time.After(10 * time.Second):
		t.Fatal("the nudge did not wake the receiving server's waiters")
	}
	if n := strings.Count(log.String(), "ignored a datagram"); n != 1 {
		t.Fatalf("%d log lines about strays, want 1:\n%s", n, log)
	}
	// A status nudge does not wake the deployer: nothing to apply.
	select {
	case <-recv.wake:
		t.Fatal("a status nudge woke the deployer")
	default:
	}

	woken = recv.Hub().Wait()
	send.send(fmt.Sprintf("http://%s", recvSock.LocalAddr()), Nudge{Members: true})
	select {
	case <-woken:
	case <-time.After(10 * time.Second):
		t.Fatal("the second nudge did not arrive")
	}
	select {
	case <-recv.wake:
	default:
		t.Fatal("a broadcast nudge did not wake the deployer")
	}
}

// TestHTTPNudgeSigned: a nudge over HTTP carries an HMAC with a time and a nonce, never the secret; a receiver
// accepts each once, within NudgeWindow of its clock, and only from this cluster.
func TestHTTPNudgeSigned(t *testing.T) {
	secret := []byte("s3cret")
	now := time.Now()
	v := NewNudgeVerifier(string(secret))
	for _, n := range []Nudge{{}, {Members: true}, {Status: true}, {Members: true, Status: true}} {
		h := SignHTTPNudge(secret, "server 2", n, now)
		got, from, err := v.Verify(h, now.Add(time.Second))
		if err != nil || got != n || from != "server 2" {
			t.Fatalf("%+v: got %+v from %q, %v", n, got, from, err)
		}
		if _, _, err := v.Verify(h, now.Add(2*time.Second)); err == nil || !strings.Contains(err.Error(), "replayed") {
			t.Fatalf("replay accepted: %v", err)
		}
	}
	good := SignHTTPNudge(secret, "server1", Nudge{}, now)
	raw, _ := base64.RawURLEncoding.DecodeString(good)
	tampered := base64.RawURLEncoding.EncodeToString(bytes.Replace(raw, []byte(" - "), []byte(" m "), 1))
	for name, c := range map[string]struct {
		h  string
		at time.Time
	}{
		"wrong secret": {SignHTTPNudge([]byte("other"), "server1", Nudge{}, now), now},
		"tampered":     {tampered, now},
		"stale":        {SignHTTPNudge(secret, "server1", Nudge{}, now.Add(-NudgeWindow-time.Second)), now},
		"future":       {SignHTTPNudge(secret, "server1", Nudge{}, now.Add(NudgeWindow+time.Second)), now},
		"plain secret": {string(secret), now},
		"empty":        {"", now},
		"datagram":     {base64.RawURLEncoding.EncodeToString(encodeNudge(secret, "server1", Nudge{})), now},
	} {
		if _, _, err := NewNudgeVerifier(string(secret)).Verify(c.h, c.at); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
	if strings.Contains(good, string(secret)) || bytes.Contains(raw, secret) {
		t.Fatal("the secret travels in the header")
	}
	// Accepted nudges are forgotten once out of the window: memory stays bounded by the nudges of one window.
	v = NewNudgeVerifier(string(secret))
	for i := range 100 {
		if _, _, err := v.Verify(SignHTTPNudge(secret, "server1", Nudge{}, now), now); err != nil {
			t.Fatal(i, err)
		}
	}
	later := now.Add(NudgeWindow + 2*time.Second)
	if _, _, err := v.Verify(SignHTTPNudge(secret, "server1", Nudge{}, later), later); err != nil {
		t.Fatal(err)
	}
	if len(v.seen) != 1 {
		t.Fatalf("%d nudges remembered after the window, want 1", len(v.seen))
	}
}

// TestHTTPNudgeSend: a server without a UDP socket nudges its peer over HTTP with a signed header that the peer's
// verifier accepts, and the cluster secret is nowhere in the request.
func TestHTTPNudgeSend(t *testing.T) {
	got := make(chan *http.Request, 1)
	peer := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		got <- r
		w.WriteHeader(http.StatusNoContent)
	}))
	defer peer.Close()
	send := New(Config{Name: "server1", Secret: "s3cret"}, nil, nil)
	send.send(peer.URL, Nudge{Members: true})
	var r *http.Request
	select {
	case r = <-got:
	case <-time.After(10 * time.Second):
		t.Fatal("no nudge arrived")
	}
	if r.URL.Path != NudgePath {
		t.Fatalf("posted to %s", r.URL)
	}
	for k, vs := range r.Header {
		for _, v := range vs {
			if strings.Contains(v, "s3cret") {
				t.Fatalf("the secret travels in header %s", k)
			}
		}
	}
	if strings.Contains(r.URL.String(), "s3cret") {
		t.Fatal("the secret travels in the URL")
	}
	n, from, err := NewNudgeVerifier("s3cret").Verify(r.Header.Get(NudgeHeader), time.Now())
	if err != nil || !n.Members || n.Status || from != "server1" {
		t.Fatalf("got %+v from %q, %v", n, from, err)
	}
}
